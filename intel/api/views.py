"""Intel API: IOCs, sources, imports, sweeps, hits, reputation, allowlist, YARA file scans,
and the ad-hoc search. Viewsets declare querysets and serializers; verbs are services."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from intel import selectors
from intel.matching import value_hash
from intel.models import (
    IOC,
    AllowlistEntry,
    FileScan,
    Hit,
    Reputation,
    ReputationProvider,
)
from intel.parsing import InvalidIOC, normalize_ioc
from intel.parsing.yara_rules import compile_yara
from intel.services import (
    ReputationInput,
    allowlist_add,
    allowlist_remove,
    guess_format,
    import_create,
    ioc_create,
    ioc_expire,
    ioc_screen,
    ioc_set_suppressed,
    ioc_update,
    reputation_lookup,
    reputation_record_many,
    source_create,
    source_for_name,
    source_update,
    sweep_cancel,
    sweep_launch,
    sweep_resume,
    taxii_poll_create,
    yara_sample_create,
)
from intel.services.reputation import hash_type, provider_delete, provider_save
from tenancy import roles
from tenancy.api.fields import query_text
from tenancy.schema import CONFLICT

from . import filters
from . import serializers as s


class IOCViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """IOCs, one per (type, normalised value). POST adds one (or links it to another source:
    200 instead of 201); `warnings` lists the warning lists / allowlist entries it is on.
    A YARA rule that does not compile is a 400 naming the line."""

    queryset = selectors.iocs()
    serializer_class = s.IOCSerializer
    filterset_class = filters.IOCFilterSet
    search_fields = ["value", "description", "key"]
    ordering_fields = ["created_at", "updated_at", "last_seen", "sightings_count", "confidence"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(request=s.IOCCreateSerializer, responses={201: s.IOCCreatedSerializer})
    def create(self, request, *args, **kwargs):
        data = s.IOCCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        source_name = fields.pop("source", None)
        source = source_for_name(source_name) if source_name else None
        ioc, created, _warnings = ioc_create(**fields, source=source, user=request.user)
        ioc = self.get_queryset().get(pk=ioc.pk)
        body = s.IOCSerializer(ioc).data | {"created": created}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=s.IOCUpdateSerializer, responses=s.IOCSerializer)
    def partial_update(self, request, *args, **kwargs):
        ioc = self.get_object()
        data = s.IOCUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        tags = fields.pop("tags", None)
        ioc_update(ioc=ioc, tags=tags, **fields)
        return Response(s.IOCSerializer(self.get_queryset().get(pk=ioc.pk)).data)

    def update(self, request, *args, **kwargs):
        if not kwargs.get("partial"):
            raise exceptions.MethodNotAllowed("PUT")
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=None, responses=s.IOCSerializer)
    @action(detail=True, methods=["post"])
    def expire(self, request, pk=None):
        """Stop matching now; the IOC and its hits are kept."""
        ioc = ioc_expire(ioc=self.get_object())
        return Response(s.IOCSerializer(self.get_queryset().get(pk=ioc.pk)).data)

    @extend_schema(request=s.SuppressionSerializer, responses=s.IOCSerializer)
    @action(detail=True, methods=["post"])
    def suppression(self, request, pk=None):
        """`{"suppressed": false}` matches a warning-listed IOC anyway; true silences it."""
        ioc = self.get_object()
        data = s.SuppressionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ioc_set_suppressed(ioc=ioc, suppressed=data.validated_data["suppressed"])
        return Response(s.IOCSerializer(self.get_queryset().get(pk=ioc.pk)).data)

    @extend_schema(request=s.IOCCheckSerializer, responses=s.IOCCheckResultSerializer)
    @action(detail=False, methods=["post"])
    def check(self, request):
        """Normalise a value and list the warning lists it is on, without adding it."""
        data = s.IOCCheckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind, raw = data.validated_data["type"], data.validated_data["value"]
        try:
            kind, value = (
                (kind, compile_yara(raw).source) if kind == "yara" else normalize_ioc(kind, raw)
            )
        except InvalidIOC as exc:
            raise exceptions.ValidationError({exc.field: exc.message}) from None
        existing = IOC.objects.filter(type=kind, value_hash=value_hash(value)).first()
        body = {
            "type": kind,
            "value": value,
            "warnings": ioc_screen(kind, value),
            "exists": existing.pk if existing else None,
        }
        return Response(s.IOCCheckResultSerializer(body).data)


class SourceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Where IOCs come from, with each TAXII source's health (last success, last error,
    objects added). Leads and admins configure them; `poll` fetches a TAXII source now."""

    queryset = selectors.sources()
    serializer_class = s.SourceSerializer
    filterset_fields = ["kind", "enabled"]
    search_fields = ["name", "description"]
    ordering_fields = ["name", "last_success_at", "created_at"]
    write_roles = roles.LEADS
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = source_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = source_update(source=serializer.instance, **serializer.validated_data)

    @extend_schema(
        request=None,
        responses={
            202: s.ImportJobSerializer,
            400: OpenApiResponse(description="the source is not a TAXII collection"),
        },
    )
    @action(detail=True, methods=["post"])
    def poll(self, request, pk=None):
        """Poll this TAXII collection now (a job; watch it at /api/v1/imports/{id}/)."""
        job = taxii_poll_create(source=self.get_object(), user=request.user)
        job.refresh_from_db()
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Imports (uploads and TAXII polls) with progress and their summary: added, updated,
    unchanged, and every skipped object or comparison with its reason. POST a feed as
    multipart (`file`, `format` stix|csv|misp|text, `source`, CSV `mapping`): 202 at once."""

    queryset = selectors.imports()
    serializer_class = s.ImportJobSerializer
    filterset_class = filters.ImportJobFilterSet
    search_fields = ["filename"]
    ordering_fields = ["created_at"]

    def get_queryset(self):
        queryset = super().get_queryset().defer("new_ioc_ids", "options")
        return queryset.defer("skipped", "warnings") if self.action == "list" else queryset

    def get_serializer_class(self):
        return s.ImportJobListSerializer if self.action == "list" else s.ImportJobSerializer

    @extend_schema(request=s.ImportCreateSerializer, responses={202: s.ImportJobSerializer})
    def create(self, request, *args, **kwargs):
        data = s.ImportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        content = upload.read()
        fmt = data.validated_data.get("format") or guess_format(upload.name, content)
        job = import_create(
            data=content,
            format=fmt,
            source_name=data.validated_data.get("source", "") or upload.name,
            filename=upload.name,
            options={"mapping": data.validated_data["mapping"]}
            if data.validated_data.get("mapping")
            else {},
            user=request.user,
        )
        job.refresh_from_db()
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class SweepViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Enterprise-wide sweeps: an IOC selection x target endpoints x a time window, run in
    chunks on the workers. `status` queued|running|succeeded|failed|cancelled, `progress`
    0-100, `endpoints_scanned`, `hits_count`; hits at /api/v1/hits/?sweep=ID."""

    queryset = selectors.sweeps()
    serializer_class = s.SweepSerializer
    filterset_class = filters.SweepFilterSet
    search_fields = ["name"]
    ordering_fields = ["created_at", "hits_count"]

    @extend_schema(request=s.SweepCreateSerializer, responses={201: s.SweepSerializer})
    def create(self, request, *args, **kwargs):
        data = s.SweepCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        sweep = sweep_launch(
            name=v.get("name", ""),
            selection=v["selection"],
            source=v.get("source"),
            tag=v.get("tag", ""),
            ioc_ids=v.get("iocs", []),
            adhoc_values=v.get("adhoc_values", []),
            os_family=v.get("os_family", ""),
            groups=v.get("groups", []),
            tags=v.get("tags", []),
            privileged=v.get("privileged"),
            window_start=v.get("window_start"),
            window_end=v.get("window_end"),
            user=request.user,
        )
        sweep.refresh_from_db()
        return Response(s.SweepSerializer(sweep).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.SweepSerializer, **CONFLICT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        sweep = sweep_cancel(sweep=self.get_object())
        return Response(s.SweepSerializer(sweep).data)

    @extend_schema(request=None, responses={200: s.SweepSerializer, **CONFLICT})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Re-enqueue the chunks not done yet (after a lost worker); done chunks stay done."""
        sweep = self.get_object()
        sweep_resume(sweep=sweep)
        sweep.refresh_from_db()
        return Response(s.SweepSerializer(sweep).data)


class HitViewSet(viewsets.ReadOnlyModelViewSet):
    """Hits: an IOC seen on an endpoint, per sweep (first/last seen, the first observation).
    Filter with `?sweep=ID`, `?ioc=ID`, `?endpoint=ID`."""

    queryset = Hit.objects.select_related("endpoint").order_by("-first_seen", "-id")
    serializer_class = s.HitSerializer
    filterset_class = filters.HitFilterSet
    search_fields = ["ioc_key", "endpoint__hostname"]
    ordering_fields = ["first_seen", "last_seen"]


class ReputationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The local hash reputation store. POST records a verdict; `lookup?hash=` asks the
    store and then the enabled external providers."""

    queryset = Reputation.objects.order_by("-updated_at", "-id")
    serializer_class = s.ReputationSerializer
    filterset_class = filters.ReputationFilterSet
    ordering_fields = ["updated_at"]

    @extend_schema(request=s.ReputationInputSerializer, responses={201: s.ReputationSerializer})
    def create(self, request, *args, **kwargs):
        data = s.ReputationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        value = v["hash"].strip().lower()
        kind = hash_type(value)
        if kind is None:
            raise exceptions.ValidationError({"hash": "an MD5, SHA-1 or SHA-256 hex digest"})
        reputation_record_many(
            [
                ReputationInput(
                    kind,
                    value,
                    v["verdict"],
                    v.get("detections"),
                    v.get("engines"),
                    v.get("source") or "analyst",
                )
            ]
        )
        row = Reputation.objects.get(hash=value)
        return Response(s.ReputationSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("hash", OpenApiTypes.STR, required=True)],
        responses=s.VerdictSerializer,
    )
    @action(detail=False, methods=["get"])
    def lookup(self, request):
        verdict = reputation_lookup(request.query_params.get("hash", ""))
        return Response(s.VerdictSerializer(verdict).data)


class AllowlistViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Values this tenant knows to be benign; IOCs they cover are suppressed (not matched)."""

    queryset = AllowlistEntry.objects.select_related("created_by").order_by("type", "value")
    serializer_class = s.AllowlistEntrySerializer
    filterset_fields = ["type"]
    search_fields = ["value", "reason"]
    write_roles = roles.LEADS

    def perform_create(self, serializer):
        serializer.instance = allowlist_add(**serializer.validated_data, user=self.request.user)

    def perform_destroy(self, instance):
        allowlist_remove(entry=instance)


class ReputationProviderViewSet(viewsets.ModelViewSet):
    """External reputation services (VirusTotal-style). Off until an admin enables one."""

    queryset = ReputationProvider.objects.order_by("name")
    serializer_class = s.ReputationProviderSerializer
    read_roles = roles.ADMINS
    write_roles = roles.ADMINS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = provider_save(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = provider_save(
            provider=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        provider_delete(provider=instance)


class FileScanViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """YARA scans of files: evidence of cases and uploaded samples. POST a sample
    (multipart `file`); the active YARA IOCs scan it in a task (202)."""

    queryset = FileScan.objects.order_by("-created_at", "-id")
    serializer_class = s.FileScanSerializer
    filterset_class = filters.FileScanFilterSet

    @extend_schema(request=s.FileScanCreateSerializer, responses={202: s.FileScanSerializer})
    def create(self, request, *args, **kwargs):
        data = s.FileScanCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        scan = yara_sample_create(data=upload.read(), filename=upload.name, user=request.user)
        scan.refresh_from_db()
        return Response(s.FileScanSerializer(scan).data, status=status.HTTP_202_ACCEPTED)


class SearchView(APIView):
    """ "Is this anywhere else?": every endpoint whose telemetry shows a hash, IP, domain,
    file name or path, registry key — or, for anything else, a command-line substring."""

    @extend_schema(
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, required=True)],
        responses=s.SearchResultSerializer,
    )
    def get(self, request):
        query = query_text(request, "q").strip()
        if len(query) < 3:
            raise exceptions.ValidationError({"q": "at least 3 characters"})
        result = selectors.observation_search(query)
        return Response(s.SearchResultSerializer(result).data)
