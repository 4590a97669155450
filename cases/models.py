"""Alerts, cases and everything an analyst attaches to a case.

Phases and severities come from `metrics` (one definition each); the clocks a case's
milestones feed are defined in `metrics/clocks.py`. Every table is tenant-owned (RLS), and
every index leads with the tenant. Rows change only through `cases.services`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.timezone import now

from endpoints.models import Endpoint
from metrics.clocks import PHASE_CHOICES
from metrics.targets import SEVERITY_CHOICES
from tenancy.context import current_tenant
from tenancy.models import TenantOwnedModel

from .actions.registry import ACTION_TYPE_CHOICES

USER = settings.AUTH_USER_MODEL


def _tenant_slug(obj: TenantOwnedModel) -> str:
    """The row's tenant slug, from the context when it is that tenant (saves a query)."""
    tenant = current_tenant()
    if tenant is not None and tenant.pk == obj.tenant_id:
        return tenant.slug
    return obj.tenant.slug


# --- vocabularies (importable by other apps) ----------------------------------------------
class AlertSource(models.TextChoices):
    """Where an alert came from. Other apps pass these when they call `alert_ingest`."""

    DETECTION_RULE = "detection_rule", "Detection rule"
    IOC_SWEEP = "ioc_sweep", "IOC sweep"
    HASH_REPUTATION = "hash_reputation", "Hash reputation"
    API = "api", "API / SIEM"
    MANUAL = "manual", "Manual"


class AlertStatus(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    # In a case: "promoted" opened it (or was promoted into a new one), "merged" joined a
    # case that already existed (grouping rule, "add to case", or its case was merged).
    PROMOTED = "promoted", "Promoted"
    MERGED = "merged", "Merged into a case"
    DISMISSED = "dismissed", "Dismissed"


class DismissReason(models.TextChoices):
    FALSE_POSITIVE = "false_positive", "False positive"
    BENIGN = "benign", "Benign"
    DUPLICATE = "duplicate", "Duplicate"


class CaseStatus(models.TextChoices):
    NEW = "new", "New"
    TRIAGE = "triage", "Triage"
    INVESTIGATING = "investigating", "Investigating"
    CONTAINED = "contained", "Contained"
    REMEDIATED = "remediated", "Remediated"
    CLOSED = "closed", "Closed"


class Resolution(models.TextChoices):
    TRUE_POSITIVE = "true_positive", "True positive"
    FALSE_POSITIVE = "false_positive", "False positive"
    BENIGN = "benign", "Benign"
    DUPLICATE = "duplicate", "Duplicate"


class Tlp(models.TextChoices):
    """Traffic Light Protocol 2.0: who the case's content may be shared with."""

    CLEAR = "clear", "TLP:CLEAR"
    GREEN = "green", "TLP:GREEN"
    AMBER = "amber", "TLP:AMBER"
    AMBER_STRICT = "amber+strict", "TLP:AMBER+STRICT"
    RED = "red", "TLP:RED"


STATUS_ORDER: tuple[str, ...] = tuple(CaseStatus.values)
OPEN_CASE_STATUSES: tuple[str, ...] = STATUS_ORDER[:-1]
# Cases an alert may still join: remediated and closed cases are done (a new alert on a
# cleaned endpoint opens a new case, or an analyst reopens the old one on purpose).
JOINABLE_CASE_STATUSES: tuple[str, ...] = ("new", "triage", "investigating", "contained")
ALERT_QUEUE_STATUSES: tuple[str, ...] = ("new", "acknowledged")
ALERT_IN_CASE_STATUSES: tuple[str, ...] = ("promoted", "merged")


# --- alerts ---------------------------------------------------------------------------------
class Alert(TenantOwnedModel):
    """One detection, from any source. Identical re-sends are no-ops, repeats bump `count`."""

    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    severity_rank = models.PositiveSmallIntegerField(default=0, editable=False)
    source = models.CharField(max_length=32, choices=AlertSource.choices)
    phase = models.CharField(max_length=32, choices=PHASE_CHOICES, blank=True)
    attack_techniques = models.JSONField(default=list, blank=True)
    # When the source detected it (its clock, not ours); first/last seen span every
    # deduplicated occurrence, so first_seen_at <= observed_at <= last_seen_at.
    observed_at = models.DateTimeField()
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    received_at = models.DateTimeField(default=now)
    count = models.PositiveIntegerField(default=1)
    external_id = models.CharField(max_length=200, blank=True)
    dedup_key = models.CharField(max_length=200, blank=True)
    rule_id = models.CharField(max_length=200, blank=True, help_text="detection rule id")
    ioc_key = models.CharField(max_length=300, blank=True, help_text='e.g. "sha256:<hex>"')
    raw = models.JSONField(default=dict, blank=True)
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default="new")
    dismiss_reason = models.CharField(max_length=16, choices=DismissReason.choices, blank=True)
    acknowledged_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    case = models.ForeignKey(
        "Case", null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-observed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source", "external_id"],
                condition=~Q(external_id=""),
                name="alert_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(status="dismissed", dismiss_reason__gt="")
                | (~Q(status="dismissed") & Q(dismiss_reason="")),
                name="alert_dismiss_reason_iff_dismissed",
            ),
            models.CheckConstraint(
                condition=Q(case__isnull=True, status__in=["new", "acknowledged", "dismissed"])
                | Q(case__isnull=False, status__in=["promoted", "merged"]),
                name="alert_case_iff_in_case",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "observed_at"], name="alert_queue"),
            models.Index(fields=["tenant", "observed_at"], name="alert_tenant_observed"),
            models.Index(fields=["tenant", "case"], name="alert_tenant_case"),
            models.Index(
                fields=["tenant", "dedup_key", "last_seen_at"],
                condition=~Q(dedup_key=""),
                name="alert_dedup",
            ),
            models.Index(
                fields=["tenant", "external_id"],
                condition=~Q(external_id=""),
                name="alert_external_id",
            ),
            models.Index(fields=["tenant", "endpoint", "last_seen_at"], name="alert_endpoint"),
            models.Index(
                fields=["tenant", "ioc_key", "last_seen_at"],
                condition=~Q(ioc_key=""),
                name="alert_ioc",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse(
            "cases:alert-detail", kwargs={"tenant_slug": _tenant_slug(self), "pk": self.pk}
        )


class AlertExternalRef(TenantOwnedModel):
    """Every (source, external id) ever ingested, and the alert it became or folded into.

    This is what makes ingestion idempotent even for alerts that were deduplicated into
    another one: a SIEM re-sending such an alert must not bump the count again.
    """

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="external_refs")
    source = models.CharField(max_length=32, choices=AlertSource.choices)
    external_id = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source", "external_id"], name="alert_ref_unique"
            )
        ]
        indexes = [models.Index(fields=["tenant", "alert"], name="alert_ref_alert")]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


