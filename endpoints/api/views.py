from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints import conf
from endpoints.auth import AgentOnly, AgentTokenAuthentication, EnrolmentSecretAuthentication
from endpoints.models import DetectionRule, Endpoint, Observation, RuleException
from endpoints.selectors import online_cutoff, stack, stack_endpoints
from endpoints.services import (
    endpoint_enrol,
    endpoint_heartbeat,
    rule_delete,
    rule_exception_add,
    rule_exception_remove,
    rule_set_enabled,
    rule_upload,
    rules_ensure_builtin,
    telemetry_ingest,
)
from endpoints.telemetry import (
    BatchInvalid,
    BatchTooLarge,
    BatchUnreadable,
    UnsupportedEncoding,
    decode_body,
)
from tenancy.api.fields import query_text, query_texts
from tenancy.api.pagination import SeqCursorPagination
from tenancy.errors import PayloadTooLarge

from .filters import DetectionRuleFilterSet, EndpointFilterSet, ObservationFilterSet
from .serializers import (
    TELEMETRY_DESCRIPTION,
    DetectionRuleSerializer,
    EndpointSerializer,
    EnrolResponseSerializer,
    EnrolSerializer,
    HeartbeatResponseSerializer,
    HeartbeatSerializer,
    ObservationRecordSerializer,
    ObservationSerializer,
    RuleExceptionSerializer,
    RuleUploadSerializer,
    StackEndpointListSerializer,
    StackEndpointSerializer,
    StackPageSerializer,
    StackRowSerializer,
    TelemetryResponseSerializer,
)

# -- the agent API ---------------------------------------------------------------------------


class AgentView(APIView):
    """Base of the agent API: `Authorization: Agent <token>` only, agents only."""

    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [AgentOnly]


class EnrolView(APIView):
    """Enrol an agent with the tenant's enrolment secret (`Authorization: Enrolment <secret>`).

    Returns the endpoint id and its agent token (shown once, stored hashed). Re-enrolling
    the same `agent_id` keeps the endpoint and replaces its token.
    """

    authentication_classes = [EnrolmentSecretAuthentication]
    permission_classes = [AgentOnly]
    throttle_classes: list = []  # one per install; a leaked secret is rotated, not throttled

    @extend_schema(
        request=EnrolSerializer,
        responses={201: EnrolResponseSerializer, 200: EnrolResponseSerializer},
        tags=["agent"],
    )
    def post(self, request):
        data = EnrolSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        facts = dict(data.validated_data)
        agent_id = facts.pop("agent_id")
        enrolment = endpoint_enrol(agent_id=agent_id, facts=facts)
        body = {
            "endpoint_id": enrolment.endpoint.pk,
            "token": enrolment.token,
            "heartbeat_interval": enrolment.endpoint.heartbeat_interval,
            "created": enrolment.created,
        }
        code = status.HTTP_201_CREATED if enrolment.created else status.HTTP_200_OK
        return Response(EnrolResponseSerializer(body).data, status=code)


class HeartbeatView(AgentView):
    """The agent is alive; facts that changed may ride along (all optional)."""

    @extend_schema(
        request=HeartbeatSerializer, responses=HeartbeatResponseSerializer, tags=["agent"]
    )
    def post(self, request):
        data = HeartbeatSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        endpoint = endpoint_heartbeat(endpoint=request.auth, facts=data.validated_data)
        body = {
            "endpoint_id": endpoint.pk,
            "heartbeat_interval": endpoint.heartbeat_interval,
            "isolation_state": endpoint.isolation_state,
            "server_time": timezone.now(),
        }
        return Response(HeartbeatResponseSerializer(body).data)


