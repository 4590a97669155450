"""Typed accessors for the cases app's per-tenant settings (`Tenant.settings["cases"]`).

Nothing else reads `tenant.settings["cases"]` by hand: a wrong type in the JSON falls back to
the default here (and a value out of range is clamped), so a typo in an admin's settings
cannot stop ingestion.

    {"cases": {"dedup_window_minutes": 1440, "grouping_window_minutes": 1440,
               "evidence_max_bytes": 52428800,
               "approval_required_types": ["kill_process", "isolate_endpoint", ...],
               "action_delivery_minutes": 60, "action_approval_minutes": 1440,
               "action_result_minutes": 120}}
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
# Response actions: one bulk reaches at most this many endpoints, created in chunks.
MAX_BULK_ENDPOINTS = 10_000
BULK_CHUNK_SIZE = 250
MAX_ACTION_OUTPUT_CHARS = 10_000


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


def approval_required_types(tenant: Tenant | None) -> frozenset[str]:
    """Action types that need a lead's (or admin's) approval: by default every destructive
    type; an admin changes the list (`cases.actions.services.action_settings_update`)."""
    from .actions.registry import ACTION_TYPES, DESTRUCTIVE_TYPES

    value: Any = tenant.setting(APP, "approval_required_types", None) if tenant else None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return frozenset(DESTRUCTIVE_TYPES)
    return frozenset(v for v in value if v in ACTION_TYPES)


def action_delivery_window(tenant: Tenant | None) -> timedelta:
    """How long a queued action waits for its agent before it expires (1 min-24 h); also
    the signed payload's validity."""
    return timedelta(minutes=_int(tenant, "action_delivery_minutes", 60, 1, 1440))


def action_approval_window(tenant: Tenant | None) -> timedelta:
    """How long an action waits for approval before it expires (10 min-7 d)."""
    return timedelta(minutes=_int(tenant, "action_approval_minutes", 24 * 60, 10, 7 * 24 * 60))


def action_result_timeout(tenant: Tenant | None) -> timedelta:
    """How long after pick-up an agent has to report before the action fails (5 min-7 d)."""
    return timedelta(minutes=_int(tenant, "action_result_minutes", 120, 5, 7 * 24 * 60))
