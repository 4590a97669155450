"""Case verbs: create, update, the workflow and its milestones, pause, merge, split, links."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction

from metrics.clocks import MILESTONES, PHASE_KEYS
from metrics.targets import SEVERITY_KEYS
from tenancy.context import current_request, require_tenant
from tenancy.errors import Conflict, PreconditionFailed
from tenancy.services import AuditEntry, audit_record_many

from .. import conf, sla
from ..models import (
    JOINABLE_CASE_STATUSES,
    STATUS_ORDER,
    Alert,
    AlertStatus,
    Case,
    CaseLink,
    CasePause,
    CaseStatus,
    CaseWatcher,
    CustodyEvent,
    Evidence,
    MilestoneChange,
    Note,
    Resolution,
    Tag,
    TimelineEntry,
    Tlp,
)
from ._base import (
    UNSET,
    _actor,
    _assign,
    _aware,
    _case_entry,
    _choice,
    _clean_text,
    _fmt,
    _furthest_phase,
    _ip,
    _lock,
    _lock_alerts,
    _max_severity,
    _member_user,
    _milestone_change,
    _not_future,
    _now,
    _rank,
    _save_case,
    _set_tags,
    _set_watchers,
    _timeline,
    normalise_tags,
)
from .breaches import (
    _human,
    _refresh_sla,
)
from .creation import (
    _alerts_joined_entry,
    _CaseSpec,
    _join_existing,
    _open_cases,
    _playbook_tasks,
)
from .hooks import (
    _emit,
)


def _commit_case(
    case: Case,
    now: dt.datetime,
    *,
    action: str,
    changes: dict,
    fields: Iterable[str],
    timeline: list[TimelineEntry],
    audit: list[AuditEntry] | None = None,
    milestones: Sequence[MilestoneChange] = (),
    refresh_sla: bool = True,
) -> None:
    """The common end of every case verb: re-judge the SLA clocks, save the row with a new
    version, then write the milestone history, the timeline and the audit trail."""
    audit = [] if audit is None else audit
    fields = list(fields)
    if refresh_sla:
        timeline += _refresh_sla(case, now, audit)
        fields += sla.SLA_FIELDS
    _save_case(case, fields, now)
    MilestoneChange.objects.bulk_create(milestones)
    audit.insert(0, _case_entry(action, case, changes))
    TimelineEntry.objects.bulk_create(timeline)
    audit_record_many(audit)


# =============================================================================================
# cases
# =============================================================================================
def case_create(
    *,
    title: str,
    severity: str,
    phase: str,
    tlp: str = Tlp.AMBER,
    description: str = "",
    assignee: AbstractBaseUser | int | None = None,
    tags: Sequence[str] = (),
    watchers: Sequence[AbstractBaseUser | int] = (),
    detected_at: dt.datetime | None = None,
    alerts: Sequence[Alert | int] = (),
) -> Case:
    """Open a case by hand (browser, API). `detected_at` defaults to the earliest observed
    time of `alerts`, else now; the phase's playbook becomes tasks."""
    now = _now()
    user_id, label = _actor()
    title = _clean_text(title, "title", 300, required=True)
    description = _clean_text(description, "description", 100_000)
    severity = _choice(severity, "severity", SEVERITY_KEYS)
    phase = _choice(phase, "phase", PHASE_KEYS)
    tlp = _choice(tlp, "tlp", Tlp.values)
    tag_names = normalise_tags(tags)
    assignee_user = _member_user(assignee)
    watcher_ids = sorted({_member_user(user, "watchers").pk for user in watchers})
    if detected_at is not None:
        _not_future(_aware(detected_at, "detected_at"), "detected_at", now)
    with transaction.atomic():
        rows = _lock_alerts(alerts) if alerts else []
        if any(alert.case_id or alert.status == "dismissed" for alert in rows):
            raise Conflict("Some of these alerts are dismissed or already in a case.")
        detection = [alert.first_seen_at for alert in rows]
        if detected_at is not None:
            detection.append(detected_at)
        spec = _CaseSpec(
            title=title,
            description=description,
            severity=severity,
            phase=phase,
            tlp=tlp,
            detected_at=min(detection) if detection else now,
            assignee_id=assignee_user.pk if assignee_user else None,
            created_by_id=user_id,
            tags=tag_names,
            watcher_ids=watcher_ids,
            reason=f"by {label}",
        )
        audit: list[AuditEntry] = []
        timeline: list[TimelineEntry] = []
        (case,) = _open_cases([spec], now, audit, timeline)
        if rows:
            for alert in rows:
                alert.case, alert.status, alert.updated_at = case, AlertStatus.PROMOTED, now
            Alert.objects.bulk_update(rows, ["case", "status", "updated_at"])
            timeline.append(_alerts_joined_entry(case, rows, "attached at creation", now))
            higher = _max_severity([case.severity, *(alert.severity for alert in rows)])
            if higher != case.severity:
                case.severity, case.severity_rank = higher, _rank(higher)
                case.save(update_fields=["severity", "severity_rank"])
        TimelineEntry.objects.bulk_create(timeline)
        audit_record_many(audit)
    return case


