from __future__ import annotations

import json

from rest_framework import serializers

from endpoints.models import OS_FAMILIES
from intel.models import (
    IMPORT_FORMATS,
    IOC,
    IOC_TYPE_CHOICES,
    SELECTIONS,
    TLP_CHOICES,
    VERDICTS,
    AllowlistEntry,
    FileScan,
    Hit,
    ImportJob,
    Reputation,
    ReputationProvider,
    Source,
    Sweep,
)
from intel.services.iocs import SOURCE_FIELDS
from intel.services.reputation import PROVIDER_FIELDS
from metrics.clocks import PHASE_CHOICES
from metrics.targets import SEVERITY_CHOICES
from tenancy.api.fields import IdField


class IOCSerializer(serializers.ModelSerializer):
    """An IOC; `value` is normalised, `source` is the first source's name."""

    source = serializers.CharField(source="source.name", read_only=True)
    source_id = serializers.IntegerField(read_only=True)
    sources = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = IOC
        fields = [
            "id",
            "type",
            "value",
            "key",
            "source",
            "source_id",
            "sources",
            "confidence",
            "severity",
            "tlp",
            "phase",
            "attack_techniques",
            "tags",
            "valid_from",
            "valid_until",
            "revoked",
            "active",
            "domain_exact",
            "description",
            "warnings",
            "suppressed",
            "first_seen",
            "last_seen",
            "sightings_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class IOCFieldsSerializer(serializers.Serializer):
    """What an analyst may say about an IOC (when adding it, and later)."""

    confidence = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=100
    )
    severity = serializers.ChoiceField(choices=SEVERITY_CHOICES, required=False)
    tlp = serializers.ChoiceField(choices=TLP_CHOICES, required=False)
    phase = serializers.ChoiceField(choices=PHASE_CHOICES, required=False, allow_blank=True)
    attack_techniques = serializers.ListField(child=serializers.CharField(), required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    valid_until = serializers.DateTimeField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    domain_exact = serializers.BooleanField(required=False)


class IOCCreateSerializer(IOCFieldsSerializer):
    type = serializers.ChoiceField(choices=IOC_TYPE_CHOICES)
    value = serializers.CharField(trim_whitespace=False, max_length=1 << 20)
    source = serializers.CharField(required=False, max_length=100, help_text="source name")
    valid_from = serializers.DateTimeField(required=False, allow_null=True)
    force = serializers.BooleanField(
        required=False, default=False, help_text="match it even if it is on a warning list"
    )


class IOCCreatedSerializer(IOCSerializer):
    created = serializers.BooleanField(read_only=True)

    class Meta(IOCSerializer.Meta):
        fields = [*IOCSerializer.Meta.fields, "created"]
        read_only_fields = fields


class IOCUpdateSerializer(IOCFieldsSerializer):
    pass


class IOCCheckSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=IOC_TYPE_CHOICES)
    value = serializers.CharField(trim_whitespace=False, max_length=1 << 20)


class IOCCheckResultSerializer(serializers.Serializer):
    type = serializers.CharField()
    value = serializers.CharField()
    warnings = serializers.ListField(child=serializers.DictField())
    exists = serializers.IntegerField(allow_null=True, help_text="id of the IOC if stored")


class SuppressionSerializer(serializers.Serializer):
    suppressed = serializers.BooleanField()


class SourceSerializer(serializers.ModelSerializer):
    # Plain strings in the schema (their names would collide with other apps' enums); the
    # service validates them against the model's choices.
    kind = serializers.CharField(required=False, help_text="manual, upload, taxii")
    default_severity = serializers.CharField(required=False, help_text="info … critical")
    default_tlp = serializers.CharField(required=False, help_text="clear … red")
    password = serializers.CharField(write_only=True, required=False, allow_blank=True)
    health = serializers.CharField(read_only=True)
    ioc_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Source
        read_only_fields = [
            "cursor",
            "next_poll_at",
            "health",
            "last_polled_at",
            "last_success_at",
            "last_error_at",
            "last_error",
            "consecutive_failures",
            "objects_added_last",
            "objects_added_total",
            "ioc_count",
            "created_at",
        ]
        fields = ["id", *SOURCE_FIELDS, *read_only_fields]
        validators: list = []  # uniqueness is checked by the service, per tenant


class ImportJobSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.name", read_only=True)
    format = serializers.CharField(read_only=True, help_text="stix, csv, misp, text, taxii")
    status = serializers.CharField(read_only=True, help_text="queued, running, succeeded, failed")
    source_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "source",
            "source_id",
            "format",
            "filename",
            "status",
            "stage",
            "progress",
            "total",
            "added",
            "updated",
            "unchanged",
            "skipped_count",
            "skipped",
            "warnings",
            "error",
            "retro_sweep",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportJobListSerializer(ImportJobSerializer):
    """Lists leave out the (possibly long) skipped and warning lists: read one job for them."""

    class Meta(ImportJobSerializer.Meta):
        fields = [f for f in ImportJobSerializer.Meta.fields if f not in {"skipped", "warnings"}]
        read_only_fields = fields


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(
        choices=[c for c in IMPORT_FORMATS if c[0] != "taxii"],
        required=False,
        help_text="guessed from the file name when absent",
    )
    source = serializers.CharField(required=False, max_length=100, help_text="source name")
    mapping = serializers.CharField(
        required=False, help_text='CSV only, JSON: {"value": "indicator", "type": "kind", ...}'
    )

    def validate_mapping(self, value):
        try:
            mapping = json.loads(value) if value else {}
        except ValueError as exc:
            raise serializers.ValidationError(f"not JSON: {exc}") from None
        except RecursionError:
            raise serializers.ValidationError("not JSON: nested too deeply") from None
        if not isinstance(mapping, dict):
            raise serializers.ValidationError("a JSON object: our field -> your column")
        return mapping


