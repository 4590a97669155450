"""Figures made readable: KPI tiles, tables, charts and the appendix lines, shared by the
dashboard and the PDF so both show the same thing the same way.

Everything here is a pure function of the `Figures` (and trend) the selectors computed; the
formats come from `metrics.summary` and the drawings from `metrics.charts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import dateformat
from django.utils.timezone import localtime

from metrics import charts
from metrics.clocks import CLOCKS, CLOCKS_BY_KEY, PHASES, PHASES_BY_KEY, SLA_CLOCKS
from metrics.summary import ClockFigures, Figures, Stats, format_duration, format_percent

DEFAULT_COMPLIANCE_GOAL = 90.0
HEADLINE_CLOCK = "remediate"


def compliance_goal(tenant) -> float:
    """The share of cases a tenant wants within target (`settings.metrics.compliance_goal_pct`,
    90 by default); compliance bars below it are marked."""
    value = tenant.setting("metrics", "compliance_goal_pct", DEFAULT_COMPLIANCE_GOAL)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        return DEFAULT_COMPLIANCE_GOAL
    return float(value)


def duration(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(seconds)


def percent(value: float | None) -> str:
    return "—" if value is None else format_percent(value)


def _arrow(now: float | None, before: float | None) -> dict[str, str]:
    """Trend of a duration against the previous period: shorter is better."""
    if now is None or before is None:
        return {"symbol": "", "word": "no comparison", "css": "flat"}
    if format_duration(now) == format_duration(before):
        return {"symbol": "→", "word": "unchanged", "css": "flat"}
    if now < before:
        return {"symbol": "↓", "word": f"down from {format_duration(before)}", "css": "better"}
    return {"symbol": "↑", "word": f"up from {format_duration(before)}", "css": "worse"}


def kpi_tiles(figures: Figures) -> list[dict[str, Any]]:
    """Per phase, one tile per SLA clock: the mean (MTTx), median, p90, n, compliance and
    the arrow against the previous period's mean."""
    by_key = {(row["phase"], row["clock"]): row for row in figures["rows"]}
    phases = []
    for phase in PHASES:
        tiles = []
        for clock in SLA_CLOCKS:
            row = by_key.get((phase.key, clock.key))
            if row is None:
                continue
            previous = row["previous"] or {}
            tiles.append(
                {
                    "clock": clock,
                    "row": row,
                    "mean": duration(row["mean_seconds"]),
                    "median": duration(row["median_seconds"]),
                    "p90": duration(row["p90_seconds"]),
                    "compliance": percent(row["compliance_pct"]),
                    "arrow": _arrow(row["mean_seconds"], previous.get("mean_seconds")),
                }
            )
        if tiles:
            phases.append({"phase": phase, "tiles": tiles})
    return phases


def table_rows(figures: Figures) -> list[dict[str, Any]]:
    """One formatted row per phase x clock, in the canonical order."""
    rows = []
    for row in figures["rows"]:
        clock = CLOCKS_BY_KEY[row["clock"]]
        previous: Stats | None = row["previous"]
        rows.append(
            {
                "phase": PHASES_BY_KEY[row["phase"]],
                "clock": clock,
                "count": row["count"],
                "mean": duration(row["mean_seconds"]),
                "median": duration(row["median_seconds"]),
                "p90": duration(row["p90_seconds"]),
                "min": duration(row.get("min_seconds")),
                "max": duration(row.get("max_seconds")),
                "compliance": percent(row["compliance_pct"]) if clock.sla else "no SLA",
                "breaches": row["breaches"] if clock.sla else "—",
                "open_breaches": row["open_breaches"] if clock.sla else "—",
                "excluded": row["excluded"],
                "paused": row.get("paused", 0),
                "previous_median": duration(previous["median_seconds"]) if previous else "—",
                "arrow": _arrow(
                    row["median_seconds"], previous["median_seconds"] if previous else None
                ),
                "raw": row,
            }
        )
    return rows


def _quantiles(row: ClockFigures) -> charts.Quantiles | None:
    if not row["count"]:
        return None
    return charts.Quantiles(
        count=row["count"],
        p10=row["p10_seconds"],
        p25=row["p25_seconds"],
        median=row["median_seconds"],
        p75=row["p75_seconds"],
        p90=row["p90_seconds"],
    )


def distribution_chart(
    figures: Figures, clock_key: str, target: timedelta | None, width: int = charts.WIDTH
) -> str:
    """Box plot of one clock: a box per phase in scope."""
    clock = CLOCKS_BY_KEY[clock_key]
    series = {
        PHASES_BY_KEY[row["phase"]].label: _quantiles(row)
        for row in figures["rows"]
        if row["clock"] == clock_key
    }
    return charts.box_plot_quantiles(
        series,
        charts.SECONDS,
        None if target is None else target.total_seconds(),
        title=f"{clock.label} by phase, {figures['period_label']}",
        width=width,
    )


