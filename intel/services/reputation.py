"""Hash reputation verbs: the local store, look-ups through providers, and the telemetry check.

Every process, autorun and driver hash that arrives in telemetry is looked up in the local
store (one query per batch); a malicious verdict raises a `hash_reputation` alert, and the
cases app's grouping opens a case for it. Hashes the store does not know are looked up
with the enabled external providers in a task (rate-limited, never on the ingestion path).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from intel import conf
from intel.models import Reputation, ReputationProvider
from intel.providers import (
    ProviderUnavailable,
    Verdict,
    external_providers,
    hash_type,
    local_lookup,
)
from tenancy import outbox
from tenancy.context import require_tenant
from tenancy.services import audit_record

logger = logging.getLogger("stopclock.intel")

CHECKED_KINDS = ("process", "process_event", "autorun", "driver")
HASH_COLUMNS = ("sha256", "sha1", "md5")
VERDICT_RANK = {"unknown": 0, "clean": 1, "suspicious": 2, "malicious": 3}


@dataclass(frozen=True)
class ReputationInput:
    hash_type: str
    hash: str
    verdict: str
    detections: int | None = None
    engines: int | None = None
    source: str = ""


def reputation_record_many(entries: Iterable[ReputationInput], *, audit: bool = True) -> int:
    """Upsert verdicts into the local store; returns how many rows changed."""
    now = timezone.now()
    wanted: dict[str, ReputationInput] = {}
    for entry in entries:
        if entry.verdict not in VERDICT_RANK:
            raise ValidationError({"verdict": f"unknown verdict {entry.verdict!r}"})
        wanted[entry.hash.lower()] = entry
    if not wanted:
        return 0
    with transaction.atomic():
        existing = {r.hash: r for r in Reputation.objects.filter(hash__in=list(wanted))}
        new, changed = [], []
        for value, entry in wanted.items():
            row = existing.get(value)
            if row is None:
                new.append(
                    Reputation(
                        hash=value,
                        hash_type=entry.hash_type,
                        verdict=entry.verdict,
                        detections=entry.detections,
                        engines=entry.engines,
                        source=entry.source[:100],
                        updated_at=now,
                    )
                )
            elif (row.verdict, row.detections, row.engines, row.source) != (
                entry.verdict,
                entry.detections,
                entry.engines,
                entry.source[:100],
            ):
                row.verdict, row.detections, row.engines = (
                    entry.verdict,
                    entry.detections,
                    entry.engines,
                )
                row.source, row.updated_at = entry.source[:100], now
                changed.append(row)
        Reputation.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
        Reputation.objects.bulk_update(
            changed, ["verdict", "detections", "engines", "source", "updated_at"], batch_size=1000
        )
        if audit and (new or changed):
            audit_record(
                "reputation.record",
                None,
                {"added": [None, len(new)], "updated": [None, len(changed)]},
                object_type="intel.reputation",
                object_repr=f"{len(new) + len(changed)} verdicts",
            )
    return len(new) + len(changed)


def reputation_lookup(value: str, *, external: bool = True) -> Verdict:
    """The best verdict for one hash: the local store, then the enabled providers in order."""
    value = value.strip().lower()
    kind = hash_type(value)
    if kind is None:
        raise ValidationError({"hash": "an MD5, SHA-1 or SHA-256 hex digest"})
    local = local_lookup([value]).get(value)
    if local is not None or not external:
        return local or Verdict(value, kind, "unknown")
    for provider in external_providers():
        try:
            verdict = provider.lookup(value)
        except ProviderUnavailable as exc:
            _provider_error(provider.row, str(exc))
            continue
        ReputationProvider.objects.filter(pk=provider.row.pk).update(last_used_at=timezone.now())
        if verdict is not None:
            if not verdict.cached:
                reputation_record_many(
                    [
                        ReputationInput(
                            kind,
                            value,
                            verdict.verdict,
                            verdict.detections,
                            verdict.engines,
                            verdict.source,
                        )
                    ],
                    audit=False,
                )
            return verdict
    return Verdict(value, kind, "unknown")


def _provider_error(row: ReputationProvider, message: str) -> None:
    logger.warning("reputation provider %s: %s", row.name, message)
    ReputationProvider.objects.filter(pk=row.pk).update(last_error=message[:1000])


# --- telemetry ---------------------------------------------------------------------------
def _hashes_of(observation: dict[str, Any]) -> list[str]:
    return [observation[c] for c in HASH_COLUMNS if observation.get(c)]


def check_batch_hashes(context) -> int:
    """Batch processor: alert on known-malicious hashes; queue unknown ones for providers."""
    tenant = require_tenant()
    if not conf.reputation_check(tenant):
        return 0
    rows = [o for o in context.observations if o["kind"] in CHECKED_KINDS and _hashes_of(o)]
    if not rows:
        return 0
    hashes = sorted({h for o in rows for h in _hashes_of(o)})
    verdicts = local_lookup(hashes)
    malicious = [
        (o, verdicts[h])
        for o in rows
        for h in _hashes_of(o)
        if h in verdicts and verdicts[h].verdict == "malicious"
    ]
    raised = raise_reputation_alerts(context.endpoint, malicious) if malicious else 0
    unknown = {h for h in hashes if h not in verdicts}
    if unknown and ReputationProvider.objects.filter(enabled=True).exists():
        ids = [o["id"] for o in rows if set(_hashes_of(o)) & unknown]
        _enqueue_external(ids, context.endpoint.pk)
    return raised


def _enqueue_external(observation_ids: list[int], endpoint_id: int) -> None:
    from intel.tasks import reputation_external_task

    outbox.enqueue(
        reputation_external_task, tenant_id=require_tenant().pk, observation_ids=observation_ids
    )


def reputation_check_observations(*, observation_ids: list[int]) -> int:
    """The external half of the check (a task): look up unknown hashes, alert on malicious."""
    from endpoints.models import Endpoint, Observation

    rows = list(
        Observation.objects.filter(pk__in=observation_ids).values(
            "id",
            "kind",
            "endpoint_id",
            "observed_at",
            "process_name",
            "process_path",
            "item_name",
            "target_path",
            "file_name",
            *HASH_COLUMNS,
        )
    )
    verdicts: dict[str, Verdict] = {}
    for value in sorted({h for o in rows for h in _hashes_of(o)}):
        verdicts[value] = reputation_lookup(value)
    raised = 0
    for endpoint in Endpoint.objects.filter(pk__in={o["endpoint_id"] for o in rows}):
        mine = [
            (o, verdicts[h])
            for o in rows
            if o["endpoint_id"] == endpoint.pk
            for h in _hashes_of(o)
            if verdicts[h].verdict == "malicious"
        ]
        if mine:
            raised += raise_reputation_alerts(endpoint, mine)
    return raised


def raise_reputation_alerts(endpoint, found: list[tuple[dict[str, Any], Verdict]]) -> int:
    """One `hash_reputation` alert per (endpoint, hash); the cases app opens the case."""
    from intel.alerting import AlertSpec, send_alerts

    specs, seen = [], set()
    for obs, verdict in found:
        if verdict.hash in seen:
            continue
        seen.add(verdict.hash)
        name = obs.get("process_name") or obs.get("item_name") or obs.get("file_name") or ""
        path = obs.get("process_path") or obs.get("target_path") or ""
        persistent = obs["kind"] in {"autorun", "driver"}
        ratio = f" ({verdict.ratio} engines)" if verdict.ratio else ""
        specs.append(
            AlertSpec(
                title=f"Malicious file {name or verdict.hash[:16]} on {endpoint.hostname}{ratio}",
                severity="critical" if persistent else "high",
                source="hash_reputation",
                phase="persistence" if persistent else "initial_infection",
                observed_at=obs["observed_at"],
                external_id=f"observation:{obs['id']}:hash_reputation",
                dedup_key=f"ioc:{verdict.hash_type}:{verdict.hash}:endpoint:{endpoint.pk}",
                endpoint=endpoint,
                ioc_key=f"{verdict.hash_type}:{verdict.hash}",
                raw={
                    "observation_id": obs["id"],
                    "kind": obs["kind"],
                    "hash": verdict.hash,
                    "hash_type": verdict.hash_type,
                    "verdict": verdict.verdict,
                    "detections": verdict.detections,
                    "engines": verdict.engines,
                    "reputation_source": verdict.source,
                    "name": name,
                    "path": path,
                    "hostname": endpoint.hostname,
                },
            )
        )
    send_alerts(specs)
    return len(specs)


# --- providers (admins) -------------------------------------------------------------------
PROVIDER_FIELDS = (
    "name",
    "base_url",
    "api_key",
    "enabled",
    "rate_limit_per_minute",
    "timeout_seconds",
    "cache_seconds",
    "malicious_threshold",
)


def provider_save(*, provider: ReputationProvider | None = None, **fields) -> ReputationProvider:
    """Create or change an external provider (its URL passes the outbound guard)."""
    from intel.outbound import OutboundRefused, check_url

    unknown = set(fields) - set(PROVIDER_FIELDS)
    if unknown:
        raise ValidationError({name: "not a provider field" for name in unknown})
    if "base_url" in fields:
        try:
            check_url(fields["base_url"])
        except OutboundRefused as exc:
            raise ValidationError({"base_url": str(exc)}) from None
    provider = provider or ReputationProvider()
    changes = {}
    for name, value in fields.items():
        if getattr(provider, name) != value:
            shown = "***" if name == "api_key" else value
            changes[name] = ["***" if name == "api_key" else getattr(provider, name), shown]
            setattr(provider, name, value)
    taken = ReputationProvider.objects.filter(name=provider.name).exclude(pk=provider.pk)
    if taken.exists():
        raise ValidationError({"name": "a provider with this name exists"})
    provider.full_clean(exclude=["tenant"], validate_unique=False)
    with transaction.atomic():
        action = "reputation_provider.update" if provider.pk else "reputation_provider.create"
        provider.save()
        if changes:
            audit_record(action, provider, changes)
    return provider


def provider_delete(*, provider: ReputationProvider) -> None:
    with transaction.atomic():
        audit_record("reputation_provider.delete", provider, {"name": [provider.name, None]})
        provider.delete()
