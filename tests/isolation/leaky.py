"""A deliberately leaking API view, to prove the harness catches a missing tenant filter.

It reads audit events through the `unscoped` door — what a queryset without its tenant
filter would return — so the leak shows on SQLite and on PostgreSQL alike.
"""

from django.urls import include, path
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from tenancy.api.serializers import AuditEventSerializer
from tenancy.context import unscoped
from tenancy.models import AuditEvent


class LeakyAuditViewSet(viewsets.ViewSet):
    def list(self, request):
        with unscoped("deliberate leak for the harness test"):
            rows = list(AuditEvent._base_manager.all())
        return Response(AuditEventSerializer(rows, many=True).data)

    def retrieve(self, request, pk=None):
        with unscoped("deliberate leak for the harness test"):
            row = AuditEvent._base_manager.get(pk=pk)
        return Response(AuditEventSerializer(row).data)


router = SimpleRouter()
router.register("audit", LeakyAuditViewSet, basename="audit-event")
urlpatterns = [path("api/v1/", include(router.urls))]
