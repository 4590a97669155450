"""Throttles: failed browser logins per account and per IP, API calls per token."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle


def _keys(username: str, ip: str | None) -> list[str]:
    account = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:user:{account}", f"login-fail:ip:{ip or 'unknown'}"]


def login_blocked(username: str, ip: str | None) -> bool:
    limit = settings.LOGIN_THROTTLE_ATTEMPTS
    return any((cache.get(key) or 0) >= limit for key in _keys(username, ip))


def login_failed(username: str, ip: str | None) -> None:
    for key in _keys(username, ip):
        cache.add(key, 0, settings.LOGIN_THROTTLE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, settings.LOGIN_THROTTLE_WINDOW)


def login_succeeded(username: str, ip: str | None) -> None:
    cache.delete(_keys(username, ip)[0])


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per API token (agents and tokens alike), answered with 429 + Retry-After."""

    scope = "token"

    def get_cache_key(self, request, view):
        auth = getattr(request, "auth", None)
        ident = getattr(auth, "prefix", None) or getattr(auth, "pk", None)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"{type(auth).__name__}:{ident}"}
