"""Browser views of the tenancy app: sign-in, tenant home, audit trail, API tokens, health."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import roles
from .forms import ApiTokenForm, AuditFilterForm, ThrottledAuthenticationForm
from .middleware import client_ip
from .models import ApiToken, Membership
from .permissions import role_required
from .selectors import audit_events, user_memberships
from .services import api_token_create, api_token_revoke
from .throttling import login_blocked


class LoginView(auth_views.LoginView):
    """Django's login, refusing (429) once an account or an IP has failed too often."""

    template_name = "tenancy/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if login_blocked(request.POST.get("username", ""), client_ip(request)):
            response = render(
                request,
                self.template_name,
                {"form": self.get_form(), "throttled": True},
                status=429,
            )
            response["Retry-After"] = str(settings.LOGIN_THROTTLE_WINDOW)
            return response
        return super().post(request, *args, **kwargs)


@login_required
def home(request):
    """After sign-in: the user's first tenant, or a page saying they have none."""
    memberships = [m for m in user_memberships(request.user) if m.role in roles.HUMAN]
    if not memberships:
        return render(request, "tenancy/no_tenant.html", status=403)
    return redirect("dashboard", tenant_slug=memberships[0].tenant.slug)


def dashboard(request):
    """The tenant's landing page; each app contributes its panels as it lands."""
    return render(request, "tenancy/dashboard.html", {"panels": dashboard_panels(request)})


def dashboard_panels(request) -> list[dict]:
    """Panels from the apps that provide `dashboard_panel(request)` in their selectors."""
    from importlib import import_module

    panels = []
    for app in ("cases", "endpoints", "intel", "metrics"):
        try:
            module = import_module(f"{app}.selectors")
        except ModuleNotFoundError:
            continue
        panel = getattr(module, "dashboard_panel", None)
        if panel is not None:
            panels.append(panel(request))
    return panels


@role_required(roles.AUDIT_READERS)
def audit_list(request):
    form = AuditFilterForm(request.GET or None)
    events = audit_events()
    if form.is_valid():
        events = form.apply(events)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "tenancy/audit_list.html", {"form": form, "page": page})


@role_required(roles.ADMINS)
def token_list(request):
    form = ApiTokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        token, new_key = api_token_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
            created_by=request.user,
        )
        messages.success(request, f"Token {token.prefix}… created. Copy it now: it is shown once.")
        form = ApiTokenForm()
    tokens = ApiToken.objects.select_related("user").order_by("-created_at")
    members = Membership.objects.select_related("user").order_by("user__username")
    return render(
        request,
        "tenancy/token_list.html",
        {"form": form, "tokens": tokens, "new_key": new_key, "members": members},
    )


@require_POST
@role_required(roles.ADMINS)
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk)
    api_token_revoke(token=token)
    messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect(reverse("token-list", kwargs={"tenant_slug": request.tenant.slug}))


@never_cache
@require_GET
def healthz(request):
    """Database and broker reachability, for load balancers and `make run`'s smoke test."""
    from config.celery import broker_ok

    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    checks["broker"] = "ok" if broker_ok() else "error"
    healthy = checks["database"] == "ok"
    body = {"status": "ok" if healthy and checks["broker"] == "ok" else "degraded", **checks}
    if not healthy:
        body["status"] = "down"
    response = JsonResponse(body, status=200 if healthy else 503)
    if not healthy:
        from .errors import RETRY_AFTER_SECONDS

        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def robots(request):
    return HttpResponse("User-agent: *\nDisallow: /\n", content_type="text/plain")
