"""The verbs of the metrics app: SLA targets, regulatory flags and notifications, reports.

Each function is keyword-only, validates before saving, runs in a transaction and appends to
the audit trail in it. Who acts comes from the request or task context, as for the audit
trail. Bad input raises `ValidationError` naming the field; a change the state does not
allow raises `Conflict` (409).
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from metrics.aggregation import NO_FILTERS, Filters
from metrics.clocks import CLOCKS_BY_KEY, DEFINITIONS_VERSION, PHASE_KEYS
from metrics.periods import Period, last_complete_month, month_period
from metrics.regulatory import REGIMES
from metrics.targets import SEVERITY_KEYS
from tenancy import outbox
from tenancy.audit import diff
from tenancy.context import current_request, require_tenant
from tenancy.errors import Conflict
from tenancy.services import audit_record
from tenancy.tasks import actor_kwargs

from . import selectors
from .models import RegulatoryFlag, RegulatoryNotification, Report, SlaTarget

logger = logging.getLogger("stopclock.metrics")

MAX_TARGET = timedelta(days=366)
PDF_VARIANT = "pdf/a-3b"


def _actor() -> tuple[int | None, str]:
    actor = current_request().actor
    return actor.user_id, actor.label or actor.kind


def _choice(value: Any, field: str, choices) -> str:
    if value not in choices:
        raise ValidationError({field: f"one of {', '.join(choices)}"})
    return value


def _aware(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError({field: "a date and time with a time zone"})
    return value


def _not_future(value: datetime | None, field: str, now: datetime) -> datetime | None:
    if value is not None and _aware(value, field) > now + timedelta(minutes=10):
        raise ValidationError({field: "cannot be in the future"})
    return value


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ValidationError({field: "required"})
    if len(text) > limit:
        raise ValidationError({field: f"at most {limit} characters"})
    return text


# --- SLA targets ----------------------------------------------------------------------------


def _refresh_open_cases_on_commit() -> None:
    """Targets changed: forget the cached table and re-judge the open cases' live clocks."""
    tenant = require_tenant()
    selectors.forget_targets(tenant.pk)

    transaction.on_commit(lambda: selectors.forget_targets(tenant.pk))
    try:
        from cases.tasks import sla_refresh
    except ImportError:  # pragma: no cover - cases is installed with metrics
        return
    outbox.enqueue(sla_refresh, tenant_id=tenant.pk)  # a broker that is down delays it


def sla_target_set(
    *,
    phase: str,
    severity: str,
    clock: str,
    target: timedelta | None,
    effective_from: datetime | None = None,
    reason: str = "",
    allow_past: bool = False,
) -> SlaTarget:
    """A new target for one phase x severity x SLA clock, in force from `effective_from`
    (now by default). `None` means no target from then on.

    History is never rewritten: a change takes effect now or later, so past compliance stays
    what it was (`allow_past` is for importing a history, never offered to users).
    """
    now = timezone.now()
    phase = _choice(phase, "phase", PHASE_KEYS)
    severity = _choice(severity, "severity", SEVERITY_KEYS)
    if clock not in CLOCKS_BY_KEY or not CLOCKS_BY_KEY[clock].sla:
        raise ValidationError({"clock": "one of triage, scope, contain, remediate"})
    if target is not None and not timedelta(0) <= target <= MAX_TARGET:
        raise ValidationError({"target": "between 0 and 366 days"})
    if target is not None and target.microseconds:
        raise ValidationError({"target": "whole seconds"})
    effective_from = _aware(effective_from or now, "effective_from")
    if effective_from < now - timedelta(minutes=1) and not allow_past:
        raise ValidationError(
            {"effective_from": "cannot be in the past: past compliance is not rewritten"}
        )
    reason = _text(reason, "reason", 500)
    user_id, label = _actor()
    table = selectors.target_table()
    before = table.at(phase, severity, clock, effective_from)
    seconds = None if target is None else int(target.total_seconds())
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = SlaTarget.objects.create(
                    phase=phase,
                    severity=severity,
                    clock=clock,
                    target_seconds=seconds,
                    effective_from=effective_from,
                    reason=reason,
                    created_by_id=user_id,
                    created_by_label=label,
                )
        except IntegrityError:
            raise Conflict(
                "A change of this target already takes effect at that instant."
            ) from None
        audit_record(
            "sla_target.set",
            row,
            {
                "target_seconds": [
                    None if before is None else int(before.total_seconds()),
                    seconds,
                ],
                "effective_from": [None, effective_from],
                "reason": [None, reason],
            },
        )
        _refresh_open_cases_on_commit()
    return row


