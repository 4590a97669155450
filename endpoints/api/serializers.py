from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from endpoints.conf import max_decompressed_bytes, max_records
from endpoints.models import (
    OBSERVATION_FIELD_NAMES,
    OS_FAMILIES,
    DetectionRule,
    Endpoint,
    Observation,
    RuleException,
)
from endpoints.observation_fields import FIELDS, KIND_CHOICES, Field
from endpoints.services import SCALAR_FACTS, SET_FACTS
from endpoints.telemetry import EVENT_ID_MAX

# -- agent API -------------------------------------------------------------------------------


class AgentFactsSerializer(serializers.Serializer):
    """What an agent says about its machine, at enrolment and (optionally) in heartbeats."""

    hostname = serializers.CharField(max_length=255)
    fqdn = serializers.CharField(max_length=255, required=False, allow_blank=True)
    os_family = serializers.ChoiceField(choices=OS_FAMILIES)
    os_version = serializers.CharField(max_length=128, required=False, allow_blank=True)
    domain = serializers.CharField(max_length=255, required=False, allow_blank=True)
    ip_addresses = serializers.ListField(
        child=serializers.IPAddressField(), required=False, max_length=64
    )
    mac_addresses = serializers.ListField(
        child=serializers.RegexField(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$"),
        required=False,
        max_length=64,
    )
    agent_version = serializers.CharField(max_length=64, required=False, allow_blank=True)
    user_groups = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=200
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=200
    )
    privileged_admin_logons = serializers.BooleanField(required=False)


