"""Endpoints reads: fleet filtering, stacking, endpoint timelines, process trees, dashboard.

Everything runs in the tenant in context and is computed set-wise in SQL; Python only
shapes the (small) results.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from tenancy.context import require_tenant

from . import conf
from .models import (
    Endpoint,
    EndpointTag,
    EndpointUserGroup,
    InventoryItem,
    Observation,
    TelemetryBatch,
)
from .observation_fields import KINDS

# -- the fleet -------------------------------------------------------------------------------


def online_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    """Endpoints seen (heartbeat or telemetry) since this instant are online.

    The rule: online while the last contact is younger than three heartbeat intervals of
    the tenant (`endpoints.heartbeat_interval`, default 60 s), and at least three minutes.
    """
    return (now or timezone.now()) - conf.offline_after(require_tenant())


def endpoints_matching(
    os_family: str | None = None,
    groups: Iterable[str] = (),
    tags: Iterable[str] = (),
    privileged: bool | None = None,
) -> QuerySet[Endpoint]:
    """The endpoints a sweep or a stack targets: every filter given must hold; within
    `groups` (or `tags`) any one name is enough. Names are exact."""
    queryset = Endpoint.objects.all()
    if os_family:
        queryset = queryset.filter(os_family=os_family)
    groups, tags = [g for g in groups if g], [t for t in tags if t]
    if groups:
        in_group = EndpointUserGroup.objects.filter(endpoint=OuterRef("pk"), group__name__in=groups)
        queryset = queryset.filter(Exists(in_group))
    if tags:
        tagged = EndpointTag.objects.filter(endpoint=OuterRef("pk"), tag__name__in=tags)
        queryset = queryset.filter(Exists(tagged))
    if privileged is not None:
        queryset = queryset.filter(privileged_admin_logons=privileged)
    return queryset


def endpoint_list(
    *,
    q: str = "",
    os_family: str | None = None,
    group: str | None = None,
    tag: str | None = None,
    online: bool | None = None,
    isolated: bool | None = None,
    privileged: bool | None = None,
) -> QuerySet[Endpoint]:
    """The inventory list (browser and API): filters, and search by hostname or IP."""
    queryset = endpoints_matching(
        os_family=os_family, groups=[group] if group else (), tags=[tag] if tag else (),
        privileged=privileged,
    )  # fmt: skip
    q = (q or "").strip()
    if q:
        queryset = queryset.filter(
            Q(hostname__icontains=q) | Q(fqdn__icontains=q) | Q(ip_addresses__icontains=q)
        )
    if online is not None:
        seen = Q(last_seen_at__gte=online_cutoff())
        queryset = queryset.filter(seen) if online else queryset.exclude(seen)
    if isolated is not None:
        queryset = (
            queryset.exclude(isolation_state="none")
            if isolated
            else queryset.filter(isolation_state="none")
        )
    return queryset.prefetch_related("user_groups", "tags").order_by("hostname", "id")


def endpoint_filter_choices() -> dict[str, list[str]]:
    from .models import Tag, UserGroup

    return {
        "groups": list(UserGroup.objects.order_by("name").values_list("name", flat=True)),
        "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)),
    }


def endpoint_recent_alerts(endpoint: Endpoint, limit: int = 10) -> list[Any]:
    """The endpoint's latest alerts (the cases app's `Alert.endpoint`), newest first."""
    try:
        alert_model = apps.get_model("cases", "Alert")
    except LookupError:
        return []
    order = "-observed_at" if _has_field(alert_model, "observed_at") else "-pk"
    return list(alert_model.objects.filter(endpoint=endpoint).order_by(order)[:limit])


def _has_field(model, name: str) -> bool:
    return any(f.name == name for f in model._meta.get_fields())


# -- stacking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackPage:
    rows: list[dict[str, Any]]
    offset: int
    limit: int
    has_more: bool


def _stack_items(
    category: str, os_family: str | None, groups: Sequence[str], tags: Sequence[str]
) -> QuerySet[InventoryItem]:
    items = InventoryItem.objects.filter(category=category)
    if os_family or groups or tags:
        targets = endpoints_matching(os_family=os_family, groups=groups, tags=tags)
        items = items.filter(endpoint_id__in=targets.values("pk"))
    return items


def stack(
    *,
    category: str,
    os_family: str | None = None,
    groups: Sequence[str] = (),
    tags: Sequence[str] = (),
    max_endpoints: int | None = None,
    name: str = "",
    offset: int = 0,
    limit: int = 50,
) -> StackPage:
    """Items of `category` (autorun, driver, process) by how many endpoints have them,
    rarest first.

    Two statements: the GROUP BY counts per item key over the stacking index (no table
    rows read), then the page's items are described. An item's key is unique per endpoint
    (InventoryItem), so COUNT(*) is the number of distinct endpoints.
    """
    items = _stack_items(category, os_family, groups, tags)
    if name:
        items = items.filter(Q(name__icontains=name.lower()) | Q(path__icontains=name.lower()))
    counted = items.values("key").annotate(endpoints=Count("*"))
    if max_endpoints:
        counted = counted.filter(endpoints__lte=max_endpoints)
    page = list(counted.order_by("endpoints", "key")[offset : offset + limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    counts = {row["key"]: row["endpoints"] for row in page}
    details = {
        row["key"]: row
        for row in items.filter(key__in=list(counts))
        .values("key")
        .annotate(
            category_=Min("category"),
            item_type=Min("item_type"),
            name=Min("name"),
            path=Min("path"),
            sha256=Min("sha256"),
            first_seen_at=Min("first_seen_at"),
            last_seen_at=Max("last_seen_at"),
        )
    }
    rows = []
    for key, endpoints in counts.items():
        detail = details[key]
        rows.append(
            {
                "key": key,
                "category": detail["category_"],
                "item_type": detail["item_type"],
                "name": detail["name"],
                "path": detail["path"],
                "sha256": detail["sha256"],
                "endpoints": endpoints,
                "first_seen_at": detail["first_seen_at"],
                "last_seen_at": detail["last_seen_at"],
            }
        )
    return StackPage(rows, offset, limit, has_more)


def stack_endpoints(
    *,
    key: str,
    os_family: str | None = None,
    groups: Sequence[str] = (),
    tags: Sequence[str] = (),
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The endpoints that have the stacked item `key` (drill-down), first seen first."""
    items = InventoryItem.objects.filter(key=key)
    if os_family or groups or tags:
        targets = endpoints_matching(os_family=os_family, groups=groups, tags=tags)
        items = items.filter(endpoint_id__in=targets.values("pk"))
    return [
        {
            "id": row["endpoint_id"],
            "hostname": row["endpoint__hostname"],
            "os_family": row["endpoint__os_family"],
            "first_seen_at": row["first_seen_at"],
            "last_seen_at": row["last_seen_at"],
            "first_observation_id": row["first_observation_id"],
        }
        for row in items.order_by("first_seen_at", "endpoint_id").values(
            "endpoint_id",
            "endpoint__hostname",
            "endpoint__os_family",
            "first_seen_at",
            "last_seen_at",
            "first_observation_id",
        )[:limit]
    ]


