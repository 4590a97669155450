"""Intel: sources and feeds, IOCs, allowlists, hash reputation, imports, sweeps and hits.

One IOC row per (tenant, type, normalised value): a second source adds an `IOCSource` link,
never a duplicate. Every IOC and every sweep term carries the match keys of
`intel.matching`, so sweeps and continuous matching are set-wise SQL joins.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.timezone import now

from intel.parsing.types import IOC_TYPES, TLP_LEVELS
from metrics.clocks import PHASE_CHOICES
from metrics.targets import SEVERITY_CHOICES
from tenancy.context import current_tenant
from tenancy.managers import TenantManager, TenantQuerySet
from tenancy.models import TenantOwnedModel

from .fields import NetworkField

IOC_TYPE_CHOICES = [(t, t) for t in IOC_TYPES]
TLP_CHOICES = [(t, f"TLP:{t.upper()}") for t in TLP_LEVELS]  # as cases.models.Tlp says it
FAMILY_CHOICES = [
    (f, f) for f in ("hash", "address", "domain", "name", "header", "cmdline", "yara")
]
CONFIDENCE = [MinValueValidator(0), MaxValueValidator(100)]


def creator() -> models.ForeignKey:
    """Who created a row (kept when the user goes: SET_NULL)."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )


class JobFields(models.Model):
    """What imports and sweeps both record about their run."""

    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = creator()

    class Meta:
        abstract = True


def _page(obj: TenantOwnedModel, name: str, pk: int) -> str:
    """The browser URL of an intel page for `obj` (case links show it)."""
    tenant = current_tenant()
    slug = tenant.slug if tenant is not None and tenant.pk == obj.tenant_id else obj.tenant.slug
    return reverse(f"intel:{name}", kwargs={"tenant_slug": slug, "pk": pk})


class MatchKeyFields(models.Model):
    """The denormalised keys of `intel.matching.MatchKeys` (IOCs and sweep terms).

    NULL, not '', means "no such key": the joins and the partial GiST index rely on it.
    """

    family = models.CharField(max_length=8, choices=FAMILY_CHOICES, editable=False)
    match_value = models.CharField(max_length=700, null=True, blank=True, editable=False)  # noqa: DJ001
    pattern = models.TextField(  # noqa: DJ001
        null=True, blank=True, editable=False, help_text="anchored RE2 pattern of a glob"
    )
    needle = models.TextField(null=True, blank=True, editable=False)  # noqa: DJ001
    network = NetworkField(null=True, blank=True, editable=False)
    ip_lo = models.CharField(max_length=32, null=True, blank=True, editable=False)  # noqa: DJ001
    ip_hi = models.CharField(max_length=32, null=True, blank=True, editable=False)  # noqa: DJ001
    domain_exact = models.BooleanField(
        default=False, help_text="domains: match this name only, not its subdomains"
    )

    class Meta:
        abstract = True


