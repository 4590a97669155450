"""Endpoint inventory, agent credentials, telemetry observations, detection rules, stacking.

`Observation` is one wide table (DESIGN.md section 5). Its matching columns are not written
out here: they are added from `observation_fields.FIELDS`, the one definition of what an
observation carries, so a new field is added in one place (its migration stays a static
file: run `makemigrations`). Absent values are NULL, never '': the table is sparse, and
the partial indexes below only hold the rows that have a value.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from tenancy.models import TenantOwnedModel

from .observation_fields import AUTORUN_TYPES, FIELDS, KINDS, Field

OS_FAMILIES = [("windows", "Windows"), ("macos", "macOS"), ("linux", "Linux")]
ISOLATION_STATES = [
    ("none", "Not isolated"),
    ("isolating", "Isolation requested"),
    ("isolated", "Isolated"),
    ("releasing", "Release requested"),
]


class _Label(TenantOwnedModel):
    """A name endpoints are filed under, unique in the tenant (groups, tags)."""

    name = models.CharField(max_length=200)

    class Meta:
        abstract = True
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="ep_%(class)s_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class UserGroup(_Label):
    """A directory group whose members use endpoints (sweeps target endpoints by group)."""


class Tag(_Label):
    """A free label on endpoints, e.g. ``site:lon`` or ``criticality:high``."""


class Endpoint(TenantOwnedModel):
    """A machine of the tenant's fleet, known through its agent.

    Online state is derived, never stored: see `selectors.online_cutoff`.
    """

    hostname = models.CharField(max_length=255, help_text="lower-case short name")
    fqdn = models.CharField(max_length=255, blank=True)
    os_family = models.CharField(max_length=16, choices=OS_FAMILIES)
    os_version = models.CharField(max_length=128, blank=True)
    domain = models.CharField(max_length=255, blank=True)
    ip_addresses = models.JSONField(default=list, blank=True)
    mac_addresses = models.JSONField(default=list, blank=True)
    agent_id = models.CharField(max_length=64, help_text="the agent's own stable id")
    agent_version = models.CharField(max_length=64, blank=True)
    privileged_admin_logons = models.BooleanField(default=False)
    isolation_state = models.CharField(max_length=16, choices=ISOLATION_STATES, default="none")
    first_seen_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    heartbeat_interval = models.PositiveIntegerField(
        default=60, help_text="seconds between heartbeats, as last told to the agent"
    )
    user_groups = models.ManyToManyField(
        UserGroup, through="EndpointUserGroup", related_name="endpoints", blank=True
    )
    tags = models.ManyToManyField(Tag, through="EndpointTag", related_name="endpoints", blank=True)
    # The agent's credential: SHA-256 of the token, shown once at (re-)enrolment.
    token_hash = models.CharField(  # noqa: DJ001 - NULL until enrolled; unique allows many
        max_length=64, unique=True, null=True, editable=False
    )
    token_prefix = models.CharField(max_length=24, blank=True, editable=False)
    token_issued_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["hostname"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "agent_id"], name="endpoint_agent_unique")
        ]
        indexes = [
            models.Index(fields=["tenant", "hostname"], name="endpoint_tenant_host"),
            models.Index(fields=["tenant", "last_seen_at"], name="endpoint_tenant_seen"),
            models.Index(fields=["tenant", "os_family"], name="endpoint_tenant_os"),
        ]

    def __str__(self) -> str:
        return self.hostname

    @property
    def is_isolated(self) -> bool:
        return self.isolation_state != "none"


class EndpointUserGroup(TenantOwnedModel):
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    group = models.ForeignKey(UserGroup, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "endpoint", "group"], name="ep_endpoint_group_unique"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "group", "endpoint"], name="ep_endpoint_group_rev")
        ]


class EndpointTag(TenantOwnedModel):
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "endpoint", "tag"], name="ep_endpoint_tag_unique"
            )
        ]
        indexes = [models.Index(fields=["tenant", "tag", "endpoint"], name="ep_endpoint_tag_rev")]


class EnrolmentSecret(TenantOwnedModel):
    """The tenant's agent enrolment secret: a hash and a nonce, never the secret itself.

    The secret is derived as HMAC(SECRET_KEY, tenant, nonce), so the server can show it to
    an admin again (`enrolment_secret --tenant SLUG`) while a copy of the database alone
    does not reveal it. Rotating draws a new nonce.
    """

    nonce = models.CharField(max_length=64, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=24, editable=False)
    rotated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="ep_enrolment_secret_one")]

    def __str__(self) -> str:
        return f"enrolment secret {self.prefix}…"


class TelemetryBatch(TenantOwnedModel):
    """One telemetry request of one agent, and how far its processing got."""

    PENDING, PROCESSED, EMPTY = "pending", "processed", "empty"
    STATUSES = [(PENDING, "Pending"), (PROCESSED, "Processed"), (EMPTY, "Nothing new")]

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    received_at = models.DateTimeField(default=now)
    records = models.PositiveIntegerField(help_text="records in the request")
    accepted = models.PositiveIntegerField(help_text="records stored (new event ids)")
    duplicates = models.PositiveIntegerField(help_text="records already stored before")
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    detections = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["tenant", "received_at"], name="ep_batch_received"),
            models.Index(fields=["tenant", "endpoint", "received_at"], name="ep_batch_endpoint"),
        ]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.accepted} records)"


# -- observations ----------------------------------------------------------------------------

# What IOCs are matched on (DESIGN.md section 5): one partial index each, leading with the
# tenant. A query must imply `column IS NOT NULL` for PostgreSQL to use it (an equality or
# IN on the column does; a bare join condition may not: add `column__isnull=False`).
MATCH_INDEX_COLUMNS = (
    "md5",
    "sha1",
    "sha256",
    "process_name",
    "process_path",
    "file_name",
    "file_path",
    "target_path",
    "remote_ip",
    "remote_hostname",
    "source_ip",
    "dns_query",
    "registry_key",
)


def _model_field(field: Field) -> models.Field:
    """The column for one observation field (nullable: observations are sparse)."""
    common = {"null": True, "blank": True, "help_text": field.help}
    kind = field.type
    if kind in ("str", "lstr"):
        return models.CharField(max_length=field.max_length, **common)
    if kind in ("hex32", "hex40", "hex64"):
        return models.CharField(max_length=int(kind[3:]), **common)
    if kind == "hexbytes":
        return models.CharField(max_length=field.max_length or 32, **common)
    if kind == "int":
        return models.BigIntegerField(**common)
    if kind == "ip":
        return models.GenericIPAddressField(**common)
    if kind == "ts":
        return models.DateTimeField(**common)
    if kind == "bool":
        return models.BooleanField(**common)
    raise ValueError(f"observation field {field.name}: unknown type {kind!r}")


class Observation(TenantOwnedModel):
    """One thing an agent saw. `(tenant, endpoint, event_id)` is unique: re-sent batches
    insert nothing twice. The matching columns come from `observation_fields.FIELDS`."""

    id = models.BigAutoField(primary_key=True)
    # No single-column FK indexes: every index of this table leads with the tenant.
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    batch = models.ForeignKey(
        TelemetryBatch,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    kind = models.CharField(max_length=16, choices=[(k, k) for k in KINDS])
    event_id = models.CharField(max_length=128)
    observed_at = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "endpoint", "event_id"], name="ep_obs_event_unique"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "endpoint", "observed_at"], name="ep_obs_timeline"),
            models.Index(fields=["tenant", "observed_at"], name="ep_obs_age"),
            models.Index(fields=["tenant", "batch"], name="ep_obs_batch"),
            *(
                models.Index(
                    fields=["tenant", column],
                    name=f"ep_obs_{column}",
                    condition=Q(**{f"{column}__isnull": False}),
                )
                for column in MATCH_INDEX_COLUMNS
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id}"


for _field in FIELDS:
    Observation.add_to_class(_field.name, _model_field(_field))
del _field

OBSERVATION_FIELD_NAMES = tuple(f.name for f in FIELDS)


# -- stacking ------------------------------------------------------------------------------

STACK_CATEGORIES = [("autorun", "Persistence"), ("driver", "Drivers"), ("process", "Processes")]


class InventoryItem(TenantOwnedModel):
    """A persistence item, driver or process image seen on one endpoint.

    Written by the batch processor (one row per endpoint and item, first/last seen), so
    stacking counts rows of this table instead of scanning every observation: a chrome.exe
    started 10,000 times on a laptop is one row. It also decides "not seen before on this
    endpoint" for the new-persistence detection (`first_batch_id`).
    """

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    category = models.CharField(max_length=16, choices=STACK_CATEGORIES)
    item_type = models.CharField(max_length=32, blank=True, help_text="autorun type")
    name = models.CharField(max_length=512)
    path = models.CharField(max_length=1024, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    key = models.CharField(max_length=32, help_text="digest of category, type, name, path, hash")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    first_batch_id = models.BigIntegerField(null=True)
    first_observation_id = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "endpoint", "key"], name="ep_item_unique")
        ]
        indexes = [
            # stacking: GROUP BY key within a category, endpoints read from the index
            models.Index(fields=["tenant", "category", "key", "endpoint"], name="ep_item_stack"),
            models.Index(fields=["tenant", "first_batch_id"], name="ep_item_first_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.name}"


# -- detection rules -----------------------------------------------------------------------


def _created_by() -> models.ForeignKey:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )


class DetectionRule(TenantOwnedModel):
    """A Sigma rule of the tenant: shipped with Stopclock (builtin) or uploaded by the team."""

    BUILTIN, UPLOADED = "builtin", "uploaded"
    SOURCES = [(BUILTIN, "Shipped"), (UPLOADED, "Uploaded")]

    rule_id = models.CharField(max_length=64, help_text="the Sigma rule's id")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    level = models.CharField(max_length=16, blank=True)
    severity = models.CharField(max_length=16)
    phase = models.CharField(max_length=32)
    attack_techniques = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=16, choices=SOURCES)
    yaml = models.TextField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    created_by = _created_by()

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "rule_id"], name="ep_rule_id_unique")
        ]

    def __str__(self) -> str:
        return self.title

    def get_phase_label(self) -> str:
        return self.phase.replace("_", " ")


class RuleException(TenantOwnedModel):
    """An allowlist entry: a detection of `rule` on a record whose `field` matches `value`
    (wildcards, case-insensitive) is suppressed."""

    rule = models.ForeignKey(
        DetectionRule, on_delete=models.CASCADE, related_name="exceptions", db_index=False
    )
    field = models.CharField(max_length=64, help_text="observation column, e.g. process_path")
    value = models.CharField(max_length=1024, help_text=r"wildcard value, e.g. c:\tools\*")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)
    created_by = _created_by()

    class Meta:
        ordering = ["field", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "rule", "field", "value"], name="ep_rule_exception_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.field} = {self.value}"


__all__ = [
    "AUTORUN_TYPES",
    "DetectionRule",
    "Endpoint",
    "EndpointTag",
    "EndpointUserGroup",
    "EnrolmentSecret",
    "InventoryItem",
    "Observation",
    "RuleException",
    "Tag",
    "TelemetryBatch",
    "UserGroup",
]
