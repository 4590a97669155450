"""How every case is born: numbers, playbooks, bulk creation, alerts joining."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from metrics.clocks import PHASE_KEYS
from tenancy.context import require_tenant
from tenancy.services import AuditEntry

from .. import sla
from ..models import (
    STATUS_ORDER,
    Alert,
    AlertStatus,
    Case,
    CaseCounter,
    CaseStatus,
    CaseTag,
    CaseWatcher,
    MilestoneChange,
    Task,
    TaskTemplate,
    TimelineEntry,
    Tlp,
)
from ..playbooks import PLAYBOOKS
from ._base import (
    _case_entry,
    _fmt,
    _furthest_phase,
    _max_severity,
    _milestone_change,
    _rank,
    _tags_for,
    _timeline,
)
from .breaches import (
    _refresh_sla_many,
)
from .hooks import (
    _emit_many,
)


# =============================================================================================
# case numbers, playbooks, case creation (shared by every way a case is born)
# =============================================================================================
def _take_numbers(count: int, now: dt.datetime) -> list[tuple[int, int, str]]:
    """`count` consecutive numbers for this year, race-free: the counter row is locked."""
    tenant = require_tenant()
    year = timezone.localtime(now, _zone(tenant.timezone)).year
    counter = CaseCounter.objects.select_for_update().filter(year=year).first()
    if counter is None:
        try:
            with transaction.atomic():
                counter = CaseCounter.objects.create(year=year, last_number=0)
        except IntegrityError:  # another transaction created it first: wait for its lock
            counter = CaseCounter.objects.select_for_update().get(year=year)
    first = counter.last_number + 1
    counter.last_number += count
    counter.save(update_fields=["last_number"])
    return [(year, n, f"CASE-{year}-{n:04d}") for n in range(first, first + count)]


def _zone(name: str):
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def ensure_task_templates() -> list[TaskTemplate]:
    """The tenant's playbook templates, creating the defaults on first use (idempotent).

    Templates are deactivated, never deleted, so "no rows at all" means "never seeded".
    """
    templates = list(TaskTemplate.objects.all())
    if templates:
        return templates
    rows = [
        TaskTemplate(
            phase=phase,
            key=step.key,
            title=step.title,
            description=step.description,
            is_remediation=step.is_remediation,
            due_minutes=step.due_minutes,
            order=index,
        )
        for phase, steps in PLAYBOOKS.items()
        for index, step in enumerate(steps)
    ]
    TaskTemplate.objects.bulk_create(rows, ignore_conflicts=True)
    return list(TaskTemplate.objects.all())


def _playbook_tasks(
    pairs: Sequence[tuple[Case, str]], now: dt.datetime, *, existing: bool
) -> list[Task]:
    """Tasks for each (case, phase) from the phase's templates, skipping ones the case has."""
    if not pairs:
        return []
    templates = [t for t in ensure_task_templates() if t.is_active]
    by_phase: dict[str, list[TaskTemplate]] = defaultdict(list)
    for template in templates:
        by_phase[template.phase].append(template)
    have: set[tuple[int, int]] = set()
    if existing:
        have = set(
            Task.objects.filter(
                case_id__in=[case.pk for case, _ in pairs], template__isnull=False
            ).values_list("case_id", "template_id")
        )
    tasks = []
    for case, phase in pairs:
        for template in by_phase.get(phase, []):
            if (case.pk, template.pk) in have:
                continue
            have.add((case.pk, template.pk))
            tasks.append(
                Task(
                    case=case,
                    template=template,
                    phase=phase,
                    title=template.title,
                    description=template.description,
                    is_remediation=template.is_remediation,
                    order=PHASE_KEYS.index(phase) * 100 + template.order,
                    due_at=now + dt.timedelta(minutes=template.due_minutes)
                    if template.due_minutes
                    else None,
                    created_at=now,
                )
            )
    Task.objects.bulk_create(tasks, ignore_conflicts=True)
    return tasks


