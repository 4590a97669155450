"""API shapes of the cases app. Output serializers describe rows; input serializers are
strict: a key that is not a writable field is a 400 naming it (a typo must not be ignored).

Field names other systems rely on (issue 3): alert `id title severity source phase
attack_techniques observed_at external_id dedup_key status raw endpoint case`; case `id number
title description severity tlp phase status assignee tags detected_at triaged_at scoped_at
contained_at remediated_at closed_at`.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from endpoints.models import Endpoint
from metrics.clocks import MILESTONES, PHASE_CHOICES
from metrics.targets import SEVERITY_CHOICES
from tenancy.api.fields import IdField
from tenancy.context import require_tenant

from .. import sla
from ..models import (
    WEBHOOK_EVENTS,
    Alert,
    AlertSource,
    Case,
    CaseLink,
    CaseStatus,
    CustodyEvent,
    DismissReason,
    Evidence,
    GroupingRule,
    Note,
    Resolution,
    Task,
    TimelineEntry,
    Tlp,
    Webhook,
    WebhookDelivery,
)
from ..services import WORKING_ROLES

User = get_user_model()


class StrictInputMixin:
    """Refuse keys that are not writable fields of the serializer, naming each one."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            problems = {}
            for key in data:
                field = self.fields.get(key)
                if field is None:
                    problems[key] = "unknown field"
                elif field.read_only:
                    problems[key] = "read-only field"
            if problems:
                raise serializers.ValidationError(problems)
        return super().to_internal_value(data)


class MemberField(serializers.PrimaryKeyRelatedField):
    """A user id that must be a member of the tenant in context who works cases."""

    queryset = User.objects.all()  # for the schema; get_queryset() scopes it

    def get_queryset(self):
        return User.objects.filter(
            memberships__tenant_id=require_tenant().pk,
            memberships__role__in=WORKING_ROLES,
            is_active=True,
        )


class TagListField(serializers.ListField):
    child = serializers.CharField(max_length=50)


# --- alerts -------------------------------------------------------------------------------
class AlertSerializer(serializers.ModelSerializer):
    endpoint_hostname = serializers.CharField(
        source="endpoint.hostname", read_only=True, default=None
    )
    case_number = serializers.CharField(source="case.number", read_only=True, default=None)

    class Meta:
        model = Alert
        fields = [
            "id",
            "title",
            "severity",
            "source",
            "phase",
            "attack_techniques",
            "observed_at",
            "first_seen_at",
            "last_seen_at",
            "received_at",
            "count",
            "external_id",
            "dedup_key",
            "rule_id",
            "ioc_key",
            "status",
            "dismiss_reason",
            "acknowledged_at",
            "acknowledged_by",
            "raw",
            "endpoint",
            "endpoint_hostname",
            "case",
            "case_number",
        ]
        read_only_fields = fields


class AlertInputSerializer(StrictInputMixin, serializers.Serializer):
    """One alert to ingest (POST /alerts/, or an item of POST /alerts/bulk/)."""

    title = serializers.CharField(max_length=300)
    severity = serializers.ChoiceField(choices=SEVERITY_CHOICES)
    source = serializers.ChoiceField(choices=AlertSource.choices, default=AlertSource.API)
    phase = serializers.ChoiceField(choices=PHASE_CHOICES, allow_blank=True, default="")
    attack_techniques = serializers.ListField(
        child=serializers.CharField(max_length=16), max_length=50, default=list
    )
    observed_at = serializers.DateTimeField()
    external_id = serializers.CharField(max_length=200, allow_blank=True, default="")
    dedup_key = serializers.CharField(max_length=200, allow_blank=True, default="")
    rule_id = serializers.CharField(max_length=200, allow_blank=True, default="")
    ioc_key = serializers.CharField(max_length=300, allow_blank=True, default="")
    raw = serializers.JSONField(default=dict, help_text="at most 64 KiB serialised")
    endpoint = serializers.PrimaryKeyRelatedField(
        queryset=Endpoint.objects.all(), allow_null=True, default=None
    )


