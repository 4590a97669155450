"""Alert ingestion (the contract other apps call) and the grouping rules."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from endpoints.models import Endpoint
from metrics.clocks import PHASE_KEYS
from metrics.targets import SEVERITY_KEYS
from tenancy.context import require_tenant
from tenancy.services import AuditEntry, audit_record_many
from tenancy.transactions import retrying

from .. import conf, sla
from ..models import (
    ALERT_IN_CASE_STATUSES,
    JOINABLE_CASE_STATUSES,
    Alert,
    AlertExternalRef,
    AlertSource,
    AlertStatus,
    Case,
    GroupingRule,
    MilestoneChange,
    TimelineEntry,
)
from ._base import (
    FUTURE_SKEW,
    TECHNIQUE,
    _case_entry,
    _choice,
    _clean_text,
    _entry,
    _furthest_phase,
    _max_severity,
    _now,
    _pg_advisory_locks,
    _rank,
    _update_row,
)
from .breaches import (
    _refresh_sla_many,
)
from .creation import (
    _absorb,
    _alerts_joined_entry,
    _CaseSpec,
    _join_existing,
    _open_cases,
)


# =============================================================================================
# alert ingestion (the contract other apps call) and grouping rules
# =============================================================================================
@dataclass
class AlertInput:
    """One alert as its source reports it: the argument of `alert_ingest`.

    - `title`, `severity` (metrics.targets.SEVERITY_KEYS), `source` (AlertSource) and
      `observed_at` (timezone-aware; the source's detection time, at most 10 min ahead of us)
      are required.
    - `phase`: one of metrics.clocks.PHASE_KEYS, or "" when the source cannot tell.
    - `attack_techniques`: ATT&CK ids like "T1059.001".
    - `external_id`: the source's own id; re-sending it is a no-op (idempotency).
    - `dedup_key`: alerts with the same key within the tenant's window are one alert seen
      `count` times. Suggested: "rule:<rule_id>:endpoint:<id>" for detections,
      "ioc:<ioc_key>:endpoint:<id>" for sweeps and reputation.
    - `raw`: the source's payload (JSON, at most 64 KiB serialised).
    - `endpoint`: an Endpoint of the tenant, or its id.
    - `rule_id`: the detection rule's id; `ioc_key`: e.g. "sha256:<hex>" (drives the
      "same IOC" grouping rule).
    """

    title: str
    severity: str
    source: str
    observed_at: dt.datetime
    phase: str = ""
    attack_techniques: list[str] = field(default_factory=list)
    external_id: str = ""
    dedup_key: str = ""
    raw: Any = None
    endpoint: Endpoint | int | None = None
    rule_id: str = ""
    ioc_key: str = ""


CREATED, DEDUPLICATED, ALREADY_KNOWN = "created", "deduplicated", "already_known"


@dataclass
class IngestResult:
    """What `alert_ingest` did. `alerts[i]` and `outcomes[i]` answer for input `i`."""

    created: int = 0
    deduplicated: int = 0
    already_known: int = 0
    alerts: list[Alert] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    cases_created: list[Case] = field(default_factory=list)
    cases_joined: list[Case] = field(default_factory=list)


class AlertValidationError(ValidationError):
    """Invalid alerts, by input index: {index: {field: message}}; nothing was written."""

    def __init__(self, errors: dict[int, dict[str, str]]):
        self.errors_by_index = errors
        super().__init__(
            {
                f"alerts.{index}.{name}": [message]
                for index, fields in errors.items()
                for name, message in fields.items()
            }
        )


@dataclass
class _Prepared:
    index: int
    title: str
    severity: str
    source: str
    phase: str
    attack_techniques: list[str]
    observed_at: dt.datetime
    external_id: str
    dedup_key: str
    raw: Any
    endpoint_id: int | None
    rule_id: str
    ioc_key: str


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def _prepare(index: int, item: AlertInput, now: dt.datetime, errors: dict) -> _Prepared | None:
    problems: dict[str, str] = {}

    def text(name: str, value: Any, max_length: int, required: bool = False) -> str:
        try:
            return _clean_text(value, name, max_length, required=required)
        except ValidationError as exc:
            problems[name] = exc.message_dict[name][0]
            return ""

    title = text("title", item.title, 300, required=True)
    severity = item.severity if item.severity in SEVERITY_KEYS else None
    if severity is None:
        problems["severity"] = f"{item.severity!r} is not one of {', '.join(SEVERITY_KEYS)}"
    source = item.source if item.source in AlertSource.values else None
    if source is None:
        problems["source"] = f"{item.source!r} is not one of {', '.join(AlertSource.values)}"
    phase = item.phase or ""
    if phase and phase not in PHASE_KEYS:
        problems["phase"] = f"{phase!r} is not one of {', '.join(PHASE_KEYS)}"
    techniques: list[str] = []
    if not isinstance(item.attack_techniques, list | tuple):
        problems["attack_techniques"] = "a list of ATT&CK technique ids"
    else:
        for technique in item.attack_techniques:
            value = str(technique).strip().upper()
            if not TECHNIQUE.match(value):
                problems["attack_techniques"] = f"{technique!r} is not an ATT&CK id (T1059.001)"
                break
            if value not in techniques:
                techniques.append(value)
        if len(techniques) > 50:
            problems["attack_techniques"] = "at most 50 techniques"
    observed = item.observed_at
    if not isinstance(observed, dt.datetime) or timezone.is_naive(observed):
        problems["observed_at"] = "a timezone-aware date and time is required"
    elif observed > now + FUTURE_SKEW:
        problems["observed_at"] = "is in the future (more than 10 minutes ahead of Stopclock)"
    elif observed.year < 2000:
        problems["observed_at"] = "is before the year 2000"
    external_id = text("external_id", item.external_id, 200)
    dedup_key = text("dedup_key", item.dedup_key, 200)
    rule_id = text("rule_id", item.rule_id, 200)
    ioc_key = text("ioc_key", item.ioc_key, 300)
    raw = {} if item.raw is None else item.raw
    try:
        size = len(json.dumps(raw, allow_nan=False, separators=(",", ":")).encode())
        if size > conf.RAW_MAX_BYTES:
            problems["raw"] = f"{size} bytes serialised; the limit is {conf.RAW_MAX_BYTES}"
        if _has_nul(raw):  # PostgreSQL's jsonb cannot store \u0000
            problems["raw"] = "must not contain the NUL character (\\u0000)"
    except (TypeError, ValueError):
        problems["raw"] = "must be JSON (objects, arrays, strings, finite numbers)"
    endpoint_id: int | None = None
    if isinstance(item.endpoint, Endpoint):
        if item.endpoint.pk is None or item.endpoint.tenant_id != require_tenant().pk:
            problems["endpoint"] = "unknown endpoint"
        endpoint_id = item.endpoint.pk
    elif isinstance(item.endpoint, int) and not isinstance(item.endpoint, bool):
        endpoint_id = item.endpoint
    elif item.endpoint is not None:
        problems["endpoint"] = "an endpoint id"
    if problems:
        errors[index] = problems
        return None
    return _Prepared(
        index=index,
        title=title,
        severity=severity,
        source=source,
        phase=phase,
        attack_techniques=techniques,
        observed_at=observed,
        external_id=external_id,
        dedup_key=dedup_key,
        raw=raw,
        endpoint_id=endpoint_id,
        rule_id=rule_id,
        ioc_key=ioc_key,
    )


def _validate_alerts(alerts: Sequence[AlertInput], now: dt.datetime) -> list[_Prepared]:
    """Check every input before writing anything (all-or-nothing)."""
    if not isinstance(alerts, list | tuple):
        raise ValidationError({"alerts": "a list of AlertInput"})
    if len(alerts) > conf.MAX_ALERTS_PER_BATCH:
        raise ValidationError({"alerts": f"at most {conf.MAX_ALERTS_PER_BATCH} alerts at once"})
    errors: dict[int, dict[str, str]] = {}
    prepared = []
    for index, item in enumerate(alerts):
        if not isinstance(item, AlertInput):
            errors[index] = {"alert": "not an AlertInput"}
            continue
        ready = _prepare(index, item, now, errors)
        if ready is not None:
            prepared.append(ready)
    endpoint_ids = {p.endpoint_id for p in prepared if p.endpoint_id is not None}
    if endpoint_ids:
        known = set(Endpoint.objects.filter(pk__in=endpoint_ids).values_list("pk", flat=True))
        for p in prepared:
            if p.endpoint_id is not None and p.endpoint_id not in known:
                errors.setdefault(p.index, {})["endpoint"] = "unknown endpoint"
    if errors:
        raise AlertValidationError(errors)
    return prepared


def _within(moment: dt.datetime, first: dt.datetime, last: dt.datetime, window) -> bool:
    return first - window <= moment <= last + window


def alert_ingest(*, alerts: Sequence[AlertInput]) -> IngestResult:
    """Take alerts from any source: validate all, then create, deduplicate and group them.

    All-or-nothing: one invalid alert raises `AlertValidationError` ({index: {field:
    message}}) and nothing is written. Then, in one transaction:

    1. **Idempotency** — an alert whose (source, external_id) was seen before is
       "already_known": nothing changes (a SIEM re-sending a batch creates nothing new).
    2. **Deduplication** — an alert whose `dedup_key` matches an open alert (new,
       acknowledged, or in a case that is still being worked) seen within the tenant's
       window (`cases.conf.dedup_window`) bumps that alert's `count` and `first/last_seen_at`
       instead of creating a row; several in one batch fold together the same way.
    3. **Creation** of the rest with bulk inserts, and **grouping**: the tenant's enabled
       `GroupingRule`s, in order, open a case for an alert or add it to an open case (same
       endpoint / same IOC within the window). A joined case's `detected_at` moves to the
       earliest observed time of its alerts and its severity (and phase) escalate, with a
       timeline entry. Alerts no rule takes wait in the queue.
    4. One audit event per created or deduplicated alert and per case touched, and
       `case.created` webhooks after commit.

    A batch of 1,000 alerts costs a few dozen queries, not thousands. Two batches that
    deadlock on PostgreSQL are retried (`tenancy.transactions.retrying`): the victim's
    transaction was rolled back whole, so nothing is written twice.
    """
    return retrying(lambda: _ingest_once(alerts))


def _ingest_once(alerts: Sequence[AlertInput]) -> IngestResult:
    now = _now()
    tenant = require_tenant()
    prepared = _validate_alerts(alerts, now)
    result = IngestResult()
    if not prepared:
        return result
    with transaction.atomic():
        _pg_advisory_locks(
            [f"x:{p.source}:{p.external_id}" for p in prepared if p.external_id]
            + [f"d:{p.dedup_key}" for p in prepared if p.dedup_key]
        )
        # 1. idempotency
        known: dict[tuple[str, str], Alert] = {}
        external_ids = {p.external_id for p in prepared if p.external_id}
        if external_ids:
            sources = {p.source for p in prepared if p.external_id}
            for ref in AlertExternalRef.objects.select_related("alert").filter(
                source__in=sources, external_id__in=external_ids
            ):
                known[(ref.source, ref.external_id)] = ref.alert
        # 2. deduplication candidates
        window = conf.dedup_window(tenant)
        keys = {p.dedup_key for p in prepared if p.dedup_key}
        candidates: dict[str, list[Alert]] = defaultdict(list)
        if keys:
            low = min(p.observed_at for p in prepared) - window
            high = max(p.observed_at for p in prepared) + window
            rows = (
                Alert.objects.filter(
                    dedup_key__in=keys, last_seen_at__gte=low, first_seen_at__lte=high
                )
                .filter(
                    Q(status__in=["new", "acknowledged"])
                    | Q(status__in=ALERT_IN_CASE_STATUSES, case__status__in=JOINABLE_CASE_STATUSES)
                )
                .order_by("-last_seen_at", "-id")
            )
            for alert in rows:
                candidates[alert.dedup_key].append(alert)
        new_alerts: list[Alert] = []
        deduped: dict[int, Alert] = {}
        new_refs: list[AlertExternalRef] = []
        audit: list[AuditEntry] = []
        result.alerts = [None] * len(prepared)  # type: ignore[list-item]
        result.outcomes = [""] * len(prepared)
        for position, p in enumerate(prepared):
            ref_key = (p.source, p.external_id)
            if p.external_id and ref_key in known:
                result.alerts[position] = known[ref_key]
                result.outcomes[position] = ALREADY_KNOWN
                result.already_known += 1
                continue
            match = None
            if p.dedup_key:
                match = next(
                    (
                        alert
                        for alert in candidates.get(p.dedup_key, [])
                        if _within(p.observed_at, alert.first_seen_at, alert.last_seen_at, window)
                    ),
                    None,
                )
            if match is not None:
                match.count += 1
                match.first_seen_at = min(match.first_seen_at, p.observed_at)
                match.last_seen_at = max(match.last_seen_at, p.observed_at)
                match.updated_at = now
                if match.pk is not None:
                    deduped[match.pk] = match
                alert, outcome = match, DEDUPLICATED
                result.deduplicated += 1
            else:
                alert = Alert(
                    title=p.title,
                    severity=p.severity,
                    severity_rank=_rank(p.severity),
                    source=p.source,
                    phase=p.phase,
                    attack_techniques=p.attack_techniques,
                    observed_at=p.observed_at,
                    first_seen_at=p.observed_at,
                    last_seen_at=p.observed_at,
                    received_at=now,
                    external_id=p.external_id,
                    dedup_key=p.dedup_key,
                    rule_id=p.rule_id,
                    ioc_key=p.ioc_key,
                    raw=p.raw,
                    endpoint_id=p.endpoint_id,
                    updated_at=now,
                )
                new_alerts.append(alert)
                if p.dedup_key:
                    candidates[p.dedup_key].insert(0, alert)
                outcome = CREATED
                result.created += 1
            if p.external_id:
                known[ref_key] = alert
                new_refs.append(
                    AlertExternalRef(alert=alert, source=p.source, external_id=p.external_id)
                )
            result.alerts[position] = alert
            result.outcomes[position] = outcome
        # 3. grouping decides each new alert's case before it is inserted
        timeline: list[TimelineEntry] = []
        plan = _plan_grouping(new_alerts, now)
        specs = [
            _CaseSpec(
                title=group.alerts[0].title,
                severity=_max_severity(alert.severity for alert in group.alerts),
                phase=_furthest_phase(alert.phase for alert in group.alerts) or "initial_infection",
                detected_at=min(alert.first_seen_at for alert in group.alerts),
                reason=f"grouping rule \u201c{group.rule.name}\u201d",
            )
            for group in plan.new_cases
        ]
        created_cases = _open_cases(specs, now, audit, timeline)
        for group, case in zip(plan.new_cases, created_cases, strict=True):
            for alert in group.alerts:
                alert.case, alert.status = case, AlertStatus.PROMOTED
        locked = (
            {
                case.pk: case
                for case in Case.objects.select_for_update()
                .filter(pk__in=list(plan.joins))
                .order_by("pk")
            }
            if plan.joins
            else {}
        )
        for case_id, items in plan.joins.items():
            for alert, _reason in items:
                alert.case, alert.status = locked[case_id], AlertStatus.MERGED
        Alert.objects.bulk_create(new_alerts, batch_size=500)
        # alerts that opened a case, in its timeline
        for group, case in zip(plan.new_cases, created_cases, strict=True):
            timeline.append(_alerts_joined_entry(case, group.alerts, group.reason_text, now))
        joined = _join_existing(plan.joins, now, audit, timeline, locked=locked)
        if deduped:
            Alert.objects.bulk_update(
                list(deduped.values()),
                ["count", "first_seen_at", "last_seen_at", "updated_at"],
                batch_size=500,
            )
            earlier = defaultdict(list)
            for alert in deduped.values():
                if alert.case_id is not None:
                    earlier[alert.case_id].append((alert, "a repeat of one of its alerts"))
            earlier_cases = {
                case_id: items for case_id, items in earlier.items() if case_id not in locked
            }
            if earlier_cases:
                _recompute_detection(earlier_cases, now, audit, timeline)
        AlertExternalRef.objects.bulk_create(new_refs, batch_size=500)
        TimelineEntry.objects.bulk_create(timeline, batch_size=500)
        for alert in new_alerts:
            audit.append(
                _entry(
                    "alert.create",
                    alert,
                    {
                        "severity": [None, alert.severity],
                        "source": [None, alert.source],
                        "external_id": [None, alert.external_id],
                        "case": [None, alert.case_id],
                    },
                )
            )
        for alert in deduped.values():
            audit.append(_entry("alert.deduplicate", alert, {"count": [None, alert.count]}))
        audit_record_many(audit)
    result.cases_created = created_cases
    result.cases_joined = joined
    return result


def _recompute_detection(
    items: dict[int, list[tuple[Alert, str]]],
    now: dt.datetime,
    audit: list[AuditEntry],
    timeline: list[TimelineEntry],
) -> None:
    """Cases whose existing alerts were seen earlier than known: detection moves earlier."""
    cases = list(Case.objects.select_for_update().filter(pk__in=list(items)).order_by("pk"))
    milestones: list[MilestoneChange] = []
    changed = []
    for case in cases:
        alerts = [alert for alert, _ in items[case.pk]]
        earliest = min(alert.first_seen_at for alert in alerts)
        if earliest < case.detected_at:
            _absorb(case, alerts, "a repeat of one of its alerts", timeline, milestones, now)
            case.version += 1
            case.updated_at = now
            audit.append(_case_entry("case.detection_recomputed", case))
            changed.append(case)
    if changed:
        MilestoneChange.objects.bulk_create(milestones)
        _refresh_sla_many(changed, now, audit, timeline)
        Case.objects.bulk_update(
            changed,
            [
                "detected_at",
                "severity",
                "severity_rank",
                "phase",
                "version",
                "updated_at",
                *sla.SLA_FIELDS,
            ],
        )


DEFAULT_GROUPING_RULES: tuple[dict[str, Any], ...] = (
    # Joins come first on purpose: a critical alert on a host already under investigation
    # belongs to that incident, not to a second case for the same intrusion.
    {"name": "Same endpoint: join its open case", "action": "join_case", "join_on": "endpoint"},
    {"name": "Same IOC: join its open case", "action": "join_case", "join_on": "ioc_key"},
    {"name": "High and critical alerts open a case", "action": "open_case", "min_severity": "high"},
    {
        "name": "Malicious hash (reputation) opens a case",
        "action": "open_case",
        "source": "hash_reputation",
    },
)


def grouping_rules_ensure() -> list[GroupingRule]:
    """The tenant's rules, seeding the defaults the first time (idempotent).

    Seeding is remembered in the tenant's audit trail rather than by the rows themselves,
    so a tenant that deletes every rule keeps none.
    """
    rules = list(GroupingRule.objects.order_by("order", "id"))
    if rules:
        return rules
    from tenancy.models import AuditEvent

    if AuditEvent.objects.filter(action="grouping_rules.seed").exists():
        return []
    with transaction.atomic():
        created = GroupingRule.objects.bulk_create(
            [
                GroupingRule(order=(index + 1) * 10, **spec)
                for index, spec in enumerate(DEFAULT_GROUPING_RULES)
            ]
        )
        audit_record_many(
            [
                AuditEntry(
                    action="grouping_rules.seed",
                    object_type="cases.groupingrule",
                    object_repr="default grouping rules",
                    changes={"rules": [None, [r["name"] for r in DEFAULT_GROUPING_RULES]]},
                )
            ]
        )
    return list(GroupingRule.objects.filter(pk__in=[r.pk for r in created]).order_by("order"))


@dataclass
class _NewCasePlan:
    rule: GroupingRule
    alerts: list[Alert]

    @property
    def reason_text(self) -> str:
        return f"rule \u201c{self.rule.name}\u201d"


@dataclass
class _Plan:
    new_cases: list[_NewCasePlan] = field(default_factory=list)
    joins: dict[int, list[tuple[Alert, str]]] = field(default_factory=dict)


@dataclass
class _Member:
    target: int | _NewCasePlan  # an existing case id, or a case this batch will open
    first: dt.datetime
    last: dt.datetime


def _rule_applies(rule: GroupingRule, alert: Alert) -> bool:
    if rule.min_severity and _rank(alert.severity) < _rank(rule.min_severity):
        return False
    return not (rule.source and alert.source != rule.source)


def _join_key(rule: GroupingRule, alert: Alert) -> tuple[str, Any] | None:
    if rule.join_on == "endpoint" and alert.endpoint_id:
        return ("endpoint", alert.endpoint_id)
    if rule.join_on == "ioc_key" and alert.ioc_key:
        return ("ioc_key", alert.ioc_key)
    return None


def _plan_grouping(alerts: Sequence[Alert], now: dt.datetime) -> _Plan:
    """Decide, for each new alert, whether it opens a case, joins one, or waits."""
    plan = _Plan()
    if not alerts:
        return plan
    rules = [rule for rule in grouping_rules_ensure() if rule.is_enabled]
    if not rules:
        return plan
    default_window = conf.grouping_window(require_tenant())
    windows = {
        rule.pk: dt.timedelta(minutes=rule.window_minutes)
        if rule.window_minutes
        else default_window
        for rule in rules
    }
    widest = max(windows.values())
    low = min(alert.first_seen_at for alert in alerts) - widest
    high = max(alert.last_seen_at for alert in alerts) + widest
    index: dict[tuple[str, Any], list[_Member]] = defaultdict(list)
    join_on = {rule.join_on for rule in rules if rule.action == GroupingRule.Action.JOIN_CASE}
    open_in_window = Alert.objects.filter(
        case__isnull=False,
        case__status__in=JOINABLE_CASE_STATUSES,
        last_seen_at__gte=low,
        first_seen_at__lte=high,
    )
    if "endpoint" in join_on:
        endpoints = {alert.endpoint_id for alert in alerts if alert.endpoint_id}
        if endpoints:
            for endpoint_id, case_id, first, last in open_in_window.filter(
                endpoint_id__in=endpoints
            ).values_list("endpoint_id", "case_id", "first_seen_at", "last_seen_at"):
                index[("endpoint", endpoint_id)].append(_Member(case_id, first, last))
    if "ioc_key" in join_on:
        iocs = {alert.ioc_key for alert in alerts if alert.ioc_key}
        if iocs:
            for ioc_key, case_id, first, last in open_in_window.filter(
                ioc_key__in=iocs
            ).values_list("ioc_key", "case_id", "first_seen_at", "last_seen_at"):
                index[("ioc_key", ioc_key)].append(_Member(case_id, first, last))
    for alert in sorted(alerts, key=lambda a: a.observed_at):
        for rule in rules:
            if not _rule_applies(rule, alert):
                continue
            if rule.action == GroupingRule.Action.OPEN_CASE:
                target: int | _NewCasePlan = _NewCasePlan(rule=rule, alerts=[alert])
                plan.new_cases.append(target)
            else:
                key = _join_key(rule, alert)
                if key is None:
                    continue
                window = windows[rule.pk]
                members = [
                    member
                    for member in index.get(key, [])
                    if _within(alert.observed_at, member.first, member.last, window)
                ]
                if not members:
                    continue
                target = max(members, key=lambda member: member.last).target
                if isinstance(target, _NewCasePlan):
                    target.alerts.append(alert)
                else:
                    plan.joins.setdefault(target, []).append(
                        (alert, f"rule \u201c{rule.name}\u201d")
                    )
            for key in (("endpoint", alert.endpoint_id), ("ioc_key", alert.ioc_key)):
                if key[1]:
                    index[key].append(_Member(target, alert.first_seen_at, alert.last_seen_at))
            break
    return plan


def grouping_rule_save(
    *,
    rule: GroupingRule | None = None,
    name: str,
    action: str,
    order: int = 0,
    is_enabled: bool = True,
    min_severity: str = "",
    source: str = "",
    join_on: str = "",
    window_minutes: int | None = None,
) -> GroupingRule:
    """Create or change a grouping rule (leads and admins)."""
    grouping_rules_ensure()
    name = _clean_text(name, "name", 200, required=True)
    action = _choice(action, "action", GroupingRule.Action.values)
    if min_severity:
        _choice(min_severity, "min_severity", SEVERITY_KEYS)
    if source:
        _choice(source, "source", AlertSource.values)
    if action == GroupingRule.Action.JOIN_CASE:
        join_on = _choice(join_on, "join_on", GroupingRule.JoinOn.values)
    elif join_on:
        raise ValidationError({"join_on": "only for join_case rules"})
    if window_minutes is not None and not (1 <= int(window_minutes) <= 43_200):
        raise ValidationError({"window_minutes": "between 1 and 43200"})
    values = {
        "name": name,
        "action": action,
        "order": int(order),
        "is_enabled": bool(is_enabled),
        "min_severity": min_severity or "",
        "source": source or "",
        "join_on": join_on or "",
        "window_minutes": window_minutes,
    }
    with transaction.atomic():
        if rule is None:
            rule = GroupingRule.objects.create(**values)
            audit_record_many(
                [_entry("grouping_rule.create", rule, {k: [None, v] for k, v in values.items()})]
            )
        else:
            rule = _update_row(GroupingRule, rule, values, "grouping_rule.update")
    return rule


def grouping_rule_delete(*, rule: GroupingRule) -> None:
    with transaction.atomic():
        audit_record_many([_entry("grouping_rule.delete", rule, {"name": [rule.name, None]})])
        rule.delete()
