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


@shared_task(base=TenantTask, name="endpoints.telemetry_requeue", acks_late=True)
def telemetry_requeue(*, tenant_id: int, older_than_seconds: int = 600) -> int:
    """Batches whose processing message the broker lost, enqueued again (see the service)."""
    import datetime as dt

    from .services import telemetry_requeue_stale

    return telemetry_requeue_stale(older_than=dt.timedelta(seconds=older_than_seconds))


@shared_task(name="endpoints.telemetry_watchdog", acks_late=True)
def telemetry_watchdog(older_than_seconds: int = 600) -> int:
    """Every few minutes (beat): one `telemetry_requeue` per tenant with stale batches."""
    import datetime as dt

    from django.utils import timezone

    from tenancy.context import unscoped

    from .models import TelemetryBatch

    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    with unscoped("beat: find the tenants with telemetry batches pending too long"):
        tenant_ids = sorted(
            set(
                TelemetryBatch.objects.filter(
                    status=TelemetryBatch.PENDING, received_at__lte=cutoff
                ).values_list("tenant_id", flat=True)
            )
        )
    for tenant_id in tenant_ids:
        telemetry_requeue.delay(tenant_id=tenant_id, older_than_seconds=older_than_seconds)
    return len(tenant_ids)


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