# --- cases ----------------------------------------------------------------------------------
class CaseCounter(TenantOwnedModel):
    """The last case number given out in one year; locked (select_for_update) to take one."""

    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "year"], name="case_counter_one_per_year")
        ]

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class Tag(TenantOwnedModel):
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="tag_name_unique")]

    def __str__(self) -> str:
        return self.name


class Case(TenantOwnedModel):
    """One intrusion being worked, from detection to closure, with its milestones.

    Milestones (DESIGN.md section 1) are stamped by the workflow in `cases.services`, never
    typed in: `detected_at` is the earliest observed time of the case's alerts; entering
    triage (or any later status) stamps `triaged_at`; the explicit "scoping done" action
    stamps `scoped_at`; entering contained / remediated / closed stamps theirs. A correction
    needs a reason and is kept in `MilestoneChange`.

    Reopening clears `remediated_at` and `closed_at` (the old values stay in
    `MilestoneChange`, kind "reopened"), so the row always holds the *final* remediation —
    the rule `Clock.reopen_rule = "final"` in metrics/clocks.py defines for the
    remediation and closure clocks. Triage, scoping and containment keep their first
    occurrence, as the "first" rule of the other clocks says.

    `sla_*` fields are derived by `cases.sla` whenever a milestone, the severity, the phase
    or a pause changes, so lists can filter on the SLA state with an index.
    """

    number = models.CharField(max_length=32)
    year = models.PositiveSmallIntegerField()
    seq = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True, help_text="Markdown")
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    severity_rank = models.PositiveSmallIntegerField(default=0, editable=False)
    tlp = models.CharField(max_length=16, choices=Tlp.choices, default=Tlp.AMBER)
    phase = models.CharField(max_length=32, choices=PHASE_CHOICES)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default="new")
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    assignee = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    watchers = models.ManyToManyField(USER, through="CaseWatcher", related_name="+", blank=True)
    tags = models.ManyToManyField(Tag, through="CaseTag", related_name="cases", blank=True)
    detected_at = models.DateTimeField()
    triaged_at = models.DateTimeField(null=True, blank=True)
    scoped_at = models.DateTimeField(null=True, blank=True)
    contained_at = models.DateTimeField(null=True, blank=True)
    remediated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # SLA clocks: paused since (None when running); next deadline of a running clock that has
    # not breached yet, and the moment it becomes at risk; whether any clock has breached.
    paused_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_risk_at = models.DateTimeField(null=True, blank=True)
    sla_breached = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1, help_text="the ETag; +1 on every change")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_cases"
    )
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="case_number_unique"),
            models.UniqueConstraint(fields=["tenant", "year", "seq"], name="case_seq_unique"),
            models.CheckConstraint(
                condition=Q(status="closed", resolution__gt="")
                | (~Q(status="closed") & Q(resolution="")),
                name="case_resolution_iff_closed",
            ),
        ]
        indexes = [
            # With the id, so a deep page's ids come from an index-only scan (see
            # cases.pagination.DeferredJoinPaginator) in the list's own order.
            models.Index(fields=["tenant", "detected_at", "id"], name="case_tenant_detected_id"),
            models.Index(
                fields=["tenant", "status", "detected_at", "id"], name="case_tenant_status_id"
            ),
            models.Index(
                fields=["tenant", "detected_at"],
                condition=Q(sla_breached=True),
                name="case_sla_breached",
            ),
            models.Index(fields=["tenant", "assignee", "status"], name="case_tenant_assignee"),
            models.Index(
                fields=["tenant", "severity_rank", "detected_at"], name="case_tenant_severity"
            ),
            models.Index(fields=["tenant", "updated_at"], name="case_tenant_updated"),
            # The running clocks (metrics: breaches in progress, cases at risk) read only
            # the open cases, a small share of a tenant's history.
            models.Index(
                fields=["tenant", "detected_at"],
                condition=~Q(status="closed"),
                name="case_open_by_detection",
            ),
            models.Index(
                fields=["tenant", "sla_due_at"],
                condition=Q(sla_due_at__isnull=False),
                name="case_sla_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse(
            "cases:case-detail", kwargs={"tenant_slug": _tenant_slug(self), "pk": self.pk}
        )

    @property
    def is_open(self) -> bool:
        return self.status != CaseStatus.CLOSED


class CaseTag(TenantOwnedModel):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "case", "tag"], name="case_tag_unique")
        ]
        indexes = [models.Index(fields=["tenant", "tag", "case"], name="case_tag_by_tag")]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.tag_id}"