# --- sources ------------------------------------------------------------------------------
class Source(TenantOwnedModel):
    """Where IOCs come from: analysts, uploaded feeds, or a TAXII 2.1 collection polled."""

    MANUAL, UPLOAD, TAXII, ADHOC = "manual", "upload", "taxii", "adhoc"
    KIND_CHOICES = [
        (MANUAL, "Manual (analysts)"),
        (UPLOAD, "Uploaded feed"),
        (TAXII, "TAXII 2.1 collection"),
        (ADHOC, "Ad-hoc sweep values"),
    ]

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=KIND_CHOICES, default=UPLOAD)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    default_confidence = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=CONFIDENCE
    )
    default_severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES, default="medium")
    default_tlp = models.CharField(max_length=16, choices=TLP_CHOICES, default="amber")
    reputation_feed = models.BooleanField(
        default=True, help_text="hash IOCs from this source fill the local reputation store"
    )
    # TAXII 2.1
    url = models.URLField(max_length=500, blank=True, help_text="the API root URL")
    collection_id = models.CharField(max_length=100, blank=True)
    username = models.CharField(max_length=150, blank=True)
    password = models.CharField(max_length=300, blank=True)
    poll_interval_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]
    )
    page_size = models.PositiveIntegerField(
        default=500, validators=[MinValueValidator(1), MaxValueValidator(10_000)]
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(300)]
    )
    cursor = models.CharField(
        max_length=64, blank=True, help_text="added_after of the next poll (TAXII date added)"
    )
    next_poll_at = models.DateTimeField(null=True, blank=True)
    # health
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    objects_added_last = models.PositiveIntegerField(default=0)
    objects_added_total = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="intel_source_name_unique")
        ]
        indexes = [
            models.Index(fields=["tenant", "kind", "next_poll_at"], name="intel_source_due"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def health(self) -> str:
        if self.kind != self.TAXII:
            return "n/a"
        if not self.enabled:
            return "disabled"
        if self.last_error_at and (
            self.last_success_at is None or self.last_error_at > self.last_success_at
        ):
            return "failing"
        return "ok" if self.last_success_at else "never polled"


class Tag(TenantOwnedModel):
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="intel_tag_unique")]

    def __str__(self) -> str:
        return self.name


# --- IOCs ---------------------------------------------------------------------------------
class IOCQuerySet(TenantQuerySet):
    def active(self, at=None):
        at = at or now()
        return self.filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=at),
            revoked=False,
            valid_from__lte=at,
        )

    def matchable(self, at=None):
        """Active, not suppressed by a warning list or allowlist, and not a YARA rule."""
        return self.active(at).filter(suppressed=False).exclude(family="yara")


class IOC(TenantOwnedModel, MatchKeyFields):
    """An indicator of compromise, one row per (tenant, type, normalised value)."""

    type = models.CharField(max_length=16, choices=IOC_TYPE_CHOICES)
    value = models.TextField(help_text="normalised")
    value_hash = models.CharField(max_length=64, editable=False)
    key = models.CharField(max_length=255, editable=False, help_text="e.g. sha256:<hex>")
    original_value = models.TextField(blank=True)
    description = models.TextField(blank=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+", db_index=False)
    sources = models.ManyToManyField(Source, through="IOCSource", related_name="iocs")
    confidence = models.PositiveSmallIntegerField(null=True, blank=True, validators=CONFIDENCE)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES, default="medium")
    tlp = models.CharField(max_length=16, choices=TLP_CHOICES, default="amber")
    phase = models.CharField(max_length=32, choices=PHASE_CHOICES, blank=True)
    attack_techniques = models.JSONField(default=list, blank=True)
    tags = models.ManyToManyField(Tag, through="IOCTag", related_name="iocs", blank=True)
    valid_from = models.DateTimeField(default=now)
    valid_until = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    warnings = models.JSONField(
        default=list, blank=True, help_text="warning lists / allowlist entries it is on"
    )
    suppressed = models.BooleanField(
        default=False, help_text="on a warning list or the allowlist: its matches are ignored"
    )
    first_seen = models.DateTimeField(null=True, blank=True, help_text="first sighting")
    last_seen = models.DateTimeField(null=True, blank=True, help_text="last sighting")
    sightings_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now)
    created_by = creator()

    objects = TenantManager.from_queryset(IOCQuerySet)()

    class Meta:
        verbose_name = "IOC"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "type", "value_hash"], name="intel_ioc_one_per_value"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "family", "match_value"], name="intel_ioc_match"),
            models.Index(fields=["tenant", "key"], name="intel_ioc_key"),
            models.Index(fields=["tenant", "type", "created_at"], name="intel_ioc_type"),
            models.Index(fields=["tenant", "valid_until"], name="intel_ioc_valid"),
            models.Index(fields=["tenant", "source"], name="intel_ioc_source"),
        ]

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 80 else self.value[:79] + "…"
        return f"{self.type}:{shown}"

    def get_absolute_url(self) -> str:
        return _page(self, "ioc-detail", self.pk)

    @property
    def is_active(self) -> bool:
        current = now()
        return (
            not self.revoked
            and self.valid_from <= current
            and (self.valid_until is None or self.valid_until > current)
        )


