"""API shapes of the metrics app. Output serializers describe rows; input serializers refuse
keys they do not know (a typo in a legal deadline must not be silently ignored)."""

from __future__ import annotations

from collections.abc import Mapping

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from metrics import selectors
from metrics.clocks import PHASE_CHOICES
from metrics.models import (
    REGIME_CHOICES,
    SLA_CLOCK_CHOICES,
    RegulatoryFlag,
    RegulatoryNotification,
    Report,
    SlaTarget,
)
from metrics.services import FLAG_FIELDS
from metrics.summary import format_duration
from metrics.targets import SEVERITY_CHOICES


class StrictMixin:
    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = {key: "unknown field" for key in data if key not in self.fields}
            read_only = {
                key: "read-only field"
                for key in data
                if key in self.fields and self.fields[key].read_only
            }
            if unknown or read_only:
                raise serializers.ValidationError({**unknown, **read_only})
        return super().to_internal_value(data)


# --- SLA targets --------------------------------------------------------------------------------


class SlaTargetSerializer(serializers.ModelSerializer):
    target_display = serializers.SerializerMethodField()

    class Meta:
        model = SlaTarget
        fields = [
            "id",
            "phase",
            "severity",
            "clock",
            "target_seconds",
            "target_display",
            "effective_from",
            "reason",
            "created_by_label",
            "created_at",
        ]
        read_only_fields = fields

    def get_target_display(self, obj) -> str:
        return "no target" if obj.target_seconds is None else format_duration(obj.target_seconds)


class SlaTargetCreateSerializer(StrictMixin, serializers.Serializer):
    phase = serializers.ChoiceField(choices=PHASE_CHOICES)
    severity = serializers.ChoiceField(choices=SEVERITY_CHOICES)
    clock = serializers.ChoiceField(choices=SLA_CLOCK_CHOICES)
    target_seconds = serializers.IntegerField(
        min_value=0, max_value=366 * 86400, allow_null=True, help_text="null: no target"
    )
    effective_from = serializers.DateTimeField(
        required=False, help_text="now by default; never in the past"
    )
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class TargetInForceSerializer(serializers.Serializer):
    phase = serializers.CharField()
    severity = serializers.CharField()
    clock = serializers.CharField()
    target_seconds = serializers.IntegerField(allow_null=True)
    is_default = serializers.BooleanField()


# --- regulatory -----------------------------------------------------------------------------


class RegulatoryNotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = RegulatoryNotification
        fields = [
            "id",
            "flag",
            "deadline",
            "sent_at",
            "recipient",
            "reference",
            "notes",
            "recorded_at",
        ]
        read_only_fields = fields


class RegulatoryNotificationCreateSerializer(StrictMixin, serializers.Serializer):
    flag = serializers.PrimaryKeyRelatedField(queryset=RegulatoryFlag.objects.all())
    deadline = serializers.CharField(max_length=32)
    sent_at = serializers.DateTimeField()
    recipient = serializers.CharField(max_length=200)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class RegulatoryNotificationUpdateSerializer(StrictMixin, serializers.Serializer):
    sent_at = serializers.DateTimeField(required=False)
    recipient = serializers.CharField(max_length=200, required=False)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class DeadlineSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    reference = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    state = serializers.CharField()
    remaining_seconds = serializers.FloatField(allow_null=True)


class RegulatoryFlagSerializer(serializers.ModelSerializer):
    case_number = serializers.CharField(source="case.number", read_only=True)
    deadlines = serializers.SerializerMethodField()
    notifications = RegulatoryNotificationSerializer(many=True, read_only=True)

    class Meta:
        model = RegulatoryFlag
        fields = [
            "id",
            "case",
            "case_number",
            "regime",
            *FLAG_FIELDS,
            "deadlines",
            "notifications",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(DeadlineSerializer(many=True))
    def get_deadlines(self, obj) -> list:
        return [selectors.deadline_dict(status) for status in selectors.flag_deadlines(obj)]


class _FlagFields(StrictMixin, serializers.Serializer):
    notifiable = serializers.BooleanField(required=False)
    aware_at = serializers.DateTimeField(required=False, allow_null=True)
    determined_at = serializers.DateTimeField(required=False, allow_null=True)
    classified_at = serializers.DateTimeField(required=False, allow_null=True)
    facts = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    effects = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    remedial_action = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    data_categories = serializers.CharField(required=False, allow_blank=True, max_length=300)
    subjects_approx = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    records_approx = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    not_notified_reason = serializers.CharField(required=False, allow_blank=True, max_length=20_000)


class RegulatoryFlagCreateSerializer(_FlagFields):
    case = serializers.PrimaryKeyRelatedField(
        queryset=RegulatoryFlag._meta.get_field("case").related_model.objects.all()
    )
    regime = serializers.ChoiceField(choices=REGIME_CHOICES)


class RegulatoryFlagUpdateSerializer(_FlagFields):
    pass


class BreachRegisterSerializer(serializers.Serializer):
    """One line of the GDPR Art. 33(5) register."""

    id = serializers.IntegerField()
    case_id = serializers.IntegerField()
    case_number = serializers.CharField()
    case_title = serializers.CharField()
    aware_at = serializers.DateTimeField(allow_null=True)
    notifiable = serializers.BooleanField()
    facts = serializers.CharField()
    effects = serializers.CharField()
    remedial_action = serializers.CharField()
    data_categories = serializers.CharField()
    subjects_approx = serializers.IntegerField(allow_null=True)
    records_approx = serializers.IntegerField(allow_null=True)
    not_notified_reason = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    notified_at = serializers.DateTimeField(allow_null=True)
    recipient = serializers.CharField()
    reference = serializers.CharField()
    state = serializers.CharField()

    def to_representation(self, instance):
        return super().to_representation(selectors.register_row(instance))


# --- reports --------------------------------------------------------------------------------


class ReportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()
    period = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id",
            "uid",
            "kind",
            "period",
            "filters",
            "paper",
            "status",
            "progress",
            "stage",
            "requested_by_label",
            "requested_at",
            "started_at",
            "finished_at",
            "sha256",
            "size",
            "pages",
            "pdf_variant",
            "definitions_version",
            "error",
            "download_url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_period(self, obj) -> dict:
        return obj.period_info

    def get_download_url(self, obj) -> str | None:
        if obj.status != Report.Status.SUCCEEDED:
            return None
        return reverse("report-download", kwargs={"pk": obj.pk})


class ReportDetailSerializer(ReportSerializer):
    class Meta(ReportSerializer.Meta):
        fields = [*ReportSerializer.Meta.fields, "figures"]
        read_only_fields = fields


class ReportCreateSerializer(StrictMixin, serializers.Serializer):
    """The period and filters as `/metrics/mttr/` takes them, and the paper size."""

    period = serializers.CharField(required=False, allow_blank=True, max_length=40)
    granularity = serializers.CharField(required=False, allow_blank=True, max_length=8)
    phase = serializers.ListField(child=serializers.CharField(), required=False)
    severity = serializers.ListField(child=serializers.CharField(), required=False)
    assignee = serializers.IntegerField(required=False, allow_null=True)
    tag = serializers.CharField(required=False, allow_blank=True, max_length=50)
    source = serializers.CharField(required=False, allow_blank=True, max_length=32)
    paper = serializers.ChoiceField(choices=Report.Paper.choices, required=False)

    def get_fields(self):
        fields = super().get_fields()
        # `from` and `to` are Python keywords: declared here by name.
        fields["from"] = serializers.DateField(required=False)
        fields["to"] = serializers.DateField(required=False)
        return fields