class CaseWatcher(TenantOwnedModel):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "case", "user"], name="case_watcher_unique")
        ]
        indexes = [models.Index(fields=["tenant", "user"], name="case_watcher_user")]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.user_id}"


class MilestoneChange(TenantOwnedModel):
    """Every value a milestone took: stamped by the workflow, corrected, cleared by reopen."""

    class Kind(models.TextChoices):
        STAMPED = "stamped", "Stamped"
        CORRECTED = "corrected", "Corrected"
        REOPENED = "reopened", "Cleared by reopen"
        RECOMPUTED = "recomputed", "Recomputed from alerts"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="milestone_changes")
    milestone = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    old_value = models.DateTimeField(null=True, blank=True)
    new_value = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["tenant", "case", "milestone"], name="milestone_case")]

    def __str__(self) -> str:
        return f"{self.milestone} {self.kind}"


class CasePause(TenantOwnedModel):
    """An interval the SLA clocks stood still (e.g. waiting for the customer)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="pauses")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500)
    by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["tenant", "case"], name="pause_case")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "case"],
                condition=Q(ended_at__isnull=True),
                name="pause_one_open_per_case",
            )
        ]

    def __str__(self) -> str:
        return f"pause {self.started_at:%Y-%m-%d %H:%M}"


class SlaBreach(TenantOwnedModel):
    """A case x clock that went past its target; recorded once, announced once."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="sla_breaches")
    clock = models.CharField(max_length=16)
    deadline = models.DateTimeField(help_text="when the target was passed")
    recorded_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["deadline"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "case", "clock"], name="sla_breach_once")
        ]

    def __str__(self) -> str:
        return f"{self.clock} breached"


