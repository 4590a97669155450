"""Intel tasks: thin, they take ids (and `tenant_id`) and call the services.

Every task is late-acknowledged (a worker that dies mid-task leaves the message to be
redelivered) and every service it calls is idempotent: a sweep chunk, an import batch or
an alert is never written twice.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from tenancy.context import unscoped
from tenancy.tasks import TenantTask

logger = logging.getLogger("stopclock.intel")

DB_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    base=TenantTask,
    bind=True,
    name="intel.import_run",
    acks_late=True,
    max_retries=4,
    autoretry_for=DB_ERRORS,
    retry_backoff=True,
    retry_jitter=True,
)
def import_run_task(self, *, tenant_id: int, job_id: int, actor: dict | None = None) -> str | None:
    """Parse and write one import job (upload or TAXII poll); retries TAXII with backoff."""
    from intel.models import ImportJob
    from intel.services import import_give_up, import_run
    from intel.taxii import FeedError

    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return None
    # Eagerly (tests, or no worker) Celery cannot retry later: the attempts run in a row.
    attempts = self.max_retries + 1 if self.request.is_eager else 1
    for attempt in range(attempts):
        try:
            return import_run(job=job).status
        except FeedError as exc:
            retries = self.request.retries + attempt
            if retries >= self.max_retries:
                message = f"{exc} (after {retries + 1} attempts)"
                return import_give_up(job=job, message=message).status
            if not self.request.is_eager:
                raise self.retry(exc=exc, countdown=min(600, 15 * 2**retries)) from None
    return None


@shared_task(base=TenantTask, name="intel.taxii_poll", acks_late=True)
def taxii_poll_task(*, tenant_id: int, source_id: int) -> int | None:
    """One poll of one TAXII source: a job, queued with it (through the outbox)."""
    from intel.models import Source
    from intel.services import taxii_poll_create

    source = Source.objects.filter(pk=source_id, kind="taxii", enabled=True).first()
    if source is None:
        return None
    return taxii_poll_create(source=source).pk


@shared_task(name="intel.taxii_dispatch", acks_late=True)
def taxii_dispatch() -> int:
    """Every minute (beat): enqueue a poll for each TAXII source that is due, any tenant."""
    from intel.models import Source

    now = timezone.now()
    with unscoped("beat: find the TAXII sources of every tenant that are due for a poll"):
        due = list(
            Source.objects.filter(kind="taxii", enabled=True, next_poll_at__lte=now).values_list(
                "pk", "tenant_id", "poll_interval_minutes"
            )
        )
        claimed = []
        for pk, tenant_id, interval in due:
            # Claim it (only one dispatcher run enqueues a given poll).
            if Source.objects.filter(pk=pk, next_poll_at__lte=now).update(
                next_poll_at=now + timezone.timedelta(minutes=interval)
            ):
                claimed.append((pk, tenant_id))
    for pk, tenant_id in claimed:
        taxii_poll_task.delay(tenant_id=tenant_id, source_id=pk)
    return len(claimed)


@shared_task(
    base=TenantTask,
    bind=True,
    name="intel.sweep_chunk",
    acks_late=True,
    max_retries=5,
    reject_on_worker_lost=True,
)
def sweep_chunk_task(self, *, tenant_id: int, chunk_id: int) -> str:
    """Match one chunk of a sweep (idempotent: a chunk already done is a no-op)."""
    from intel.services import sweep_chunk_failed, sweep_run_chunk

    try:
        return sweep_run_chunk(chunk_id=chunk_id)
    except DB_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            sweep_chunk_failed(chunk_id=chunk_id, error=str(exc))
            return "failed"
        raise self.retry(exc=exc, countdown=min(300, 2 ** (self.request.retries + 1))) from None
    except Exception as exc:
        logger.exception("sweep chunk %s failed", chunk_id)
        sweep_chunk_failed(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")
        return "failed"


@shared_task(
    base=TenantTask,
    name="intel.sweep_finalize",
    acks_late=True,
    autoretry_for=DB_ERRORS,
    retry_backoff=True,
    max_retries=8,
)
def sweep_finalize_task(*, tenant_id: int, sweep_id: int) -> str | None:
    from intel.services import sweep_finalize

    sweep = sweep_finalize(sweep_id=sweep_id)
    return None if sweep is None else sweep.status


@shared_task(
    base=TenantTask,
    name="intel.sweep_alerts",
    acks_late=True,
    autoretry_for=DB_ERRORS,
    retry_backoff=True,
    max_retries=8,
)
def sweep_alerts_task(*, tenant_id: int, sweep_id: int) -> int:
    """A finished sweep's hits become alerts (deduplicated) and, by grouping, cases."""
    from intel.services import sweep_raise_alerts

    return sweep_raise_alerts(sweep_id=sweep_id)


@shared_task(base=TenantTask, name="intel.watchdog_tenant", acks_late=True)
def watchdog_tenant(*, tenant_id: int) -> dict:
    from intel.services import imports_watchdog, sweeps_watchdog

    return {**sweeps_watchdog(), "resumed_imports": imports_watchdog()}


@shared_task(name="intel.watchdog", acks_late=True)
def watchdog_task() -> int:
    """Every few minutes (beat): resume the sweeps and imports whose messages were lost."""
    from intel.models import ImportJob, Sweep

    with unscoped("beat: find the tenants with sweeps or imports still under way"):
        tenant_ids = set(
            Sweep.objects.filter(status__in=["queued", "running"])
            .exclude(kind="continuous")
            .values_list("tenant_id", flat=True)
        )
        tenant_ids |= set(
            ImportJob.objects.filter(status__in=["queued", "running"]).values_list(
                "tenant_id", flat=True
            )
        )
    for tenant_id in sorted(tenant_ids):
        watchdog_tenant.delay(tenant_id=tenant_id)
    return len(tenant_ids)


@shared_task(
    base=TenantTask,
    name="intel.reputation_external",
    acks_late=True,
    autoretry_for=DB_ERRORS,
    retry_backoff=True,
    max_retries=5,
)
def reputation_external_task(*, tenant_id: int, observation_ids: list[int]) -> int:
    """Unknown telemetry hashes, looked up with the enabled external providers."""
    from intel.services import reputation_check_observations

    return reputation_check_observations(observation_ids=observation_ids)


@shared_task(base=TenantTask, name="intel.yara_scan_sample", acks_late=True)
def yara_scan_sample_task(*, tenant_id: int, scan_id: int, path: str) -> str | None:
    from intel.models import FileScan
    from intel.services import yara_scan_sample

    scan = FileScan.objects.filter(pk=scan_id).first()
    return None if scan is None else yara_scan_sample(scan=scan, path=path).status


@shared_task(base=TenantTask, name="intel.yara_scan_evidence", acks_late=True)
def yara_scan_evidence_task(*, tenant_id: int, evidence_id: int) -> int | None:
    """Scan one evidence file of a case with the active YARA rules."""
    from importlib import import_module

    from intel.services import yara_scan_evidence

    evidence = import_module("cases.models").Evidence.objects.filter(pk=evidence_id).first()
    return None if evidence is None else yara_scan_evidence(evidence).pk
