"""Metrics pages inside /t/<slug>/ (the tenant comes from the URL)."""

from django.urls import path

from . import views

app_name = "metrics"

urlpatterns = [
    path("metrics/", views.dashboard, name="dashboard"),
    path("metrics/spans.csv", views.spans_csv, name="spans-csv"),
    path("metrics/targets/", views.targets, name="targets"),
    path("metrics/targets/<int:pk>/cancel/", views.target_cancel, name="target-cancel"),
    path("metrics/reports/", views.reports, name="reports"),
    path("metrics/reports/<int:pk>/", views.report_detail, name="report-detail"),
    path("metrics/reports/<int:pk>/download/", views.report_download, name="report-download"),
    path("metrics/regulatory/", views.regulatory, name="regulatory"),
    path("metrics/regulatory/cases/<int:pk>/", views.case_regulatory, name="case-regulatory"),
    path("metrics/breach-register/", views.breach_register, name="breach-register"),
    path("metrics/breach-register.csv", views.breach_register_csv, name="breach-register-csv"),
]
