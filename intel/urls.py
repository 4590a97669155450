"""Intel pages inside /t/<slug>/ (the tenant comes from the URL)."""

from django.urls import path

from . import views

app_name = "intel"

urlpatterns = [
    path("intel/", views.intel_home, name="home"),
    path("intel/iocs/", views.ioc_list, name="ioc-list"),
    path("intel/iocs/new/", views.ioc_new, name="ioc-new"),
    path("intel/iocs/check/", views.ioc_check, name="ioc-check"),
    path("intel/iocs/expire/", views.ioc_bulk_expire, name="ioc-bulk-expire"),
    path("intel/iocs/<int:pk>/", views.ioc_detail, name="ioc-detail"),
    path("intel/iocs/<int:pk>/expire/", views.ioc_expire, name="ioc-expire"),
    path("intel/iocs/<int:pk>/suppression/", views.ioc_suppression, name="ioc-suppression"),
    path("intel/imports/", views.import_list, name="import-list"),
    path("intel/imports/new/", views.import_new, name="import-new"),
    path("intel/imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("intel/imports/<int:pk>/progress/", views.import_progress, name="import-progress"),
    path("intel/sources/", views.source_list, name="source-list"),
    path("intel/sources/new/", views.source_new, name="source-new"),
    path("intel/sources/<int:pk>/", views.source_detail, name="source-detail"),
    path("intel/sources/<int:pk>/edit/", views.source_edit, name="source-edit"),
    path("intel/sources/<int:pk>/poll/", views.source_poll, name="source-poll"),
    path("intel/sweeps/", views.sweep_list, name="sweep-list"),
    path("intel/sweeps/new/", views.sweep_new, name="sweep-new"),
    path("intel/sweeps/<int:pk>/", views.sweep_detail, name="sweep-detail"),
    path("intel/sweeps/<int:pk>/progress/", views.sweep_progress, name="sweep-progress"),
    path("intel/sweeps/<int:pk>/cancel/", views.sweep_cancel, name="sweep-cancel"),
    path("intel/sweeps/<int:pk>/resume/", views.sweep_resume, name="sweep-resume"),
    path("intel/hits/", views.hit_list, name="hit-list"),
    path("intel/reputation/", views.reputation, name="reputation"),
    path("intel/allowlist/", views.allowlist, name="allowlist"),
    path("intel/allowlist/<int:pk>/remove/", views.allowlist_remove, name="allowlist-remove"),
    path("intel/search/", views.search, name="search"),
]