class IOCSource(TenantOwnedModel):
    """One source vouching for an IOC (the link a second source adds)."""

    ioc = models.ForeignKey(
        IOC, on_delete=models.CASCADE, related_name="source_links", db_index=False
    )
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="ioc_links", db_index=False
    )
    external_id = models.CharField(max_length=255, blank=True)
    confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "ioc", "source"], name="intel_iocsource_one")
        ]
        indexes = [models.Index(fields=["tenant", "source"], name="intel_iocsource_src")]


class IOCTag(TenantOwnedModel):
    ioc = models.ForeignKey(IOC, on_delete=models.CASCADE, db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "ioc", "tag"], name="intel_ioctag_one")
        ]
        indexes = [models.Index(fields=["tenant", "tag"], name="intel_ioctag_tag")]


class AllowlistEntry(TenantOwnedModel):
    """A value this tenant knows to be benign: IOCs it covers are suppressed."""

    type = models.CharField(max_length=16, choices=IOC_TYPE_CHOICES)
    value = models.CharField(max_length=1024)
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=now, editable=False)
    created_by = creator()

    class Meta:
        ordering = ["type", "value"]
        verbose_name_plural = "allowlist entries"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "type", "value"], name="intel_allowlist_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


# --- hash reputation --------------------------------------------------------------------
VERDICTS = [
    ("malicious", "Malicious"),
    ("suspicious", "Suspicious"),
    ("clean", "Clean"),
    ("unknown", "Unknown"),
]


class Reputation(TenantOwnedModel):
    """The local reputation store: what we know about a file hash, and from whom."""

    hash = models.CharField(max_length=64)
    hash_type = models.CharField(max_length=8, choices=[(t, t) for t in ("md5", "sha1", "sha256")])
    verdict = models.CharField(max_length=12, choices=VERDICTS)
    detections = models.PositiveIntegerField(null=True, blank=True)
    engines = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=100, help_text="feed or provider that said so")
    first_seen_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "hash"], name="intel_reputation_unique")
        ]
        indexes = [models.Index(fields=["tenant", "verdict"], name="intel_reputation_verdict")]

    def __str__(self) -> str:
        return f"{self.hash_type}:{self.hash} {self.verdict}"

    @property
    def detection_ratio(self) -> str:
        if self.detections is None or not self.engines:
            return ""
        return f"{self.detections}/{self.engines}"


class ReputationProvider(TenantOwnedModel):
    """An external VirusTotal-style look-up service; off until an admin enables it."""

    name = models.CharField(max_length=100)
    base_url = models.URLField(max_length=500, help_text="GET {base_url}/files/{hash}")
    api_key = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=False)
    rate_limit_per_minute = models.PositiveIntegerField(
        default=4, validators=[MinValueValidator(1)]
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    cache_seconds = models.PositiveIntegerField(default=24 * 3600)
    malicious_threshold = models.PositiveSmallIntegerField(
        default=3, help_text="engines that must flag a file for a malicious verdict"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="intel_provider_unique")
        ]

    def __str__(self) -> str:
        return self.name