def case_update(
    *,
    case: Case,
    expected_version: int | None = None,
    title: Any = UNSET,
    description: Any = UNSET,
    severity: Any = UNSET,
    tlp: Any = UNSET,
    phase: Any = UNSET,
    assignee: Any = UNSET,
    tags: Any = UNSET,
    watchers: Any = UNSET,
) -> Case:
    """Change a case's descriptive fields (not status or milestones: those have verbs).

    A phase change applies the new phase's playbook; severity or phase changes re-judge the
    SLA clocks against the new targets.
    """
    now = _now()
    values: dict[str, Any] = {}
    if title is not UNSET:
        values["title"] = _clean_text(title, "title", 300, required=True)
    if description is not UNSET:
        values["description"] = _clean_text(description, "description", 100_000)
    if severity is not UNSET:
        values["severity"] = _choice(severity, "severity", SEVERITY_KEYS)
    if tlp is not UNSET:
        values["tlp"] = _choice(tlp, "tlp", Tlp.values)
    if phase is not UNSET:
        values["phase"] = _choice(phase, "phase", PHASE_KEYS)
    tag_names = normalise_tags(tags) if tags is not UNSET else None
    assignee_user = _member_user(assignee) if assignee is not UNSET else UNSET
    with transaction.atomic():
        case = _lock(case, expected_version)
        if case.merged_into_id:
            raise Conflict(f"{case.number} was merged into another case; change that one.")
        changes = _assign(case, values)
        if "severity" in values:
            case.severity_rank = _rank(case.severity)
        audit: list[AuditEntry] = []
        timeline: list[TimelineEntry] = []
        if assignee_user is not UNSET:
            new_id = assignee_user.pk if assignee_user else None
            if new_id != case.assignee_id:
                changes["assignee"] = [case.assignee_id, new_id]
                timeline.append(_assignment_entry(case, assignee_user, now))
                case.assignee_id = new_id
        if tag_names is not None:
            old_tags, new_tags = _set_tags(case, tag_names)
            if old_tags != new_tags:
                changes["tags"] = [old_tags, new_tags]
        if watchers is not UNSET:
            old_w, new_w = _set_watchers(case, watchers)
            if old_w != new_w:
                changes["watchers"] = [old_w, new_w]
        if not changes:
            return case
        for name in ("title", "description", "tlp"):
            if name in changes:
                timeline.append(
                    _timeline(
                        case,
                        TimelineEntry.Kind.UPDATE,
                        f"{name.capitalize()} changed"
                        + (f": {changes[name][1]}" if name != "description" else ""),
                        {"field": name},
                        at=now,
                    )
                )
        if "severity" in changes:
            timeline.append(
                _timeline(
                    case,
                    TimelineEntry.Kind.SEVERITY,
                    f"Severity {changes['severity'][0]} → {changes['severity'][1]}",
                    {"old": changes["severity"][0], "new": changes["severity"][1]},
                    at=now,
                )
            )
        if "phase" in changes:
            timeline.append(
                _timeline(
                    case,
                    TimelineEntry.Kind.UPDATE,
                    f"Phase {changes['phase'][0]} → {changes['phase'][1]}",
                    {"field": "phase", "old": changes["phase"][0], "new": changes["phase"][1]},
                    at=now,
                )
            )
            _playbook_tasks([(case, case.phase)], now, existing=True)
        if "tags" in changes:
            timeline.append(
                _timeline(
                    case,
                    TimelineEntry.Kind.UPDATE,
                    "Tags: " + (", ".join(changes["tags"][1]) or "none"),
                    {"field": "tags"},
                    at=now,
                )
            )
        _commit_case(
            case,
            now,
            action="case.update",
            changes=changes,
            timeline=timeline,
            audit=audit,
            fields=[*values, "severity_rank", "assignee"],
            refresh_sla="severity" in changes or "phase" in changes,
        )
    return case


