"""REST API of the cases app (/api/v1/alerts/, cases/, tasks/, notes/, evidence/,
grouping-rules/, webhooks/, webhook-deliveries/).

Viewsets parse and authorise, then call one service. Scoping to the tenant is done by the
models' manager (not by a filter backend a single action could switch off). Cases carry an
ETag (`"<version>"`); a write with a stale `If-Match` gets 412 and changes nothing.
"""

from __future__ import annotations

from django.http import FileResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    OpenApiTypes,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from tenancy import roles
from tenancy.errors import PayloadTooLarge
from tenancy.schema import CONFLICT

from .. import conf, services
from ..models import (
    Alert,
    Case,
    Evidence,
    GroupingRule,
    Note,
    Task,
    TimelineEntry,
    Webhook,
    WebhookDelivery,
)
from ..pagination import CasePagePagination
from ..selectors import case_list_queryset
from . import serializers as s
from .filters import (
    AlertFilterSet,
    CaseFilterSet,
    EvidenceFilterSet,
    NoteFilterSet,
    TaskFilterSet,
    WebhookDeliveryFilterSet,
)

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description='The case\'s ETag as read (`"3"`); a stale one gets 412 and changes nothing.',
)
# Every write of a case: its state may refuse it (409: closed, merged, not paused, …).
ETAG_RESPONSES = {412: OpenApiResponse(description="stale If-Match: the case changed"), **CONFLICT}


