"""Periodic tasks of the endpoints app (merged into Celery beat by config/celery.py)."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "endpoints-retention": {
        "task": "endpoints.retention_sweep",
        "schedule": crontab(hour=3, minute=17),
    },
}
