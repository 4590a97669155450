"""The endpoints app's settings: fleet-wide limits from the environment (config/settings.py
reads them), per-tenant ones from `Tenant.settings["endpoints"]` through typed accessors.

Per tenant (`tenant.settings["endpoints"]`):

| key | default | meaning |
|---|---|---|
| `retention_days` | 90 | observations older than this are deleted by the retention task |
| `heartbeat_interval` | 60 | seconds between agent heartbeats (told to agents) |
| `baseline_minutes` | 60 | autoruns reported this long after an endpoint first appears are |
|   |   | its baseline, not "new persistence" |
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from tenancy.models import Tenant

APP = "endpoints"

# An endpoint is online while its last heartbeat or telemetry is younger than this many
# heartbeat intervals (and at least OFFLINE_MIN_SECONDS): one lost heartbeat is not an outage.
OFFLINE_AFTER_INTERVALS = 3
OFFLINE_MIN_SECONDS = 180


def _positive(tenant: Tenant, key: str, default: int, low: int, high: int) -> int:
    value = tenant.setting(APP, key, default)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return default
    return min(max(value, low), high)


def retention_days(tenant: Tenant) -> int:
    return _positive(tenant, "retention_days", 90, 1, 3650)


def heartbeat_interval(tenant: Tenant) -> int:
    return _positive(tenant, "heartbeat_interval", 60, 10, 3600)


def baseline_window(tenant: Tenant) -> dt.timedelta:
    return dt.timedelta(minutes=_positive(tenant, "baseline_minutes", 60, 0, 7 * 24 * 60))


def offline_after(tenant: Tenant) -> dt.timedelta:
    seconds = max(OFFLINE_AFTER_INTERVALS * heartbeat_interval(tenant), OFFLINE_MIN_SECONDS)
    return dt.timedelta(seconds=seconds)


# -- telemetry limits (environment; README "Configuration") ---------------------------------


def max_body_bytes() -> int:
    """Largest request body as sent (compressed or not): Django's MAX_REQUEST_BYTES."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def max_decompressed_bytes() -> int:
    return getattr(settings, "TELEMETRY_MAX_DECOMPRESSED_BYTES", 64 * 1024 * 1024)


def max_records() -> int:
    return getattr(settings, "TELEMETRY_MAX_RECORDS", 10_000)


def max_future_skew() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "TELEMETRY_MAX_FUTURE_SECONDS", 3600))