class AlertBulkSerializer(serializers.Serializer):
    """POST /alerts/bulk/: up to 1,000 alerts, all or nothing (a bare JSON list works too)."""

    alerts = AlertInputSerializer(many=True)


class IngestItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=["created", "deduplicated", "already_known"])
    id = serializers.IntegerField()
    case = serializers.IntegerField(allow_null=True)


class CaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    deduplicated = serializers.IntegerField()
    already_known = serializers.IntegerField()
    results = IngestItemSerializer(many=True)
    cases_created = CaseRefSerializer(many=True)
    cases_joined = CaseRefSerializer(many=True)


class AlertDismissSerializer(StrictInputMixin, serializers.Serializer):
    reason = serializers.ChoiceField(choices=DismissReason.choices)
    note = serializers.CharField(max_length=500, allow_blank=True, default="")


class AlertPromoteSerializer(StrictInputMixin, serializers.Serializer):
    case = serializers.PrimaryKeyRelatedField(
        queryset=Case.objects.all(),
        allow_null=True,
        default=None,
        help_text="an open case to add the alert to; empty opens a new case",
    )
    title = serializers.CharField(max_length=300, allow_blank=True, default="")


class AlertTriageSerializer(StrictInputMixin, serializers.Serializer):
    """POST /alerts/bulk-triage/: one action on many alerts, all or nothing."""

    ids = serializers.ListField(child=IdField(), min_length=1, max_length=1000)
    action = serializers.ChoiceField(choices=["acknowledge", "dismiss", "promote"])
    reason = serializers.ChoiceField(
        choices=DismissReason.choices, required=False, help_text="for dismiss"
    )
    case = serializers.PrimaryKeyRelatedField(
        queryset=Case.objects.all(), allow_null=True, default=None, help_text="for promote"
    )
    title = serializers.CharField(max_length=300, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["action"] == "dismiss" and not attrs.get("reason"):
            raise serializers.ValidationError({"reason": "required to dismiss"})
        return attrs


# --- cases ----------------------------------------------------------------------------------
class CaseSerializer(serializers.ModelSerializer):
    assignee_username = serializers.CharField(
        source="assignee.username", read_only=True, default=None
    )
    tags = serializers.SerializerMethodField()
    watchers = serializers.SerializerMethodField()
    paused = serializers.SerializerMethodField()
    sla_state = serializers.SerializerMethodField()
    merged_into_number = serializers.CharField(
        source="merged_into.number", read_only=True, default=None
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "title",
            "description",
            "severity",
            "tlp",
            "phase",
            "status",
            "resolution",
            "assignee",
            "assignee_username",
            "watchers",
            "tags",
            *MILESTONES,
            "paused",
            "sla_state",
            "sla_due_at",
            "version",
            "merged_into",
            "merged_into_number",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, case) -> list[str]:
        tags = getattr(case, "tag_list", None)  # prefetched by selectors.case_list_queryset
        return [tag.name for tag in (tags if tags is not None else case.tags.order_by("name"))]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_watchers(self, case) -> list[int]:
        users = getattr(case, "watcher_list", None)
        return [user.pk for user in (users if users is not None else case.watchers.all())]

    def get_paused(self, case) -> bool:
        return case.paused_at is not None

    @extend_schema_field(serializers.ChoiceField(choices=sla.SLA_STATES))
    def get_sla_state(self, case) -> str:
        return sla.state_of(case, self.context.get("now"))


class CaseCreateSerializer(StrictInputMixin, serializers.Serializer):
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(allow_blank=True, default="", max_length=100_000)
    severity = serializers.ChoiceField(choices=SEVERITY_CHOICES)
    tlp = serializers.ChoiceField(choices=Tlp.choices, default=Tlp.AMBER)
    phase = serializers.ChoiceField(choices=PHASE_CHOICES)
    assignee = MemberField(allow_null=True, default=None)
    watchers = MemberField(many=True, default=list)
    tags = TagListField(default=list, max_length=30)
    detected_at = serializers.DateTimeField(
        required=False, help_text="default: the earliest observed time of `alerts`, else now"
    )
    alerts = serializers.PrimaryKeyRelatedField(
        queryset=Alert.objects.all(), many=True, default=list
    )


class CaseUpdateSerializer(StrictInputMixin, serializers.Serializer):
    """PATCH (some fields) or PUT (all of them). Status and milestones have their actions."""

    title = serializers.CharField(max_length=300)
    description = serializers.CharField(allow_blank=True, max_length=100_000)
    severity = serializers.ChoiceField(choices=SEVERITY_CHOICES)
    tlp = serializers.ChoiceField(choices=Tlp.choices)
    phase = serializers.ChoiceField(choices=PHASE_CHOICES)
    assignee = MemberField(allow_null=True)
    watchers = MemberField(many=True)
    tags = TagListField(max_length=30)


class TransitionSerializer(StrictInputMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=CaseStatus.choices)
    resolution = serializers.ChoiceField(
        choices=Resolution.choices, required=False, help_text="required to close"
    )
    reason = serializers.CharField(max_length=1000, allow_blank=True, default="")


class ReasonSerializer(StrictInputMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


class CorrectMilestoneSerializer(StrictInputMixin, serializers.Serializer):
    milestone = serializers.ChoiceField(choices=list(MILESTONES))
    value = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(max_length=1000, min_length=5)


class AssignSerializer(StrictInputMixin, serializers.Serializer):
    assignee = MemberField(allow_null=True)


class MergeSerializer(StrictInputMixin, serializers.Serializer):
    into = serializers.PrimaryKeyRelatedField(
        queryset=Case.objects.all(), help_text="the case that survives"
    )
    reason = serializers.CharField(max_length=1000, allow_blank=True, default="")


class SplitSerializer(StrictInputMixin, serializers.Serializer):
    alerts = serializers.PrimaryKeyRelatedField(
        queryset=Alert.objects.all(), many=True, allow_empty=False
    )
    title = serializers.CharField(max_length=300, allow_blank=True, default="")


LINKABLE_APPS = ("cases", "endpoints", "intel")


class LinkSerializer(StrictInputMixin, serializers.Serializer):
    object_type = serializers.CharField(
        max_length=100, help_text='"app_label.model", e.g. "endpoints.endpoint"'
    )
    object_id = serializers.CharField(max_length=64)
    relation = serializers.ChoiceField(choices=CaseLink.Relation.choices, default="related")

    def validate(self, attrs):
        from django.contrib.contenttypes.models import ContentType

        from tenancy.models import TenantOwnedModel

        app_label, _, model = attrs["object_type"].lower().partition(".")
        content_type = ContentType.objects.filter(app_label=app_label, model=model).first()
        model_class = content_type.model_class() if content_type else None
        if (
            model_class is None
            or app_label not in LINKABLE_APPS
            or not issubclass(model_class, TenantOwnedModel)
        ):
            raise serializers.ValidationError({"object_type": "not a linkable object type"})
        obj = model_class._default_manager.filter(pk=attrs["object_id"]).first()
        if obj is None:
            raise serializers.ValidationError({"object_id": "unknown object"})
        attrs["obj"] = obj
        return attrs


class CaseBulkSerializer(StrictInputMixin, serializers.Serializer):
    """POST /cases/bulk/: assign and/or move many cases, all or nothing."""

    ids = serializers.ListField(child=IdField(), min_length=1, max_length=500)
    assignee = MemberField(allow_null=True, required=False)
    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    resolution = serializers.ChoiceField(choices=Resolution.choices, required=False)
    reason = serializers.CharField(max_length=1000, allow_blank=True, default="")

    def validate(self, attrs):
        if "assignee" not in attrs and "status" not in attrs:
            raise serializers.ValidationError({"status": "give assignee and/or status"})
        return attrs


class LinkOutSerializer(serializers.ModelSerializer):
    object_type = serializers.SerializerMethodField()

    class Meta:
        model = CaseLink
        fields = ["id", "object_type", "object_id", "relation", "object_repr", "created_at"]
        read_only_fields = fields

    def get_object_type(self, link) -> str:
        content_type = link.content_type
        return f"{content_type.app_label}.{content_type.model}"


class TimelineEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = TimelineEntry
        fields = ["id", "occurred_at", "kind", "summary", "data", "actor", "actor_label"]
        read_only_fields = fields


# --- tasks, notes, evidence -------------------------------------------------------------------
class TaskSerializer(serializers.ModelSerializer):
    done = serializers.BooleanField(read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "case",
            "title",
            "description",
            "phase",
            "is_remediation",
            "order",
            "assignee",
            "due_at",
            "done",
            "done_at",
            "done_by",
            "template",
            "created_at",
        ]
        read_only_fields = fields


class TaskCreateSerializer(StrictInputMixin, serializers.Serializer):
    case = serializers.PrimaryKeyRelatedField(queryset=Case.objects.all())
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, default="", max_length=10_000)
    assignee = MemberField(allow_null=True, default=None)
    due_at = serializers.DateTimeField(allow_null=True, default=None)
    is_remediation = serializers.BooleanField(default=False)


class TaskUpdateSerializer(StrictInputMixin, serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, max_length=10_000)
    assignee = MemberField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    done = serializers.BooleanField()


class NoteSerializer(serializers.ModelSerializer):
    author_username = serializers.CharField(source="author.username", read_only=True, default=None)

    class Meta:
        model = Note
        fields = ["id", "case", "body", "author", "author_username", "created_at", "updated_at"]
        read_only_fields = fields


class NoteCreateSerializer(StrictInputMixin, serializers.Serializer):
    case = serializers.PrimaryKeyRelatedField(queryset=Case.objects.all())
    body = serializers.CharField(max_length=100_000)


class NoteUpdateSerializer(StrictInputMixin, serializers.Serializer):
    body = serializers.CharField(max_length=100_000)


class CustodySerializer(serializers.ModelSerializer):
    class Meta:
        model = CustodyEvent
        fields = ["action", "at", "user", "actor_label", "ip", "request_id", "detail"]
        read_only_fields = fields


class EvidenceSerializer(serializers.ModelSerializer):
    custody = CustodySerializer(many=True, read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = Evidence
        fields = [
            "id",
            "uid",
            "case",
            "original_name",
            "size",
            "sha256",
            "content_type",
            "description",
            "uploaded_by",
            "uploaded_at",
            "download",
            "custody",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI_REF)  # a path on this server
    def get_download(self, evidence) -> str:
        return f"/api/v1/evidence/{evidence.pk}/download/"


class EvidenceUploadSerializer(StrictInputMixin, serializers.Serializer):
    case = serializers.PrimaryKeyRelatedField(queryset=Case.objects.all())
    file = serializers.FileField(allow_empty_file=False, use_url=False)
    description = serializers.CharField(max_length=500, allow_blank=True, default="")


# --- automation -----------------------------------------------------------------------------
class GroupingRuleSerializer(StrictInputMixin, serializers.ModelSerializer):
    class Meta:
        model = GroupingRule
        fields = [
            "id",
            "name",
            "order",
            "is_enabled",
            "action",
            "min_severity",
            "source",
            "join_on",
            "window_minutes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class WebhookSerializer(StrictInputMixin, serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(WEBHOOK_EVENTS)), allow_empty=False
    )

    class Meta:
        model = Webhook
        fields = ["id", "name", "url", "events", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class WebhookSecretSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="shown once: store it now")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "uid",
            "webhook",
            "event",
            "status",
            "attempts",
            "response_code",
            "error",
            "duration_ms",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "payload",
        ]
        read_only_fields = fields