def trend_chart(
    series: dict[str, list[tuple[str, float | None]]],
    clock_key: str,
    target: timedelta | None,
    period_label: str,
    width: int = charts.WIDTH,
) -> str:
    clock = CLOCKS_BY_KEY[clock_key]
    return charts.trend_lines(
        series,
        charts.SECONDS,
        None if target is None else target.total_seconds(),
        title=f"{clock.abbreviation} (mean {clock.label.lower()}), {period_label}",
        width=width,
    )


def compliance_chart(
    figures: Figures, goal: float, phase: str | None = None, width: int = charts.WIDTH
) -> str:
    """Compliance per phase x SLA clock (or one phase's clocks), with the tenant's goal."""
    items = [
        (
            f"{CLOCKS_BY_KEY[row['clock']].label}"
            if phase
            else f"{PHASES_BY_KEY[row['phase']].label}: {CLOCKS_BY_KEY[row['clock']].noun}",
            row["compliance_pct"],
        )
        for row in figures["rows"]
        if CLOCKS_BY_KEY[row["clock"]].sla and (phase is None or row["phase"] == phase)
    ]
    title = "SLA compliance" + (f", {PHASES_BY_KEY[phase].label.lower()}" if phase else "")
    return charts.compliance_bars(
        items, goal, title=f"{title}, {figures['period_label']}", width=width
    )


def _fixed(value: float | int | None) -> str:
    return "-" if value is None else f"{float(value):.6f}"


def appendix_lines(figures: Figures) -> list[str]:
    """The figures in seconds, one line per phase x clock, for auditors (and tests) to
    compare with the API to the microsecond."""
    lines = []
    for row in figures["rows"]:
        lines.append(
            " ".join(
                [
                    f"{row['phase']}/{row['clock']}",
                    f"n={row['count']}",
                    f"mean={_fixed(row['mean_seconds'])}",
                    f"median={_fixed(row['median_seconds'])}",
                    f"p90={_fixed(row['p90_seconds'])}",
                    f"min={_fixed(row.get('min_seconds'))}",
                    f"max={_fixed(row.get('max_seconds'))}",
                    f"compliance={_fixed(row['compliance_pct'])}",
                    f"breaches={row['breaches']}",
                    f"excluded={row['excluded']}",
                    f"open={row['open_breaches']}",
                ]
            )
        )
    return lines


def clock_choices() -> list[tuple[str, str]]:
    return [(clock.key, clock.label) for clock in CLOCKS]


# --- fixed-width listings (the long lists of the PDF) ------------------------------------------

LISTING_CHUNK = 50  # lines under one header: about half a page


@dataclass(frozen=True)
class Column:
    label: str
    value: Callable[[dict[str, Any]], str]
    right: bool = False


@dataclass(frozen=True)
class Listing:
    """A long list as aligned monospace lines, header repeated every `LISTING_CHUNK` lines;
    the last column (free text) wraps under itself (`indent` characters in)."""

    header: str
    chunks: list[list[str]]
    indent: int


def listing(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> Listing:
    """Lay out `rows` as a listing. A table cell costs WeasyPrint a box, a line box and a
    width computation; a line of a listing costs one: 1,500 printed rows lay out in about a
    second instead of eight."""
    values = [[column.value(row) for column in columns] for row in rows]
    widths = [
        max([len(column.label), *(len(line[i]) for line in values)])
        for i, column in enumerate(columns[:-1])
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if column.right else cell.ljust(width)
            for cell, width, column in zip(cells, widths, columns, strict=False)
        ]
        return "  ".join([*padded, cells[-1]])

    lines = [line(cells) for cells in values]
    return Listing(
        header=line([column.label for column in columns]),
        chunks=[lines[i : i + LISTING_CHUNK] for i in range(0, len(lines), LISTING_CHUNK)],
        indent=sum(widths) + 2 * len(widths),
    )


def _moment(value: datetime | None) -> str:
    return "—" if value is None else dateformat.format(localtime(value), "j M Y H:i")


def _text(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: str(row[key])


def _duration(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: duration(row[key])


CASE_CLOCK = (
    Column("Case", _text("case_number")),
    Column("Phase", _text("phase")),
    Column("Severity", _text("severity")),
    Column("Clock", _text("clock")),
    Column("Target", _duration("target_seconds"), right=True),
)
BREACH_LISTING = (
    *CASE_CLOCK,
    Column("Actual", _duration("sla_seconds"), right=True),
    Column("Over by", _duration("over_seconds"), right=True),
    Column("Reason recorded", lambda r: r["reason"] or "none recorded"),
)
FINDING_LISTING = (
    Column("Case", _text("case_number")),
    Column("Phase", _text("phase")),
    Column("Clock", _text("clock")),
    Column("Detected", lambda r: _moment(r["detected_at"])),
    Column("Milestone", lambda r: _moment(r["milestone_at"])),
    Column(
        "Finding",
        lambda r: "milestone missing" if r["status"] == "missing" else "milestone before detection",
    ),
)
RISK_LISTING = (
    *CASE_CLOCK,
    Column("Elapsed", _duration("elapsed_seconds"), right=True),
    Column("Paused", _duration("paused_seconds"), right=True),
    Column(
        "State",
        lambda r: (
            ("breached" if r["breached"] else "at risk") + (", paused" if r["paused_now"] else "")
        ),
    ),
)
