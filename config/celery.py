"""The Celery app. Tasks take `tenant_id` and run inside that tenant's context
(tenancy.tasks.TenantTask); periodic tasks are listed in `beat_schedule` below."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("stopclock")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def broker_ok(timeout: float = 2.0) -> bool:
    """Can we reach the broker right now? (health check; never raises)."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        return False
