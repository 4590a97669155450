"""The hash chain of the audit trail: how an event is hashed, and how fields are diffed.

Kept free of database access so the hashing rule can be read (and re-implemented by an
auditor) in one screen: SHA-256 over the canonical JSON of the event's fields and the
previous event's hash.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

HASHED_FIELDS = (
    "tenant_id",
    "seq",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "request_id",
    "ip",
    "prev_hash",
)


def audit_value(value: Any) -> Any:
    """A JSON value that survives a database round trip unchanged (for hashing)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal | float | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [audit_value(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, dict):
        return {str(k): audit_value(v) for k, v in value.items()}
    if hasattr(value, "pk"):
        return value.pk
    return str(value)


def event_hash(fields: dict[str, Any]) -> str:
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload["occurred_at"] = fields["occurred_at"].isoformat()
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The audited values of `fields` on a model instance (foreign keys as ids)."""
    values = {}
    for name in fields:
        field = obj._meta.get_field(name)
        attname = getattr(field, "attname", name)
        values[name] = audit_value(getattr(obj, attname))
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{"field": [before, after]} for the fields whose value changed."""
    keys = list(dict.fromkeys([*before, *after]))
    return {
        key: [before.get(key), after.get(key)] for key in keys if before.get(key) != after.get(key)
    }
