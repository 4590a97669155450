"""REST API of response actions: `/api/v1/actions/`, `/api/v1/bulk-actions/`.

Field names other systems rely on (issue 6): `id type case endpoint parameters status
requested_by approved_by result`, and the transitions `POST {id}/approve/`, `reject/`,
`cancel/`, `retry/`. Everyone reads; admins, leads, analysts and integration tokens request,
cancel and retry; only leads and admins approve or reject (and never their own request);
auditors change nothing (403).
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from endpoints.models import Endpoint
from tenancy import roles
from tenancy.api.fields import IdField
from tenancy.schema import CONFLICT

from ..actions import services
from ..actions.registry import ACTION_TYPE_CHOICES, ACTION_TYPES
from ..actions.selectors import action_list_queryset, bulk_list_queryset, bulk_progress
from ..models import ACTION_OUTCOMES, BulkAction, Case, ResponseAction
from .filters import ActionFilterSet, BulkActionFilterSet
from .serializers import StrictInputMixin


# --- serializers -------------------------------------------------------------------------------
class ActionSerializer(serializers.ModelSerializer):
    case_number = serializers.CharField(source="case.number", read_only=True, default=None)
    endpoint_hostname = serializers.CharField(source="hostname", read_only=True)
    requested_by_name = serializers.CharField(source="requested_by_label", read_only=True)
    approved_by_name = serializers.CharField(
        source="approved_by.username", read_only=True, default=None
    )
    type_label = serializers.CharField(source="get_type_display", read_only=True)
    destructive = serializers.SerializerMethodField()
    milestone = serializers.SerializerMethodField()

    class Meta:
        model = ResponseAction
        fields = [
            "id",
            "type",
            "type_label",
            "case",
            "case_number",
            "endpoint",
            "endpoint_hostname",
            "parameters",
            "status",
            "status_reason",
            "reason",
            "requested_by",
            "requested_by_name",
            "approved_by",
            "approved_by_name",
            "approved_at",
            "requires_approval",
            "destructive",
            "milestone",
            "result",
            "bulk",
            "attempt",
            "retry_of",
            "task",
            "created_at",
            "queued_at",
            "dispatched_at",
            "finished_at",
            "expires_at",
            "approval_expires_at",
        ]
        read_only_fields = fields

    def get_destructive(self, obj) -> bool:
        return ACTION_TYPES[obj.type].destructive

    @extend_schema_field(serializers.ChoiceField(choices=["contained", "remediation"]))
    def get_milestone(self, obj) -> str | None:
        return ACTION_TYPES[obj.type].milestone


class ActionRequestSerializer(StrictInputMixin, serializers.Serializer):
    type = serializers.ChoiceField(choices=ACTION_TYPE_CHOICES)
    case = serializers.PrimaryKeyRelatedField(
        queryset=Case.objects.all(), required=False, allow_null=True, default=None
    )
    endpoint = serializers.PrimaryKeyRelatedField(
        queryset=Endpoint.objects.all(), required=False, allow_null=True, default=None
    )
    parameters = serializers.JSONField(
        required=False, default=dict, help_text="per type; see the action types in the README"
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class RejectSerializer(StrictInputMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


class CancelSerializer(StrictInputMixin, serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class OutcomeSerializer(StrictInputMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=ACTION_OUTCOMES)
    output = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")


class BulkActionSerializer(serializers.ModelSerializer):
    case_number = serializers.CharField(source="case.number", read_only=True, default=None)
    requested_by_name = serializers.CharField(source="requested_by_label", read_only=True)
    approved_by_name = serializers.CharField(
        source="approved_by.username", read_only=True, default=None
    )
    counts = serializers.SerializerMethodField(help_text="per-endpoint actions by status")
    percent = serializers.SerializerMethodField(help_text="share of endpoints finished")

    class Meta:
        model = BulkAction
        fields = [
            "id",
            "type",
            "case",
            "case_number",
            "parameters",
            "target",
            "total",
            "launched",
            "status",
            "status_reason",
            "reason",
            "requires_approval",
            "requested_by",
            "requested_by_name",
            "approved_by",
            "approved_by_name",
            "approved_at",
            "counts",
            "percent",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_counts(self, obj) -> dict:
        return bulk_progress(obj)["counts"]

    def get_percent(self, obj) -> int:
        return bulk_progress(obj)["percent"]


class BulkActionDetailSerializer(BulkActionSerializer):
    endpoints = serializers.ListField(
        source="endpoint_ids", child=serializers.IntegerField(), read_only=True
    )

    class Meta(BulkActionSerializer.Meta):
        fields = [*BulkActionSerializer.Meta.fields, "endpoints"]
        read_only_fields = fields


class BulkRequestSerializer(StrictInputMixin, serializers.Serializer):
    type = serializers.ChoiceField(choices=ACTION_TYPE_CHOICES)
    case = serializers.PrimaryKeyRelatedField(
        queryset=Case.objects.all(), required=False, allow_null=True, default=None
    )
    parameters = serializers.JSONField(required=False, default=dict)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")
    endpoints = serializers.ListField(
        child=IdField(), required=False, max_length=10_000, default=list
    )
    sha256 = serializers.CharField(
        required=False, default="", help_text="every endpoint where a process with it ran"
    )
    sweep = IdField(required=False, allow_null=True, default=None, help_text="the endpoints it hit")
    ioc = IdField(
        required=False, allow_null=True, default=None, help_text="the endpoints it was seen on"
    )


def _input(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- viewsets ----------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="Response actions, filterable (the approval queue: ?status=awaiting_approval)"
    ),
    retrieve=extend_schema(summary="One response action"),
)
class ActionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Containment and remediation steps on endpoints (and directory accounts)."""

    queryset = action_list_queryset()
    serializer_class = ActionSerializer
    filterset_class = ActionFilterSet
    filter_backends = [DjangoFilterBackend]
    action_roles = {"approve": roles.LEADS, "reject": roles.LEADS}

    def _respond(self, row: ResponseAction, code=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=row.pk)).data, status=code)

    @extend_schema(
        summary="Request an action (201); it waits for approval or is queued at once",
        request=ActionRequestSerializer,
        responses={201: ActionSerializer, **CONFLICT},
    )
    def create(self, request):
        data = _input(ActionRequestSerializer, request)
        return self._respond(services.action_request(**data), status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve (leads, admins; never your own request)",
        request=None,
        responses={200: ActionSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._respond(services.action_approve(action=self.get_object()))

    @extend_schema(
        summary="Reject with a reason (leads, admins): cancelled",
        request=RejectSerializer,
        responses={200: ActionSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        action = self.get_object()  # another tenant's id is a 404 before any 400
        data = _input(RejectSerializer, request)
        return self._respond(services.action_reject(action=action, **data))

    @extend_schema(
        summary="Withdraw before the agent picks it up (requester, leads, admins)",
        request=CancelSerializer,
        responses={200: ActionSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        action = self.get_object()
        data = _input(CancelSerializer, request)
        return self._respond(services.action_cancel(action=action, **data))

    @extend_schema(
        summary="Retry a failed or expired action: a new attempt (201)",
        request=None,
        responses={201: ActionSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        new = services.action_retry(action=self.get_object())
        return self._respond(new, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Record the outcome of an action a team carried out (a reset)",
        request=OutcomeSerializer,
        responses={200: ActionSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def outcome(self, request, pk=None):
        action = self.get_object()
        data = _input(OutcomeSerializer, request)
        return self._respond(services.action_record_outcome(action=action, **data))


@extend_schema_view(
    list=extend_schema(summary="Bulk responses with their progress"),
    retrieve=extend_schema(
        summary="One bulk response; its per-endpoint actions are /api/v1/actions/?bulk=ID",
        responses=BulkActionDetailSerializer,
    ),
)
class BulkActionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One response fanned out to many endpoints; approved once for all of them."""

    queryset = bulk_list_queryset()
    serializer_class = BulkActionSerializer
    filterset_class = BulkActionFilterSet
    filter_backends = [DjangoFilterBackend]
    action_roles = {"approve": roles.LEADS, "reject": roles.LEADS}

    def get_serializer_class(self):
        return BulkActionDetailSerializer if self.action != "list" else BulkActionSerializer

    def _respond(self, bulk: BulkAction, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=bulk.pk)
        return Response(BulkActionDetailSerializer(fresh).data, status=code)

    @extend_schema(
        summary="Request a bulk response: endpoints, a hash, a sweep or an IOC (201)",
        request=BulkRequestSerializer,
        responses={201: BulkActionDetailSerializer, **CONFLICT},
    )
    def create(self, request):
        data = _input(BulkRequestSerializer, request)
        return self._respond(services.bulk_action_request(**data), status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve for every endpoint (leads, admins; not your own)",
        request=None,
        responses={200: BulkActionDetailSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._respond(services.bulk_action_approve(bulk=self.get_object()))

    @extend_schema(
        summary="Reject with a reason (leads, admins)",
        request=RejectSerializer,
        responses={200: BulkActionDetailSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        bulk = self.get_object()
        data = _input(RejectSerializer, request)
        return self._respond(services.bulk_action_reject(bulk=bulk, **data))

    @extend_schema(
        summary="Stop: endpoints that have not picked it up are cancelled",
        request=CancelSerializer,
        responses={200: BulkActionDetailSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        bulk = self.get_object()
        data = _input(CancelSerializer, request)
        return self._respond(services.bulk_action_cancel(bulk=bulk, **data))
