"""Endpoints pages inside /t/<slug>/ (the tenant comes from the URL)."""

from django.urls import path

from . import views

app_name = "endpoints"

urlpatterns = [
    path("endpoints/", views.endpoint_list, name="endpoint-list"),
    path("endpoints/<int:pk>/", views.endpoint_detail, name="endpoint-detail"),
    path("endpoints/<int:pk>/timeline/", views.endpoint_timeline, name="endpoint-timeline"),
    path("endpoints/observations/<int:pk>/", views.observation_detail, name="observation"),
    path("endpoints/observations/<int:pk>/tree/", views.process_tree, name="process-tree"),
    path("endpoints/stacking/", views.stacking, name="stacking"),
    path("endpoints/stacking/endpoints/", views.stacking_endpoints, name="stacking-endpoints"),
    path("endpoints/stacking/ioc/", views.stacking_add_ioc, name="stacking-add-ioc"),
    path("endpoints/rules/", views.rule_list, name="rule-list"),
    path("endpoints/rules/<int:pk>/", views.rule_detail, name="rule-detail"),
    path("endpoints/rules/<int:pk>/toggle/", views.rule_toggle, name="rule-toggle"),
    path("endpoints/rules/<int:pk>/delete/", views.rule_delete, name="rule-delete"),
    path(
        "endpoints/rules/exceptions/<int:pk>/delete/",
        views.rule_exception_delete,
        name="rule-exception-delete",
    ),
    path("endpoints/enrolment/", views.enrolment, name="enrolment"),
]
