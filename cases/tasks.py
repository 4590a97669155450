"""Celery tasks of the cases app: thin, take ids, call a service.

Per-tenant tasks use `TenantTask` (they take `tenant_id` and run inside that tenant).
The beat entry points (`sla_sweep_all`, `webhook_retry_all`) fan out one task per tenant.
"""

from __future__ import annotations

from celery import shared_task

from tenancy.tasks import TenantTask


# typing=False: callers pass TenantTask's `actor` kwarg, which TenantTask consumes before the
# function runs (Celery's signature check would otherwise refuse it).
@shared_task(
    base=TenantTask,
    name="cases.deliver_webhook",
    acks_late=True,
    ignore_result=True,
    typing=False,
)
def deliver_webhook(*, tenant_id: int, delivery_uid: str) -> str | None:
    """One attempt at one webhook delivery; failures are rescheduled by the service
    (exponential backoff with jitter) and picked up by `webhook_retry`."""
    from .services import webhook_deliver

    delivery = webhook_deliver(delivery_uid=delivery_uid)
    return delivery.status if delivery is not None else None


@shared_task(base=TenantTask, name="cases.webhook_retry", ignore_result=True)
def webhook_retry(*, tenant_id: int) -> int:
    """Send the deliveries whose next attempt is due (and any whose sender died)."""
    from .services import webhook_due_deliveries

    uids = webhook_due_deliveries()
    for uid in uids:
        deliver_webhook.delay(tenant_id=tenant_id, delivery_uid=uid)
    return len(uids)


@shared_task(base=TenantTask, name="cases.sla_sweep", ignore_result=True)
def sla_sweep(*, tenant_id: int) -> int:
    """Record (and announce, once per case and clock) SLA breaches of running clocks."""
    from .services import sla_sweep as sweep

    return sweep()


@shared_task(base=TenantTask, name="cases.sla_refresh", ignore_result=True)
def sla_refresh(*, tenant_id: int) -> int:
    """Re-judge every open case of the tenant against its targets (after targets change)."""
    from .services import sla_refresh_cases

    return sla_refresh_cases()


def _fan_out(task) -> int:
    from tenancy.models import Tenant

    ids = list(Tenant.objects.values_list("pk", flat=True))
    for tenant_id in ids:
        task.delay(tenant_id=tenant_id)
    return len(ids)


@shared_task(name="cases.sla_sweep_all", ignore_result=True)
def sla_sweep_all() -> int:
    return _fan_out(sla_sweep)


@shared_task(name="cases.webhook_retry_all", ignore_result=True)
def webhook_retry_all() -> int:
    return _fan_out(webhook_retry)


# --- response actions ----------------------------------------------------------------------
@shared_task(
    base=TenantTask,
    name="cases.launch_bulk_chunk",
    acks_late=True,
    ignore_result=True,
    typing=False,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_jitter=True,
    max_retries=5,
)
def launch_bulk_chunk(*, tenant_id: int, bulk_id: int, endpoint_ids: list[int]) -> int:
    """Create one chunk of a bulk response's per-endpoint actions (idempotent: a chunk run
    twice creates nothing twice)."""
    from .actions.services import bulk_action_launch_chunk

    return bulk_action_launch_chunk(bulk_id=bulk_id, endpoint_ids=endpoint_ids)


@shared_task(base=TenantTask, name="cases.actions_expire", ignore_result=True)
def actions_expire(*, tenant_id: int) -> int:
    """Expire actions nobody approved or picked up in time; fail those never reported."""
    from .actions.services import actions_expire as expire

    return expire()


@shared_task(name="cases.actions_expire_all", ignore_result=True)
def actions_expire_all() -> int:
    return _fan_out(actions_expire)
