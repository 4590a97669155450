"""Role checks for the API and the browser.

A view declares who may read and who may write (`read_roles`, `write_roles`; per action
with `action_roles = {"approve": roles.LEADS}`); the default lets every member read and
lets admins, leads, analysts and integrations write. Auditors never write anything.
"""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied
from rest_framework import permissions

from . import roles


def request_role(request) -> str | None:
    return getattr(request, "role", None) or getattr(
        getattr(request, "_request", None), "role", None
    )


def allowed_roles(view, method: str) -> frozenset[str]:
    action = getattr(view, "action", None)
    action_roles = getattr(view, "action_roles", {}) or {}
    if action in action_roles:
        allowed = frozenset(action_roles[action])
    elif method in permissions.SAFE_METHODS:
        allowed = frozenset(getattr(view, "read_roles", roles.READERS))
    else:
        allowed = frozenset(getattr(view, "write_roles", roles.WRITERS))
    if method not in permissions.SAFE_METHODS:
        allowed = allowed - {roles.AUDITOR}
    return allowed


class TenantRolePermission(permissions.BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view):
        if request.user is None or not getattr(request, "auth", None):
            return False
        return request_role(request) in allowed_roles(view, request.method)


def role_required(*allowed: str | frozenset[str]):
    """Browser view decorator: the member's role must be one of `allowed`."""
    flat: set[str] = set()
    for item in allowed:
        flat |= {item} if isinstance(item, str) else set(item)

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request_role(request) not in flat:
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def can_write(request) -> bool:
    return request_role(request) in (roles.WRITERS - {roles.AUDITOR})