# --- imports -----------------------------------------------------------------------------
JOB_STATUSES = [
    ("queued", "Queued"),
    ("running", "Running"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
]
IMPORT_FORMATS = [
    ("stix", "STIX 2.1 bundle"),
    ("csv", "CSV"),
    ("misp", "MISP event JSON"),
    ("text", "Plain list"),
    ("taxii", "TAXII 2.1 poll"),
]


class ImportJob(TenantOwnedModel, JobFields):
    """One import (an upload, a command-line file or a TAXII poll) and its result summary.

    Writes go in batches, each committed with the job's cursor and counters, so a worker that
    dies mid-import resumes where it stopped; the upsert key (tenant, type, value) makes a
    repeated batch add nothing twice. The whole feed is parsed before the first write, so
    malformed input fails the job with nothing imported.
    """

    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="imports", db_index=False
    )
    format = models.CharField(max_length=8, choices=IMPORT_FORMATS)
    filename = models.CharField(max_length=255, blank=True)
    payload = models.CharField(max_length=500, blank=True, help_text="stored upload (storage)")
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=JOB_STATUSES, default="queued")
    stage = models.CharField(max_length=16, blank=True, help_text="fetching, parsing, writing")
    progress = models.PositiveSmallIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    cursor = models.PositiveIntegerField(default=0, help_text="candidates written so far")
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    new_ioc_ids = models.JSONField(default=list, blank=True, help_text="for the retro-hunt")
    attempts = models.PositiveSmallIntegerField(default=0)
    retro_sweep = models.ForeignKey(
        "Sweep", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status"], name="intel_import_status"),
            models.Index(fields=["tenant", "source", "created_at"], name="intel_import_source"),
        ]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.format}, {self.status})"

    @property
    def finished(self) -> bool:
        return self.status in {"succeeded", "failed"}


