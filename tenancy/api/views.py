from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import api_view
from rest_framework.response import Response

from tenancy import roles
from tenancy.models import ApiToken, AuditEvent
from tenancy.permissions import request_role
from tenancy.services import api_token_create, api_token_revoke

from .filters import ApiTokenFilterSet, AuditEventFilterSet
from .pagination import SeqCursorPagination
from .serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    AuditEventSerializer,
    MeSerializer,
)


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The tenant's audit trail (admins, leads and auditors), newest first."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    pagination_class = SeqCursorPagination
    read_roles = roles.AUDIT_READERS
    search_fields = ["object_repr", "actor_label"]
    ordering_fields = None


class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """API tokens of the tenant (admins). DELETE revokes; the key is shown only at creation."""

    queryset = ApiToken.objects.select_related("user").order_by("-created_at")
    serializer_class = ApiTokenSerializer
    read_roles = roles.ADMINS
    write_roles = roles.ADMINS
    filterset_class = ApiTokenFilterSet
    search_fields = ["name", "prefix"]
    ordering_fields = ["created_at", "expires_at", "last_used_at"]

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        data = ApiTokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = api_token_create(
            user=data.validated_data["username"],
            name=data.validated_data["name"],
            days=data.validated_data.get("days"),
            created_by=request.user,
        )
        token.key = key
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        api_token_revoke(token=instance)


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request):
    """Who the token belongs to: user, tenant and role."""
    return Response(
        MeSerializer(
            {
                "username": request.user.get_username(),
                "tenant": request.tenant.slug,
                "role": request_role(request),
            }
        ).data
    )
