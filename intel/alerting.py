"""The seam between intel and the cases app: hits and bad hashes become alerts.

`cases.services.alert_ingest(alerts=[AlertInput, ...])` deduplicates (by `dedup_key`) and
applies the tenant's grouping rules: every `hash_reputation` alert opens a case, an
`ioc_sweep` alert joins the open case of the same `ioc_key`. `case_link` then hangs the
hit and the IOC on that case, so the case shows where the IOC was found.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any


@dataclass
class AlertSpec:
    title: str
    severity: str
    source: str  # ioc_sweep, hash_reputation
    phase: str
    observed_at: dt.datetime
    external_id: str
    dedup_key: str
    endpoint: Any
    ioc_key: str
    raw: dict[str, Any] = field(default_factory=dict)
    attack_techniques: list[str] = field(default_factory=list)
    links: list[tuple[Any, str]] = field(default_factory=list)  # (object, relation)


def _cases():
    return import_module("cases.services")


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def send_alerts(specs: list[AlertSpec]) -> list[int | None]:
    """Ingest the alerts; link each spec's objects to the case its alert is in.

    Returns, per spec, the id of the case the alert ended up in (None if none).
    """
    if not specs:
        return []
    cases = _cases()
    inputs = [
        cases.AlertInput(
            title=spec.title[:300],
            severity=spec.severity,
            source=spec.source,
            phase=spec.phase,
            attack_techniques=list(spec.attack_techniques),
            observed_at=spec.observed_at,
            external_id=spec.external_id[:200],
            dedup_key=spec.dedup_key[:200],
            raw=_json(spec.raw),
            endpoint=spec.endpoint,
            rule_id="",
            ioc_key=spec.ioc_key[:300],
        )
        for spec in specs
    ]
    result = cases.alert_ingest(alerts=inputs)
    case_ids = _case_ids(result, len(specs))
    for spec, case_id in zip(specs, case_ids, strict=True):
        if case_id is None or not spec.links:
            continue
        case = _case(case_id)
        for obj, relation in spec.links:
            cases.case_link(case=case, obj=obj, relation=relation)
    return case_ids


def _case(case_id: int):
    return import_module("cases.models").Case.objects.get(pk=case_id)


def _case_ids(result: Any, count: int) -> list[int | None]:
    """The case of each ingested alert, in input order, from the ingestion's result."""
    alerts = getattr(result, "alerts", None)
    if alerts is None:
        return [None] * count
    ids = []
    for alert in list(alerts)[:count]:
        ids.append(getattr(alert, "case_id", None))
    return ids + [None] * (count - len(ids))