def _assignment_entry(case: Case, user, now) -> TimelineEntry:
    name = user.get_username() if user else "nobody"
    return _timeline(
        case,
        TimelineEntry.Kind.ASSIGNMENT,
        f"Assigned to {name}",
        {"assignee": user.pk if user else None},
        at=now,
    )


def case_assign(
    *, case: Case, assignee: AbstractBaseUser | int | None, expected_version: int | None = None
) -> Case:
    return case_update(case=case, assignee=assignee, expected_version=expected_version)


# --- workflow ---------------------------------------------------------------------------------
# Entering a status stamps these milestones when they are empty (scoped_at has its own action).
_STAMPS: dict[str, tuple[str, ...]] = {
    "new": (),
    "triage": ("triaged_at",),
    "investigating": ("triaged_at",),
    "contained": ("triaged_at", "contained_at"),
    # A remediated endpoint is contained by definition.
    "remediated": ("triaged_at", "contained_at", "remediated_at"),
    "closed": ("triaged_at", "closed_at"),
}


def allowed_transitions(case: Case) -> list[str]:
    """Statuses the case may move to now: forward only (reopen is its own verb)."""
    if case.status == CaseStatus.CLOSED:
        return []
    position = STATUS_ORDER.index(case.status)
    return list(STATUS_ORDER[position + 1 :])


def case_transition(
    *,
    case: Case,
    status: str,
    resolution: str = "",
    reason: str = "",
    expected_version: int | None = None,
) -> Case:
    """Move a case forward: new → triage → investigating → contained → remediated → closed.

    Steps may be skipped (a false positive closes straight from triage). Entering a status
    stamps its milestones if empty (see `_STAMPS`). Closing needs a resolution, and a true
    positive closes only once remediated — otherwise the remediation clock would have
    nothing to stop on.
    """
    status = _choice(status, "status", STATUS_ORDER)
    reason = _clean_text(reason, "reason", 1000)
    if status == CaseStatus.CLOSED:
        resolution = _choice(resolution, "resolution", Resolution.values)
    elif resolution:
        raise ValidationError({"resolution": "only when closing"})
    now = _now()
    with transaction.atomic():
        case = _lock(case, expected_version)
        if case.merged_into_id:
            raise Conflict(f"{case.number} was merged into another case.")
        if status not in allowed_transitions(case):
            raise Conflict(
                f"{case.number} is {case.status}; it can move to "
                f"{', '.join(allowed_transitions(case)) or 'nothing (reopen it first)'}, "
                f"not {status}."
            )
        if (
            status == CaseStatus.CLOSED
            and resolution == Resolution.TRUE_POSITIVE
            and case.remediated_at is None
        ):
            raise Conflict(
                "A true positive closes after remediation: mark the case remediated first."
            )
        old = case.status
        audit: list[AuditEntry] = []
        timeline: list[TimelineEntry] = [
            _timeline(
                case,
                TimelineEntry.Kind.STATUS,
                f"Status {old} → {status}"
                + (f" ({resolution})" if resolution else "")
                + (f": {reason}" if reason else ""),
                {"old": old, "new": status, "resolution": resolution},
                at=now,
            )
        ]
        changes: dict[str, list] = {"status": [old, status]}
        milestones = []
        fields = ["status", "resolution"]
        for name in _STAMPS[status]:
            if getattr(case, name) is None:
                setattr(case, name, now)
                fields.append(name)
                changes[name] = [None, now]
                milestones.append(_milestone_change(case, name, "stamped", None, now, reason))
                timeline.append(
                    _timeline(
                        case,
                        TimelineEntry.Kind.MILESTONE,
                        f"{name.removesuffix('_at').capitalize()} at {_fmt(now)}",
                        {"milestone": name, "new": now.isoformat()},
                        at=now,
                    )
                )
        case.status = status
        if resolution:
            case.resolution = resolution
            changes["resolution"] = ["", resolution]
        if status == CaseStatus.CLOSED and case.paused_at is not None:
            timeline += _end_pause(case, now, "case closed")
            fields.append("paused_at")
        _commit_case(
            case,
            now,
            action="case.transition",
            changes=changes,
            fields=fields,
            timeline=timeline,
            audit=audit,
            milestones=milestones,
        )
        _emit("case.status_changed", case, {"from": old, "to": status, "resolution": resolution})
    return case


