"""Tasks enqueued through the database (a transactional outbox): nothing is lost to a
broker that is down.

`transaction.on_commit(lambda: task.delay(...))` loses the task when Redis is unreachable
at that moment, or when the process dies between the commit and the send: the work is
committed (a telemetry batch, a sweep, an import job, a webhook delivery), its message
never exists, and nothing says so. Instead a service calls

    outbox.enqueue(process_telemetry_batch, tenant_id=tenant.pk, batch_id=batch.pk)

inside its transaction. That writes an `OutboxMessage` row in the same transaction, so the
message exists if and only if the work does. After the commit the message is sent at once
and its row deleted (the fast path: one INSERT and one DELETE more than before). When the
broker cannot be reached the row simply stays, the request still succeeds, and `drain()`
sends what is left:

- every 30 s from beat (`tenancy.outbox_drain`, tenancy/schedule.py),
- as soon as this process reaches the broker again after failing to (on demand),
- when a Celery worker starts (config/celery.py), and from `manage.py outbox_drain`.

While sends fail, this process stops trying for `BREAKER_SECONDS` (a broker that times out
instead of refusing would otherwise add its connect timeout to every write request).

The outbox ends where the broker takes over: a message Redis accepted and then lost (a Redis
without persistence restarted) is re-sent by the apps' watchdogs from the state of the work
itself — sweep chunks and imports (intel.watchdog), telemetry batches still pending
(endpoints.telemetry_watchdog). tests/hardening/test_faults_redis.py breaks Redis for real.

Delivery is *at least once*: a crash between a send and the DELETE, or a drain overlapping
the fast path, sends a message twice. Every task sent this way is idempotent (each claims
its row with a conditional UPDATE or a row lock: see the tasks' docstrings).

The table is tenant-owned, under RLS like every other: a message is work of one tenant and
its kwargs carry that tenant's ids (and `tenant_id`, checked here). The drain finds the
tenants with messages left through `unscoped()` and sends each tenant's messages inside
that tenant's context.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from .context import TenantMismatch, require_tenant, tenant_context, unscoped
from .models import OutboxMessage, Tenant

logger = logging.getLogger("stopclock.outbox")

# Rows younger than this are left to the fast path (the drain would only send them twice).
GRACE_SECONDS = 10.0
BREAKER_SECONDS = 5.0
DRAIN_BATCH = 500
# One quick retry: a pooled connection to a Redis that restarted fails once, then reconnects.
PUBLISH_OPTIONS = {
    "retry": True,
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.1,
                     "interval_max": 0.1},
}  # fmt: skip

Message = tuple[int, str, dict[str, Any]]  # (row id, task name, kwargs)

_breaker = {"open_until": 0.0, "tripped": False}


def enqueue(task, /, **kwargs: Any) -> None:
    """Send `task(**kwargs)` once the current transaction commits, durably."""
    enqueue_many(task, [kwargs])


def enqueue_many(task, kwargs_list: Iterable[dict[str, Any]]) -> None:
    """`enqueue` for several messages of one task (one INSERT, one DELETE)."""
    tenant = require_tenant()
    rows = []
    for kwargs in kwargs_list:
        if kwargs.get("tenant_id") != tenant.pk:
            raise TenantMismatch(
                f"{task.name} enqueued with tenant_id {kwargs.get('tenant_id')!r} "
                f"in tenant {tenant.pk}"
            )
        rows.append(OutboxMessage(task=task.name, kwargs=kwargs))
    if not rows:
        return
    created = OutboxMessage.objects.bulk_create(rows)
    messages = [(row.pk, row.task, row.kwargs) for row in created]
    transaction.on_commit(lambda: _after_commit(tenant, messages))


def _after_commit(tenant: Tenant, messages: Sequence[Message]) -> None:
    if time.monotonic() < _breaker["open_until"]:
        return  # the broker failed a moment ago: the drain will send these
    sent = _send(messages)
    if not sent:
        return
    try:
        with tenant_context(tenant):
            OutboxMessage.objects.filter(pk__in=sent).delete()
    except DatabaseError as exc:  # the work is committed and sent: a drain sends it again
        logger.warning("sent messages left in the outbox (sent again later): %s", exc)


def publish(name: str, kwargs: dict[str, Any]) -> None:
    """Hand one message to the broker (the seam tests hold messages back with)."""
    from config.celery import app

    task = app.tasks.get(name)
    if task is None:
        # Outside a worker the apps' task modules are imported only when something uses
        # them: `manage.py outbox_drain` or a web process draining would otherwise find
        # no task to send (NotRegistered, taken for a broker failure) and send nothing.
        app.loader.import_default_modules()
        task = app.tasks[name]
    task.apply_async(kwargs=kwargs, **PUBLISH_OPTIONS)


def _eager() -> bool:
    from config.celery import app

    return bool(app.conf.task_always_eager)


def _send(messages: Sequence[Message]) -> list[int]:
    """Publish in order until one fails; the ids of those that went.

    Eagerly (tests) a "send" runs the task, whose errors propagate as they always did.
    """
    sent: list[int] = []
    for pk, name, kwargs in messages:
        try:
            publish(name, kwargs)
        except Exception as exc:
            if _eager():
                raise
            _breaker["open_until"] = time.monotonic() + BREAKER_SECONDS
            _breaker["tripped"] = True
            logger.warning(
                "broker unreachable; %s message(s) left in the outbox: %s",
                len(messages) - len(sent),
                exc,
            )
            break
        sent.append(pk)
    if sent and _breaker["tripped"]:
        # Reached the broker again: send what this and every other process left behind.
        _breaker["tripped"] = False
        _request_drain()
    return sent


def _request_drain() -> None:
    from .tasks import outbox_drain

    try:
        outbox_drain.apply_async(**PUBLISH_OPTIONS)
    except Exception as exc:
        if _eager():
            raise
        logger.warning("could not request an outbox drain: %s", exc)


def drain(*, older_than: float = GRACE_SECONDS, limit: int = DRAIN_BATCH) -> int:
    """Send the messages left behind (older than `older_than` seconds); how many went.

    Stops at the first failed send (the broker is still down: the next drain retries).
    Each tenant's rows are locked with SKIP LOCKED, so two drains never send the same row.
    """
    cutoff = timezone.now() - dt.timedelta(seconds=older_than)
    with unscoped("outbox drain: find the tenants with messages left to send"):
        tenant_ids = sorted(
            set(
                OutboxMessage.objects.filter(created_at__lte=cutoff).values_list(
                    "tenant_id", flat=True
                )
            )
        )
        tenants = Tenant.objects.in_bulk(tenant_ids)
    total = 0
    for tenant_id in tenant_ids:
        with tenant_context(tenants[tenant_id]):
            while True:
                sent, complete = _drain_tenant(cutoff, limit)
                total += sent
                if not complete:
                    return total
                if sent < limit:
                    break
    return total


def _drain_tenant(cutoff: dt.datetime, limit: int) -> tuple[int, bool]:
    """One batch of the tenant in context: (sent, whether every row of it was sent)."""
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(created_at__lte=cutoff)
            .order_by("pk")
            .values_list("pk", "task", "kwargs")[:limit]
        )
        sent = _send(rows) if rows else []
        if sent:
            OutboxMessage.objects.filter(pk__in=sent).delete()
        if len(sent) < len(rows):
            OutboxMessage.objects.filter(pk=rows[len(sent)][0]).update(
                attempts=F("attempts") + 1, last_error="the broker could not be reached"
            )
    if len(sent) < len(rows):
        logger.warning("outbox drain stopped: the broker is still unreachable")
        return len(sent), False
    return len(sent), True


def backlog(*, older_than: float = 60.0) -> int:
    """Messages waiting longer than `older_than` seconds (for /healthz)."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than)
    with unscoped("health check: count unsent outbox messages of every tenant"):
        return OutboxMessage.objects.filter(created_at__lte=cutoff).count()
