"""Alert triage: acknowledge, dismiss, restore, promote."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from tenancy.errors import Conflict
from tenancy.models import Membership
from tenancy.services import AuditEntry, audit_record_many

from ..models import (
    JOINABLE_CASE_STATUSES,
    Alert,
    AlertStatus,
    Case,
    CaseStatus,
    DismissReason,
    TimelineEntry,
)
from ._base import (
    WORKING_ROLES,
    _actor,
    _choice,
    _clean_text,
    _entry,
    _furthest_phase,
    _lock,
    _lock_alerts,
    _max_severity,
    _now,
)
from .creation import (
    _alerts_joined_entry,
    _CaseSpec,
    _join_existing,
    _open_cases,
)
from .workflow import (
    case_transition,
)

# =============================================================================================
# alert triage
# =============================================================================================


def alert_acknowledge(*, alerts: Sequence[Alert | int]) -> list[Alert]:
    """An analyst has seen these alerts. An alert already in a new case triages that case."""
    now = _now()
    user_id, _ = _actor()
    with transaction.atomic():
        rows = _lock_alerts(alerts)
        changed = [alert for alert in rows if alert.acknowledged_at is None]
        for alert in changed:
            alert.acknowledged_at, alert.acknowledged_by_id, alert.updated_at = now, user_id, now
            if alert.status == AlertStatus.NEW:
                alert.status = AlertStatus.ACKNOWLEDGED
        Alert.objects.bulk_update(
            changed, ["status", "acknowledged_at", "acknowledged_by", "updated_at"]
        )
        audit = [
            _entry("alert.acknowledge", alert, {"status": [None, alert.status]})
            for alert in changed
        ]
        audit_record_many(audit)
        case_ids = {alert.case_id for alert in changed if alert.case_id}
        for case in Case.objects.filter(pk__in=case_ids, status=CaseStatus.NEW):
            case_transition(
                case=case, status=CaseStatus.TRIAGE, reason="an alert of the case was acknowledged"
            )
    return rows


def alert_dismiss(*, alerts: Sequence[Alert | int], reason: str, note: str = "") -> list[Alert]:
    """Close alerts that need no case: false positive, benign or duplicate (reason required)."""
    reason = _choice(reason, "reason", DismissReason.values)
    note = _clean_text(note, "note", 500)
    now = _now()
    user_id, _ = _actor()
    with transaction.atomic():
        rows = _lock_alerts(alerts)
        in_case = [alert for alert in rows if alert.case_id is not None]
        if in_case:
            raise Conflict(
                f"{len(in_case)} of these alerts belong to a case; split them out or close the "
                "case instead."
            )
        for alert in rows:
            alert.status, alert.dismiss_reason, alert.updated_at = "dismissed", reason, now
            if alert.acknowledged_at is None:
                alert.acknowledged_at, alert.acknowledged_by_id = now, user_id
        Alert.objects.bulk_update(
            rows, ["status", "dismiss_reason", "acknowledged_at", "acknowledged_by", "updated_at"]
        )
        audit_record_many(
            [
                _entry(
                    "alert.dismiss",
                    alert,
                    {
                        "status": [None, "dismissed"],
                        "dismiss_reason": [None, reason],
                        **({"note": [None, note]} if note else {}),
                    },
                )
                for alert in rows
            ]
        )
    return rows


def alert_restore(*, alerts: Sequence[Alert | int]) -> list[Alert]:
    """Undo a dismissal: the alerts go back to the queue as acknowledged."""
    now = _now()
    with transaction.atomic():
        rows = [alert for alert in _lock_alerts(alerts) if alert.status == "dismissed"]
        for alert in rows:
            alert.status, alert.dismiss_reason, alert.updated_at = "acknowledged", "", now
        Alert.objects.bulk_update(rows, ["status", "dismiss_reason", "updated_at"])
        audit_record_many(
            [_entry("alert.restore", a, {"status": ["dismissed", a.status]}) for a in rows]
        )
    return rows


def alert_promote(
    *,
    alerts: Sequence[Alert | int],
    case: Case | None = None,
    title: str = "",
    expected_version: int | None = None,
) -> Case:
    """An analyst promotes alerts: into a new case (in triage, triaged now) or an existing one.

    Promoting is triage: the new case starts in "triage" with `triaged_at` stamped, and its
    `detected_at` is the earliest observed time of the alerts.
    """
    now = _now()
    user_id, label = _actor()
    with transaction.atomic():
        rows = _lock_alerts(alerts)
        taken = [alert for alert in rows if alert.status in ("dismissed",)]
        if taken:
            raise Conflict("Dismissed alerts cannot be promoted; restore them first.")
        elsewhere = [
            alert for alert in rows if alert.case_id and (case is None or alert.case_id != case.pk)
        ]
        if elsewhere:
            raise Conflict(
                "Some of these alerts are already in another case; split them out first."
            )
        audit: list[AuditEntry] = []
        timeline: list[TimelineEntry] = []
        rows = [alert for alert in rows if alert.case_id is None]
        if not rows:
            if case is None:
                raise Conflict("These alerts are already in this case.")
            return case
        for alert in rows:
            if alert.acknowledged_at is None:
                alert.acknowledged_at, alert.acknowledged_by_id = now, user_id
        if case is None:
            title = _clean_text(title, "title", 300) or rows[0].title
            spec = _CaseSpec(
                title=title,
                severity=_max_severity(alert.severity for alert in rows),
                phase=_furthest_phase(alert.phase for alert in rows) or "initial_infection",
                detected_at=min(alert.first_seen_at for alert in rows),
                status=CaseStatus.TRIAGE,
                created_by_id=user_id,
                assignee_id=_assignable(user_id),
                reason=f"promoted from the alert queue by {label}",
            )
            (target,) = _open_cases([spec], now, audit, timeline)
            for alert in rows:
                alert.case, alert.status, alert.updated_at = target, AlertStatus.PROMOTED, now
            timeline.append(_alerts_joined_entry(target, rows, "promoted", now))
            Alert.objects.bulk_update(
                rows, ["case", "status", "acknowledged_at", "acknowledged_by", "updated_at"]
            )
        else:
            target = _lock(case, expected_version)
            if target.status not in JOINABLE_CASE_STATUSES:
                raise Conflict(f"{target.number} is {target.status}; reopen it to add alerts.")
            Alert.objects.bulk_update(rows, ["acknowledged_at", "acknowledged_by"])
            _join_existing(
                {target.pk: [(alert, f"added by {label}") for alert in rows]},
                now,
                audit,
                timeline,
                locked={target.pk: target},
            )
        for alert in rows:
            audit.append(_entry("alert.promote", alert, {"case": [None, target.pk]}))
        TimelineEntry.objects.bulk_create(timeline)
        audit_record_many(audit)
    return target


def _assignable(user_id: int | None) -> int | None:
    """The acting user as default assignee, if they work cases here."""
    if user_id is None:
        return None
    exists = Membership.objects.filter(user_id=user_id, role__in=WORKING_ROLES).exists()
    return user_id if exists else None
