from django.urls import NoReverseMatch, reverse

from . import roles
from .permissions import can_write, request_role
from .selectors import user_memberships

# The main navigation: (label, url name, shortcut key, roles that see it). An entry shows
# once its app provides the URL.
NAVIGATION = (
    ("Dashboard", "dashboard", "d", roles.HUMAN),
    ("Alerts", "cases:alert-list", "a", roles.HUMAN),
    ("Cases", "cases:case-list", "c", roles.HUMAN),
    ("Endpoints", "endpoints:endpoint-list", "e", roles.HUMAN),
    ("Intel", "intel:ioc-list", "i", roles.HUMAN),
    ("Sweeps", "intel:sweep-list", "s", roles.HUMAN),
    ("Actions", "cases:action-list", "r", roles.HUMAN),
    ("Metrics", "metrics:dashboard", "m", roles.HUMAN),
    ("Audit", "audit-list", "u", roles.AUDIT_READERS),
)


def _nav(tenant, role) -> list[dict]:
    items = []
    for label, name, key, allowed in NAVIGATION:
        if role not in allowed:
            continue
        try:
            url = reverse(name, kwargs={"tenant_slug": tenant.slug})
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "key": key, "name": name})
    return items


def tenancy(request):
    tenant = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "tenant": tenant,
        "role": request_role(request),
        "can_write": can_write(request),
        "user_memberships": user_memberships(user),
        "nav": _nav(tenant, request_role(request)) if tenant is not None else [],
    }