def sla_target_cancel(*, target: SlaTarget) -> None:
    """Withdraw a change that has not taken effect yet (one in force is history)."""
    if target.effective_from <= timezone.now():
        raise Conflict("This target is in force or was: it is history and stays.")
    with transaction.atomic():
        audit_record(
            "sla_target.cancel",
            target,
            {
                "target_seconds": [target.target_seconds, None],
                "effective_from": [target.effective_from, None],
            },
        )
        target.delete()
        _refresh_open_cases_on_commit()


# --- regulatory flags and notifications --------------------------------------------------------

FLAG_TEXT_FIELDS = {
    "facts": 20_000,
    "effects": 20_000,
    "remedial_action": 20_000,
    "data_categories": 300,
    "not_notified_reason": 20_000,
}
FLAG_MOMENTS = ("aware_at", "determined_at", "classified_at")
FLAG_COUNTS = ("subjects_approx", "records_approx")
FLAG_FIELDS = ("notifiable", *FLAG_MOMENTS, *FLAG_TEXT_FIELDS, *FLAG_COUNTS)
# The anchor each regime cannot start its clocks without.
REQUIRED_ANCHOR = {
    "gdpr": "aware_at",
    "nis2": "aware_at",
    "sec": "determined_at",
    "dora": "aware_at",
}