class TelemetryView(AgentView):
    parser_classes: list = []  # the body is read raw: gzip, NDJSON, size caps

    @extend_schema(
        description=TELEMETRY_DESCRIPTION,
        request={
            "application/json": ObservationRecordSerializer(many=True),
            "application/x-ndjson": OpenApiTypes.STR,
        },
        parameters=[
            OpenApiParameter(
                "Content-Encoding",
                str,
                OpenApiParameter.HEADER,
                enum=["gzip", "identity"],
                required=False,
            )
        ],
        responses={
            202: TelemetryResponseSerializer,
            400: OpenApiResponse(description="invalid batch; nothing stored"),
            401: OpenApiResponse(description="unknown agent token"),
            413: OpenApiResponse(description="over a size or record limit"),
            415: OpenApiResponse(description="unsupported Content-Type or Content-Encoding"),
        },
        tags=["agent"],
    )
    def post(self, request):
        """Store a batch of observations (all or nothing) and queue its processing."""
        try:
            records = decode_body(
                request.body,
                content_type=request.META.get("CONTENT_TYPE", ""),
                content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""),
                max_decompressed=conf.max_decompressed_bytes(),
                max_records=conf.max_records(),
            )
            outcome = telemetry_ingest(endpoint=request.auth, records=records)
        except BatchTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from exc
        except UnsupportedEncoding as exc:
            raise exceptions.UnsupportedMediaType(
                request.META.get("CONTENT_TYPE", ""), detail=str(exc)
            ) from exc
        except BatchUnreadable as exc:
            raise exceptions.ValidationError({exc.field: exc.message}) from exc
        except BatchInvalid as exc:
            raise exceptions.ValidationError(exc.errors) from exc
        body = {
            "batch_id": outcome.batch_id,
            "records": outcome.records,
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
        }
        return Response(TelemetryResponseSerializer(body).data, status=status.HTTP_202_ACCEPTED)


# -- inventory and observations ----------------------------------------------------------------


class EndpointViewSet(viewsets.ReadOnlyModelViewSet):
    """The tenant's endpoints. Online: seen within three heartbeat intervals (min. 3 min)."""

    queryset = Endpoint.objects.prefetch_related("user_groups", "tags").order_by("hostname", "id")
    serializer_class = EndpointSerializer
    filterset_class = EndpointFilterSet
    search_fields = ["hostname", "fqdn"]
    ordering_fields = ["hostname", "last_seen_at", "first_seen_at"]

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "online_cutoff": online_cutoff()}


class ObservationViewSet(viewsets.ReadOnlyModelViewSet):
    """Stored telemetry, newest first (cursor-paginated). Filters on kind, endpoint, batch,
    time (`since`, `until`) and exact values of the indexed columns (hashes, names, paths,
    IPs, DNS names, registry keys). Absent fields are left out of each object."""

    queryset = Observation.objects.all()
    serializer_class = ObservationSerializer
    filterset_class = ObservationFilterSet
    pagination_class = SeqCursorPagination
    search_fields = None
    ordering_fields = None


# -- detection rules -------------------------------------------------------------------------


