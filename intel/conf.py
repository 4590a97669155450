"""The intel app's per-tenant settings (`tenant.settings["intel"]`), read through typed accessors.

| key | default | meaning |
|---|---|---|
| `retro_hunt` | true | a newly added IOC starts a retro-hunt sweep over stored telemetry |
| `retro_hunt_days` | 30 | how far back a retro-hunt looks |
| `continuous_matching` | true | arriving telemetry is matched against the active IOCs |
| `reputation_check` | true | process, autorun and driver hashes are checked as they arrive |
| `chunk_endpoints` | 250 | endpoints per sweep chunk (one Celery task each) |
| `alert_severity_floor` | `low` | hits of IOCs below it are recorded, raise no alert |

From the environment (per worker process): `STOPCLOCK_SWEEP_CHUNK_PAUSE` (seconds, default 0)
is a pause after each sweep chunk, to spare a database that also serves the web.
"""

from __future__ import annotations

import datetime as dt
import os

from metrics.targets import SEVERITIES_BY_KEY
from tenancy.models import Tenant

APP = "intel"


def _flag(tenant: Tenant, key: str, default: bool) -> bool:
    value = tenant.setting(APP, key, default)
    return value if isinstance(value, bool) else default


def _number(tenant: Tenant, key: str, default: int, low: int, high: int) -> int:
    try:
        value = int(tenant.setting(APP, key, default))
    except (TypeError, ValueError):
        return default
    return min(max(value, low), high)


def retro_hunt(tenant: Tenant) -> bool:
    return _flag(tenant, "retro_hunt", True)


def retro_hunt_window(tenant: Tenant) -> dt.timedelta:
    return dt.timedelta(days=_number(tenant, "retro_hunt_days", 30, 1, 3650))


def continuous_matching(tenant: Tenant) -> bool:
    return _flag(tenant, "continuous_matching", True)


def reputation_check(tenant: Tenant) -> bool:
    return _flag(tenant, "reputation_check", True)


def chunk_endpoints(tenant: Tenant) -> int:
    return _number(tenant, "chunk_endpoints", 250, 1, 100_000)


def alert_severity_floor(tenant: Tenant) -> int:
    key = tenant.setting(APP, "alert_severity_floor", "low")
    severity = SEVERITIES_BY_KEY.get(key) or SEVERITIES_BY_KEY["low"]
    return severity.rank


def chunk_pause() -> float:
    try:
        return max(0.0, min(float(os.environ.get("STOPCLOCK_SWEEP_CHUNK_PAUSE", "0")), 60.0))
    except ValueError:
        return 0.0