# --- work on a case ---------------------------------------------------------------------------
class TaskTemplate(TenantOwnedModel):
    """A playbook step for one phase; applied to a case when it enters that phase."""

    phase = models.CharField(max_length=32, choices=PHASE_CHOICES)
    key = models.SlugField(max_length=64)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_remediation = models.BooleanField(
        default=False, help_text="response actions check that every remediation task is done"
    )
    due_minutes = models.PositiveIntegerField(null=True, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["phase", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phase", "key"], name="task_template_key")
        ]

    def __str__(self) -> str:
        return self.title


class Task(TenantOwnedModel):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    template = models.ForeignKey(
        TaskTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phase = models.CharField(max_length=32, choices=PHASE_CHOICES, blank=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_remediation = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)
    assignee = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["case", "order", "id"]
        constraints = [
            # Re-applying a playbook never duplicates a task.
            models.UniqueConstraint(
                fields=["tenant", "case", "template"],
                condition=Q(template__isnull=False),
                name="task_once_per_template",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "case", "order"], name="task_case"),
            models.Index(fields=["tenant", "assignee", "done_at"], name="task_assignee"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def done(self) -> bool:
        return self.done_at is not None


class Note(TenantOwnedModel):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField(help_text="Markdown")
    author = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "case", "created_at"], name="note_case")]

    def __str__(self) -> str:
        return self.body[:60]


def evidence_path(instance: Evidence, filename: str) -> str:
    """evidence/<tenant-id>/<case-id>/<uuid>: no user-controlled part, no extension."""
    return f"evidence/{instance.tenant_id}/{instance.case_id}/{instance.uid.hex}"


class Evidence(TenantOwnedModel):
    """A file attached to a case, fingerprinted at upload and never served inline."""

    uid = models.UUIDField(default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="evidence")
    file = models.FileField(upload_to=evidence_path, max_length=300)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=150, help_text="detected from the bytes")
    description = models.CharField(max_length=500, blank=True)
    uploaded_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["uploaded_at", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "uid"], name="evidence_uid")]
        indexes = [models.Index(fields=["tenant", "case"], name="evidence_case")]

    def __str__(self) -> str:
        return self.original_name


class CustodyEvent(TenantOwnedModel):
    """Chain of custody: who uploaded or downloaded an evidence file, when, from where."""

    class Action(models.TextChoices):
        UPLOAD = "upload", "Uploaded"
        DOWNLOAD = "download", "Downloaded"
        MOVE = "move", "Moved to another case"

    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="custody")
    action = models.CharField(max_length=16, choices=Action.choices)
    at = models.DateTimeField(default=now)
    user = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["tenant", "evidence", "at"], name="custody_evidence")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"


class CaseLink(TenantOwnedModel):
    """Anything another app wants to hang on a case (endpoint, IOC, hit, response action).

    Generic on purpose: those apps attach their objects with `case_link(case=, obj=,
    relation=)` without this app knowing their models. The case page shows each object via
    its `get_absolute_url()` and `__str__`; `object_repr` keeps a label if it disappears.
    """

    class Relation(models.TextChoices):
        AFFECTED = "affected", "Affected"
        INDICATOR = "indicator", "Indicator"
        EVIDENCE = "evidence", "Evidence"
        ACTION = "action", "Response action"
        RELATED = "related", "Related"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="links")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    relation = models.CharField(max_length=16, choices=Relation.choices, default="related")
    object_repr = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "case", "content_type", "object_id", "relation"],
                name="case_link_unique",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "content_type", "object_id"], name="case_link_object")
        ]

    def __str__(self) -> str:
        return self.object_repr or f"{self.content_type_id}:{self.object_id}"


