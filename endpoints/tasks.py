"""Endpoints tasks: thin, they take ids and call the processing and services.

`process_telemetry_batch` is enqueued once per stored batch, through the outbox (in the
batch's transaction: a broker that is down delays it, never loses it). Celery settings
make tasks late-acknowledged and re-queued when a worker dies, and processing is
idempotent, so a batch is processed exactly once in effect.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from tenancy.models import Tenant
from tenancy.tasks import TenantTask


@shared_task(
    base=TenantTask,
    name="endpoints.process_telemetry_batch",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def process_telemetry_batch(*, tenant_id: int, batch_id: int) -> int | None:
    """Inventory, Sigma detections and registered processors for one batch."""
    from .processing import process_batch

    context = process_batch(batch_id=batch_id)
    return None if context is None else context.detections


@shared_task(base=TenantTask, name="endpoints.delete_expired_observations", acks_late=True)
def delete_expired_observations(*, tenant_id: int) -> int:
    """Retention for one tenant (observations older than `endpoints.retention_days`)."""
    from .services import observations_delete_expired

    return observations_delete_expired()


@shared_task(name="endpoints.retention_sweep", acks_late=True)
def retention_sweep() -> int:
    """Daily: one retention task per tenant (each in its own tenant context)."""
    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        delete_expired_observations.delay(tenant_id=tenant_id)
    return len(tenant_ids)
