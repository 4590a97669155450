"""Endpoints API under /api/v1/: inventory, observations, rules, stacking, and the agents'
own routes under agent/ (enrol, heartbeat, telemetry; actions come with response actions)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("endpoints", views.EndpointViewSet, basename="endpoint")
router.register("observations", views.ObservationViewSet, basename="observation")
router.register("detection-rules", views.DetectionRuleViewSet, basename="detection-rule")
router.register("rule-exceptions", views.RuleExceptionViewSet, basename="rule-exception")
router.register("stacking", views.StackingViewSet, basename="stacking")

urlpatterns = [
    path("agent/enrol/", views.EnrolView.as_view(), name="agent-enrol"),
    path("agent/heartbeat/", views.HeartbeatView.as_view(), name="agent-heartbeat"),
    path("agent/telemetry/", views.TelemetryView.as_view(), name="agent-telemetry"),
    *router.urls,
]