def stack_item(key: str) -> dict[str, Any] | None:
    """One stacked item's description (any endpoint's row: they agree on it)."""
    return (
        InventoryItem.objects.filter(key=key)
        .values("key", "category", "item_type", "name", "path", "sha256")
        .first()
    )


# -- the endpoint timeline ("Trace") ------------------------------------------------------------

TIMELINE_TEXT_COLUMNS = (
    "process_name",
    "process_path",
    "command_line",
    "parent_name",
    "file_path",
    "item_name",
    "target_path",
    "registry_key",
    "dns_query",
    "remote_hostname",
    "target_user_name",
    "user_name",
)


@dataclass(frozen=True)
class TimelinePage:
    observations: list[Observation]
    older: tuple[dt.datetime, int] | None  # keyset of the next (older) page


def timeline(
    *,
    endpoint: Endpoint,
    kinds: Sequence[str] = (),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    text: str = "",
    before: tuple[dt.datetime, int] | None = None,
    limit: int = 100,
) -> TimelinePage:
    """The endpoint's observations, newest first, filtered; keyset-paged on (time, id)."""
    queryset = Observation.objects.filter(endpoint=endpoint)
    kinds = [k for k in kinds if k in KINDS]
    if kinds:
        queryset = queryset.filter(kind__in=kinds)
    if since:
        queryset = queryset.filter(observed_at__gte=since)
    if until:
        queryset = queryset.filter(observed_at__lt=until)
    text = (text or "").strip()
    if text:
        match = Q()
        for column in TIMELINE_TEXT_COLUMNS:
            match |= Q(**{f"{column}__icontains": text})
        queryset = queryset.filter(match)
    if before:
        when, pk = before
        queryset = queryset.filter(Q(observed_at__lt=when) | Q(observed_at=when, id__lt=pk))
    rows = list(queryset.order_by("-observed_at", "-id")[: limit + 1])
    older = (rows[limit - 1].observed_at, rows[limit - 1].pk) if len(rows) > limit else None
    return TimelinePage(rows[:limit], older)


