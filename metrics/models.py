"""SLA targets with their history, regulatory flags and notifications, and PDF reports.

What the clocks measure lives in `metrics/clocks.py`, the legal deadlines in
`metrics/regulatory.py`; these tables hold only what a tenant decides or records. Every table
is tenant-owned (RLS), every index leads with the tenant, and rows change only through
`metrics.services` (audited).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from metrics.clocks import PHASE_CHOICES, SLA_CLOCKS
from metrics.regulatory import REGIMES
from metrics.targets import SEVERITY_CHOICES
from tenancy.models import TenantOwnedModel

USER = settings.AUTH_USER_MODEL
SLA_CLOCK_CHOICES = tuple((clock.key, clock.label) for clock in SLA_CLOCKS)
REGIME_CHOICES = tuple((regime.key, regime.label) for regime in REGIMES.values())


class SlaTarget(TenantOwnedModel):
    """One target of one phase x severity x SLA clock, in force from `effective_from` until
    the next row of the same key. Rows are never edited: a change is a new row, so a report
    can judge each case by the target in force when it was detected. A key with no row uses
    the default of `metrics.targets.default_targets()` (in force since forever)."""

    phase = models.CharField(max_length=32, choices=PHASE_CHOICES)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    clock = models.CharField(max_length=16, choices=SLA_CLOCK_CHOICES)
    # None means "no target" from `effective_from` on (the clock is measured, not judged).
    target_seconds = models.PositiveIntegerField(null=True, blank=True)
    effective_from = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["phase", "severity", "clock", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "phase", "severity", "clock", "effective_from"],
                name="sla_target_once_per_instant",
            )
        ]

    def __str__(self) -> str:
        return f"{self.phase}/{self.severity}/{self.clock} from {self.effective_from:%Y-%m-%d}"


class RegulatoryFlag(TenantOwnedModel):
    """A case reportable (or documented) under one regime, with the moments its legal clocks
    start from and, for GDPR, what Art. 33(5) asks the controller to document.

    `notifiable=False` keeps a personal-data breach in the register without notification
    deadlines (Art. 33(1): "unlikely to result in a risk"); `not_notified_reason` says why.
    """

    case = models.ForeignKey(
        "cases.Case", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    regime = models.CharField(max_length=16, choices=REGIME_CHOICES)
    notifiable = models.BooleanField(default=True)
    aware_at = models.DateTimeField(null=True, blank=True, help_text="awareness")
    determined_at = models.DateTimeField(
        null=True, blank=True, help_text="materiality determination (SEC)"
    )
    classified_at = models.DateTimeField(
        null=True, blank=True, help_text="classification as major (DORA)"
    )
    facts = models.TextField(blank=True, help_text="what happened")
    effects = models.TextField(blank=True, help_text="likely consequences")
    remedial_action = models.TextField(blank=True, help_text="measures taken or proposed")
    data_categories = models.CharField(max_length=300, blank=True)
    subjects_approx = models.PositiveIntegerField(null=True, blank=True)
    records_approx = models.PositiveIntegerField(null=True, blank=True)
    not_notified_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "case", "regime"], name="regulatory_flag_once"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "regime", "aware_at"], name="regulatory_flag_regime")
        ]

    def __str__(self) -> str:
        return f"{REGIMES[self.regime].label}" if self.regime in REGIMES else self.regime

    @property
    def regime_label(self) -> str:
        return str(self)

    def anchors(self) -> dict:
        """The anchor events that have happened, as `regulatory.deadlines_for` wants them."""
        moments = {
            "awareness": self.aware_at,
            "determination": self.determined_at,
            "classification": self.classified_at,
        }
        return {key: value for key, value in moments.items() if value is not None}


class RegulatoryNotification(TenantOwnedModel):
    """One notification sent to an authority (or the public): when, to whom, reference."""

    flag = models.ForeignKey(
        RegulatoryFlag, on_delete=models.PROTECT, related_name="notifications", db_index=False
    )
    deadline = models.CharField(max_length=32, help_text="the regime's deadline key")
    sent_at = models.DateTimeField()
    recipient = models.CharField(max_length=200)
    reference = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    recorded_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "flag", "deadline"], name="regulatory_notification_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.deadline} to {self.recipient}"


class Report(TenantOwnedModel):
    """A PDF compliance report: requested, generated by a worker, then immutable.

    The file lives at `reports/<tenant-id>/<uid>.pdf` under MEDIA_ROOT, written once with
    O_EXCL (never overwritten) and read-only; `sha256` is recorded in the audit trail and
    checked again on every download. `figures` keeps the numbers the PDF prints.
    """

    class Kind(models.TextChoices):
        MANUAL = "manual", "On request"
        SCHEDULED = "scheduled", "Monthly schedule"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Generating"
        SUCCEEDED = "succeeded", "Ready"
        FAILED = "failed", "Failed"

    class Paper(models.TextChoices):
        A4 = "a4", "A4"
        LETTER = "letter", "Letter"

    uid = models.UUIDField(default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    period_label = models.CharField(max_length=100)
    period_spec = models.CharField(max_length=100, help_text="how the period was asked for")
    # The resolved period (`metrics.periods.Period.as_dict()`), so it never moves afterwards.
    period_info = models.JSONField(default=dict)
    granularity = models.CharField(max_length=8, default="month")
    filters = models.JSONField(default=dict, blank=True)
    paper = models.CharField(max_length=8, choices=Paper.choices, default=Paper.A4)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=100, blank=True)
    requested_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    requested_by_label = models.CharField(max_length=200, blank=True)
    requested_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_path = models.CharField(max_length=300, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    pdf_variant = models.CharField(max_length=16, blank=True)
    definitions_version = models.CharField(max_length=32, blank=True)
    figures = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "uid"], name="report_uid_unique"),
            # The monthly schedule makes one report per month, however often it runs.
            models.UniqueConstraint(
                fields=["tenant", "period_start"],
                condition=Q(kind="scheduled"),
                name="report_scheduled_once",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=models.F("period_start")), name="report_period_order"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "requested_at"], name="report_tenant_requested"),
            models.Index(fields=["tenant", "status"], name="report_tenant_status"),
        ]

    def __str__(self) -> str:
        return f"SLA report {self.period_label}"

    @property
    def short_id(self) -> str:
        return self.uid.hex[:12]

    @property
    def done(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class CaseSpan(TenantOwnedModel):
    """One case x clock as `metrics.aggregation` measures it: a projection of the case rows,
    so a year of figures is a scan of narrow rows instead of a recomputation from every case.

    Derived, never edited by hand: database triggers on the case and pause tables queue
    every changed case in `SpanBacklog`, and `metrics.projection.catch_up` (run before every
    figure is read) recomputes those cases set-wise with the same SQL the figures were
    defined by. A row exists for every span that is measured (`status` 0), negative (2) or
    missing on a closed case that needed it (1); `at` is the milestone, or the closure for a
    missing one, and places the row in a period. Integers stand for the phase, severity and
    clock (their index in `metrics.clocks` and `metrics.targets`).
    """

    case_id = models.BigIntegerField()  # no constraint: a deleted case is queued, then dropped
    clock = models.PositiveSmallIntegerField()
    phase_key = models.PositiveSmallIntegerField()
    severity_key = models.PositiveSmallIntegerField()
    status = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    detected_at = models.DateTimeField()
    raw_u = models.BigIntegerField(null=True)  # exact span in microseconds
    paused_u = models.BigIntegerField(null=True)  # paused time subtracted from SLA clocks

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case_id", "clock"], name="case_span_once"),
        ]
        indexes = [
            models.Index(fields=["tenant", "at"], name="case_span_tenant_at"),
            # Each phase x clock's measured spans by time, values included: a percentile
            # reads only its own spans of the period (metrics.aggregation
            # .lateral_percentiles), by an index-only scan.
            models.Index(
                fields=["tenant", "clock", "phase_key", "at"],
                include=["raw_u", "severity_key"],
                condition=Q(status=0),
                name="case_span_values",
            ),
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} clock {self.clock}"


class SpanBacklog(TenantOwnedModel):
    """A case whose spans must be recomputed, queued by a trigger when the case or one of
    its pauses changed (or was deleted). Rows live from the write until the next
    `metrics.projection.catch_up`; `claim` marks the rows one catch-up is processing."""

    case_id = models.BigIntegerField()
    claim = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "claim"], name="span_backlog_tenant_claim")]

    def __str__(self) -> str:
        return f"case {self.case_id} queued"
