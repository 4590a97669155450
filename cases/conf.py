"""Typed accessors for the cases app's per-tenant settings (`Tenant.settings["cases"]`).

Nothing else reads `tenant.settings["cases"]` by hand: a wrong type in the JSON falls back to
the default here (and a value out of range is clamped), so a typo in an admin's settings
cannot stop ingestion.

    {"cases": {"dedup_window_minutes": 1440, "grouping_window_minutes": 1440,
               "evidence_max_bytes": 52428800}}
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tenancy.models import Tenant

APP = "cases"
DEFAULT_DEDUP_WINDOW_MINUTES = 24 * 60
DEFAULT_GROUPING_WINDOW_MINUTES = 24 * 60
DEFAULT_EVIDENCE_MAX_BYTES = 50 * 1024 * 1024
# Not per tenant: the raw payload is a copy of the source's alert, not a file store.
RAW_MAX_BYTES = 64 * 1024
MAX_ALERTS_PER_BATCH = 1000
MAX_CASES_PER_BULK = 500


def _int(tenant: Tenant | None, key: str, default: int, low: int, high: int) -> int:
    value: Any = tenant.setting(APP, key, default) if tenant is not None else default
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return max(low, min(high, value))


def dedup_window(tenant: Tenant | None) -> timedelta:
    """How close in time two alerts with one dedup key must be to count as one (1 min-30 d)."""
    return timedelta(
        minutes=_int(tenant, "dedup_window_minutes", DEFAULT_DEDUP_WINDOW_MINUTES, 1, 43_200)
    )


def grouping_window(tenant: Tenant | None) -> timedelta:
    """The default window of the "join the open case" grouping rules (1 min-30 d)."""
    return timedelta(
        minutes=_int(tenant, "grouping_window_minutes", DEFAULT_GROUPING_WINDOW_MINUTES, 1, 43_200)
    )


def evidence_max_bytes(tenant: Tenant | None) -> int:
    """The largest evidence file accepted (1 KiB-1 GiB)."""
    return _int(tenant, "evidence_max_bytes", DEFAULT_EVIDENCE_MAX_BYTES, 1024, 1024**3)
