"""Reads of the metrics app: targets in force, the figures, the lists behind them, the
regulatory deadlines and the breach register, and the panel of the tenant dashboard.

The figures are computed in the database (`metrics.aggregation`) and shaped here into the
`Figures` contract of `metrics.summary`, which the API, the dashboard and the PDF all print.
Every function works in the tenant in context.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.core.cache import cache
from django.urls import NoReverseMatch, get_resolver, reverse
from django.utils import timezone

from metrics import aggregation
from metrics.aggregation import FAR_FUTURE, FAR_PAST, NO_FILTERS, Filters, TargetInterval
from metrics.clocks import (
    CLOCKS,
    CLOCKS_BY_KEY,
    DEFINITIONS_VERSION,
    PHASE_KEYS,
    PHASES,
    PHASES_BY_KEY,
    SLA_CLOCKS,
    methodology_text,
)
from metrics.periods import Period, bucket_label
from metrics.regulatory import REGIMES, DeadlineStatus, deadlines_for
from metrics.summary import ClockFigures, Figures, Stats, executive_summary
from metrics.targets import SEVERITY_KEYS, TargetKey, default_targets, target_in_force
from tenancy.context import current_tenant, require_tenant, set_tenant

from .models import RegulatoryFlag, Report, SlaTarget

# A running clock is "at risk" past this share of its target (the cases app's threshold).
try:
    from cases.sla import AT_RISK_FRACTION
except ImportError:  # pragma: no cover - cases is installed with metrics
    AT_RISK_FRACTION = 0.75

SECONDS_DIGITS = 6  # durations are rounded to the microsecond, the precision of milestones
LIST_LIMIT = 50


def _round(value: float | None, digits: int = SECONDS_DIGITS) -> float | None:
    return None if value is None else round(float(value), digits)


# --- SLA targets ----------------------------------------------------------------------------


def _cache_key(tenant_id: int) -> str:
    return f"metrics:{tenant_id}:sla-targets:v1"


def forget_targets(tenant_id: int) -> None:
    """Drop the cached target table of a tenant (after a change)."""
    cache.delete(_cache_key(tenant_id))


@dataclass(frozen=True)
class TargetTable:
    """Every target a tenant has had: per key, the (effective_from, seconds) changes, the
    default first (in force since forever)."""

    changes: dict[TargetKey, list[tuple[datetime, int | None]]]

    def at(self, phase: str, severity: str, clock: str, moment: datetime) -> timedelta | None:
        history = [
            (start, None if seconds is None else timedelta(seconds=seconds))
            for start, seconds in self.changes.get((phase, severity, clock), [])
        ]
        return target_in_force(history, moment)

    def for_case(self, phase: str, severity: str, moment: datetime) -> dict[str, timedelta]:
        """{clock key: target} in force at `moment`; clocks without a target are left out."""
        found = {clock.key: self.at(phase, severity, clock.key, moment) for clock in SLA_CLOCKS}
        return {key: value for key, value in found.items() if value is not None}

    def intervals(self) -> list[TargetInterval]:
        """The history as [valid_from, valid_to) intervals, for the SQL range join."""
        result = []
        for (phase, severity, clock), history in sorted(self.changes.items()):
            ordered = sorted(history)
            for index, (start, seconds) in enumerate(ordered):
                end = ordered[index + 1][0] if index + 1 < len(ordered) else FAR_FUTURE
                result.append(TargetInterval(phase, severity, clock, start, end, seconds))
        return result

    def uniform(
        self, clock: str, phases: tuple[str, ...], severities: tuple[str, ...], moment: datetime
    ) -> timedelta | None:
        """The target shared by every phase x severity in scope at `moment`, else None
        (a chart draws a target line only when there is one target to draw)."""
        values = {
            self.at(phase, severity, clock, moment)
            for phase in phases or PHASE_KEYS
            for severity in severities or SEVERITY_KEYS
        }
        return values.pop() if len(values) == 1 else None


def target_table() -> TargetTable:
    """The tenant's target table (defaults plus its history), cached per tenant."""
    tenant = require_tenant()
    key = _cache_key(tenant.pk)
    rows = cache.get(key)
    if rows is None:
        rows = list(
            SlaTarget.objects.order_by("effective_from", "id").values_list(
                "phase", "severity", "clock", "effective_from", "target_seconds"
            )
        )
        cache.set(key, rows, 3600)
    changes: dict[TargetKey, list[tuple[datetime, int | None]]] = {
        key: [(FAR_PAST, int(value.total_seconds()))] for key, value in default_targets().items()
    }
    for phase, severity, clock, start, seconds in rows:
        changes.setdefault((phase, severity, clock), []).append((start, seconds))
    return TargetTable(changes)


