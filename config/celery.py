"""The Celery app. Tasks take `tenant_id` and run inside that tenant's context
(tenancy.tasks.TenantTask); periodic tasks are listed in `beat_schedule` below."""

from __future__ import annotations

import contextlib
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("stopclock")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _collect_schedules(sender, **kwargs):
    """Each app lists its periodic tasks in `<app>/schedule.py` as BEAT_SCHEDULE."""
    from importlib import import_module

    for name in ("tenancy", "cases", "endpoints", "intel", "metrics"):
        try:
            module = import_module(f"{name}.schedule")
        except ModuleNotFoundError as exc:
            if not f"{name}.schedule".startswith(exc.name or "?"):
                raise
            continue
        sender.conf.beat_schedule = {**sender.conf.beat_schedule, **module.BEAT_SCHEDULE}


@worker_ready.connect
def _drain_outbox_on_start(sender, **kwargs):
    """A worker starting (often after an outage) sends what the outbox kept meanwhile."""
    with contextlib.suppress(Exception):  # the broker went away again: beat's drain will do
        app.tasks["tenancy.outbox_drain"].apply_async()


def broker_ok(timeout: float = 2.0) -> bool:
    """Can we reach the broker right now? (health check; never raises, never waits long:
    one attempt, no pause before giving up)."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
        return True
    except Exception:
        return False