def case_scope_done(*, case: Case, expected_version: int | None = None) -> Case:
    """Scoping is done (IOCs searched enterprise-wide, affected endpoints known): stamps
    `scoped_at`. A case still new or in triage moves to investigating."""
    now = _now()
    with transaction.atomic():
        case = _lock(case, expected_version)
        if case.scoped_at is not None:
            raise Conflict(
                f"Scoping was already recorded at {_fmt(case.scoped_at)}; correct the milestone "
                "with a reason if it is wrong."
            )
        if not case.is_open:
            raise Conflict(f"{case.number} is closed.")
        audit: list[AuditEntry] = []
        timeline = [
            _timeline(
                case,
                TimelineEntry.Kind.MILESTONE,
                f"Scoping done at {_fmt(now)}",
                {"milestone": "scoped_at", "new": now.isoformat()},
                at=now,
            )
        ]
        milestones = [_milestone_change(case, "scoped_at", "stamped", None, now)]
        changes: dict[str, list] = {"scoped_at": [None, now]}
        case.scoped_at = now
        fields = ["scoped_at"]
        if case.triaged_at is None:
            case.triaged_at = now
            fields.append("triaged_at")
            changes["triaged_at"] = [None, now]
            milestones.append(_milestone_change(case, "triaged_at", "stamped", None, now))
        old = case.status
        if case.status in (CaseStatus.NEW, CaseStatus.TRIAGE):
            case.status = CaseStatus.INVESTIGATING
            fields.append("status")
            changes["status"] = [old, case.status]
            timeline.append(
                _timeline(
                    case,
                    TimelineEntry.Kind.STATUS,
                    f"Status {old} → {case.status}",
                    {"old": old, "new": case.status},
                    at=now,
                )
            )
        _commit_case(
            case,
            now,
            action="case.scope_done",
            changes=changes,
            fields=fields,
            timeline=timeline,
            audit=audit,
            milestones=milestones,
        )
        if old != case.status:
            _emit("case.status_changed", case, {"from": old, "to": case.status})
    return case


def case_reopen(*, case: Case, reason: str, expected_version: int | None = None) -> Case:
    """Reopen a remediated or closed case (the endpoint was not clean after all).

    Clears `remediated_at` and `closed_at` (their values stay in MilestoneChange, kind
    "reopened") so the case keeps only its final remediation — the "final" reopen rule of
    the remediation clock in metrics/clocks.py. Triage, scoping and containment keep their
    first occurrence.
    """
    reason = _clean_text(reason, "reason", 1000, required=True)
    now = _now()
    with transaction.atomic():
        case = _lock(case, expected_version)
        if case.merged_into_id:
            raise Conflict(f"{case.number} was merged into another case; reopen that one.")
        if case.status not in (CaseStatus.REMEDIATED, CaseStatus.CLOSED):
            raise Conflict(
                f"{case.number} is {case.status}: only remediated or closed cases reopen."
            )
        old = case.status
        changes: dict[str, list] = {"status": [old, "investigating"]}
        milestones = []
        for name in ("remediated_at", "closed_at"):
            value = getattr(case, name)
            if value is not None:
                milestones.append(_milestone_change(case, name, "reopened", value, None, reason))
                changes[name] = [value, None]
                setattr(case, name, None)
        if case.resolution:
            changes["resolution"] = [case.resolution, ""]
        case.status, case.resolution = CaseStatus.INVESTIGATING, ""
        timeline = [
            _timeline(
                case,
                TimelineEntry.Kind.REOPEN,
                f"Reopened ({old} → investigating): {reason}",
                {
                    "old": old,
                    "new": case.status,
                    "reason": reason,
                    "cleared": [name for name in ("remediated_at", "closed_at") if name in changes],
                },
                at=now,
            )
        ]
        _commit_case(
            case,
            now,
            action="case.reopen",
            changes={**changes, "reason": [None, reason]},
            fields=["status", "resolution", "remediated_at", "closed_at"],
            timeline=timeline,
            milestones=milestones,
        )
        _emit("case.status_changed", case, {"from": old, "to": case.status, "reopened": True})
    return case


