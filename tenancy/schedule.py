"""Periodic tasks of the tenancy app (merged into Celery beat by config/celery.py)."""

BEAT_SCHEDULE = {
    # Messages the broker could not take when their transaction committed (tenancy/outbox.py).
    "tenancy-outbox-drain": {"task": "tenancy.outbox_drain", "schedule": 30.0},
}
