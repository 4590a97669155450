"""SLA derived fields and breaches: recorded once per case and clock, announced once."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db import connection, transaction

from tenancy.services import AuditEntry, audit_record_many

from .. import sla
from ..models import (
    Case,
    CasePause,
    CaseStatus,
    SlaBreach,
    TimelineEntry,
)
from ._base import (
    _case_entry,
    _now,
    _timeline,
)
from .hooks import (
    _emit_many,
)


# =============================================================================================
# SLA: derived fields, breaches (once per case x clock), and the periodic sweep
# =============================================================================================
def _pauses_by_case(case_ids: Iterable[int]) -> dict[int, list[CasePause]]:
    grouped: dict[int, list[CasePause]] = defaultdict(list)
    ids = list(case_ids)
    if ids:
        for pause in CasePause.objects.filter(case_id__in=ids):
            grouped[pause.case_id].append(pause)
    return grouped


def _refresh_sla_many(
    cases: Sequence[Case],
    now: dt.datetime,
    audit: list[AuditEntry],
    timeline: list[TimelineEntry],
    pauses: dict[int, list[CasePause]] | None = None,
) -> list[SlaBreach]:
    """Recompute each case's SLA fields in place (the caller saves them) and record any clock
    that breached and was not recorded yet; returns the new breaches."""
    pauses = _pauses_by_case(c.pk for c in cases) if pauses is None else pauses
    breached: dict[int, list[sla.ClockState]] = {}
    for case in cases:
        states = sla.refresh(case, pauses.get(case.pk, []), now)
        over = [state for state in states if state.state == "breached"]
        if over:
            breached[case.pk] = over
    if not breached:
        return []
    known = set(
        SlaBreach.objects.filter(case_id__in=list(breached)).values_list("case_id", "clock")
    )
    by_pk = {case.pk: case for case in cases}
    new: list[SlaBreach] = []
    for case_id, states in breached.items():
        case = by_pk[case_id]
        for state in states:
            if (case_id, state.key) in known:
                continue
            deadline = case.detected_at + (state.target or dt.timedelta(0))
            deadline += dt.timedelta(seconds=state.paused_seconds)
            new.append(SlaBreach(case=case, clock=state.key, deadline=deadline, recorded_at=now))
            timeline.append(
                _timeline(
                    case,
                    TimelineEntry.Kind.SLA,
                    f"SLA breached: {state.label} (target {_human(state.target)})",
                    {"clock": state.key, "deadline": deadline.isoformat()},
                    at=now,
                )
            )
            audit.append(_case_entry("case.sla_breach", case, {"clock": [None, state.key]}))
    if new:
        SlaBreach.objects.bulk_create(new, ignore_conflicts=True)
        _emit_many(
            "case.sla_breached",
            [
                (breach.case, {"clock": breach.clock, "deadline": breach.deadline.isoformat()})
                for breach in new
            ],
        )
    return new


def _human(span: dt.timedelta | None) -> str:
    from metrics.summary import format_duration

    return format_duration(span) if span is not None else "none"


def _refresh_sla(case: Case, now: dt.datetime, audit: list[AuditEntry]) -> list[TimelineEntry]:
    timeline: list[TimelineEntry] = []
    _refresh_sla_many([case], now, audit, timeline)
    return timeline


def sla_sweep(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Record breaches of running clocks whose deadline has passed (the periodic task).

    Finds due cases through the `sla_due_at` index, so a tenant with 100,000 quiet cases
    costs one indexed query. Returns the number of breaches recorded.
    """
    now = now or _now()
    recorded = 0
    with transaction.atomic():
        due = list(
            Case.objects.select_for_update(skip_locked=connection.vendor == "postgresql")
            .filter(sla_due_at__lte=now)
            .order_by("sla_due_at")[:limit]
        )
        if not due:
            return 0
        audit: list[AuditEntry] = []
        timeline: list[TimelineEntry] = []
        recorded = len(_refresh_sla_many(due, now, audit, timeline))
        Case.objects.bulk_update(due, list(sla.SLA_FIELDS))
        TimelineEntry.objects.bulk_create(timeline)
        audit_record_many(audit)
    return recorded


def sla_refresh_cases(*, case_ids: Iterable[int] | None = None) -> int:
    """Recompute the SLA fields of open cases (after targets change). Returns how many."""
    now = _now()
    count = 0
    with transaction.atomic():
        queryset = Case.objects.select_for_update().exclude(status=CaseStatus.CLOSED)
        if case_ids is not None:
            queryset = queryset.filter(pk__in=list(case_ids))
        cases = list(queryset)
        audit: list[AuditEntry] = []
        timeline: list[TimelineEntry] = []
        _refresh_sla_many(cases, now, audit, timeline)
        Case.objects.bulk_update(cases, list(sla.SLA_FIELDS), batch_size=500)
        TimelineEntry.objects.bulk_create(timeline)
        audit_record_many(audit)
        count = len(cases)
    return count
