"""Browser URLs of the cases app, mounted under /t/<tenant_slug>/ (namespace "cases")."""

from django.urls import path

from . import views
from .actions import views as actions

app_name = "cases"

urlpatterns = [
    path("alerts/", views.alert_list, name="alert-list"),
    path("alerts/bulk/", views.alert_bulk, name="alert-bulk"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert-detail"),
    path("alerts/<int:pk>/action/", views.alert_action, name="alert-action"),
    path("cases/", views.case_list, name="case-list"),
    path("cases/new/", views.case_create, name="case-create"),
    path("cases/bulk/", views.case_bulk, name="case-bulk"),
    path("cases/filters/", views.saved_filter_save, name="saved-filter-save"),
    path("cases/filters/<int:pk>/delete/", views.saved_filter_delete, name="saved-filter-delete"),
    path("cases/<int:pk>/", views.case_detail, name="case-detail"),
    path("cases/<int:pk>/edit/", views.case_edit, name="case-edit"),
    path("cases/<int:pk>/action/", views.case_action, name="case-action"),
    path("tasks/<int:pk>/toggle/", views.task_toggle, name="task-toggle"),
    path("notes/<int:pk>/edit/", views.note_edit, name="note-edit"),
    path("evidence/<int:pk>/download/", views.evidence_download, name="evidence-download"),
    path("settings/grouping/", views.grouping_rules, name="grouping-rule-list"),
    path("settings/grouping/<int:pk>/", views.grouping_rule_edit, name="grouping-rule-edit"),
    path("settings/webhooks/", views.webhook_list, name="webhook-list"),
    path("settings/webhooks/<int:pk>/", views.webhook_detail, name="webhook-detail"),
    # response actions
    path("actions/", actions.action_list, name="action-list"),
    path("actions/new/", actions.action_new, name="action-new"),
    path("actions/<int:pk>/", actions.action_detail, name="action-detail"),
    path("actions/<int:pk>/row/", actions.action_row, name="action-row"),
    path("actions/<int:pk>/status/", actions.action_status, name="action-status"),
    path("actions/<int:pk>/do/", actions.action_do, name="action-do"),
    path("bulk-actions/new/", actions.bulk_action_new, name="bulk-action-new"),
    path("bulk-actions/<int:pk>/", actions.bulk_action_detail, name="bulk-action-detail"),
    path(
        "bulk-actions/<int:pk>/progress/",
        actions.bulk_action_progress,
        name="bulk-action-progress",
    ),
    path("bulk-actions/<int:pk>/do/", actions.bulk_action_do, name="bulk-action-do"),
    path("settings/actions/", actions.action_settings, name="action-settings"),
    path(
        "settings/webhook-deliveries/<int:pk>/redeliver/",
        views.webhook_redeliver,
        name="webhook-redeliver",
    ),
]
