"""URL map. Browser pages live under /t/<tenant>/, the API under /api/v1/.

Each app contributes `urls.py` (browser, mounted inside the tenant prefix) and
`api/urls.py` (mounted under /api/v1/); agents talk to /api/v1/agent/.
"""

from importlib import import_module

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tenancy import errors
from tenancy import views as tenancy_views

APPS = ("tenancy", "cases", "endpoints", "intel", "metrics")


def _app_patterns(module_name: str) -> list:
    patterns = []
    for app in APPS:
        try:
            module = import_module(f"{app}.{module_name}")
        except ModuleNotFoundError as exc:
            if not f"{app}.{module_name}".startswith(exc.name or "?"):
                raise
            continue
        patterns.append(path("", include(module)))
    return patterns


tenant_patterns = _app_patterns("urls")
api_patterns = _app_patterns("api.urls")

urlpatterns = [
    path("healthz", tenancy_views.healthz, name="healthz"),
    path("robots.txt", tenancy_views.robots),
    path("accounts/", include("tenancy.urls_accounts")),
    path("", tenancy_views.home, name="home"),
    path("t/<slug:tenant_slug>/", include(tenant_patterns)),
    path("api/v1/", include(api_patterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]


def handler400(request, exception):
    # Django's own refusals of a malformed request (SuspiciousOperation: too many form
    # fields or files, a bad Host header) reach no DRF handler: on /api/ they are the
    # error format too, not Django's HTML page.
    if errors.is_api(request):
        from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
        from django.http import JsonResponse

        known = isinstance(exception, TooManyFieldsSent | TooManyFilesSent)
        message = str(exception) if known else "The request is malformed."
        return JsonResponse(errors.error_body("bad_request", message), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler404(request, exception):
    if errors.is_api(request):
        return errors.json_404(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    # Called while the exception is being handled: a database outage raised before any view
    # ran (session, user, tenant look-up in a middleware) is a 503, not a 500.
    import sys

    exc = sys.exc_info()[1]
    if isinstance(exc, errors.DB_ERRORS):
        return errors.database_unavailable(request, exc)
    if errors.is_api(request):
        return errors.json_500(request)
    from django.views.defaults import server_error

    return server_error(request)
