"""Periodic tasks of the endpoints app (merged into Celery beat by config/celery.py)."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    # Batches whose processing message a broker lost (restarted without persistence).
    "endpoints-telemetry-watchdog": {"task": "endpoints.telemetry_watchdog", "schedule": 300.0},
    "endpoints-retention": {
        "task": "endpoints.retention_sweep",
        "schedule": crontab(hour=3, minute=17),
    },
}