def _required_milestones(case: Case) -> set[str]:
    """Milestones the case's status implies; a correction may not clear them."""
    required = {"detected_at", *_STAMPS[case.status]}
    if case.status == CaseStatus.CLOSED and case.resolution == Resolution.TRUE_POSITIVE:
        required.add("remediated_at")
    return required


def case_correct_milestone(
    *,
    case: Case,
    milestone: str,
    value: dt.datetime | None,
    reason: str,
    expected_version: int | None = None,
) -> Case:
    """Correct a milestone that the workflow stamped wrongly. A reason is required; the old
    value, the new one and the reason go to MilestoneChange, the timeline and the audit trail.

    A corrected value may not be in the future nor before detection (nor, for `detected_at`,
    after another milestone): a correction must not create a negative span.
    """
    milestone = _choice(milestone, "milestone", MILESTONES)
    reason = _clean_text(reason, "reason", 1000, required=True)
    if len(reason) < 5:
        raise ValidationError({"reason": "say why, in a few words"})
    now = _now()
    if value is not None:
        _not_future(_aware(value, "value"), "value", now)
    with transaction.atomic():
        case = _lock(case, expected_version)
        if value is None and milestone in _required_milestones(case):
            raise ValidationError({"value": f"a {case.status} case needs {milestone}"})
        old = getattr(case, milestone)
        if old == value:
            raise ValidationError({"value": "that is already the value"})
        if value is not None:
            if milestone == "detected_at":
                later = [getattr(case, name) for name in MILESTONES[1:] if getattr(case, name)]
                if later and value > min(later):
                    raise ValidationError({"value": "detection cannot be after another milestone"})
            elif value < case.detected_at:
                raise ValidationError({"value": "cannot be before detection"})
        setattr(case, milestone, value)
        timeline = [
            _timeline(
                case,
                TimelineEntry.Kind.CORRECTION,
                f"{milestone} corrected {_fmt(old)} → {_fmt(value)}: {reason}",
                {
                    "milestone": milestone,
                    "old": old.isoformat() if old else None,
                    "new": value.isoformat() if value else None,
                    "reason": reason,
                },
                at=now,
            )
        ]
        _commit_case(
            case,
            now,
            action="case.milestone_correct",
            changes={milestone: [old, value], "reason": [None, reason]},
            fields=[milestone],
            timeline=timeline,
            milestones=[_milestone_change(case, milestone, "corrected", old, value, reason)],
        )
    return case


def _end_pause(case: Case, now: dt.datetime, why: str) -> list[TimelineEntry]:
    CasePause.objects.filter(case=case, ended_at__isnull=True).update(ended_at=now)
    paused_for = now - case.paused_at if case.paused_at else dt.timedelta(0)
    case.paused_at = None
    return [
        _timeline(
            case,
            TimelineEntry.Kind.RESUME,
            f"SLA clocks resumed ({why}) after {_human(paused_for)}",
            {"paused_seconds": int(paused_for.total_seconds())},
            at=now,
        )
    ]


def case_pause(*, case: Case, reason: str, expected_version: int | None = None) -> Case:
    """Stop the SLA clocks for a recorded reason (e.g. waiting for the customer)."""
    reason = _clean_text(reason, "reason", 500, required=True)
    now = _now()
    user_id, _ = _actor()
    with transaction.atomic():
        case = _lock(case, expected_version)
        if not case.is_open:
            raise Conflict(f"{case.number} is closed; its clocks have stopped.")
        if case.paused_at is not None:
            raise Conflict(f"{case.number} is already paused.")
        CasePause.objects.create(case=case, started_at=now, reason=reason, by_id=user_id)
        case.paused_at = now
        timeline = [
            _timeline(
                case,
                TimelineEntry.Kind.PAUSE,
                f"SLA clocks paused: {reason}",
                {"reason": reason},
                at=now,
            )
        ]
        _commit_case(
            case,
            now,
            action="case.pause",
            changes={"paused_at": [None, now], "reason": [None, reason]},
            fields=["paused_at"],
            timeline=timeline,
        )
    return case


