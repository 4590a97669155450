"""What happens to a telemetry batch after it is stored (the `process_telemetry_batch` task).

1. Inventory: persistence items, drivers and process images are upserted into
   `InventoryItem` (first/last seen per endpoint) — what stacking counts, and what decides
   that an autorun was "not seen before on this endpoint".
2. Detection: the tenant's enabled Sigma rules run over the batch's records (one pass,
   `Engine.evaluate`); hits become alerts through the cases app (`detections_to_alerts`).
3. Registered processors: other apps add their own per-batch work without editing this
   module, e.g. intel's hash reputation and continuous IOC matching, from their
   `AppConfig.ready()`:

       from endpoints.processing import register_batch_processor
       register_batch_processor(match_new_telemetry)   # fn(context: BatchContext) -> None

Everything runs in one transaction and every step is idempotent (upserts, dedup keys), so a
task re-delivered after a worker died mid-batch gives the same result.

Which autoruns reach the rules: an autorun record is evaluated only when its item is first
seen on the endpoint in this batch *and* either the agent reports it as created
(`action: create`) or the endpoint's baseline window (`endpoints.baseline_minutes` after it
first appeared, default 60) is over. An agent's first inventory is its baseline, not forty
"new persistence" alerts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from tenancy.context import require_tenant
from tenancy.models import Tenant

from . import conf
from .detection import Engine
from .models import (
    DetectionRule,
    Endpoint,
    InventoryItem,
    Observation,
    RuleException,
    TelemetryBatch,
)
from .observation_fields import FIELDS
from .services import DetectionHit, compile_cached, detections_to_alerts, rules_ensure_builtin

logger = logging.getLogger("stopclock.endpoints")

RECORD_COLUMNS = ("kind", "event_id", "observed_at", *(f.name for f in FIELDS))


@dataclass
class BatchContext:
    """What a batch processor is given: the batch, its endpoint and its new observations.

    `observations` are dicts of the observation columns (None for absent values) plus `id`;
    only rows stored by this batch are there (re-sent records were skipped at ingestion).
    """

    tenant: Tenant
    batch: TelemetryBatch
    endpoint: Endpoint
    observations: list[dict[str, Any]]
    new_autorun_ids: set[int] = field(default_factory=set)
    detections: int = 0
    alerts_result: Any = None


BatchProcessor = Callable[[BatchContext], None]
_processors: dict[str, BatchProcessor] = {}


def register_batch_processor(fn: BatchProcessor, *, name: str | None = None) -> BatchProcessor:
    """Run `fn(context)` for every processed batch, after detection (idempotent by name)."""
    _processors[name or f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def registered_processors() -> dict[str, BatchProcessor]:
    return dict(_processors)


# -- the compiled rules of a tenant, cached per process --------------------------------------

_engines: dict[int, tuple[tuple[Any, ...], Engine]] = {}
_engines_lock = threading.Lock()


def _fingerprint() -> tuple[Any, ...]:
    """Changes whenever a rule or an exception of the tenant changes (services bump
    `updated_at` on both), so a cached engine is rebuilt on the next batch."""
    state = DetectionRule.objects.aggregate(n=Count("id"), changed=Max("updated_at"))
    return (state["n"], state["changed"])


def tenant_engine() -> Engine:
    """The tenant's enabled rules and exceptions, compiled; rebuilt only after a change."""
    tenant = require_tenant()
    fingerprint = _fingerprint()
    cached = _engines.get(tenant.pk)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    rules_ensure_builtin()
    fingerprint = _fingerprint()
    compiled = []
    for row in DetectionRule.objects.filter(enabled=True).order_by("rule_id"):
        try:
            compiled.append(compile_cached(row.yaml))
        except ValueError as exc:  # stored before an engine change; never break the rest
            logger.error("detection rule %s no longer compiles: %s", row.rule_id, exc)
    exceptions: dict[str, list[tuple[str, str]]] = {}
    for rule_id, column, value in RuleException.objects.filter(rule__enabled=True).values_list(
        "rule__rule_id", "field", "value"
    ):
        exceptions.setdefault(rule_id, []).append((column, value))
    engine = Engine(compiled, exceptions=exceptions)
    with _engines_lock:
        _engines[tenant.pk] = (fingerprint, engine)
    return engine


def forget_engines() -> None:
    """Drop every cached engine (tests, and after changing rules outside the services)."""
    with _engines_lock:
        _engines.clear()


# -- inventory -------------------------------------------------------------------------------


def inventory_identity(obs: dict[str, Any]) -> tuple[str, str, str, str, str] | None:
    """(category, type, name, path, sha256) of what an observation inventories, or None."""
    kind = obs["kind"]
    if kind == "autorun":
        item = ("autorun", obs.get("autorun_type") or "", obs.get("item_name"), "target_path")
    elif kind == "driver":
        item = ("driver", "", obs.get("item_name"), "target_path")
    elif kind == "process" or (kind == "process_event" and obs.get("action") in (None, "start")):
        item = ("process", "", obs.get("process_name"), "process_path")
    else:
        return None
    category, item_type, name, path_column = item
    path = obs.get(path_column) or ""
    if not name and not path:
        return None
    name = name or path.replace("/", "\\").rsplit("\\", 1)[-1]
    return category, item_type, name[:512], path[:1024], obs.get("sha256") or ""