def targets_for(phase: str, severity: str, at: datetime) -> dict[str, timedelta]:
    """{SLA clock key: target} for a case of this phase and severity detected at `at`, in
    the tenant in context. The cases app's `cases.sla.targets_for(case)` asks this."""
    return target_table().for_case(phase, severity, at)


def targets_in_force(at: datetime | None = None) -> list[dict[str, Any]]:
    """Every phase x severity x SLA clock with its target at `at` (now by default) and
    whether it is the default, in display order."""
    at = at or timezone.now()
    table = target_table()
    defaults = default_targets()
    rows = []
    for phase in PHASES:
        for severity in SEVERITY_KEYS:
            for clock in SLA_CLOCKS:
                value = table.at(phase.key, severity, clock.key, at)
                rows.append(
                    {
                        "phase": phase.key,
                        "severity": severity,
                        "clock": clock.key,
                        "target_seconds": None if value is None else int(value.total_seconds()),
                        "is_default": value == defaults[(phase.key, severity, clock.key)]
                        and len(table.changes[(phase.key, severity, clock.key)]) == 1,
                    }
                )
    return rows


def target_history(before: datetime | None = None) -> list[SlaTarget]:
    """Every change a lead made (newest first), optionally only those effective before."""
    queryset = SlaTarget.objects.order_by("-effective_from", "phase", "severity", "clock")
    if before is not None:
        queryset = queryset.filter(effective_from__lt=before)
    return list(queryset)


# --- the figures ----------------------------------------------------------------------------


