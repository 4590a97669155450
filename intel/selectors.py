"""Intel reads: lists with their related rows loaded, ad-hoc search, the dashboard panel."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet
from django.urls import reverse

from endpoints.models import Endpoint, Observation
from intel.models import IOC, Hit, ImportJob, Reputation, Source, Sweep
from intel.parsing import InvalidIOC, detect_type, normalize_ioc

# --- lists --------------------------------------------------------------------------------


def iocs() -> QuerySet[IOC]:
    """IOCs with what the list shows loaded in a constant number of queries."""
    return (
        IOC.objects.select_related("source")
        .prefetch_related("tags", "sources")
        .order_by("-created_at", "-id")
    )


def sources() -> QuerySet[Source]:
    return Source.objects.annotate(ioc_count=Count("ioc_links")).order_by("name")


def sweeps() -> QuerySet[Sweep]:
    return Sweep.objects.select_related("created_by").order_by("-created_at", "-id")


def hits() -> QuerySet[Hit]:
    return Hit.objects.select_related("endpoint", "ioc", "sweep").order_by("-first_seen", "-id")


def imports() -> QuerySet[ImportJob]:
    return ImportJob.objects.select_related("source").order_by("-created_at", "-id")


def import_list() -> QuerySet[ImportJob]:
    """For list pages: without the per-job lists (skipped, warnings, new IOC ids)."""
    return imports().defer("skipped", "warnings", "new_ioc_ids", "options")


def ioc_hits_by_endpoint(ioc: IOC) -> list[dict[str, Any]]:
    """Where an IOC was found: one row per endpoint over all sweeps."""
    return list(
        Hit.objects.filter(ioc=ioc)
        .values("endpoint_id", "endpoint__hostname")
        .annotate(
            first=Min("first_seen"), last=Max("last_seen"), sweeps=Count("sweep", distinct=True)
        )
        .order_by("endpoint__hostname")
    )


# --- ad-hoc search: "is this anywhere else?" ---------------------------------------------
SEARCH_FIELDS: dict[str, tuple[str, ...]] = {
    "md5": ("md5",),
    "sha1": ("sha1",),
    "sha256": ("sha256",),
    "ipv4": ("remote_ip", "source_ip"),
    "ipv6": ("remote_ip", "source_ip"),
    "domain": ("dns_query", "remote_hostname"),
    "file_name": ("file_name", "process_name"),
    "file_path": ("file_path", "process_path", "target_path"),
    "registry_key": ("registry_key",),
}
OBSERVATION_COLUMNS = (
    "id",
    "endpoint_id",
    "kind",
    "observed_at",
    "process_name",
    "process_path",
    "command_line",
    "file_path",
    "remote_ip",
    "dns_query",
    "registry_key",
    "sha256",
)


@dataclass
class SearchResult:
    query: str
    type: str | None
    fields: list[str]
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: int = 0


def _condition(kind: str | None, value: str) -> tuple[Q, list[str]]:
    if kind in SEARCH_FIELDS:
        columns = SEARCH_FIELDS[kind]
        if kind == "domain":
            # the name itself or any of its subdomains
            q = Q()
            for c in columns:
                q |= Q(**{c: value}) | Q(**{f"{c}__endswith": "." + value})
            return q, list(columns)
        if "*" in value or "?" in value:
            pattern = "".join(
                ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in value
            )
            q = Q()
            for c in columns:
                q |= Q(**{f"{c}__regex": f"^{pattern}$"})
            return q, list(columns)
        q = Q()
        for c in columns:
            q |= Q(**{c: value})
        return q, list(columns)
    return Q(command_line__icontains=value), ["command_line"]


def observation_search(query: str, *, limit: int = 100) -> SearchResult:
    """Every endpoint whose telemetry shows `query`: a hash, IP, domain (and subdomains),
    file name or path (globs allowed), registry key, or else a command-line substring.

    Equality on the indexed columns answers in milliseconds at a million rows; the
    command-line substring scans the tenant's rows once.
    """
    started = time.monotonic()
    text = query.strip()
    kind = detect_type(text)
    value = text
    if kind is not None:
        try:
            kind, value = normalize_ioc(kind, text)
        except InvalidIOC:
            kind = None
    if kind in {"url", "cidr"}:
        kind = None  # searched as command-line text
    condition, columns = _condition(kind, value)
    matches = Observation.objects.filter(condition)
    endpoints = list(
        matches.values("endpoint_id")
        .annotate(first=Min("observed_at"), last=Max("observed_at"), count=Count("id"))
        .order_by("-last")[:500]
    )
    names = dict(
        Endpoint.objects.filter(pk__in=[row["endpoint_id"] for row in endpoints]).values_list(
            "id", "hostname"
        )
    )
    for row in endpoints:
        row["hostname"] = names.get(row["endpoint_id"], "")
    observations = list(matches.order_by("-observed_at").values(*OBSERVATION_COLUMNS)[:limit])
    return SearchResult(
        query=text,
        type=kind,
        fields=columns,
        endpoints=endpoints,
        observations=observations,
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )


# --- dashboard ------------------------------------------------------------------------------
def dashboard_panel(request) -> dict[str, Any]:
    tenant = request.tenant
    running = Sweep.objects.filter(status__in=["queued", "running"]).exclude(kind="continuous")
    failing = [
        s for s in Source.objects.filter(kind="taxii", enabled=True) if s.health == "failing"
    ]
    return {
        "template": "intel/_dashboard_panel.html",
        "title": "Intel",
        "active_iocs": IOC.objects.active().filter(suppressed=False).count(),
        "running_sweeps": list(running.order_by("-created_at")[:3]),
        "hits_7d": Hit.objects.filter(
            created_at__gte=_days_ago(7), alerted_at__isnull=False
        ).count(),
        "failing_sources": failing,
        "malicious_hashes": Reputation.objects.filter(verdict="malicious").count(),
        "urls": {
            "iocs": reverse("intel:ioc-list", kwargs={"tenant_slug": tenant.slug}),
            "sweeps": reverse("intel:sweep-list", kwargs={"tenant_slug": tenant.slug}),
            "sources": reverse("intel:source-list", kwargs={"tenant_slug": tenant.slug}),
        },
    }


def _days_ago(days: int):
    import datetime as dt

    from django.utils import timezone

    return timezone.now() - dt.timedelta(days=days)