class TimelineEntry(TenantOwnedModel):
    """One line of a case's single, ordered timeline; every service that touches a case
    writes one."""

    class Kind(models.TextChoices):
        CREATED = "created", "Case opened"
        STATUS = "status", "Status"
        MILESTONE = "milestone", "Milestone"
        CORRECTION = "correction", "Milestone corrected"
        REOPEN = "reopen", "Reopened"
        UPDATE = "update", "Updated"
        SEVERITY = "severity", "Severity"
        ASSIGNMENT = "assignment", "Assignment"
        ALERT = "alert", "Alert"
        NOTE = "note", "Note"
        TASK = "task", "Task"
        EVIDENCE = "evidence", "Evidence"
        LINK = "link", "Linked"
        PAUSE = "pause", "SLA paused"
        RESUME = "resume", "SLA resumed"
        MERGE = "merge", "Merge"
        SPLIT = "split", "Split"
        SLA = "sla", "SLA breached"
        ACTION = "action", "Response action"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="timeline")
    occurred_at = models.DateTimeField(default=now)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    summary = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["tenant", "case", "occurred_at"], name="timeline_case")]

    def __str__(self) -> str:
        return self.summary


# --- automation and integration ----------------------------------------------------------------
class GroupingRule(TenantOwnedModel):
    """Turns alerts into cases: the first enabled rule (by `order`) that applies wins.

    `open_case` opens a case for a matching alert at once; `join_case` adds it to an open
    case that has an alert for the same endpoint (or the same IOC) observed within the window,
    and applies only when there is such a case. Alerts no rule takes wait in the queue.
    """

    class Action(models.TextChoices):
        OPEN_CASE = "open_case", "Open a case"
        JOIN_CASE = "join_case", "Join the open case"

    class JoinOn(models.TextChoices):
        ENDPOINT = "endpoint", "Same endpoint"
        IOC = "ioc_key", "Same IOC"

    name = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField(default=0)
    is_enabled = models.BooleanField(default=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    min_severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES, blank=True)
    source = models.CharField(max_length=32, choices=AlertSource.choices, blank=True)
    join_on = models.CharField(max_length=16, choices=JoinOn.choices, blank=True)
    window_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="join window; empty = the tenant's grouping window"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["order", "id"]
        indexes = [models.Index(fields=["tenant", "order"], name="grouping_rule_order")]
        constraints = [
            models.CheckConstraint(
                condition=Q(action="open_case", join_on="")
                | Q(action="join_case", join_on__in=["endpoint", "ioc_key"]),
                name="grouping_rule_join_on",
            )
        ]

    def __str__(self) -> str:
        return self.name