class HeartbeatSerializer(AgentFactsSerializer):
    """Every fact is optional in a heartbeat: send only what changed (or nothing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class EnrolSerializer(AgentFactsSerializer):
    agent_id = serializers.RegexField(
        r"^[A-Za-z0-9._:-]{8,64}$", help_text="the agent's own stable id (e.g. a UUID)"
    )


class EnrolResponseSerializer(serializers.Serializer):
    endpoint_id = serializers.IntegerField()
    token = serializers.CharField(help_text="`Authorization: Agent <token>`; shown once")
    heartbeat_interval = serializers.IntegerField(help_text="seconds")
    created = serializers.BooleanField(help_text="false when an enrolled agent re-enrolled")


class HeartbeatResponseSerializer(serializers.Serializer):
    endpoint_id = serializers.IntegerField()
    heartbeat_interval = serializers.IntegerField(help_text="seconds until the next heartbeat")
    isolation_state = serializers.CharField()
    server_time = serializers.DateTimeField()


class TelemetryResponseSerializer(serializers.Serializer):
    batch_id = serializers.IntegerField()
    records = serializers.IntegerField(help_text="records in the batch")
    accepted = serializers.IntegerField(help_text="records stored")
    duplicates = serializers.IntegerField(help_text="event ids already stored (re-sent)")


def _record_field(field: Field) -> serializers.Field:
    """A serializer field describing one observation field (for the OpenAPI schema)."""
    common: dict[str, Any] = {"required": False, "allow_null": True, "help_text": field.help}
    kind = field.type
    if kind in ("str", "lstr"):
        return serializers.CharField(max_length=field.max_length, **common)
    if kind in ("hex32", "hex40", "hex64"):
        size = int(kind[3:])
        return serializers.RegexField(rf"^[0-9a-fA-F]{{{size}}}$", **common)
    if kind == "hexbytes":
        return serializers.RegexField(r"^([0-9a-fA-F]{2}){0,16}$", **common)
    if kind == "int":
        return serializers.IntegerField(
            min_value=field.min_value, max_value=field.max_value, **common
        )
    if kind == "ip":
        return serializers.IPAddressField(**common)
    if kind == "ts":
        return serializers.DateTimeField(**common)
    return serializers.BooleanField(**common)


ObservationRecordSerializer = type(
    "ObservationRecordSerializer",
    (serializers.Serializer,),
    {
        "__doc__": (
            "One telemetry record, as an agent sends it. Unknown keys are refused; absent "
            "and null values mean the same."
        ),
        "kind": serializers.ChoiceField(choices=KIND_CHOICES),
        "event_id": serializers.CharField(
            max_length=EVENT_ID_MAX, help_text="the agent's own id, unique per endpoint"
        ),
        "observed_at": serializers.DateTimeField(help_text="with a time zone; not in the future"),
        **{f.name: _record_field(f) for f in FIELDS},
    },
)

TELEMETRY_DESCRIPTION = (
    "A batch of observations: a JSON array (`Content-Type: application/json`) or NDJSON "
    "(`application/x-ndjson`), optionally `Content-Encoding: gzip`. Limits: the body as sent "
    "at most `MAX_REQUEST_BYTES` (10 MiB), decompressed at most "
    f"{max_decompressed_bytes() // (1024 * 1024)} MiB, at most {max_records()} records "
    "(413 beyond). A batch with any invalid record is refused whole (400, naming "
    "`records[i].field`); event ids already stored are counted as duplicates, not stored "
    "twice; an event id repeated inside one batch is an error."
)


# -- endpoints and observations ----------------------------------------------------------------


class EndpointSerializer(serializers.ModelSerializer):
    user_groups = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    online = serializers.SerializerMethodField()

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "agent_id",
            *SCALAR_FACTS,
            *SET_FACTS,
            "isolation_state",
            "online",
            "heartbeat_interval",
            "first_seen_at",
            "last_seen_at",
            "enrolled_at",
        ]
        read_only_fields = fields

    def get_online(self, obj: Endpoint) -> bool:
        cutoff = self.context.get("online_cutoff")
        return bool(obj.last_seen_at and cutoff and obj.last_seen_at >= cutoff)


class ObservationSerializer(serializers.ModelSerializer):
    """An observation; absent (null) fields are left out of the JSON."""

    class Meta:
        model = Observation
        fields = [
            "id",
            "endpoint",
            "batch",
            "kind",
            "event_id",
            "observed_at",
            "received_at",
            *OBSERVATION_FIELD_NAMES,
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        return {key: value for key, value in data.items() if value is not None}


# -- detection rules -------------------------------------------------------------------------


class RuleExceptionSerializer(serializers.ModelSerializer):
    rule = serializers.PrimaryKeyRelatedField(queryset=DetectionRule.objects.all())

    class Meta:
        model = RuleException
        fields = ["id", "rule", "field", "value", "reason", "created_at"]
        read_only_fields = ["id", "created_at"]


class DetectionRuleSerializer(serializers.ModelSerializer):
    exceptions = serializers.IntegerField(source="exception_count", read_only=True)

    class Meta:
        model = DetectionRule
        fields = [
            "id",
            "rule_id",
            "title",
            "description",
            "level",
            "severity",
            "phase",
            "attack_techniques",
            "source",
            "enabled",
            "exceptions",
            "yaml",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [f for f in fields if f != "enabled"]


class RuleUploadSerializer(serializers.Serializer):
    yaml = serializers.CharField(help_text="one Sigma rule (YAML); refused rules say why")


# -- stacking ----------------------------------------------------------------------------------


class StackRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="the item's identity; drill down with ?key=")
    category = serializers.CharField()
    item_type = serializers.CharField()
    name = serializers.CharField()
    path = serializers.CharField()
    sha256 = serializers.CharField()
    endpoints = serializers.IntegerField(help_text="distinct endpoints with the item")
    first_seen_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()


class StackEndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    hostname = serializers.CharField()
    os_family = serializers.CharField()
    first_seen_at = serializers.DateTimeField(help_text="when the item first appeared there")
    last_seen_at = serializers.DateTimeField()
    first_observation_id = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(many=False)  # the `list` action answers one page object
class StackPageSerializer(serializers.Serializer):
    """A page of stacking rows, with offset/limit links to the neighbouring pages."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = StackRowSerializer(many=True)


class StackEndpointListSerializer(serializers.Serializer):
    results = StackEndpointSerializer(many=True)
