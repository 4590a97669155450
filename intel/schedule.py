"""Periodic tasks of the intel app (merged into Celery beat by config/celery.py)."""

BEAT_SCHEDULE = {
    # Each TAXII source has its own interval; the dispatcher enqueues the polls that are due.
    "intel-taxii-dispatch": {"task": "intel.taxii_dispatch", "schedule": 60.0},
    # Re-enqueue sweep chunks and imports whose message was lost (a worker died, the
    # broker restarted); done chunks and written batches stay done.
    "intel-watchdog": {"task": "intel.watchdog", "schedule": 300.0},
}