def case_resume(*, case: Case, expected_version: int | None = None) -> Case:
    now = _now()
    with transaction.atomic():
        case = _lock(case, expected_version)
        if case.paused_at is None:
            raise Conflict(f"{case.number} is not paused.")
        old = case.paused_at
        _commit_case(
            case,
            now,
            action="case.resume",
            changes={"paused_at": [old, None]},
            fields=["paused_at"],
            timeline=_end_pause(case, now, "resumed by hand"),
        )
    return case


def case_merge(
    *, source: Case, target: Case, reason: str = "", expected_version: int | None = None
) -> Case:
    """Merge `source` into `target` (the survivor): alerts, notes, evidence and links move;
    `source` is closed as a duplicate and points to `target`. Returns the survivor."""
    reason = _clean_text(reason, "reason", 1000)
    if source.pk == target.pk:
        raise ValidationError({"target": "a case cannot be merged into itself"})
    now = _now()
    with transaction.atomic():
        # Lock both rows in id order, so two opposite merges cannot deadlock.
        first, second = sorted([source.pk, target.pk])
        locked = {pk: _lock(pk) for pk in (first, second)}
        source, target = locked[source.pk], locked[target.pk]
        if expected_version is not None and source.version != expected_version:
            raise PreconditionFailed(f"{source.number} changed since you read it.")
        if source.merged_into_id or target.merged_into_id:
            raise Conflict("One of these cases was already merged.")
        if target.status not in JOINABLE_CASE_STATUSES:
            raise Conflict(f"{target.number} is {target.status}; merge into an open case.")
        if source.status == CaseStatus.CLOSED:
            raise Conflict(f"{source.number} is closed; reopen it before merging.")
        audit: list[AuditEntry] = []
        timeline: list[TimelineEntry] = []
        alerts = list(Alert.objects.filter(case=source))
        if alerts:
            _join_existing(
                {target.pk: [(alert, f"merged from {source.number}") for alert in alerts]},
                now,
                audit,
                timeline,
                locked={target.pk: target},
            )
        moved_notes = Note.objects.filter(case=source).update(case=target)
        evidence = list(Evidence.objects.filter(case=source))
        Evidence.objects.filter(case=source).update(case=target)
        user_id, label = _actor()
        info = current_request()
        CustodyEvent.objects.bulk_create(
            [
                CustodyEvent(
                    evidence=item,
                    action="move",
                    at=now,
                    user_id=user_id,
                    actor_label=label,
                    ip=_ip(info.ip),
                    request_id=info.request_id[:64],
                    detail=f"{source.number} → {target.number} (merge)",
                )
                for item in evidence
            ]
        )
        target_links = set(
            CaseLink.objects.filter(case=target).values_list(
                "content_type_id", "object_id", "relation"
            )
        )
        for link in CaseLink.objects.filter(case=source):
            if (link.content_type_id, link.object_id, link.relation) not in target_links:
                CaseLink.objects.filter(pk=link.pk).update(case=target)
        source_tags = list(Tag.objects.filter(cases=source).values_list("name", flat=True))
        if source_tags:
            target_tags = list(Tag.objects.filter(cases=target).values_list("name", flat=True))
            _set_tags(target, sorted({*source_tags, *target_tags}))
        watcher_ids = set(CaseWatcher.objects.filter(case=source).values_list("user_id", flat=True))
        CaseWatcher.objects.bulk_create(
            [CaseWatcher(case=target, user_id=pk) for pk in watcher_ids], ignore_conflicts=True
        )
        summary = f"{len(alerts)} alerts, {moved_notes} notes, {len(evidence)} evidence files"
        timeline.append(
            _timeline(
                target,
                TimelineEntry.Kind.MERGE,
                f"{source.number} merged into this case ({summary})"
                + (f": {reason}" if reason else ""),
                {"source": source.pk, "source_number": source.number},
                at=now,
            )
        )
        if not alerts:
            target.version += 1
            target.updated_at = now
            target.save(update_fields=["version", "updated_at"])
        old = source.status
        source.status, source.resolution, source.merged_into = (
            CaseStatus.CLOSED,
            Resolution.DUPLICATE,
            target,
        )
        fields = ["status", "resolution", "merged_into"]
        for name in ("triaged_at", "closed_at"):
            if getattr(source, name) is None:
                setattr(source, name, now)
                fields.append(name)
        timeline.append(
            _timeline(
                source,
                TimelineEntry.Kind.MERGE,
                f"Merged into {target.number} ({summary}); closed as duplicate"
                + (f": {reason}" if reason else ""),
                {"target": target.pk, "target_number": target.number},
                at=now,
            )
        )
        if source.paused_at is not None:
            timeline += _end_pause(source, now, "case merged")
            fields.append("paused_at")
        timeline += _refresh_sla(source, now, audit)
        _save_case(source, [*fields, *sla.SLA_FIELDS], now)
        audit.insert(
            0,
            _case_entry(
                "case.merge",
                source,
                {
                    "merged_into": [None, target.pk],
                    "status": [old, "closed"],
                    "moved": [None, summary],
                },
            ),
        )
        TimelineEntry.objects.bulk_create(timeline)
        audit_record_many(audit)
        _emit(
            "case.status_changed",
            source,
            {"from": old, "to": "closed", "merged_into": target.number},
        )
    return target


