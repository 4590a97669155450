"""Metrics API under /api/v1/: figures, spans, SLA targets, regulatory flags and
notifications, the breach register, reports."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("metrics/sla-targets", views.SlaTargetViewSet, basename="sla-target")
router.register("regulatory-flags", views.RegulatoryFlagViewSet, basename="regulatory-flag")
router.register(
    "regulatory-notifications",
    views.RegulatoryNotificationViewSet,
    basename="regulatory-notification",
)
router.register("breach-register", views.BreachRegisterViewSet, basename="breach-register")
router.register("reports", views.ReportViewSet, basename="report")

urlpatterns = [
    path("metrics/mttr/", views.MttrView.as_view(), name="metrics-mttr"),
    path("metrics/spans/", views.SpansView.as_view(), name="metrics-spans"),
    *router.urls,
]
