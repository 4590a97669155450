"""The base of every tenant task: it takes `tenant_id` and enters that tenant first.

A task never inherits the previous task's tenant: the context is entered per call and
reset in `finally`. An optional `actor` kwarg ({"kind", "id", "label", "user_id"}) says on
whose behalf the task acts, for the audit trail.
"""

from __future__ import annotations

import uuid

from celery import Task, shared_task

from .context import (
    SYSTEM,
    Actor,
    RequestInfo,
    TenantContextMissing,
    TenantMismatch,
    current_tenant_id,
    request_context,
    reset_all,
    tenant_context,
)
from .models import Tenant


class TenantTask(Task):
    abstract = True

    def __call__(self, *args, **kwargs):
        tenant_id = kwargs.get("tenant_id")
        if not isinstance(tenant_id, int):
            raise TenantContextMissing(f"task {self.name} needs an integer tenant_id kwarg")
        actor_data = kwargs.pop("actor", None)
        actor = Actor(**actor_data) if isinstance(actor_data, dict) else SYSTEM
        tenant = Tenant.objects.get(pk=tenant_id)
        request_id = getattr(self.request, "id", None) or uuid.uuid4().hex
        try:
            with (
                request_context(RequestInfo(request_id=request_id, actor=actor)),
                tenant_context(tenant),
            ):
                return super().__call__(*args, **kwargs)
        finally:
            # A worker forgets everything between tasks. An eager task (tests, or `.apply()`)
            # runs inside its caller, whose context the `with` above has already restored.
            if not getattr(self.request, "is_eager", False):
                reset_all()

    def apply_async(self, args=None, kwargs=None, *more, **options):
        """Refuse to enqueue work for another tenant than the one in context, as
        `outbox.enqueue` does: a mixed-up tenant id fails where the mistake is made, not in
        a worker that would then act for the wrong tenant. (With no tenant in context — beat
        fan-outs, `unscoped()` — the caller is choosing the tenant on purpose.)"""
        in_context = current_tenant_id()
        if in_context is not None and (kwargs or {}).get("tenant_id") != in_context:
            raise TenantMismatch(
                f"{self.name} enqueued with tenant_id {(kwargs or {}).get('tenant_id')!r} "
                f"in tenant {in_context}"
            )
        return super().apply_async(args, kwargs, *more, **options)


def actor_kwargs() -> dict:
    """The current actor, serialised for a task's `actor` kwarg."""
    from .context import current_request

    actor = current_request().actor
    return {
        "actor": {
            "kind": actor.kind,
            "id": actor.id,
            "label": actor.label,
            "user_id": actor.user_id,
        }
    }


@shared_task(name="tenancy.outbox_drain", ignore_result=True)
def outbox_drain() -> int:
    """Send the outbox messages a broker outage left behind (beat, worker start, on demand).

    Not a TenantTask: it crosses tenants to find them, then enters each one in turn."""
    from .outbox import drain

    return drain()