def case_split(
    *,
    case: Case,
    alerts: Sequence[Alert | int],
    title: str = "",
    expected_version: int | None = None,
) -> Case:
    """Move some alerts of `case` into a new case (a second intrusion, not the same one).

    The new case starts in triage with the same TLP and assignee; each case's detection
    time is then the earliest observed time of the alerts it keeps.
    """
    now = _now()
    title = _clean_text(title, "title", 300)
    with transaction.atomic():
        case = _lock(case, expected_version)
        if not case.is_open:
            raise Conflict(f"{case.number} is closed.")
        rows = _lock_alerts(alerts)
        if any(alert.case_id != case.pk for alert in rows):
            raise ValidationError({"alerts": f"every alert must belong to {case.number}"})
        remaining = list(Alert.objects.filter(case=case).exclude(pk__in=[a.pk for a in rows]))
        if not remaining:
            raise ValidationError({"alerts": "leave at least one alert in the case"})
        audit: list[AuditEntry] = []
        timeline: list[TimelineEntry] = []
        spec = _CaseSpec(
            title=title or rows[0].title,
            severity=_max_severity(alert.severity for alert in rows),
            phase=_furthest_phase(alert.phase for alert in rows) or case.phase,
            detected_at=min(alert.first_seen_at for alert in rows),
            tlp=case.tlp,
            status=CaseStatus.TRIAGE,
            assignee_id=case.assignee_id,
            created_by_id=_actor()[0],
            reason=f"split from {case.number}",
        )
        (new_case,) = _open_cases([spec], now, audit, timeline)
        for alert in rows:
            alert.case, alert.status, alert.updated_at = new_case, AlertStatus.PROMOTED, now
        Alert.objects.bulk_update(rows, ["case", "status", "updated_at"])
        timeline.append(_alerts_joined_entry(new_case, rows, f"split from {case.number}", now))
        timeline.append(
            _timeline(
                case,
                TimelineEntry.Kind.SPLIT,
                f"{len(rows)} alerts split into {new_case.number}",
                {"new_case": new_case.pk, "alert_ids": [a.pk for a in rows]},
                at=now,
            )
        )
        fields = []
        earliest = min(alert.first_seen_at for alert in remaining)
        if earliest != case.detected_at:
            _milestone_change(
                case,
                "detected_at",
                "recomputed",
                case.detected_at,
                earliest,
                f"alerts split into {new_case.number}",
                at=now,
            ).save()
            timeline.append(
                _timeline(
                    case,
                    TimelineEntry.Kind.MILESTONE,
                    f"Detection recomputed {_fmt(case.detected_at)} → {_fmt(earliest)} "
                    "from the remaining alerts",
                    {"milestone": "detected_at"},
                    at=now,
                )
            )
            case.detected_at = earliest
            fields.append("detected_at")
        _commit_case(
            case,
            now,
            action="case.split",
            changes={"alerts": [[a.pk for a in rows], None], "new_case": [None, new_case.number]},
            fields=fields,
            timeline=timeline,
            audit=audit,
        )
    return new_case