# --- sweeps ------------------------------------------------------------------------------
SWEEP_STATUSES = [
    ("queued", "Queued"),
    ("running", "Running"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]
SWEEP_KINDS = [
    ("manual", "Launched by an analyst"),
    ("retro_hunt", "Retro-hunt for new IOCs"),
    ("continuous", "Continuous matching of arriving telemetry"),
]
SELECTIONS = [
    ("all", "All active IOCs"),
    ("source", "One source"),
    ("tag", "One tag"),
    ("iocs", "Listed IOCs"),
    ("adhoc", "Ad-hoc values"),
]


class Sweep(TenantOwnedModel, JobFields):
    """IOC selection x target endpoints x time window, run as chunks on the workers."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=SWEEP_KINDS, default="manual")
    status = models.CharField(max_length=10, choices=SWEEP_STATUSES, default="queued")
    selection = models.CharField(max_length=8, choices=SELECTIONS, default="all")
    selection_source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    selection_tag = models.CharField(max_length=100, blank=True)
    selection_iocs = models.JSONField(default=list, blank=True, help_text="IOC ids")
    adhoc_values = models.JSONField(default=list, blank=True)
    target_os = models.CharField(max_length=16, blank=True)
    target_groups = models.JSONField(default=list, blank=True)
    target_tags = models.JSONField(default=list, blank=True)
    target_privileged = models.BooleanField(null=True, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    terms_count = models.PositiveIntegerField(default=0)
    families = models.JSONField(default=list, blank=True, help_text="match families to run")
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    endpoints_total = models.PositiveIntegerField(default=0)
    endpoints_scanned = models.PositiveIntegerField(default=0)
    hits_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status"], name="intel_sweep_status"),
            models.Index(fields=["tenant", "kind", "created_at"], name="intel_sweep_kind"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return _page(self, "sweep-detail", self.pk)

    @property
    def progress(self) -> int:
        if self.status == "succeeded":
            return 100
        if not self.chunks_total:
            return 0
        return min(100, int(100 * self.chunks_done / self.chunks_total))

    @property
    def finished(self) -> bool:
        return self.status in {"succeeded", "failed", "cancelled"}


class SweepTerm(TenantOwnedModel, MatchKeyFields):
    """One value a sweep looks for: a snapshot of an IOC (or an ad-hoc value) at launch."""

    # No database constraints on these two: a sweep freezes up to 100,000 terms in one
    # INSERT, and the deferred FK checks would double its cost; the ORM still cascades.
    sweep = models.ForeignKey(
        Sweep, on_delete=models.CASCADE, related_name="terms", db_index=False, db_constraint=False
    )
    ioc = models.ForeignKey(
        IOC,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    type = models.CharField(max_length=16, choices=IOC_TYPE_CHOICES)
    value = models.TextField()
    key = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sweep", "key"], name="intel_term_unique")
        ]
        indexes = [
            models.Index(
                fields=["tenant", "sweep", "family", "match_value"], name="intel_term_match"
            ),
        ]

    def __str__(self) -> str:
        return self.key


CHUNK_STATUSES = [
    ("pending", "Pending"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]


class SweepChunk(TenantOwnedModel):
    """A range of endpoint ids; its state lives here so a chunk run twice does nothing twice."""

    sweep = models.ForeignKey(
        Sweep, on_delete=models.CASCADE, related_name="chunks", db_index=False
    )
    seq = models.PositiveIntegerField()
    endpoint_lo = models.BigIntegerField()
    endpoint_hi = models.BigIntegerField()
    endpoint_ids = models.JSONField(
        null=True, blank=True, help_text="targeted ids in the range; null = all of them"
    )
    endpoints_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=CHUNK_STATUSES, default="pending")
    attempts = models.PositiveSmallIntegerField(default=0)
    hits = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sweep", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sweep", "seq"], name="intel_chunk_unique")
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="intel_chunk_status")]

    def __str__(self) -> str:
        return f"chunk {self.seq} of sweep {self.sweep_id} ({self.status})"


class Hit(TenantOwnedModel):
    """An IOC seen on an endpoint: deduplicated per (sweep, IOC, endpoint), first/last seen."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="hits", db_index=False)
    ioc = models.ForeignKey(
        IOC, null=True, blank=True, on_delete=models.SET_NULL, related_name="hits", db_index=False
    )
    ioc_key = models.CharField(max_length=255)
    ioc_type = models.CharField(max_length=16, choices=IOC_TYPE_CHOICES)
    endpoint = models.ForeignKey(
        "endpoints.Endpoint", on_delete=models.CASCADE, related_name="intel_hits", db_index=False
    )
    observation = models.ForeignKey(
        "endpoints.Observation",
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # observations are purged by retention; the hit stays
        db_index=False,
        related_name="+",
        help_text="the first matching observation",
    )
    matched_field = models.CharField(max_length=32)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    observations_count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=now, editable=False)
    alerted_at = models.DateTimeField(null=True, blank=True)
    case_id = models.BigIntegerField(null=True, blank=True, help_text="case the alert joined")

    class Meta:
        ordering = ["-first_seen", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "sweep", "ioc_key", "endpoint"], name="intel_hit_unique"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "sweep", "first_seen"], name="intel_hit_sweep"),
            models.Index(fields=["tenant", "ioc"], name="intel_hit_ioc"),
            models.Index(fields=["tenant", "endpoint"], name="intel_hit_endpoint"),
            models.Index(fields=["tenant", "alerted_at"], name="intel_hit_alerted"),
        ]

    def __str__(self) -> str:
        key = self.ioc_key if len(self.ioc_key) <= 90 else self.ioc_key[:89] + "…"
        return f"{key} on {self.endpoint.hostname}"

    def get_absolute_url(self) -> str:
        return _page(self, "sweep-detail", self.sweep_id)


# --- YARA scans of files ---------------------------------------------------------------
class FileScan(TenantOwnedModel, JobFields):
    """The active YARA rules run over one file: an evidence item or an uploaded sample."""

    target = models.CharField(
        max_length=16, choices=[("evidence", "Evidence"), ("sample", "Sample")]
    )
    evidence_id = models.BigIntegerField(null=True, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=JOB_STATUSES, default="queued")
    rules_count = models.PositiveIntegerField(default=0)
    matches = models.JSONField(default=list, blank=True, help_text="[{ioc, key, rules}]")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "evidence_id"], name="intel_filescan_evidence")]

    def __str__(self) -> str:
        return f"YARA scan of {self.filename or self.sha256}"
