"""Tenancy URLs inside /t/<slug>/ (the tenant comes from the URL)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("audit/", views.audit_list, name="audit-list"),
    path("settings/tokens/", views.token_list, name="token-list"),
    path("settings/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
