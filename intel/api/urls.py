"""Intel API under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("iocs", views.IOCViewSet, basename="ioc")
router.register("sources", views.SourceViewSet, basename="source")
router.register("imports", views.ImportJobViewSet, basename="import-job")
router.register("sweeps", views.SweepViewSet, basename="sweep")
router.register("hits", views.HitViewSet, basename="hit")
router.register("reputation", views.ReputationViewSet, basename="reputation")
router.register("allowlist", views.AllowlistViewSet, basename="allowlist-entry")
router.register(
    "reputation-providers", views.ReputationProviderViewSet, basename="reputation-provider"
)
router.register("file-scans", views.FileScanViewSet, basename="file-scan")

urlpatterns = [
    path("intel-search/", views.SearchView.as_view(), name="intel-search"),
    *router.urls,
]