@dataclass
class _CaseSpec:
    title: str
    severity: str
    phase: str
    detected_at: dt.datetime
    description: str = ""
    tlp: str = Tlp.AMBER
    status: str = CaseStatus.NEW
    assignee_id: int | None = None
    created_by_id: int | None = None
    reason: str = ""  # why it was opened, for the timeline
    tags: list[str] = field(default_factory=list)
    watcher_ids: list[int] = field(default_factory=list)


def _open_cases(
    specs: Sequence[_CaseSpec],
    now: dt.datetime,
    audit: list[AuditEntry],
    timeline: list[TimelineEntry],
) -> list[Case]:
    """Create cases in bulk: numbers, rows, playbook tasks, milestones, SLA, webhooks.

    A handful of queries whatever the number of cases; timeline and audit entries are
    appended to the caller's lists (the caller writes them once, at the end).
    """
    if not specs:
        return []
    numbers = _take_numbers(len(specs), now)
    cases = []
    for spec, (year, seq, number) in zip(specs, numbers, strict=True):
        triaged = now if STATUS_ORDER.index(spec.status) >= STATUS_ORDER.index("triage") else None
        case = Case(
            number=number,
            year=year,
            seq=seq,
            title=spec.title,
            description=spec.description,
            severity=spec.severity,
            severity_rank=_rank(spec.severity),
            tlp=spec.tlp,
            phase=spec.phase,
            status=spec.status,
            assignee_id=spec.assignee_id,
            created_by_id=spec.created_by_id,
            detected_at=spec.detected_at,
            triaged_at=triaged,
            created_at=now,
            updated_at=now,
        )
        sla.refresh(case, (), now)
        cases.append(case)
    Case.objects.bulk_create(cases)
    milestones = []
    for spec, case in zip(specs, cases, strict=True):
        timeline.append(
            _timeline(
                case,
                TimelineEntry.Kind.CREATED,
                f"Case opened{': ' + spec.reason if spec.reason else ''}",
                {"severity": case.severity, "phase": case.phase, "status": case.status},
                at=now,
            )
        )
        milestones.append(
            _milestone_change(case, "detected_at", "stamped", None, case.detected_at, spec.reason)
        )
        if case.triaged_at:
            milestones.append(
                _milestone_change(case, "triaged_at", "stamped", None, case.triaged_at)
            )
        audit.append(
            _case_entry(
                "case.create",
                case,
                {
                    "number": [None, case.number],
                    "title": [None, case.title],
                    "severity": [None, case.severity],
                    "phase": [None, case.phase],
                    "detected_at": [None, case.detected_at],
                },
            )
        )
    MilestoneChange.objects.bulk_create(milestones)
    tag_names = sorted({name for spec in specs for name in spec.tags})
    if tag_names:
        tags = {tag.name: tag for tag in _tags_for(tag_names)}
        CaseTag.objects.bulk_create(
            [
                CaseTag(case=case, tag=tags[name])
                for spec, case in zip(specs, cases, strict=True)
                for name in spec.tags
            ]
        )
    watchers = [
        CaseWatcher(case=case, user_id=user_id)
        for spec, case in zip(specs, cases, strict=True)
        for user_id in spec.watcher_ids
    ]
    CaseWatcher.objects.bulk_create(watchers)
    _playbook_tasks([(case, case.phase) for case in cases], now, existing=False)
    _refresh_sla_many(cases, now, audit, timeline, pauses={})
    # A backfilled alert can open a case whose triage clock already breached.
    if any(case.sla_breached for case in cases):
        Case.objects.bulk_update([c for c in cases if c.sla_breached], list(sla.SLA_FIELDS))
    _emit_many("case.created", [(case, None) for case in cases])
    return cases