@extend_schema_view(
    destroy=extend_schema(
        responses={
            204: None,
            400: OpenApiResponse(description="a shipped rule: disable it instead"),
        }
    )
)
class DetectionRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Sigma rules: shipped and uploaded. POST uploads one rule (YAML); PATCH `enabled`
    switches a rule on or off; DELETE removes an uploaded rule."""

    queryset = DetectionRule.objects.annotate(exception_count=Count("exceptions")).order_by(
        "title", "id"
    )
    serializer_class = DetectionRuleSerializer
    filterset_class = DetectionRuleFilterSet
    search_fields = ["title", "rule_id", "description"]
    ordering_fields = ["title", "updated_at", "severity"]

    def list(self, request, *args, **kwargs):
        rules_ensure_builtin()
        return super().list(request, *args, **kwargs)

    @extend_schema(request=RuleUploadSerializer, responses={201: DetectionRuleSerializer})
    def create(self, request):
        data = RuleUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user if getattr(request.user, "pk", None) else None
        rule = rule_upload(yaml_text=data.validated_data["yaml"], user=user)
        rule = self.get_queryset().get(pk=rule.pk)
        return Response(DetectionRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        if "enabled" in serializer.validated_data:
            rule_set_enabled(rule=serializer.instance, enabled=serializer.validated_data["enabled"])

    def perform_destroy(self, instance):
        try:
            rule_delete(rule=instance)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from exc


class RuleExceptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Allowlist entries of the rules: a detection whose record matches `field` = `value`
    (wildcards `*` `?`, case-insensitive) is suppressed."""

    queryset = RuleException.objects.select_related("rule").order_by("rule_id", "field", "id")
    serializer_class = RuleExceptionSerializer
    filterset_fields = ["rule", "field"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        user = self.request.user if getattr(self.request.user, "pk", None) else None
        serializer.instance = rule_exception_add(
            rule=data["rule"], field=data["field"], value=data["value"],
            reason=data.get("reason", ""), user=user,
        )  # fmt: skip

    def perform_destroy(self, instance):
        rule_exception_remove(exception=instance)


# -- stacking --------------------------------------------------------------------------------

_STACK_PARAMETERS = [
    OpenApiParameter("category", str, enum=["autorun", "driver", "process"]),
    OpenApiParameter("os_family", str, enum=["windows", "macos", "linux"]),
    OpenApiParameter("group", str, many=True, description="user group names (any)"),
    OpenApiParameter("tag", str, many=True, description="tag names (any)"),
]


def _stack_filters(request) -> dict:
    params = request.query_params
    category = params.get("category", "autorun")
    if category not in ("autorun", "driver", "process"):
        raise exceptions.ValidationError({"category": "one of autorun, driver, process"})
    os_family = params.get("os_family") or None
    if os_family and os_family not in ("windows", "macos", "linux"):
        raise exceptions.ValidationError({"os_family": "one of windows, macos, linux"})
    return {
        "category": category,
        "os_family": os_family,
        "groups": query_texts(request, "group", max_length=200),
        "tags": query_texts(request, "tag", max_length=100),
    }


def _int_param(request, name: str, default: int, high: int) -> int:
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        raise exceptions.ValidationError({name: "must be an integer"}) from None
    if not 0 <= value <= high:
        raise exceptions.ValidationError({name: f"must be between 0 and {high}"})
    return value


class StackingViewSet(viewsets.GenericViewSet):
    """Stacking ("outlier analysis"): persistence items, drivers or processes by how many
    endpoints have them, rarest first; `endpoints/?key=` drills down."""

    serializer_class = StackRowSerializer
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        parameters=[
            *_STACK_PARAMETERS,
            OpenApiParameter("max_endpoints", int, description="only items on at most N"),
            OpenApiParameter("name", str, description="name or path contains"),
            OpenApiParameter("offset", int),
            OpenApiParameter("limit", int, description="at most 500 (default 50)"),
        ],
        responses=StackPageSerializer,
    )
    def list(self, request):
        filters = _stack_filters(request)
        offset = _int_param(request, "offset", 0, 10**7)
        limit = _int_param(request, "limit", 50, 500) or 50
        max_endpoints = _int_param(request, "max_endpoints", 0, 10**7) or None
        page = stack(
            **filters, max_endpoints=max_endpoints, name=query_text(request, "name"),
            offset=offset, limit=limit,
        )  # fmt: skip
        base = request.build_absolute_uri(request.path)
        query = request.query_params.copy()

        def link(at: int) -> str:
            query["offset"], query["limit"] = str(at), str(limit)
            return f"{base}?{query.urlencode()}"

        return Response(
            {
                "next": link(offset + limit) if page.has_more else None,
                "previous": link(max(offset - limit, 0)) if offset else None,
                "results": StackRowSerializer(page.rows, many=True).data,
            }
        )

    @extend_schema(
        parameters=[OpenApiParameter("key", str, required=True), *_STACK_PARAMETERS[1:]],
        responses=StackEndpointListSerializer,
    )
    @action(detail=False, methods=["get"], url_path="endpoints")
    def endpoints(self, request):
        key = query_text(request, "key")
        if not key:
            raise exceptions.ValidationError({"key": "required"})
        filters = _stack_filters(request)
        filters.pop("category")
        rows = stack_endpoints(key=key, **filters)
        return Response({"results": StackEndpointSerializer(rows, many=True).data})
