"""Periodic tasks of the metrics app (merged into the beat schedule by config/celery.py)."""

BEAT_SCHEDULE = {
    # Hourly, because a month ends at a different hour in every tenant's zone; each run makes
    # only the reports that are missing (one per tenant and month).
    "metrics.monthly_reports_all": {"task": "metrics.monthly_reports_all", "schedule": 3600.0},
}
