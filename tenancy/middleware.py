"""Request context, tenant resolution for the browser, and the Content-Security-Policy."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from . import roles
from .context import Actor, RequestInfo, reset_all, set_actor, set_tenant, tenant_context
from .models import Membership, Tenant

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request) -> str | None:
    # Behind a reverse proxy, set TRUSTED_PROXY_HEADER (e.g. HTTP_X_REAL_IP) to what it sends.
    header = getattr(settings, "TRUSTED_PROXY_HEADER", None)
    if header and request.META.get(header):
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR")


class RequestContextMiddleware:
    """A request id (kept from X-Request-ID if sane) and the client IP for audit and logs.

    Outermost, so whatever any layer sets (tenant, actor) is forgotten when it returns.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        reset_all()
        info = RequestInfo(request_id=request_id, ip=client_ip(request))
        try:
            from .context import request_context

            with request_context(info):
                response = self.get_response(request)
        finally:
            reset_all()
        response["X-Request-ID"] = request_id
        return response


class TenantMiddleware:
    """For browser URLs under /t/<slug>/: the signed-in user's membership decides access.

    Another tenant (or one that does not exist) is a 404; a member whose role has no
    browser access (integration) gets 403.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        slug = view_kwargs.pop("tenant_slug", None)
        if slug is None:
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise Http404("No such tenant.")
        with tenant_context(tenant):
            membership = Membership.objects.filter(user=request.user).first()
        if membership is None:
            raise Http404("No such tenant.")
        if membership.role not in roles.HUMAN:
            raise PermissionDenied("This role has API access only.")
        set_tenant(tenant)
        set_actor(
            Actor(
                kind="user",
                id=str(request.user.pk),
                label=request.user.get_username(),
                user_id=request.user.pk,
            ),
            membership.role,
        )
        request.tenant = tenant
        request.membership = membership
        request.role = membership.role
        return None


CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """A strict CSP on every response: no inline script or style, nothing from elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        return response