# -- process trees -----------------------------------------------------------------------------

PROCESS_KINDS = ("process", "process_event")
TREE_WINDOW_BEFORE = dt.timedelta(days=7)
TREE_WINDOW_AFTER = dt.timedelta(days=1)
TREE_MAX_ROWS = 50_000
TREE_MAX_DEPTH = 12
TREE_MAX_NODES = 400
_TREE_COLUMNS = (
    "id",
    "kind",
    "action",
    "pid",
    "ppid",
    "process_name",
    "process_path",
    "command_line",
    "user_name",
    "integrity_level",
    "sha256",
    "started_at",
    "observed_at",
)


@dataclass
class ProcessNode:
    """One process instance: a pid from its start until the pid's next start."""

    observation_id: int
    pid: int
    ppid: int | None
    name: str
    path: str
    command_line: str
    user_name: str
    integrity_level: str
    sha256: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None  # a stop event, if seen
    children: list[ProcessNode] = field(default_factory=list)
    chosen: bool = False
    truncated: bool = False


@dataclass
class ProcessTree:
    root: ProcessNode | None
    chosen: ProcessNode | None
    ancestors: int
    descendants: int
    window: tuple[dt.datetime, dt.datetime]


def _instances(rows: list[dict[str, Any]]) -> dict[int, list[ProcessNode]]:
    """Process instances by pid, in start order; a snapshot and a start event of the same
    process (same pid, same start) are one instance."""
    by_pid: dict[int, list[ProcessNode]] = defaultdict(list)
    stops: dict[int, list[dt.datetime]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["start"], r["kind"] != "process_event", r["id"])):
        if row["action"] == "stop":
            stops[row["pid"]].append(row["start"])
            continue
        same = by_pid[row["pid"]]
        if same and abs((same[-1].started_at - row["start"]).total_seconds()) < 1:
            continue
        same.append(
            ProcessNode(
                observation_id=row["id"],
                pid=row["pid"],
                ppid=row["ppid"],
                name=row["process_name"] or "",
                path=row["process_path"] or "",
                command_line=row["command_line"] or "",
                user_name=row["user_name"] or "",
                integrity_level=row["integrity_level"] or "",
                sha256=row["sha256"] or "",
                started_at=row["start"],
            )
        )
    for pid, times in stops.items():
        for node in by_pid.get(pid, ()):
            node.ended_at = next((t for t in times if t >= node.started_at), None)
    return by_pid