def item_key(identity: tuple[str, ...]) -> str:
    return hashlib.md5("\x1f".join(identity).encode(), usedforsecurity=False).hexdigest()


_UPSERT_COLUMNS = (
    "tenant_id",
    "endpoint_id",
    "category",
    "item_type",
    "name",
    "path",
    "sha256",
    "key",
    "first_seen_at",
    "last_seen_at",
    "first_batch_id",
    "first_observation_id",
)
# last_seen_at moves at most once an hour per item: a process started every minute would
# otherwise rewrite its row with every batch.
LAST_SEEN_RESOLUTION = dt.timedelta(hours=1)


def _db_value(value: Any) -> Any:
    """Raw SQL parameters: datetimes as the ORM would store them (naive UTC on SQLite)."""
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _upsert_items(rows: list[tuple[Any, ...]], refresh_before: dt.datetime) -> None:
    table = InventoryItem._meta.db_table
    columns = ", ".join(_UPSERT_COLUMNS)
    one = "(" + ", ".join(["%s"] * len(_UPSERT_COLUMNS)) + ")"
    chunk = 400
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            sql = (  # SQL from our own table and column names; values are parameters
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(part))} "  # noqa: S608
                "ON CONFLICT (tenant_id, endpoint_id, key) DO UPDATE "
                "SET last_seen_at = excluded.last_seen_at "
                f"WHERE {table}.last_seen_at < %s AND {table}.last_seen_at < excluded.last_seen_at"
            )
            params = [_db_value(value) for row in part for value in row]
            cursor.execute(sql, [*params, _db_value(refresh_before)])


def record_inventory(context: BatchContext) -> None:
    """Upsert the batch's inventory items; find the autoruns new to this endpoint."""
    batch, endpoint = context.batch, context.endpoint
    items: dict[str, list[Any]] = {}
    autoruns: list[tuple[dict[str, Any], str]] = []
    for obs in context.observations:
        identity = inventory_identity(obs)
        if identity is None:
            continue
        key = item_key(identity)
        when = obs["observed_at"]
        row = items.get(key)
        if row is None:
            items[key] = [batch.tenant_id, endpoint.pk, *identity, key, when, when, batch.pk,
                          obs["id"]]  # fmt: skip
        else:
            if when < row[8]:
                row[8], row[11] = when, obs["id"]
            row[9] = max(row[9], when)
        if identity[0] == "autorun":
            autoruns.append((obs, key))
    if not items:
        return
    latest = max(row[9] for row in items.values())
    _upsert_items([tuple(row) for row in items.values()], latest - LAST_SEEN_RESOLUTION)
    if not autoruns:
        return
    first_here = set(
        InventoryItem.objects.filter(
            first_batch_id=batch.pk, endpoint_id=endpoint.pk, category="autorun"
        ).values_list("key", flat=True)
    )
    baseline_over = batch.received_at >= endpoint.first_seen_at + conf.baseline_window(
        context.tenant
    )
    for obs, key in autoruns:
        if key in first_here and (baseline_over or obs.get("action") == "create"):
            context.new_autorun_ids.add(obs["id"])


# -- detection -------------------------------------------------------------------------------


def detect(context: BatchContext) -> None:
    """Run the tenant's rules over the batch and send the hits to the cases app."""
    engine = tenant_engine()
    records, ids = [], []
    for obs in context.observations:
        if obs["kind"] == "autorun" and obs["id"] not in context.new_autorun_ids:
            continue
        records.append({k: v for k, v in obs.items() if v is not None and k != "id"})
        ids.append(obs["id"])
    found = engine.evaluate(records)
    context.detections = len(found)
    if found:
        hits = [DetectionHit(d, ids[d.record_index]) for d in found]
        context.alerts_result = detections_to_alerts(endpoint=context.endpoint, hits=hits)


# -- the batch -------------------------------------------------------------------------------


def process_batch(*, batch_id: int) -> BatchContext | None:
    """Inventory, detections and registered processors for one stored batch.

    Returns None when the batch does not exist in the tenant in context (deleted by
    retention, or another tenant's id) or was processed already.
    """
    tenant = require_tenant()
    with transaction.atomic():
        batch = (
            TelemetryBatch.objects.select_for_update()
            .filter(pk=batch_id, status=TelemetryBatch.PENDING)
            .first()
        )
        if batch is None:
            return None
        endpoint = Endpoint.objects.get(pk=batch.endpoint_id)
        observations = list(
            Observation.objects.filter(batch_id=batch.pk, endpoint_id=endpoint.pk)
            .order_by("id")
            .values("id", *RECORD_COLUMNS)
        )
        context = BatchContext(tenant, batch, endpoint, observations)
        record_inventory(context)
        detect(context)
        for name, processor in registered_processors().items():
            try:
                processor(context)
            except Exception:
                logger.exception("batch processor %s failed on batch %s", name, batch.pk)
                raise
        batch.status = TelemetryBatch.PROCESSED
        batch.processed_at = timezone.now()
        batch.detections = context.detections
        batch.save(update_fields=["status", "processed_at", "detections"])
    return context