class SweepSerializer(serializers.ModelSerializer):
    status = serializers.CharField(
        read_only=True, help_text="queued, running, succeeded, failed, cancelled"
    )
    kind = serializers.CharField(read_only=True, help_text="manual, retro_hunt, continuous")
    progress = serializers.IntegerField(read_only=True)
    selection_source = serializers.PrimaryKeyRelatedField(read_only=True)
    selection_iocs = serializers.SerializerMethodField(
        help_text="listed IOC ids (the first 1,000; a retro-hunt of a big import has more)"
    )

    def get_selection_iocs(self, sweep) -> list[int]:
        return sweep.selection_iocs[:1000]

    class Meta:
        model = Sweep
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "progress",
            "selection",
            "selection_source",
            "selection_tag",
            "selection_iocs",
            "adhoc_values",
            "target_os",
            "target_groups",
            "target_tags",
            "target_privileged",
            "window_start",
            "window_end",
            "terms_count",
            "chunks_total",
            "chunks_done",
            "endpoints_total",
            "endpoints_scanned",
            "hits_count",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class SweepCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    selection = serializers.ChoiceField(choices=SELECTIONS, default="all")
    source = serializers.PrimaryKeyRelatedField(
        queryset=Source.objects.all(), required=False, allow_null=True
    )
    tag = serializers.CharField(required=False, allow_blank=True, max_length=100)
    iocs = serializers.ListField(child=IdField(), required=False)
    adhoc_values = serializers.ListField(
        child=serializers.CharField(max_length=10000), required=False, max_length=1000
    )
    os_family = serializers.ChoiceField(choices=OS_FAMILIES, required=False, allow_blank=True)
    groups = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    privileged = serializers.BooleanField(required=False, allow_null=True, default=None)
    window_start = serializers.DateTimeField(required=False, allow_null=True)
    window_end = serializers.DateTimeField(required=False, allow_null=True)


class HitSerializer(serializers.ModelSerializer):
    hostname = serializers.CharField(source="endpoint.hostname", read_only=True)
    ioc_type = serializers.CharField(read_only=True)

    class Meta:
        model = Hit
        fields = [
            "id",
            "sweep",
            "ioc",
            "ioc_key",
            "ioc_type",
            "endpoint",
            "hostname",
            "observation",
            "matched_field",
            "first_seen",
            "last_seen",
            "observations_count",
            "alerted_at",
            "case_id",
            "created_at",
        ]
        read_only_fields = fields


class ReputationSerializer(serializers.ModelSerializer):
    detection_ratio = serializers.CharField(read_only=True)

    class Meta:
        model = Reputation
        fields = [
            "id",
            "hash",
            "hash_type",
            "verdict",
            "detections",
            "engines",
            "detection_ratio",
            "source",
            "first_seen_at",
            "updated_at",
        ]
        read_only_fields = ["id", "hash_type", "detection_ratio", "first_seen_at", "updated_at"]


class ReputationInputSerializer(serializers.Serializer):
    hash = serializers.CharField(max_length=64)
    verdict = serializers.ChoiceField(choices=VERDICTS)
    detections = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    engines = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    source = serializers.CharField(required=False, max_length=100, default="analyst")


class VerdictSerializer(serializers.Serializer):
    hash = serializers.CharField()
    hash_type = serializers.CharField()
    verdict = serializers.CharField()
    detections = serializers.IntegerField(allow_null=True)
    engines = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()
    provider = serializers.CharField()
    cached = serializers.BooleanField()


class AllowlistEntrySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AllowlistEntry
        fields = ["id", "type", "value", "reason", "created_at", "created_by"]
        read_only_fields = ["id", "created_at", "created_by"]
        validators: list = []


class ReputationProviderSerializer(serializers.ModelSerializer):
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True)

    class Meta:
        model = ReputationProvider
        read_only_fields = ["id", "last_used_at", "last_error", "created_at"]
        fields = ["id", *PROVIDER_FIELDS, *read_only_fields[1:]]
        validators: list = []


class FileScanSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="queued, running, succeeded, failed")

    class Meta:
        model = FileScan
        fields = [
            "id",
            "target",
            "evidence_id",
            "filename",
            "sha256",
            "size",
            "status",
            "rules_count",
            "matches",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class FileScanCreateSerializer(serializers.Serializer):
    file = serializers.FileField()


class SearchResultSerializer(serializers.Serializer):
    query = serializers.CharField()
    type = serializers.CharField(allow_null=True)
    fields = serializers.ListField(child=serializers.CharField())
    endpoints = serializers.ListField(child=serializers.DictField())
    observations = serializers.ListField(child=serializers.DictField())
    elapsed_ms = serializers.IntegerField()
