from django.urls import path
from rest_framework.routers import SimpleRouter

from . import actions, agent, views

router = SimpleRouter()
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("cases", views.CaseViewSet, basename="case")
router.register("tasks", views.TaskViewSet, basename="task")
router.register("notes", views.NoteViewSet, basename="note")
router.register("evidence", views.EvidenceViewSet, basename="evidence")
router.register("grouping-rules", views.GroupingRuleViewSet, basename="grouping-rule")
router.register("webhooks", views.WebhookViewSet, basename="webhook")
router.register("webhook-deliveries", views.WebhookDeliveryViewSet, basename="webhook-delivery")
router.register("actions", actions.ActionViewSet, basename="action")
router.register("bulk-actions", actions.BulkActionViewSet, basename="bulk-action")

urlpatterns = [
    # response actions, the agent's side (Authorization: Agent <token>)
    path("agent/actions/", agent.AgentActionsPoll.as_view(), name="agent-actions"),
    path("agent/actions/key/", agent.AgentActionKey.as_view(), name="agent-action-key"),
    path("agent/actions/<int:pk>/ack/", agent.AgentActionAck.as_view(), name="agent-action-ack"),
    path(
        "agent/actions/<int:pk>/result/",
        agent.AgentActionResult.as_view(),
        name="agent-action-result",
    ),
    *router.urls,
]