def case_bulk_update(
    *,
    cases: Sequence[Case | int],
    assignee: Any = UNSET,
    status: str | None = None,
    resolution: str = "",
    reason: str = "",
) -> list[Case]:
    """Assign and/or move many cases at once, all or nothing: one refusal rolls back all,
    and the error names every case that was refused."""
    ids = [case.pk if isinstance(case, Case) else case for case in cases]
    if not ids:
        raise ValidationError({"ids": "choose at least one case"})
    if len(ids) > conf.MAX_CASES_PER_BULK:
        raise ValidationError({"ids": f"at most {conf.MAX_CASES_PER_BULK} cases at once"})
    if assignee is UNSET and not status:
        raise ValidationError({"non_field_errors": "nothing to change: give assignee or status"})
    rows = list(Case.objects.filter(pk__in=ids).order_by("pk"))
    if len(rows) != len(set(ids)):
        raise ValidationError({"ids": "unknown case"})
    errors: dict[str, str] = {}
    done: list[Case] = []
    with transaction.atomic():
        for case in rows:
            try:
                with transaction.atomic():
                    if assignee is not UNSET:
                        case = case_update(case=case, assignee=assignee)
                    if status and status != case.status:
                        case = case_transition(
                            case=case, status=status, resolution=resolution, reason=reason
                        )
                done.append(case)
            except ValidationError as exc:
                if hasattr(exc, "error_dict") and set(exc.error_dict) & {
                    "assignee",
                    "status",
                    "resolution",
                }:
                    raise
                errors[case.number] = "; ".join(exc.messages)
            except (Conflict, PreconditionFailed) as exc:
                errors[case.number] = str(exc.detail)
        if errors:
            transaction.set_rollback(True)
    if errors:
        raise ValidationError(
            {"ids": [f"{number}: {message}" for number, message in errors.items()]}
        )
    return done


# --- links ----------------------------------------------------------------------------------
def case_link(
    *, case: Case, obj: models.Model, relation: str = CaseLink.Relation.RELATED
) -> CaseLink:
    """Attach any object (endpoint, IOC, hit, response action...) to a case; idempotent.

    The object must belong to the tenant in context when it is tenant-owned. The case page
    shows it through its `get_absolute_url()` and `__str__`.
    """
    relation = _choice(relation, "relation", CaseLink.Relation.values)
    if obj is None or obj.pk is None:
        raise ValidationError({"object": "save the object before linking it"})
    tenant = require_tenant()
    if hasattr(obj, "tenant_id") and obj.tenant_id != tenant.pk:
        raise ValidationError({"object": "unknown object"})
    content_type = ContentType.objects.get_for_model(obj)
    now = _now()
    user_id, _ = _actor()
    with transaction.atomic():
        case = _lock(case)
        link, created = CaseLink.objects.get_or_create(
            case=case,
            content_type=content_type,
            object_id=str(obj.pk),
            relation=relation,
            defaults={"object_repr": str(obj)[:200], "created_by_id": user_id, "created_at": now},
        )
        if created:
            TimelineEntry.objects.bulk_create(
                [
                    _timeline(
                        case,
                        TimelineEntry.Kind.LINK,
                        f"Linked {content_type.model} {link.object_repr} ({relation})",
                        {"link": link.pk, "type": content_type.model},
                        at=now,
                    )
                ]
            )
            audit_record_many(
                [
                    _case_entry(
                        "case.link",
                        case,
                        {
                            "link": [
                                None,
                                f"{content_type.app_label}.{content_type.model}:{obj.pk}",
                            ],
                            "relation": [None, relation],
                        },
                    )
                ]
            )
    return link


def case_unlink(*, link: CaseLink) -> None:
    now = _now()
    with transaction.atomic():
        case = _lock(link.case_id)
        TimelineEntry.objects.bulk_create(
            [
                _timeline(
                    case,
                    TimelineEntry.Kind.LINK,
                    f"Unlinked {link.object_repr}",
                    {"type": link.content_type_id},
                    at=now,
                )
            ]
        )
        audit_record_many([_case_entry("case.unlink", case, {"link": [link.object_repr, None]})])
        link.delete()