def _clean_flag_values(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "notifiable":
            clean[name] = bool(value)
        elif name in FLAG_MOMENTS:
            clean[name] = _not_future(value, name, now) if value is not None else None
        elif name in FLAG_TEXT_FIELDS:
            clean[name] = _text(value, name, FLAG_TEXT_FIELDS[name])
        elif name in FLAG_COUNTS:
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValidationError({name: "a whole number, zero or more"})
            clean[name] = value
        else:
            raise ValidationError({name: "not a field of a regulatory flag"})
    return clean


def _check_flag(flag: RegulatoryFlag) -> None:
    anchor = REQUIRED_ANCHOR[flag.regime]
    if flag.notifiable and getattr(flag, anchor) is None:
        raise ValidationError({anchor: f"required for a notifiable {flag.regime} case"})
    if not flag.notifiable and flag.regime == "gdpr" and not flag.not_notified_reason:
        raise ValidationError(
            {"not_notified_reason": "say why this breach is not notified (Art. 33(1))"}
        )
    moments = [getattr(flag, name) for name in FLAG_MOMENTS if getattr(flag, name)]
    if any(moment < flag.case.detected_at - timedelta(days=3650) for moment in moments):
        raise ValidationError({"aware_at": "implausibly long before detection"})


def regulatory_flag_create(*, case, regime: str, **values: Any) -> RegulatoryFlag:
    """Flag a case as reportable (or, for GDPR, at least documented) under a regime."""
    regime = _choice(regime, "regime", tuple(REGIMES))
    clean = _clean_flag_values(values, timezone.now())
    user_id, _ = _actor()
    flag = RegulatoryFlag(case=case, regime=regime, created_by_id=user_id, **clean)
    _check_flag(flag)
    with transaction.atomic():
        try:
            with transaction.atomic():
                flag.save()
        except IntegrityError:
            raise Conflict(f"{case.number} is already flagged under {regime}.") from None
        audit_record(
            "regulatory_flag.create",
            flag,
            {"case": [None, case.number], "regime": [None, regime], **diff({}, clean)},
        )
    return flag


def regulatory_flag_update(*, flag: RegulatoryFlag, **values: Any) -> RegulatoryFlag:
    clean = _clean_flag_values(values, timezone.now())
    with transaction.atomic():
        flag = RegulatoryFlag.objects.select_for_update().select_related("case").get(pk=flag.pk)
        before = {name: getattr(flag, name) for name in clean}
        for name, value in clean.items():
            setattr(flag, name, value)
        changes = diff(before, clean)
        if not changes:
            return flag
        _check_flag(flag)
        flag.updated_at = timezone.now()
        flag.save()
        audit_record("regulatory_flag.update", flag, changes)
    return flag


def _check_notification(flag: RegulatoryFlag, deadline: str) -> None:
    keys = [d.key for d in REGIMES[flag.regime].deadlines]
    if deadline not in keys:
        raise ValidationError({"deadline": f"one of {', '.join(keys)} for {flag.regime}"})
    if not flag.notifiable:
        raise Conflict("This case is documented but not notifiable; make it notifiable first.")


def regulatory_notification_record(
    *,
    flag: RegulatoryFlag,
    deadline: str,
    sent_at: datetime,
    recipient: str,
    reference: str = "",
    notes: str = "",
) -> RegulatoryNotification:
    """Record a notification that was sent (when, to whom, under which reference)."""
    now = timezone.now()
    _check_notification(flag, deadline)
    _not_future(sent_at, "sent_at", now)
    recipient = _text(recipient, "recipient", 200, required=True)
    reference = _text(reference, "reference", 200)
    notes = _text(notes, "notes", 5000)
    user_id, _ = _actor()
    with transaction.atomic():
        try:
            with transaction.atomic():
                notification = RegulatoryNotification.objects.create(
                    flag=flag,
                    deadline=deadline,
                    sent_at=sent_at,
                    recipient=recipient,
                    reference=reference,
                    notes=notes,
                    recorded_by_id=user_id,
                )
        except IntegrityError:
            raise Conflict("That notification is already recorded; correct it instead.") from None
        audit_record(
            "regulatory_notification.record",
            notification,
            {
                "case": [None, flag.case.number],
                "regime": [None, flag.regime],
                "deadline": [None, deadline],
                "sent_at": [None, sent_at],
                "recipient": [None, recipient],
                "reference": [None, reference],
            },
        )
    return notification


def regulatory_notification_update(
    *, notification: RegulatoryNotification, **values: Any
) -> RegulatoryNotification:
    """Correct a recorded notification (the old values stay in the audit trail)."""
    now = timezone.now()
    allowed = {"sent_at", "recipient", "reference", "notes"}
    unknown = set(values) - allowed
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "cannot be changed"})
    clean: dict[str, Any] = {}
    if "sent_at" in values:
        clean["sent_at"] = _not_future(values["sent_at"], "sent_at", now)
    for name, limit in (("recipient", 200), ("reference", 200), ("notes", 5000)):
        if name in values:
            clean[name] = _text(values[name], name, limit, required=name == "recipient")
    with transaction.atomic():
        notification = RegulatoryNotification.objects.select_for_update().get(pk=notification.pk)
        before = {name: getattr(notification, name) for name in clean}
        changes = diff(before, clean)
        if changes:
            for name, value in clean.items():
                setattr(notification, name, value)
            notification.save()
            audit_record("regulatory_notification.update", notification, changes)
    return notification


# --- reports ----------------------------------------------------------------------------------


