"""The tenant context: which tenant the current request or task works for.

Held in context variables so threads and asyncio tasks never share it. Every entry point
(browser middleware, API authentication, Celery task, management command) enters it with
`tenant_context(...)`, and it is always reset in `finally`.

Crossing tenants is possible only through `unscoped(reason)`, the one door, rare enough
to grep for. On PostgreSQL the database backend mirrors this context into the session
settings `app.tenant_id` / `app.bypass` that the Row-Level Security policies read.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Tenant


class TenantContextMissing(RuntimeError):
    """A tenant-owned table was queried with no tenant in context (fail closed)."""


class TenantMismatch(RuntimeError):
    """A row of one tenant was about to be written while another tenant is in context."""


_tenant: contextvars.ContextVar[Tenant | None] = contextvars.ContextVar("tenant", default=None)
_bypass: contextvars.ContextVar[str | None] = contextvars.ContextVar("bypass", default=None)


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the audit trail records it."""

    kind: str  # user, token, agent, system
    id: str = ""
    label: str = ""
    user_id: int | None = None


SYSTEM = Actor(kind="system", label="system")


@dataclass
class RequestInfo:
    """Where a change came from: request id and client address (or task id)."""

    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ip: str | None = None
    actor: Actor = SYSTEM
    role: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "request_info", default=None
)


def current_tenant() -> Tenant | None:
    return _tenant.get()


def current_tenant_id() -> int | None:
    tenant = _tenant.get()
    return tenant.pk if tenant is not None else None


def require_tenant() -> Tenant:
    tenant = _tenant.get()
    if tenant is None:
        raise TenantContextMissing("no tenant in context")
    return tenant


def bypass_reason() -> str | None:
    """The reason given to `unscoped()` if the caller is inside it."""
    return _bypass.get()


@contextlib.contextmanager
def tenant_context(tenant: Tenant) -> Iterator[Tenant]:
    """Work for one tenant until the block ends; nested calls restore the outer tenant."""
    if tenant is None or tenant.pk is None:
        raise TenantContextMissing("tenant_context() needs a saved tenant")
    token = _tenant.set(tenant)
    bypass_token = _bypass.set(None)
    try:
        yield tenant
    finally:
        _bypass.reset(bypass_token)
        _tenant.reset(token)


def set_tenant(tenant: Tenant | None) -> None:
    """Set the tenant for the rest of the current request; the middleware resets it."""
    _tenant.set(tenant)


@contextlib.contextmanager
def unscoped(reason: str) -> Iterator[None]:
    """The visible door across tenants: migrations, token look-up, fleet-wide maintenance."""
    if not reason:
        raise ValueError("unscoped() needs a reason")
    tenant_token = _tenant.set(None)
    token = _bypass.set(reason)
    try:
        yield
    finally:
        _bypass.reset(token)
        _tenant.reset(tenant_token)


def current_request() -> RequestInfo:
    info = _request.get()
    return info if info is not None else RequestInfo()


@contextlib.contextmanager
def request_context(info: RequestInfo) -> Iterator[RequestInfo]:
    token = _request.set(info)
    try:
        yield info
    finally:
        _request.reset(token)


def set_actor(actor: Actor, role: str | None = None) -> None:
    """Record who acts for the rest of the current request (set by authentication)."""
    info = _request.get()
    if info is None:
        info = RequestInfo()
        _request.set(info)
    info.actor = actor
    info.role = role


def reset_all() -> None:
    """Forget everything; used by the request middleware's `finally` and task teardown."""
    _tenant.set(None)
    _bypass.set(None)
    _request.set(None)