def _input(serializer_class, request, **kwargs):
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def expected_version(request) -> int | None:
    """The version named by `If-Match` (`"3"`, `W/"3"`, `3`); None when absent or `*`."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    value = header.removeprefix("W/").strip().strip('"')
    if not value.isdigit():
        raise ValidationError({"If-Match": 'expected the ETag you read, like "3"'})
    return int(value)


def _etag(case: Case) -> str:
    return f'"{case.version}"'


def _ingest_errors(exc: services.AlertValidationError, *, single: bool) -> ValidationError:
    if single:
        return ValidationError(exc.errors_by_index.get(0, {}))
    return ValidationError(
        {
            f"alerts.{index}.{name}": message
            for index, fields in exc.errors_by_index.items()
            for name, message in fields.items()
        }
    )


# --- alerts -------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="The alert queue and history, filterable"),
    retrieve=extend_schema(summary="One alert"),
)
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts from every source. POST ingests (idempotent on `external_id`, deduplicated on
    `dedup_key`); grouping rules may open or join a case at once."""

    queryset = Alert.objects.select_related("endpoint", "case")
    serializer_class = s.AlertSerializer
    filterset_class = AlertFilterSet
    filter_backends = [DjangoFilterBackend]

    def _ingest(self, items: list[dict], *, single: bool):
        inputs = [services.AlertInput(**item) for item in items]
        try:
            return services.alert_ingest(alerts=inputs)
        except services.AlertValidationError as exc:
            raise _ingest_errors(exc, single=single) from exc

    @extend_schema(
        summary="Ingest one alert",
        request=s.AlertInputSerializer,
        responses={201: s.AlertSerializer, 200: s.AlertSerializer},
        description="201 when created; 200 with the existing alert when it was already "
        "known (same source and external_id) or folded into an open one (dedup_key).",
    )
    def create(self, request):
        data = _input(s.AlertInputSerializer, request)
        result = self._ingest([data], single=True)
        alert = Alert.objects.select_related("endpoint", "case").get(pk=result.alerts[0].pk)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        response = Response(s.AlertSerializer(alert).data, status=code)
        response["X-Stopclock-Ingest"] = result.outcomes[0]
        return response

    @extend_schema(
        summary="Ingest up to 1,000 alerts, all or nothing",
        request=s.AlertBulkSerializer,
        responses={201: s.IngestResultSerializer, 200: s.IngestResultSerializer},
        description='Body: {"alerts": [...]} (or a bare list). One invalid alert refuses the '
        "batch, naming each field as alerts.<index>.<field>. Re-sending a batch is safe.",
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        data = request.data
        if isinstance(data, list):
            data = {"alerts": data}
        if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
            raise ValidationError({"alerts": "a list of alerts"})
        unknown = sorted(set(data) - {"alerts"})
        if unknown:
            raise ValidationError({key: "unknown field" for key in unknown})
        items = data["alerts"]
        if not items:
            raise ValidationError({"alerts": "at least one alert"})
        if len(items) > conf.MAX_ALERTS_PER_BATCH:
            raise ValidationError({"alerts": f"at most {conf.MAX_ALERTS_PER_BATCH} per request"})
        errors, valid = {}, []
        for index, item in enumerate(items):
            serializer = s.AlertInputSerializer(data=item)
            if serializer.is_valid():
                valid.append(serializer.validated_data)
                continue
            detail = serializer.errors
            if not isinstance(detail, dict):
                detail = {"non_field_errors": detail}
            for name, messages in detail.items():
                errors[f"alerts.{index}.{name}"] = messages
        if errors:
            raise ValidationError(errors)
        result = self._ingest(valid, single=False)
        body = {
            "created": result.created,
            "deduplicated": result.deduplicated,
            "already_known": result.already_known,
            "results": [
                {"index": index, "outcome": outcome, "id": alert.pk, "case": alert.case_id}
                for index, (alert, outcome) in enumerate(
                    zip(result.alerts, result.outcomes, strict=True)
                )
            ],
            "cases_created": [{"id": c.pk, "number": c.number} for c in result.cases_created],
            "cases_joined": [{"id": c.pk, "number": c.number} for c in result.cases_joined],
        }
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(body, status=code)

    def _respond(self, alert_ids):
        alerts = self.get_queryset().filter(pk__in=alert_ids)
        return Response(s.AlertSerializer(alerts, many=True).data)

    @extend_schema(
        summary="Acknowledge (an analyst has seen it)", request=None, responses=s.AlertSerializer
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = self.get_object()
        services.alert_acknowledge(alerts=[alert])
        return Response(s.AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(
        summary="Dismiss with a reason",
        request=s.AlertDismissSerializer,
        responses={200: s.AlertSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        alert = self.get_object()
        data = _input(s.AlertDismissSerializer, request)
        services.alert_dismiss(alerts=[alert], reason=data["reason"], note=data["note"])
        return Response(s.AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(
        summary="Promote into a new case, or add to an open case",
        request=s.AlertPromoteSerializer,
        responses={200: s.CaseSerializer, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        alert = self.get_object()
        data = _input(s.AlertPromoteSerializer, request)
        case = services.alert_promote(alerts=[alert], case=data["case"], title=data["title"])
        return Response(s.CaseSerializer(case_list_queryset().get(pk=case.pk)).data)

    @extend_schema(
        summary="One triage action on many alerts, all or nothing",
        request=s.AlertTriageSerializer,
        responses={200: s.AlertSerializer(many=True), **CONFLICT},
        filters=False,  # the ids say which alerts; no list filter applies
    )
    @action(detail=False, methods=["post"], url_path="bulk-triage", pagination_class=None)
    def bulk_triage(self, request):
        data = _input(s.AlertTriageSerializer, request)
        ids = data["ids"]
        if data["action"] == "acknowledge":
            services.alert_acknowledge(alerts=ids)
        elif data["action"] == "dismiss":
            services.alert_dismiss(alerts=ids, reason=data["reason"])
        else:
            services.alert_promote(alerts=ids, case=data["case"], title=data["title"])
        return self._respond(ids)


# --- cases ----------------------------------------------------------------------------------
class CaseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Cases: list, read (with ETag), open, change (with If-Match), and the workflow actions.

    Cases are never deleted: close them (or merge a duplicate into its survivor).
    """

    serializer_class = s.CaseSerializer
    filterset_class = CaseFilterSet
    filter_backends = [DjangoFilterBackend]
    pagination_class = CasePagePagination
    action_roles = {"correct_milestone": roles.LEADS}

    def get_queryset(self):
        return case_list_queryset()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _case_response(self, case: Case, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=case.pk)
        response = Response(self.get_serializer(fresh).data, status=code)
        response["ETag"] = _etag(fresh)
        return response

    def retrieve(self, request, *args, **kwargs):
        case = self.get_object()
        if request.headers.get("If-None-Match", "").strip() in (_etag(case), f"W/{_etag(case)}"):
            response = Response(status=status.HTTP_304_NOT_MODIFIED)
        else:
            response = Response(self.get_serializer(case).data)
        response["ETag"] = _etag(case)
        return response

    @extend_schema(
        summary="Open a case by hand",
        request=s.CaseCreateSerializer,
        responses={201: s.CaseSerializer, **CONFLICT},
    )
    def create(self, request, *args, **kwargs):
        data = _input(s.CaseCreateSerializer, request)
        case = services.case_create(**data)
        return self._case_response(case, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[IF_MATCH],
        request=s.CaseUpdateSerializer,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    def update(self, request, *args, partial=False, **kwargs):
        case = self.get_object()
        version = expected_version(request)
        data = _input(s.CaseUpdateSerializer, request, partial=partial)
        case = services.case_update(case=case, expected_version=version, **data)
        return self._case_response(case)

    @extend_schema(
        parameters=[IF_MATCH],
        request=s.CaseUpdateSerializer,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(
        summary="Move the case forward (closing needs a resolution)",
        parameters=[IF_MATCH],
        request=s.TransitionSerializer,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        case = self.get_object()
        data = _input(s.TransitionSerializer, request)
        case = services.case_transition(
            case=case, expected_version=expected_version(request), **data
        )
        return self._case_response(case)

    @extend_schema(
        summary="Scoping done: stamps scoped_at",
        parameters=[IF_MATCH],
        request=None,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    @action(detail=True, methods=["post"], url_path="scope-done")
    def scope_done(self, request, pk=None):
        case = self.get_object()
        case = services.case_scope_done(case=case, expected_version=expected_version(request))
        return self._case_response(case)

    @extend_schema(
        summary="Reopen (clears remediated_at and closed_at, kept in history)",
        parameters=[IF_MATCH],
        request=s.ReasonSerializer,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        case = self.get_object()
        data = _input(s.ReasonSerializer, request)
        case = services.case_reopen(
            case=case, reason=data["reason"], expected_version=expected_version(request)
        )
        return self._case_response(case)

    @extend_schema(
        summary="Correct a milestone, with a reason (leads and admins)",
        parameters=[IF_MATCH],
        request=s.CorrectMilestoneSerializer,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    @action(detail=True, methods=["post"], url_path="correct-milestone")
    def correct_milestone(self, request, pk=None):
        case = self.get_object()
        data = _input(s.CorrectMilestoneSerializer, request)
        case = services.case_correct_milestone(
            case=case, expected_version=expected_version(request), **data
        )
        return self._case_response(case)

    @extend_schema(
        summary="Assign (null unassigns)",
        parameters=[IF_MATCH],
        request=s.AssignSerializer,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        case = self.get_object()
        data = _input(s.AssignSerializer, request)
        case = services.case_assign(
            case=case, assignee=data["assignee"], expected_version=expected_version(request)
        )
        return self._case_response(case)

    @extend_schema(
        summary="Pause the SLA clocks, with a reason",
        parameters=[IF_MATCH],
        request=s.ReasonSerializer,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        case = self.get_object()
        data = _input(s.ReasonSerializer, request)
        case = services.case_pause(
            case=case, reason=data["reason"], expected_version=expected_version(request)
        )
        return self._case_response(case)

    @extend_schema(
        summary="Resume the SLA clocks",
        parameters=[IF_MATCH],
        request=None,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        case = self.get_object()
        case = services.case_resume(case=case, expected_version=expected_version(request))
        return self._case_response(case)

    @extend_schema(
        summary="Merge this case into another (the survivor, returned)",
        parameters=[IF_MATCH],
        request=s.MergeSerializer,
        responses={200: s.CaseSerializer, **ETAG_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        case = self.get_object()
        data = _input(s.MergeSerializer, request)
        survivor = services.case_merge(
            source=case,
            target=data["into"],
            reason=data["reason"],
            expected_version=expected_version(request),
        )
        return self._case_response(survivor)

    @extend_schema(
        summary="Split some alerts into a new case (returned)",
        parameters=[IF_MATCH],
        request=s.SplitSerializer,
        responses={201: s.CaseSerializer, **ETAG_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def split(self, request, pk=None):
        case = self.get_object()
        data = _input(s.SplitSerializer, request)
        new_case = services.case_split(
            case=case,
            alerts=data["alerts"],
            title=data["title"],
            expected_version=expected_version(request),
        )
        return self._case_response(new_case, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Link an object of another app (endpoint, IOC, hit...)",
        request=s.LinkSerializer,
        responses={201: s.LinkOutSerializer},
    )
    @action(detail=True, methods=["post"])
    def link(self, request, pk=None):
        case = self.get_object()
        data = _input(s.LinkSerializer, request)
        link = services.case_link(case=case, obj=data["obj"], relation=data["relation"])
        return Response(s.LinkOutSerializer(link).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The case's timeline, oldest first (paginated)",
        responses=s.TimelineEntrySerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def timeline(self, request, pk=None):
        case = self.get_object()
        entries = TimelineEntry.objects.filter(case=case).order_by("occurred_at", "id")
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(s.TimelineEntrySerializer(page, many=True).data)

    @extend_schema(
        summary="Assign and/or move many cases, all or nothing",
        request=s.CaseBulkSerializer,
        responses={200: s.CaseSerializer(many=True), **CONFLICT},
        filters=False,  # the ids say which cases; no list filter applies
    )
    @action(detail=False, methods=["post"], pagination_class=None)  # a plain list back
    def bulk(self, request):
        data = _input(s.CaseBulkSerializer, request)
        kwargs = {"assignee": data["assignee"]} if "assignee" in data else {}
        done = services.case_bulk_update(
            cases=data["ids"],
            status=data.get("status"),
            resolution=data.get("resolution", ""),
            reason=data["reason"],
            **kwargs,
        )
        cases = self.get_queryset().filter(pk__in=[case.pk for case in done])
        return Response(self.get_serializer(cases, many=True).data)


# --- tasks, notes, evidence -------------------------------------------------------------------
class TaskViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Case tasks (playbook steps and ad-hoc ones). PATCH {"done": true} completes one."""

    queryset = Task.objects.all().order_by("case_id", "order", "id")
    serializer_class = s.TaskSerializer
    filterset_class = TaskFilterSet
    filter_backends = [DjangoFilterBackend]

    @extend_schema(request=s.TaskCreateSerializer, responses={201: s.TaskSerializer})
    def create(self, request, *args, **kwargs):
        data = _input(s.TaskCreateSerializer, request)
        task = services.task_create(**data)
        return Response(s.TaskSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TaskUpdateSerializer, responses=s.TaskSerializer)
    def update(self, request, *args, partial=False, **kwargs):
        task = self.get_object()
        data = _input(s.TaskUpdateSerializer, request, partial=partial)
        task = services.task_update(task=task, **data)
        return Response(s.TaskSerializer(task).data)

    @extend_schema(request=s.TaskUpdateSerializer, responses=s.TaskSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)


class NoteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Markdown notes on cases; only the author edits a note (the audit keeps old text)."""

    queryset = Note.objects.select_related("author").order_by("created_at", "id")
    serializer_class = s.NoteSerializer
    filterset_class = NoteFilterSet
    filter_backends = [DjangoFilterBackend]

    @extend_schema(request=s.NoteCreateSerializer, responses={201: s.NoteSerializer})
    def create(self, request, *args, **kwargs):
        data = _input(s.NoteCreateSerializer, request)
        note = services.note_create(**data)
        return Response(s.NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.NoteUpdateSerializer, responses=s.NoteSerializer)
    def update(self, request, *args, partial=False, **kwargs):
        note = self.get_object()
        data = _input(s.NoteUpdateSerializer, request, partial=partial)
        if "body" in data:
            note = services.note_update(note=note, body=data["body"])
        return Response(s.NoteSerializer(note).data)

    @extend_schema(request=s.NoteUpdateSerializer, responses=s.NoteSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)


class EvidenceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Evidence files: multipart upload, metadata with chain of custody, download.

    Downloads are always attachments of type application/octet-stream with `nosniff`, never
    rendered inline, whatever the file holds. Evidence is never deleted.
    """

    queryset = Evidence.objects.select_related("uploaded_by").prefetch_related("custody")
    serializer_class = s.EvidenceSerializer
    filterset_class = EvidenceFilterSet
    filter_backends = [DjangoFilterBackend]
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": s.EvidenceUploadSerializer},
        responses={
            201: s.EvidenceSerializer,
            413: OpenApiResponse(description="the file is over the tenant's evidence size limit"),
        },
    )
    def create(self, request, *args, **kwargs):
        limit = conf.evidence_max_bytes(request.tenant)
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > limit + 64 * 1024:
            raise PayloadTooLarge(f"The upload is {length} bytes; the limit is {limit}.")
        data = _input(s.EvidenceUploadSerializer, request)
        evidence = services.evidence_upload(
            case=data["case"], upload=data["file"], description=data["description"]
        )
        fresh = self.get_queryset().get(pk=evidence.pk)
        return Response(s.EvidenceSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Download the file (attachment; recorded in the chain of custody)",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        evidence = self.get_object()
        return evidence_file_response(evidence)


def evidence_file_response(evidence: Evidence) -> FileResponse:
    """The stored bytes as a download that no browser will render (shared with the pages)."""
    handle = services.evidence_open(evidence=evidence)
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=evidence.original_name,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox; frame-ancestors 'none'"
    response["Cache-Control"] = "private, no-store"
    response["X-Stopclock-SHA256"] = evidence.sha256
    return response


# --- automation -----------------------------------------------------------------------------
class GroupingRuleViewSet(viewsets.ModelViewSet):
    """How alerts become cases, in order; leads and admins change them."""

    queryset = GroupingRule.objects.all()  # for the schema; get_queryset() seeds defaults
    serializer_class = s.GroupingRuleSerializer
    write_roles = roles.LEADS
    filter_backends = []
    pagination_class = None

    def get_queryset(self):
        services.grouping_rules_ensure()
        return GroupingRule.objects.order_by("order", "id")

    def perform_create(self, serializer):
        serializer.instance = services.grouping_rule_save(**serializer.validated_data)

    def perform_update(self, serializer):
        values = {
            name: serializer.validated_data.get(name, getattr(serializer.instance, name))
            for name in (
                "name",
                "action",
                "order",
                "is_enabled",
                "min_severity",
                "source",
                "join_on",
                "window_minutes",
            )
        }
        serializer.instance = services.grouping_rule_save(rule=serializer.instance, **values)

    def perform_destroy(self, instance):
        services.grouping_rule_delete(rule=instance)


class WebhookViewSet(viewsets.ModelViewSet):
    """Outbound webhooks (admins). The signing secret is shown at creation and rotation."""

    queryset = Webhook.objects.all()
    serializer_class = s.WebhookSerializer
    read_roles = roles.ADMINS
    write_roles = roles.ADMINS
    filter_backends = []

    @extend_schema(responses={201: s.WebhookSecretSerializer})
    def create(self, request, *args, **kwargs):
        data = _input(s.WebhookSerializer, request)
        hook, secret = services.webhook_create(**data)
        hook.secret = secret
        return Response(s.WebhookSecretSerializer(hook).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, partial=False, **kwargs):
        hook = self.get_object()
        data = _input(s.WebhookSerializer, request, partial=partial)
        hook = services.webhook_update(webhook=hook, **data)
        return Response(s.WebhookSerializer(hook).data)

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance):
        services.webhook_delete(webhook=instance)

    @extend_schema(
        summary="A new signing secret (shown once)",
        request=None,
        responses=s.WebhookSecretSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        hook, secret = services.webhook_rotate_secret(webhook=self.get_object())
        hook.secret = secret
        return Response(s.WebhookSecretSerializer(hook).data)

    @extend_schema(
        summary="Send a test delivery", request=None, responses={202: s.WebhookDeliverySerializer}
    )
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        delivery = services.webhook_ping(webhook=self.get_object())
        return Response(s.WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="This webhook's delivery log, newest first",
        responses=s.WebhookDeliverySerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        hook = self.get_object()
        rows = WebhookDelivery.objects.filter(webhook=hook).order_by("-created_at", "-id")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.WebhookDeliverySerializer(page, many=True).data)


class WebhookDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    """Every delivery of every webhook (admins); a finished one can be sent again."""

    queryset = WebhookDelivery.objects.all().order_by("-created_at", "-id")
    serializer_class = s.WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilterSet
    filter_backends = [DjangoFilterBackend]
    read_roles = roles.ADMINS
    write_roles = roles.ADMINS

    @extend_schema(
        summary="Send again", request=None, responses={202: s.WebhookDeliverySerializer, **CONFLICT}
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = services.webhook_redeliver(delivery=self.get_object())
        return Response(s.WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