def report_dir(tenant_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "reports" / str(tenant_id)


def report_draft(
    *, period: Period, filters: Filters = NO_FILTERS, paper: str = "a4", kind: str = "manual"
) -> Report:
    """An unsaved report of `period` (`report_request` saves and queues it; the bench
    renders one without storing it)."""
    return Report(
        kind=kind,
        period_start=period.start,
        period_end=period.end,
        period_label=period.label,
        period_spec=period.spec,
        period_info=period.as_dict(),
        granularity=period.granularity,
        filters=filters.as_dict(),
        paper=paper,
        definitions_version=DEFINITIONS_VERSION,
    )


def report_request(
    *,
    period: Period,
    filters: Filters = NO_FILTERS,
    paper: str = Report.Paper.A4,
    kind: str = Report.Kind.MANUAL,
) -> Report:
    """Queue a report; a worker generates it (`metrics.generate_report`)."""
    paper = _choice(paper, "paper", Report.Paper.values)
    user_id, label = _actor()
    tenant = require_tenant()
    with transaction.atomic():
        report = report_draft(period=period, filters=filters, paper=paper, kind=kind)
        report.requested_by_id, report.requested_by_label = user_id, label
        report.save()
        audit_record(
            "report.request",
            report,
            {
                "period": [None, period.label],
                "filters": [None, filters.as_dict()],
                "paper": [None, paper],
            },
        )

        # Through the outbox (sent on commit, or later if the broker is down then): a
        # report answered 202 is never left queued for ever.
        from .tasks import generate_report

        outbox.enqueue(generate_report, tenant_id=tenant.pk, report_id=report.pk, **actor_kwargs())
    return report


def report_progress(*, report: Report, progress: int, stage: str) -> None:
    """Progress of a running report, committed at once so others can watch it."""
    Report.objects.filter(pk=report.pk).update(progress=progress, stage=stage[:100])
    report.progress, report.stage = progress, stage


def _write_once(path: Path, content: bytes) -> None:
    """Create the file; never overwrite one (O_EXCL), and leave it read-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def report_generate(*, report_id: int, now: datetime | None = None) -> Report:
    """Compute the figures, render the PDF, store it once and record its SHA-256."""
    from . import pdf

    tenant = require_tenant()
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=report_id)
        if report.status != Report.Status.QUEUED:
            return report  # a retried task: the first run owns it
        report.status, report.started_at = Report.Status.RUNNING, timezone.now()
        report.save(update_fields=["status", "started_at"])
    try:
        rendered = pdf.render_report(report, now=now, progress=report_progress)
        relative = f"reports/{tenant.pk}/{report.uid.hex}.pdf"
        _write_once(Path(settings.MEDIA_ROOT) / relative, rendered.content)
    except Exception as exc:
        logger.exception("report %s failed", report.uid)
        with transaction.atomic():
            Report.objects.filter(pk=report.pk).update(
                status=Report.Status.FAILED,
                finished_at=timezone.now(),
                error=f"{type(exc).__name__}: {exc}"[:500],
                stage="failed",
            )
            audit_record("report.fail", report, {"error": [None, type(exc).__name__]})
        report.refresh_from_db()
        return report
    digest = hashlib.sha256(rendered.content).hexdigest()
    with transaction.atomic():
        report.status = Report.Status.SUCCEEDED
        report.finished_at = timezone.now()
        report.file_path = relative
        report.sha256 = digest
        report.size = len(rendered.content)
        report.pages = rendered.pages
        report.pdf_variant = PDF_VARIANT
        report.figures = rendered.figures
        report.progress, report.stage = 100, "ready"
        report.save()
        audit_record(
            "report.generate",
            report,
            {
                "sha256": [None, digest],
                "size": [None, report.size],
                "pages": [None, report.pages],
                "file": [None, relative],
            },
        )
    return report


class ReportTampered(RuntimeError):
    """The stored file no longer matches the SHA-256 recorded when it was generated."""


def report_open(*, report: Report) -> bytes:
    """The report's bytes, checked against its recorded SHA-256; the download is audited."""
    if report.status != Report.Status.SUCCEEDED or not report.file_path:
        raise Conflict("The report is not ready.")
    path = Path(settings.MEDIA_ROOT) / report.file_path
    expected = report_dir(report.tenant_id)
    if path.parent.resolve() != expected.resolve():
        raise ReportTampered(f"report {report.uid} points outside its tenant's folder")
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != report.sha256:
        logger.error("report %s does not match its recorded SHA-256: not served", report.uid)
        raise ReportTampered(f"report {report.uid} does not match its SHA-256")
    with transaction.atomic():
        audit_record("report.download", report, {"sha256": [None, report.sha256]})
    return content


def report_schedule_monthly(*, now: datetime | None = None) -> Report | None:
    """The monthly report of the last complete month in the tenant's zone, once."""
    tenant = require_tenant()
    now = now or timezone.now()
    year, month = last_complete_month(now, tenant.timezone)
    period = month_period(year, month, tenant.timezone)
    if Report.objects.filter(kind=Report.Kind.SCHEDULED, period_start=period.start).exists():
        return None
    try:
        with transaction.atomic():
            return report_request(period=period, kind=Report.Kind.SCHEDULED)
    except IntegrityError:  # another beat run made it first
        return None