def _instance_at(by_pid: dict[int, list[ProcessNode]], pid: int, when: dt.datetime):
    """The instance of `pid` running at `when`: the latest one started no later."""
    found = None
    for node in by_pid.get(pid, ()):
        if node.started_at <= when:
            found = node
        else:
            break
    return found


def process_tree(observation: Observation) -> ProcessTree | None:
    """Ancestors and descendants of the process an observation is about.

    Reconstructed from pid / parent pid and start times of the endpoint's process records
    in a window around it (7 days before, 1 day after): a pid that was reused belongs to
    the instance that started last before the moment in question, so a child is hung under
    the parent that was running when it started, never under a later process that got
    the same pid.
    """
    if observation.pid is None:
        return None
    start = observation.started_at or observation.observed_at
    window = (start - TREE_WINDOW_BEFORE, start + TREE_WINDOW_AFTER)
    rows = list(
        Observation.objects.filter(
            endpoint_id=observation.endpoint_id,
            kind__in=PROCESS_KINDS,
            observed_at__gte=window[0],
            observed_at__lt=window[1],
            pid__isnull=False,
        )
        .annotate(start=Coalesce("started_at", "observed_at"))
        .values(*_TREE_COLUMNS, "start")[:TREE_MAX_ROWS]
    )
    by_pid = _instances(rows)
    chosen = _instance_at(by_pid, observation.pid, start)
    if chosen is None:
        return None
    chosen.chosen = True
    nodes = _descend(by_pid, chosen)
    root, ancestors = chosen, 0
    while root.ppid and ancestors < TREE_MAX_DEPTH:
        parent = _instance_at(by_pid, root.ppid, root.started_at)
        if parent is None or parent is root or parent.chosen:
            break
        parent.children = [root]
        root, ancestors = parent, ancestors + 1
    return ProcessTree(root, chosen, ancestors, nodes - 1, window)


def _descend(by_pid: dict[int, list[ProcessNode]], top: ProcessNode) -> int:
    """Attach each process's children (breadth first, bounded); returns the node count."""
    children_of: dict[int, list[ProcessNode]] = defaultdict(list)
    for instances in by_pid.values():
        for node in instances:
            if node.ppid:
                children_of[node.ppid].append(node)
    count, level, depth = 1, [top], 0
    while level and depth < TREE_MAX_DEPTH:
        next_level = []
        for node in level:
            later = [n for n in by_pid.get(node.pid, ()) if n.started_at > node.started_at]
            until = later[0].started_at if later else None
            for child in sorted(children_of.get(node.pid, ()), key=lambda n: n.started_at):
                if child is node or child.started_at < node.started_at:
                    continue
                if until is not None and child.started_at >= until:
                    continue
                if count >= TREE_MAX_NODES:
                    node.truncated = True
                    break
                node.children.append(child)
                next_level.append(child)
                count += 1
        level, depth = next_level, depth + 1
    return count


# -- dashboard -------------------------------------------------------------------------------


def fleet_summary() -> dict[str, Any]:
    cutoff = online_cutoff()
    since = timezone.now() - dt.timedelta(hours=24)
    counts = Endpoint.objects.aggregate(
        total=Count("id"),
        online=Count("id", filter=Q(last_seen_at__gte=cutoff)),
        isolated=Count("id", filter=~Q(isolation_state="none")),
        windows=Count("id", filter=Q(os_family="windows")),
        macos=Count("id", filter=Q(os_family="macos")),
        linux=Count("id", filter=Q(os_family="linux")),
    )
    telemetry = TelemetryBatch.objects.filter(received_at__gte=since).aggregate(
        batches=Count("id"), records=Coalesce(Sum("accepted"), 0)
    )
    counts["offline"] = counts["total"] - counts["online"]
    return {**counts, "batches_24h": telemetry["batches"], "records_24h": telemetry["records"]}


def dashboard_panel(request) -> dict[str, Any]:
    """The endpoints panel of the tenant dashboard (tenancy.views.dashboard_panels)."""
    return {"template": "endpoints/_dashboard_panel.html", "fleet": fleet_summary()}
