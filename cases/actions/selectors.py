"""Reads of response actions: lists (constant queries), the agent's poll, bulk targets and
progress, and whether a case's remediation is complete."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from endpoints.models import Endpoint, Observation

from ..models import (
    ACTION_FINAL_STATUSES,
    ACTION_OPEN_STATUSES,
    ActionStatus,
    BulkAction,
    Case,
    CaseStatus,
    ResponseAction,
    Task,
)
from .registry import REMEDIATION_TYPES

HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
PROCESS_KINDS = ("process", "process_event")
POLL_BATCH = 20


def action_list_queryset() -> QuerySet[ResponseAction]:
    return ResponseAction.objects.select_related(
        "endpoint", "case", "requested_by", "approved_by", "bulk"
    )


def approval_queue() -> QuerySet[ResponseAction]:
    """What leads are asked to decide, oldest first."""
    return action_list_queryset().filter(status=ActionStatus.AWAITING_APPROVAL).order_by("id")


def poll_queryset(endpoint: Endpoint, now: dt.datetime) -> QuerySet[ResponseAction]:
    """The endpoint's queued, unexpired actions, oldest first (the partial index
    `action_poll` holds exactly the queued rows)."""
    return (
        ResponseAction.objects.filter(
            endpoint=endpoint, status=ActionStatus.QUEUED, expires_at__gt=now
        )
        .select_related("endpoint")
        .order_by("id")[:POLL_BATCH]
    )


def _count(status: str):
    return Count("actions", filter=Q(actions__status=status))


def bulk_list_queryset() -> QuerySet[BulkAction]:
    """Bulks with their children counted per status in the same query."""
    return (
        BulkAction.objects.select_related("case", "requested_by", "approved_by")
        .annotate(**{f"n_{status}": _count(status) for status in ActionStatus.values})
        .order_by("-created_at", "-id")  # explicit: Meta.ordering is ignored with GROUP BY
    )


def bulk_counts(bulk: BulkAction) -> dict[str, int]:
    """{status: children} (from the annotation when the bulk came from the list)."""
    if hasattr(bulk, f"n_{ActionStatus.QUEUED}"):
        return {status: getattr(bulk, f"n_{status}") for status in ActionStatus.values}
    rows = dict(
        ResponseAction.objects.filter(bulk=bulk)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {status: rows.get(status, 0) for status in ActionStatus.values}


def bulk_progress(bulk: BulkAction) -> dict[str, Any]:
    counts = bulk_counts(bulk)
    finished = sum(counts[s] for s in ACTION_FINAL_STATUSES)
    return {
        "counts": counts,
        "finished": finished,
        "percent": round(100 * finished / bulk.total) if bulk.total else 100,
    }


def bulk_children(bulk: BulkAction) -> QuerySet[ResponseAction]:
    return (
        ResponseAction.objects.filter(bulk=bulk)
        .select_related("endpoint")
        .order_by("hostname", "attempt", "id")
    )


def bulk_targets(
    *,
    endpoints: Sequence[Any] = (),
    sha256: str = "",
    sweep: Any = None,
    ioc: Any = None,
) -> tuple[dict[str, Any], list[int]]:
    """(how the endpoints were chosen, their ids): listed endpoints; every endpoint where a
    process with this SHA-256 ran (telemetry); the endpoints a sweep hit (optionally one of
    its IOCs); the endpoints an IOC was seen on (sweep hits, and running processes for a
    SHA-256 IOC)."""
    from intel.models import IOC, Hit, Sweep

    given = [bool(endpoints), bool(sha256), sweep is not None, ioc is not None and sweep is None]
    if sum(given) != 1:
        raise ValidationError(
            {"target": "choose one: endpoints, sha256, sweep (optionally with ioc) or ioc"}
        )
    if endpoints:
        wanted = {e.pk if isinstance(e, Endpoint) else e for e in endpoints}
        if not all(isinstance(pk, int) for pk in wanted):
            raise ValidationError({"endpoints": "endpoint ids"})
        ids = sorted(Endpoint.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        missing = sorted(wanted - set(ids))
        if missing:
            raise ValidationError({"endpoints": f"unknown endpoint(s): {missing[:20]}"})
        return {"endpoints": len(ids)}, ids
    if sha256:
        if not HEX64.match(sha256):
            raise ValidationError({"sha256": "64 hex digits"})
        return {"sha256": sha256.lower()}, _running(sha256.lower())
    if sweep is not None:
        sweep_pk = getattr(sweep, "pk", sweep)
        if not Sweep.objects.filter(pk=sweep_pk).exists():
            raise ValidationError({"sweep": "unknown sweep"})
        hits = Hit.objects.filter(sweep_id=sweep_pk)
        target: dict[str, Any] = {"sweep": sweep_pk}
        if ioc is not None:
            hits = hits.filter(ioc_id=getattr(ioc, "pk", ioc))
            target["ioc"] = getattr(ioc, "pk", ioc)
        return target, sorted(set(hits.values_list("endpoint_id", flat=True)))
    row = IOC.objects.filter(pk=getattr(ioc, "pk", ioc)).first()
    if row is None:
        raise ValidationError({"ioc": "unknown IOC"})
    ids = set(Hit.objects.filter(ioc=row).values_list("endpoint_id", flat=True))
    if row.type == "sha256":
        ids |= set(_running(row.value))
    return {"ioc": row.pk}, sorted(ids)


def _running(sha256: str) -> list[int]:
    """Endpoints whose telemetry shows a process with this image hash (the partial index on
    (tenant, sha256))."""
    rows = (
        Observation.objects.filter(sha256=sha256, kind__in=PROCESS_KINDS)
        .order_by()
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    return sorted(rows)


def case_actions(case: Case) -> list[ResponseAction]:
    return list(
        ResponseAction.objects.filter(case=case)
        .select_related("endpoint", "requested_by", "approved_by")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class RemediationState:
    """Is everything that makes the endpoint clean done? (the "mark remediated" banner)"""

    tasks: int
    open_tasks: int
    actions: int
    open_actions: int
    proposable: bool  # the case could move to remediated now

    @property
    def ready(self) -> bool:
        return (
            self.proposable
            and (self.tasks + self.actions) > 0
            and not (self.open_tasks or self.open_actions)
        )


def remediation_state(
    case: Case, tasks: Sequence[Task] | None = None, actions: Sequence[ResponseAction] | None = None
) -> RemediationState:
    """Remediation tasks done and remediation actions succeeded (the latest attempt of each;
    a cancelled one does not count against it). One query each when not given."""
    from ..services import allowed_transitions

    if tasks is None:
        tasks = list(Task.objects.filter(case=case, is_remediation=True))
    if actions is None:
        retried = ResponseAction.objects.filter(retry_of=OuterRef("pk"))
        actions = list(
            ResponseAction.objects.filter(case=case, type__in=REMEDIATION_TYPES)
            .annotate(retried=Exists(retried))
            .filter(retried=False)
        )
    else:
        retried_ids = {a.retry_of_id for a in actions if a.retry_of_id}
        actions = [a for a in actions if a.type in REMEDIATION_TYPES and a.pk not in retried_ids]
    remediation_tasks = [t for t in tasks if t.is_remediation]
    blocking = (*ACTION_OPEN_STATUSES, ActionStatus.FAILED, ActionStatus.EXPIRED)
    return RemediationState(
        tasks=len(remediation_tasks),
        open_tasks=sum(1 for t in remediation_tasks if not t.done),
        actions=sum(1 for a in actions if a.status != ActionStatus.CANCELLED),
        open_actions=sum(1 for a in actions if a.status in blocking),
        proposable=not case.merged_into_id and CaseStatus.REMEDIATED in allowed_transitions(case),
    )