def _absorb(
    case: Case,
    alerts: Sequence[Alert],
    reason: str,
    timeline: list[TimelineEntry],
    milestones: list[MilestoneChange],
    now: dt.datetime,
) -> dict[str, list]:
    """Alerts joining `case`: detection moves earlier, severity and phase escalate.

    Changes the case in memory (caller saves it); returns the audit diff.
    """
    changes: dict[str, list] = {}
    earliest = min(alert.first_seen_at for alert in alerts)
    if earliest < case.detected_at:
        milestones.append(
            _milestone_change(case, "detected_at", "recomputed", case.detected_at, earliest, reason)
        )
        timeline.append(
            _timeline(
                case,
                TimelineEntry.Kind.MILESTONE,
                f"Detection moved earlier to {_fmt(earliest)} (an earlier alert joined)",
                {
                    "milestone": "detected_at",
                    "old": case.detected_at.isoformat(),
                    "new": earliest.isoformat(),
                },
                at=now,
            )
        )
        changes["detected_at"] = [case.detected_at, earliest]
        case.detected_at = earliest
    highest = _max_severity(alert.severity for alert in alerts)
    if _rank(highest) > case.severity_rank:
        timeline.append(
            _timeline(
                case,
                TimelineEntry.Kind.SEVERITY,
                f"Severity escalated {case.severity} → {highest} by a joining alert",
                {"old": case.severity, "new": highest},
                at=now,
            )
        )
        changes["severity"] = [case.severity, highest]
        case.severity, case.severity_rank = highest, _rank(highest)
    furthest = _furthest_phase([case.phase, *(alert.phase for alert in alerts)])
    if furthest and furthest != case.phase:
        timeline.append(
            _timeline(
                case,
                TimelineEntry.Kind.UPDATE,
                f"Phase advanced {case.phase} → {furthest} by a joining alert",
                {"field": "phase", "old": case.phase, "new": furthest},
                at=now,
            )
        )
        changes["phase"] = [case.phase, furthest]
        case.phase = furthest
    return changes


def _alerts_joined_entry(case: Case, alerts: Sequence[Alert], reason: str, now) -> TimelineEntry:
    titles = ", ".join(sorted({alert.title for alert in alerts})[:3])
    more = "" if len(alerts) <= 3 else f" and {len(alerts) - 3} more"
    label = "1 alert" if len(alerts) == 1 else f"{len(alerts)} alerts"
    return _timeline(
        case,
        TimelineEntry.Kind.ALERT,
        f"{label} joined ({reason}): {titles}{more}",
        {"alert_ids": [alert.pk for alert in alerts][:1000], "reason": reason},
        at=now,
    )


def _join_existing(
    joins: dict[int, list[tuple[Alert, str]]],
    now: dt.datetime,
    audit: list[AuditEntry],
    timeline: list[TimelineEntry],
    *,
    status: str = AlertStatus.MERGED,
    locked: dict[int, Case] | None = None,
) -> list[Case]:
    """Attach alerts to existing cases (locked here unless given), updating the cases."""
    if not joins:
        return []
    if locked is None:
        locked = {
            case.pk: case
            for case in Case.objects.select_for_update().filter(pk__in=list(joins)).order_by("pk")
        }
    milestones: list[MilestoneChange] = []
    changed_cases: list[Case] = []
    phase_moves: list[tuple[Case, str]] = []
    alerts_to_update: list[Alert] = []
    for case_id, items in joins.items():
        case = locked[case_id]
        alerts = [alert for alert, _ in items]
        reason = items[0][1]
        old_phase = case.phase
        changes = _absorb(case, alerts, reason, timeline, milestones, now)
        for alert in alerts:
            alert.case, alert.status, alert.updated_at = case, status, now
            if alert.pk:
                alerts_to_update.append(alert)
        timeline.append(_alerts_joined_entry(case, alerts, reason, now))
        audit.append(
            _case_entry(
                "case.alerts_join",
                case,
                {**changes, "alerts": [None, [alert.pk for alert in alerts if alert.pk][:1000]]},
            )
        )
        if case.phase != old_phase:
            phase_moves.append((case, case.phase))
        case.version += 1
        case.updated_at = now
        changed_cases.append(case)
    if alerts_to_update:
        Alert.objects.bulk_update(
            alerts_to_update, ["case", "status", "updated_at"], batch_size=500
        )
    MilestoneChange.objects.bulk_create(milestones)
    _playbook_tasks(phase_moves, now, existing=True)
    _refresh_sla_many(changed_cases, now, audit, timeline)
    Case.objects.bulk_update(
        changed_cases,
        [
            "detected_at",
            "severity",
            "severity_rank",
            "phase",
            "version",
            "updated_at",
            *sla.SLA_FIELDS,
        ],
    )
    return changed_cases