class SavedFilter(TenantOwnedModel):
    """A user's named case-list filter (the query string), in one tenant."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "name"], name="saved_filter_name")
        ]

    def __str__(self) -> str:
        return self.name


WEBHOOK_EVENTS = ("case.created", "case.status_changed", "case.sla_breached")


class Webhook(TenantOwnedModel):
    """An outbound subscription: Stopclock POSTs signed JSON to `url` on these events."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, help_text="HMAC-SHA256 key; shown once")
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(TenantOwnedModel):
    """One event sent (or being sent) to one webhook: the delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    uid = models.UUIDField(default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default="pending")
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "uid"], name="delivery_uid")]
        indexes = [
            models.Index(fields=["tenant", "webhook", "created_at"], name="delivery_webhook"),
            models.Index(fields=["tenant", "status", "next_attempt_at"], name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"


# --- response actions (cases/actions/: the registry, signing, services) ---------------------
ActionType = models.TextChoices(
    "ActionType", [(key.upper(), (key, label)) for key, label in ACTION_TYPE_CHOICES]
)


class ActionStatus(models.TextChoices):
    """requested → awaiting_approval → queued → dispatched → succeeded / failed; any open
    state may end cancelled (rejected, withdrawn) or expired (nobody approved or picked
    it up in time)."""

    REQUESTED = "requested", "Requested"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    QUEUED = "queued", "Queued"
    DISPATCHED = "dispatched", "Dispatched"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


ACTION_OUTCOMES = [("succeeded", "Succeeded"), ("failed", "Failed")]  # what an agent reports
ACTION_OPEN_STATUSES: tuple[str, ...] = ("requested", "awaiting_approval", "queued", "dispatched")
ACTION_FINAL_STATUSES: tuple[str, ...] = ("succeeded", "failed", "expired", "cancelled")


class BulkAction(TenantOwnedModel):
    """One response fanned out to many endpoints ("kill this hash wherever it runs").

    Approved once for all of them; once launched, a Celery group creates one
    `ResponseAction` per endpoint (chunks), each inheriting the approval. The endpoints are
    frozen at request time in `endpoint_ids`, so what the lead approves is what runs.
    """

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        LAUNCHING = "launching", "Launching"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        CANCELLED = "cancelled", "Cancelled"

    type = models.CharField(max_length=32, choices=ActionType.choices)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="bulk_actions"
    )
    parameters = models.JSONField(default=dict, blank=True)
    target = models.JSONField(default=dict, blank=True, help_text="how the endpoints were chosen")
    endpoint_ids = models.JSONField(default=list, blank=True)
    total = models.PositiveIntegerField(default=0)
    launched = models.PositiveIntegerField(default=0, help_text="per-endpoint actions created")
    status = models.CharField(max_length=20, choices=Status.choices)
    requires_approval = models.BooleanField(default=False)
    reason = models.CharField(max_length=1000, blank=True)
    status_reason = models.CharField(max_length=1000, blank=True)
    requested_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200, blank=True)
    approved_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"], name="bulk_action_status"),
            models.Index(fields=["tenant", "case"], name="bulk_action_case"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} on {self.total} endpoints"

    def get_absolute_url(self) -> str:
        return reverse(
            "cases:bulk-action-detail", kwargs={"tenant_slug": _tenant_slug(self), "pk": self.pk}
        )


class ResponseAction(TenantOwnedModel):
    """One containment or remediation step on one endpoint (or one directory account).

    Changed only by `cases.actions.services`, each transition a conditional UPDATE (or a
    locked row), so two leads approving at once, or an agent reporting twice, cannot both
    win. When queued it is signed (`nonce`, `issued_at`, `expires_at`, `signature`: HMAC-
    SHA256 with the endpoint's key, see cases/actions/signing.py) so the agent can check
    that what it runs is what was approved. A retry is a new row (`retry_of`, `attempt`):
    history is never rewritten.
    """

    type = models.CharField(max_length=32, choices=ActionType.choices)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hostname = models.CharField(max_length=255, blank=True, help_text="kept if the endpoint goes")
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=ActionStatus.choices, default="requested")
    requires_approval = models.BooleanField(default=False)
    reason = models.CharField(max_length=1000, blank=True, help_text="why it was requested")
    status_reason = models.CharField(max_length=1000, blank=True)
    requested_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200, blank=True)
    approved_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    bulk = models.ForeignKey(
        BulkAction, null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="retries"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # the signed envelope (set when queued)
    nonce = models.CharField(max_length=32, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    signature = models.CharField(max_length=64, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=0, help_text="times served to the agent")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "bulk", "endpoint"],
                condition=Q(bulk__isnull=False, retry_of__isnull=True),
                name="action_once_per_bulk_endpoint",
            ),
        ]
        indexes = [
            # the agent's poll: its queued actions
            models.Index(
                fields=["tenant", "endpoint", "id"],
                condition=Q(status="queued"),
                name="action_poll",
            ),
            models.Index(fields=["tenant", "status", "created_at"], name="action_status"),
            models.Index(fields=["tenant", "case", "created_at"], name="action_case"),
            models.Index(fields=["tenant", "endpoint", "created_at"], name="action_endpoint"),
            models.Index(fields=["tenant", "bulk", "status"], name="action_bulk"),
            models.Index(fields=["tenant", "task"], name="action_task"),
        ]

    def __str__(self) -> str:
        where = self.hostname or "directory"
        return f"{self.get_type_display()} on {where} (#{self.pk})"

    def get_absolute_url(self) -> str:
        return reverse(
            "cases:action-detail", kwargs={"tenant_slug": _tenant_slug(self), "pk": self.pk}
        )

    @property
    def is_open(self) -> bool:
        return self.status in ACTION_OPEN_STATUSES
