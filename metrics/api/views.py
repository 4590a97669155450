"""The metrics API: figures (`metrics/mttr/`), per-case spans as CSV (`metrics/spans/`), SLA
targets with their history, regulatory flags and notifications, the GDPR breach register,
and PDF reports (list, create, download). Everyone reads; auditors never write; SLA targets
are written by leads and admins."""

from __future__ import annotations

from django.http import HttpResponse, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics import selectors, services
from metrics.exports import register_csv_response, spans_csv_response
from metrics.forms import MetricsQueryForm
from metrics.models import RegulatoryFlag, RegulatoryNotification, Report, SlaTarget
from tenancy import roles
from tenancy.schema import CONFLICT

from .serializers import (
    BreachRegisterSerializer,
    RegulatoryFlagCreateSerializer,
    RegulatoryFlagSerializer,
    RegulatoryFlagUpdateSerializer,
    RegulatoryNotificationCreateSerializer,
    RegulatoryNotificationSerializer,
    RegulatoryNotificationUpdateSerializer,
    ReportCreateSerializer,
    ReportDetailSerializer,
    ReportSerializer,
    SlaTargetCreateSerializer,
    SlaTargetSerializer,
    TargetInForceSerializer,
)

QUERY_PARAMETERS = [
    OpenApiParameter(
        "period",
        str,
        description="2026-10, 2026-Q3, 2026, this-month, last-month, last-30-days, "
        "last-12-months, ... (default last-30-days)",
    ),
    OpenApiParameter("from", OpenApiTypes.DATE, description="first day (with to)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last day, inclusive"),
    OpenApiParameter("granularity", str, enum=["day", "week", "month"]),
    OpenApiParameter("phase", str, many=True),
    OpenApiParameter("severity", str, many=True),
    OpenApiParameter("assignee", int, description="a member's user id"),
    OpenApiParameter("tag", str),
    OpenApiParameter("source", str, description="cases with an alert from this source"),
]


class ReportIntegrityError(exceptions.APIException):
    status_code = 500
    default_code = "integrity_error"
    default_detail = "The stored report no longer matches its recorded SHA-256."


def _as_query(values: dict) -> QueryDict:
    """Validated body values as the query string `/metrics/mttr/` reads, so JSON and
    multipart bodies (where every value arrives as a list) parse the same way."""
    query = QueryDict(mutable=True)
    for name, value in values.items():
        if isinstance(value, list):
            query.setlist(name, [str(item) for item in value])
        elif value is not None:
            query[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return query


def parse_query(request, data=None):
    """(period, filters) from the request, or a 400 naming the bad parameter."""
    form = MetricsQueryForm(
        data if data is not None else request.query_params, zone=request.tenant.timezone
    )
    if not form.is_valid():
        raise exceptions.ValidationError(form.error_fields())
    return form.resolved()


class MttrView(APIView):
    """Every figure for a period and filters: per phase x clock count, mean, median, p90,
    min, max, SLA compliance and breaches (with the previous period), breaches in progress,
    the trend per day/week/month, dwell time, data-quality exclusions, and the version of
    the clock definitions they were computed with."""

    @extend_schema(parameters=QUERY_PARAMETERS, responses=OpenApiTypes.OBJECT, tags=["metrics"])
    def get(self, request):
        period, filters = parse_query(request)
        return Response(selectors.metrics_snapshot(period=period, filters=filters))


class SpansView(APIView):
    """The per-case spans behind the figures, as CSV, so an auditor can recompute them:
    one line per case x clock measured (or found wanting) in the period."""

    @extend_schema(
        parameters=QUERY_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        tags=["metrics"],
    )
    def get(self, request):
        period, filters = parse_query(request)
        return spans_csv_response(request.tenant, period, filters)


class SlaTargetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The tenant's target changes (history; a key without any uses the default). POST adds
    a change effective now or later (leads, admins); DELETE withdraws one not yet in force."""

    queryset = SlaTarget.objects.order_by("-effective_from", "phase", "severity", "clock")
    serializer_class = SlaTargetSerializer
    filterset_fields = ["phase", "severity", "clock"]
    ordering_fields = ["effective_from", "created_at"]
    write_roles = roles.LEADS

    @extend_schema(
        request=SlaTargetCreateSerializer, responses={201: SlaTargetSerializer, **CONFLICT}
    )
    def create(self, request):
        from datetime import timedelta

        data = SlaTargetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        seconds = values["target_seconds"]
        target = services.sla_target_set(
            phase=values["phase"],
            severity=values["severity"],
            clock=values["clock"],
            target=None if seconds is None else timedelta(seconds=seconds),
            effective_from=values.get("effective_from"),
            reason=values.get("reason", ""),
        )
        return Response(SlaTargetSerializer(target).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **CONFLICT})  # one in force is history and stays
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance):
        services.sla_target_cancel(target=instance)

    @extend_schema(
        parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME)],
        responses=TargetInForceSerializer(many=True),
    )
    @action(detail=False, methods=["get"], url_path="in-force", pagination_class=None)
    def in_force(self, request):
        """Every phase x severity x SLA clock with the target in force at `at` (now)."""
        at = None
        if request.query_params.get("at"):
            from rest_framework.fields import DateTimeField

            at = DateTimeField().to_internal_value(request.query_params["at"])
        return Response(TargetInForceSerializer(selectors.targets_in_force(at), many=True).data)


class RegulatoryFlagViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Cases flagged under GDPR, NIS2, SEC 8-K or DORA, with their deadlines at this moment
    and the notifications sent. PATCH corrects the anchors or the register fields."""

    queryset = (
        RegulatoryFlag.objects.select_related("case")
        .prefetch_related("notifications")
        .order_by("-created_at", "-id")
    )
    serializer_class = RegulatoryFlagSerializer
    filterset_fields = ["regime", "case", "notifiable"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(
        request=RegulatoryFlagCreateSerializer,
        responses={201: RegulatoryFlagSerializer, **CONFLICT},
    )
    def create(self, request):
        data = RegulatoryFlagCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        flag = services.regulatory_flag_create(
            case=values.pop("case"), regime=values.pop("regime"), **values
        )
        return Response(self.get_serializer(flag).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RegulatoryFlagUpdateSerializer, responses=RegulatoryFlagSerializer)
    def partial_update(self, request, pk=None):
        flag = self.get_object()
        data = RegulatoryFlagUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flag = services.regulatory_flag_update(flag=flag, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=flag.pk)).data)


class RegulatoryNotificationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Notifications sent to authorities: when, to whom, under which reference."""

    queryset = RegulatoryNotification.objects.select_related("flag").order_by("-sent_at", "-id")
    serializer_class = RegulatoryNotificationSerializer
    filterset_fields = ["flag", "deadline"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(
        request=RegulatoryNotificationCreateSerializer,
        responses={201: RegulatoryNotificationSerializer, **CONFLICT},
    )
    def create(self, request):
        data = RegulatoryNotificationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notification = services.regulatory_notification_record(**data.validated_data)
        return Response(self.get_serializer(notification).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=RegulatoryNotificationUpdateSerializer,
        responses=RegulatoryNotificationSerializer,
    )
    def partial_update(self, request, pk=None):
        notification = self.get_object()
        data = RegulatoryNotificationUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notification = services.regulatory_notification_update(
            notification=notification, **data.validated_data
        )
        return Response(self.get_serializer(notification).data)


class BreachRegisterViewSet(viewsets.ReadOnlyModelViewSet):
    """GDPR Art. 33(5): every personal-data breach documented, notified or not. `csv/`
    returns the whole register as CSV."""

    queryset = selectors.breach_register()
    serializer_class = BreachRegisterSerializer
    ordering_fields = None
    filter_backends: list = []  # the register is listed whole, in order of awareness

    def get_queryset(self):
        return selectors.breach_register()

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], url_path="csv", pagination_class=None)
    def csv(self, request):
        return register_csv_response(request.tenant)


class ReportViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """PDF compliance reports. POST queues one (202; poll the report for `progress`);
    `download/` returns the PDF once `status` is "succeeded", checked against its SHA-256."""

    queryset = Report.objects.order_by("-requested_at", "-id")
    serializer_class = ReportSerializer
    filterset_fields = ["status", "kind"]
    ordering_fields = ["requested_at"]

    def get_serializer_class(self):
        return ReportDetailSerializer if self.action == "retrieve" else ReportSerializer

    @extend_schema(request=ReportCreateSerializer, responses={202: ReportSerializer})
    def create(self, request):
        data = ReportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        period, filters = parse_query(request, _as_query(data.validated_data))
        report = services.report_request(
            period=period, filters=filters, paper=data.validated_data.get("paper", "a4")
        )
        report.refresh_from_db()
        return Response(ReportSerializer(report).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            409: OpenApiResponse(description="not ready"),
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        report = self.get_object()
        try:
            content = services.report_open(report=report)
        except services.ReportTampered as exc:
            raise ReportIntegrityError() from exc
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="stopclock-report-{report.short_id}.pdf"'
        )
        response["X-Content-SHA256"] = report.sha256
        return response