def _rolled_up(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the per-bucket sums of one group (counts and totals add, extremes compare)."""
    total: dict[str, Any] = {
        "n": 0,
        "total_u": 0,
        "excluded": 0,
        "judged": 0,
        "met": 0,
        "paused": 0,
        "lo_u": None,
        "hi_u": None,
    }
    for row in rows:
        for key in ("n", "excluded", "judged", "met", "paused"):
            total[key] += row[key] or 0
        total["total_u"] += row["total_u"] or 0
        for key, pick in (("lo_u", min), ("hi_u", max)):
            if row[key] is not None:
                total[key] = row[key] if total[key] is None else pick(total[key], row[key])
    return total


def _seconds(micros: int | None) -> float | None:
    return None if micros is None else _round(micros / 1_000_000)


def _stats(sums: dict[str, Any] | None, pct: dict[str, Any] | None, clock_key: str) -> Stats:
    sums = sums or {}
    pct = pct or {}
    count = int(sums.get("n") or 0)
    judged, met = int(sums.get("judged") or 0), int(sums.get("met") or 0)
    sla = CLOCKS_BY_KEY[clock_key].sla
    return Stats(
        count=count,
        # Exact integer total / count, one correctly rounded division: the same everywhere.
        mean_seconds=_round(sums["total_u"] / (count * 1_000_000)) if count else None,
        median_seconds=_round(pct.get("p50")) if count else None,
        p90_seconds=_round(pct.get("p90")) if count else None,
        compliance_pct=(round(100.0 * met / judged, 6) if sla and judged else None),
        breaches=judged - met,
        min_seconds=_seconds(sums.get("lo_u")) if count else None,
        max_seconds=_seconds(sums.get("hi_u")) if count else None,
        p10_seconds=_round(pct.get("p10")) if count else None,
        p25_seconds=_round(pct.get("p25")) if count else None,
        p75_seconds=_round(pct.get("p75")) if count else None,
        judged=judged,
        met=met,
        paused=int(sums.get("paused") or 0),
    )


def _sums(period: Period, filters: Filters) -> list[dict[str, Any]]:
    return aggregation.clock_sums(
        tenant_id=require_tenant().pk,
        filters=filters,
        lo=period.previous_start,
        hi=period.end,
        split=period.start,
        targets=target_table().intervals(),
        granularity=period.granularity,
        zone=period.zone,
    )


def _figures(
    period: Period,
    filters: Filters,
    sums: list[dict[str, Any]],
    now: datetime,
    window: bool,
) -> Figures:
    tenant = require_tenant()
    intervals = target_table().intervals()
    grouped: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for row in sums:  # at most phases x clocks x buckets rows, never one per case
        grouped.setdefault((int(row["cur"]), row["phase"], row["clock"]), []).append(row)
    totals = {key: _rolled_up(rows) for key, rows in grouped.items()}
    window_ = {"lo": period.previous_start, "hi": period.end, "split": period.start}
    if aggregation.lateral_percentiles_apply(filters, window):
        percentiles = aggregation.lateral_percentiles(
            tenant_id=tenant.pk, filters=filters, **window_
        )
    else:
        percentiles = aggregation.clock_percentiles(
            tenant_id=tenant.pk, filters=filters, targets=intervals, window=window, **window_
        )
    pct = {(int(r["cur"]), r["phase"], r["clock"]): r for r in percentiles}
    open_counts = aggregation.open_breach_counts(
        tenant_id=tenant.pk, filters=filters, now=now, targets=intervals
    )
    rows: list[ClockFigures] = []
    for phase in filters.phases or PHASE_KEYS:
        for clock in CLOCKS:
            current = totals.get((1, phase, clock.key))
            rows.append(
                ClockFigures(
                    phase=phase,
                    clock=clock.key,
                    **_stats(current, pct.get((1, phase, clock.key)), clock.key),
                    excluded=int((current or {}).get("excluded") or 0),
                    open_breaches=open_counts.get((phase, clock.key), 0),
                    previous=_stats(
                        totals.get((0, phase, clock.key)),
                        pct.get((0, phase, clock.key)),
                        clock.key,
                    ),
                )
            )
    return Figures(
        period_label=period.label, previous_period_label=period.previous_label, rows=rows
    )


def _trend(period: Period, sums: list[dict[str, Any]], clocks: tuple[str, ...] = ()) -> dict:
    points = []
    for row in sums:
        if row["bucket"] is None or not row["n"] or (clocks and row["clock"] not in clocks):
            continue
        sla = CLOCKS_BY_KEY[row["clock"]].sla
        points.append(
            {
                "period": "current" if int(row["cur"]) else "previous",
                "bucket": row["bucket"].isoformat(),
                "phase": row["phase"],
                "clock": row["clock"],
                "count": row["n"],
                "mean_seconds": _round(row["total_u"] / (row["n"] * 1_000_000)),
                "compliance_pct": (
                    round(100.0 * row["met"] / row["judged"], 6) if sla and row["judged"] else None
                ),
            }
        )
    points.sort(key=lambda p: (p["period"], p["bucket"], p["phase"], p["clock"]))
    return {
        "granularity": period.granularity,
        "buckets": [day.isoformat() for day in period.buckets()],
        "previous_buckets": [day.isoformat() for day in period.buckets(period.previous)],
        "points": points,
    }


def compute_figures_and_trend(
    *,
    period: Period,
    filters: Filters,
    now: datetime | None = None,
    trend_clocks: tuple[str, ...] = (),
    window: bool = False,
) -> tuple[Figures, dict[str, Any]]:
    """The `Figures` (every phase x clock in scope for the period, with the previous period
    and the breaches in progress at `now`) and the trend, from three statements: sums per
    trend bucket, percentiles, running clocks."""
    sums = _sums(period, filters)
    figures = _figures(period, filters, sums, now or timezone.now(), window)
    return figures, _trend(period, sums, trend_clocks)


def compute_figures(
    *, period: Period, filters: Filters, now: datetime | None = None, window: bool = False
) -> Figures:
    """Every phase x clock in scope for the period: the `Figures` every consumer prints."""
    return compute_figures_and_trend(period=period, filters=filters, now=now, window=window)[0]


def compute_trend(
    *, period: Period, filters: Filters, clocks: tuple[str, ...] = (), window: bool = False
) -> dict[str, Any]:
    """Mean (MTTx), count and compliance per trend bucket, for the period and the previous
    one (bucket i of each align on a chart). `window` is accepted for symmetry: the trend
    has no percentile."""
    return _trend(period, _sums(period, filters), clocks)


def compute_dwell(*, period: Period, filters: Filters, window: bool = False) -> list[dict]:
    """Dwell time per phase for the period (and the previous one)."""
    tenant = require_tenant()
    rows = aggregation.dwell_stats(
        tenant_id=tenant.pk,
        filters=filters,
        lo=period.previous_start,
        hi=period.end,
        split=period.start,
        window=window,
    )
    found = {(int(r["cur"]), r["phase"]): r for r in rows}
    result = []
    for phase in filters.phases or PHASE_KEYS:
        entry: dict[str, Any] = {"phase": phase, "label": PHASES_BY_KEY[phase].label}
        for cur, name in ((1, "current"), (0, "previous")):
            row = found.get((cur, phase)) or {}
            count = int(row.get("n") or 0)
            entry[name] = {
                "count": count,
                "mean_seconds": _round(row.get("mean")) if count else None,
                "median_seconds": _round(row.get("p50")) if count else None,
                "p90_seconds": _round(row.get("p90")) if count else None,
            }
        result.append(entry)
    return result


def _urlconf_loaded() -> None:
    """Import the URLconf, and with it every view module, outside any tenant context.

    A queryset built while a tenant is in context is filtered by that tenant for good; a
    view module imported then (by a first `reverse()` in a worker or a test) would keep its
    class-level querysets bound to that tenant for the life of the process.
    """
    resolver = get_resolver()
    if "url_patterns" in resolver.__dict__:  # a cached_property: imported already
        return
    tenant = current_tenant()
    set_tenant(None)
    try:
        resolver.url_patterns  # noqa: B018 - the import is the point
    finally:
        set_tenant(tenant)


_URL_SENTINEL = 987654321987


def case_url(case_id: int) -> str | None:
    """The case page of the cases app, or None while it does not exist. Resolved once per
    tenant and filled in (a list of 20,000 clocks reversed each URL in 0.4 s)."""
    tenant = current_tenant()
    if tenant is None:
        return None
    pattern = _case_url_pattern(tenant.slug)
    return None if pattern is None else pattern.replace(str(_URL_SENTINEL), str(int(case_id)))


@lru_cache(maxsize=1024)
def _case_url_pattern(slug: str) -> str | None:
    _urlconf_loaded()
    try:
        return reverse("cases:case-detail", kwargs={"tenant_slug": slug, "pk": _URL_SENTINEL})
    except NoReverseMatch:
        return None


def _clock_row(row: dict[str, Any]) -> dict[str, Any]:
    target = row.get("target_s")
    return {
        "case_id": row["id"],
        "case_number": row["number"],
        "case_title": row.get("title", ""),
        "case_url": case_url(row["id"]),
        "phase": row["phase"],
        "severity": row["severity"],
        "clock": row["clock"],
        "detected_at": row["detected_at"],
        "target_seconds": None if target is None else int(target),
        "elapsed_seconds": _round(row["elapsed_seconds"]),
        "paused_seconds": _round(row["paused_seconds"]),
        "overdue_seconds": (
            _round(row["elapsed_seconds"] - int(target)) if target is not None else None
        ),
        "breached": row["breached"],
        "paused_now": row.get("paused_at") is not None,
    }


def open_clocks(
    *,
    filters: Filters = NO_FILTERS,
    now: datetime | None = None,
    fraction: float = 1.0,
    limit: int | None = LIST_LIMIT,
) -> list[dict[str, Any]]:
    """Running clocks at or past `fraction` of their target, most overdue first. With the
    default fraction these are the breaches in progress (strictly past the target)."""
    tenant = require_tenant()
    rows = aggregation.open_clock_rows(
        tenant_id=tenant.pk,
        filters=filters,
        now=now or timezone.now(),
        targets=target_table().intervals(),
        fraction=fraction,
        limit=limit,
    )
    items = [_clock_row(row) for row in rows]
    if fraction >= 1.0:
        items = [item for item in items if item["breached"]]
    return items


def _span_item(row: dict[str, Any]) -> dict[str, Any]:
    reasons = [r for r in (row.get("change_reasons"), row.get("pause_reasons")) if r]
    target = row["target_seconds"]
    met = row["met"]
    return {
        "case_id": row["id"],
        "case_number": row["number"],
        "phase": row["phase"],
        "severity": row["severity"],
        "clock": row["clock"],
        "status": row["status"],
        "detected_at": row["detected_at"],
        "milestone_at": row["milestone_at"],
        "raw_seconds": _round(row["raw_seconds"]),
        "paused_seconds": _round(row["paused_seconds"]),
        "sla_seconds": _round(row["sla_seconds"]),
        "target_seconds": None if target is None else int(target),
        "over_seconds": (
            _round(row["sla_seconds"] - int(target))
            if target is not None and row["sla_seconds"] is not None
            else None
        ),
        "met": None if met is None else bool(met),
        "reason": "; ".join(reasons),
    }


def _span_list(period: Period, filters: Filters, **options: Any) -> list[dict[str, Any]]:
    rows = aggregation.span_rows(
        tenant_id=require_tenant().pk,
        filters=filters,
        start=period.start,
        end=period.end,
        targets=target_table().intervals(),
        **options,
    )
    return [_span_item(row) for row in rows]


def breach_list(
    *, period: Period, filters: Filters, limit: int | None = None
) -> list[dict[str, Any]]:
    """Every measured span of the period that missed its target, worst first, with the
    reasons recorded on the case (corrections, reopenings, pauses)."""
    return _span_list(period, filters, only="breaches", limit=limit, with_reasons=True)


def findings(*, period: Period, filters: Filters, limit: int | None = None) -> list[dict]:
    """The data-quality findings of the period: spans excluded as missing or negative."""
    return _span_list(period, filters, only="findings", limit=limit)


SPAN_COLUMNS = (
    "case_number",
    "phase",
    "severity",
    "clock",
    "status",
    "detected_at",
    "milestone_at",
    "raw_seconds",
    "paused_seconds",
    "sla_seconds",
    "target_seconds",
    "met",
)


def iter_spans(*, period: Period, filters: Filters) -> Iterator[list]:
    """Every span of the period (measured or found wanting), as CSV rows of SPAN_COLUMNS."""
    rows = aggregation.iter_span_rows(
        tenant_id=require_tenant().pk,
        filters=filters,
        start=period.start,
        end=period.end,
        targets=target_table().intervals(),
    )
    for row in rows:
        met = row["met"]
        yield [
            row["number"],
            row["phase"],
            row["severity"],
            row["clock"],
            row["status"],
            _iso(row["detected_at"]),
            _iso(row["milestone_at"]),
            _fixed(row["raw_seconds"]),
            _fixed(row["paused_seconds"]),
            _fixed(row["sla_seconds"]),
            "" if row["target_seconds"] is None else int(row["target_seconds"]),
            "" if met is None else ("yes" if met else "no"),
        ]


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _fixed(value: float | None) -> str:
    return "" if value is None else f"{float(value):.6f}"


# --- the whole picture ------------------------------------------------------------------------


def metrics_snapshot(
    *,
    period: Period,
    filters: Filters,
    now: datetime | None = None,
    trend_clocks: tuple[str, ...] = (),
    with_dwell: bool = True,
) -> dict[str, Any]:
    """What `/api/v1/metrics/mttr/` returns: every figure, the trend, the breaches in
    progress and dwell, with the definitions' version. A constant number of statements."""
    now = now or timezone.now()
    figures, trend = compute_figures_and_trend(
        period=period, filters=filters, now=now, trend_clocks=trend_clocks
    )
    in_progress = open_clocks(filters=filters, now=now)
    return {
        "definitions_version": DEFINITIONS_VERSION,
        "generated_at": now,
        "period": period.as_dict(),
        "filters": filters.as_dict(),
        "figures": figures,
        "summary": executive_summary(figures),
        "trend": trend,
        "breaches_in_progress": in_progress,
        "dwell": compute_dwell(period=period, filters=filters) if with_dwell else [],
        "data_quality": {"excluded": sum(row["excluded"] for row in figures["rows"])},
    }


def trend_series(
    trend: dict[str, Any], clock: str, value: str = "mean_seconds"
) -> dict[str, list[tuple[str, float | None]]]:
    """Chart series for one clock: one line per phase over the current buckets (the mean,
    MTTx), shaped for `metrics.charts.trend_lines`."""
    granularity = trend["granularity"]
    from datetime import date

    labels = [bucket_label(date.fromisoformat(b), granularity) for b in trend["buckets"]]
    series: dict[str, list[tuple[str, float | None]]] = {}
    for phase in PHASES:
        values = {
            p["bucket"]: p[value]
            for p in trend["points"]
            if p["period"] == "current" and p["clock"] == clock and p["phase"] == phase.key
        }
        if values:
            series[phase.label] = [
                (label, values.get(bucket))
                for bucket, label in zip(trend["buckets"], labels, strict=True)
            ]
    return series


# --- regulatory -------------------------------------------------------------------------------


def _notifications(flag: RegulatoryFlag) -> dict[str, datetime]:
    return {n.deadline: n.sent_at for n in flag.notifications.all()}


def flag_deadlines(flag: RegulatoryFlag, now: datetime | None = None) -> list[DeadlineStatus]:
    """The deadlines of one flag at `now` (none when it is documented, not notifiable)."""
    if not flag.notifiable:
        return []
    return deadlines_for(
        flag.regime, flag.anchors(), _notifications(flag), now=now or timezone.now()
    )


def regulatory_flags(case_id: int | None = None):
    queryset = (
        RegulatoryFlag.objects.select_related("case")
        .prefetch_related("notifications")
        .order_by("case__number", "regime")
    )
    if case_id is not None:
        queryset = queryset.filter(case_id=case_id)
    return queryset


def case_regulatory(case, now: datetime | None = None) -> dict[str, Any]:
    """What the case page's regulatory panel shows (`metrics/_case_regulatory.html`):
    every regime the case is flagged under, with its deadlines counting down."""
    now = now or timezone.now()
    flags = list(regulatory_flags(case.pk))
    entries = []
    for flag in flags:
        notifications = {n.deadline: n for n in flag.notifications.all()}
        deadlines = [
            {"status": status, "notification": notifications.get(status.key)}
            for status in flag_deadlines(flag, now)
        ]
        entries.append({"flag": flag, "deadlines": deadlines})
    return {"case": case, "flags": entries, "now": now, "regimes": REGIMES}


def deadline_dict(status: DeadlineStatus) -> dict[str, Any]:
    """One deadline as the API, the pages and the report show it."""
    return {
        "key": status.key,
        "label": status.label,
        "reference": status.reference,
        "due_at": status.due_at,
        "sent_at": status.sent_at,
        "state": status.state,
        "remaining_seconds": (
            None if status.remaining is None else status.remaining.total_seconds()
        ),
    }


def regulatory_deadlines(
    *, start: datetime | None = None, end: datetime | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Every deadline of every notifiable flag that fell due, was met or was missed in
    [start, end) (all of them when no bounds), plus those still overdue at `now`."""
    now = now or timezone.now()
    rows = []
    for flag in regulatory_flags().filter(notifiable=True):
        notifications = {n.deadline: n for n in flag.notifications.all()}
        for status in flag_deadlines(flag, now):
            moments = [m for m in (status.due_at, status.sent_at) if m is not None]
            inside = start is None or any(start <= m < (end or FAR_FUTURE) for m in moments)
            if not inside and status.state != "overdue":
                continue
            sent = notifications.get(status.key)
            rows.append(
                {
                    "case_id": flag.case_id,
                    "case_number": flag.case.number,
                    "regime": flag.regime,
                    "regime_label": REGIMES[flag.regime].label,
                    "deadline": status.key,
                    **deadline_dict(status),
                    "recipient": sent.recipient if sent else "",
                    "notification_reference": sent.reference if sent else "",
                }
            )
    rows.sort(key=lambda r: (r["due_at"] or FAR_FUTURE, r["case_number"], r["deadline"]))
    return rows


def breach_register():
    """GDPR Art. 33(5): every personal-data breach, notified or not, oldest first."""
    return (
        RegulatoryFlag.objects.filter(regime="gdpr")
        .select_related("case")
        .prefetch_related("notifications")
        .order_by("aware_at", "id")
    )


def register_row(flag: RegulatoryFlag, now: datetime | None = None) -> dict[str, Any]:
    """One line of the breach register (the page, the API and the CSV print these)."""
    sent = {n.deadline: n for n in flag.notifications.all()}.get("authority_notification")
    status = next(iter(flag_deadlines(flag, now)), None)
    return {
        "id": flag.pk,
        "case_id": flag.case_id,
        "case_number": flag.case.number,
        "case_title": flag.case.title,
        "aware_at": flag.aware_at,
        "notifiable": flag.notifiable,
        "facts": flag.facts,
        "effects": flag.effects,
        "remedial_action": flag.remedial_action,
        "data_categories": flag.data_categories,
        "subjects_approx": flag.subjects_approx,
        "records_approx": flag.records_approx,
        "not_notified_reason": flag.not_notified_reason,
        "due_at": status.due_at if status else None,
        "notified_at": sent.sent_at if sent else None,
        "recipient": sent.recipient if sent else "",
        "reference": sent.reference if sent else "",
        "state": status.state if status else "not_notifiable",
    }


REGISTER_COLUMNS = (
    "case_number",
    "case_title",
    "aware_at",
    "notifiable",
    "facts",
    "effects",
    "remedial_action",
    "data_categories",
    "subjects_approx",
    "records_approx",
    "due_at",
    "notified_at",
    "recipient",
    "reference",
    "state",
    "not_notified_reason",
)


def register_csv_rows(now: datetime | None = None) -> Iterator[list[Any]]:
    """The breach register as CSV rows (header first), for the page and the API."""
    yield list(REGISTER_COLUMNS)
    now = now or timezone.now()
    for flag in breach_register():
        row = register_row(flag, now)
        yield [
            value.isoformat() if isinstance(value, datetime) else value
            for value in (row[column] for column in REGISTER_COLUMNS)
        ]


# --- reports ----------------------------------------------------------------------------------


def reports():
    return Report.objects.select_related("requested_by").order_by("-requested_at", "-id")


def methodology() -> list[str]:
    return methodology_text()


# --- the tenant dashboard's panel -------------------------------------------------------------


def dashboard_panel(request) -> dict[str, Any]:
    """The metrics panel of the tenant dashboard: breaches in progress first (someone can
    still act on them), then what is about to breach. Two statements."""
    items = open_clocks(fraction=AT_RISK_FRACTION, limit=8)
    return {
        "template": "metrics/_dashboard_panel.html",
        "breaches": [item for item in items if item["breached"]],
        "at_risk": [item for item in items if not item["breached"]],
        "at_risk_pct": round(AT_RISK_FRACTION * 100),
    }
