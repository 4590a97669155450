"""Periodic tasks of the cases app (merged into the beat schedule by config/celery.py)."""

BEAT_SCHEDULE = {
    # Breaches are announced within a minute of the deadline passing.
    "cases.sla_sweep_all": {"task": "cases.sla_sweep_all", "schedule": 60.0},
    "cases.webhook_retry_all": {"task": "cases.webhook_retry_all", "schedule": 60.0},
    # Response actions nobody approved or picked up in time expire within a minute.
    "cases.actions_expire_all": {"task": "cases.actions_expire_all", "schedule": 60.0},
}
