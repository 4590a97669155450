"""Words for the numbers: duration and percentage formats, and the executive summary.

`format_duration` is the one duration format of the whole product (tables, charts, API
`display` fields, PDFs), so a figure reads the same everywhere. `executive_summary` turns the
figures the aggregation produces into the paragraph at the top of an SLA report; its input
shape, `Figures`, is the contract between the aggregation code and the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import NotRequired, TypedDict

from metrics.clocks import CLOCKS, CLOCKS_BY_KEY, PHASES, PHASES_BY_KEY, Clock

# --- Formats ------------------------------------------------------------------------------


def _half_up(value: float, digits: int = 0) -> float:
    """Round half away from zero: Python's `round` rounds 2.5 to 2, which readers call a bug."""
    scale = 10**digits
    return math.floor(abs(value) * scale + 0.5) / scale * (1 if value >= 0 else -1)


def _trim(value: float) -> str:
    """One decimal at most, and none when it is zero: "3.5", "3"."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def format_duration(value: timedelta | float) -> str:
    """A duration as people say it: "45 s", "12 min", "3.5 h", "2.1 d".

    `value` is a timedelta or a number of seconds. The unit is chosen after rounding, so
    59.6 minutes reads "1 h", not "60 min". Negative durations (time left on an overdue
    deadline) keep their sign.
    """
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"not a duration: {value!r}")
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if _half_up(seconds) < 60:
        text = f"{_half_up(seconds):.0f} s"
    elif _half_up(seconds / 60) < 60:
        text = f"{_half_up(seconds / 60):.0f} min"
    elif _half_up(seconds / 3600, 1) < 24:
        text = f"{_trim(_half_up(seconds / 3600, 1))} h"
    else:
        text = f"{_trim(_half_up(seconds / 86400, 1))} d"
    return "0 s" if text == "0 s" else sign + text


def format_percent(pct: float) -> str:
    """A whole percentage, except that it never rounds to a false 100% or 0%.

    99.7% of cases within target is not "100%": an auditor would look for the breach that
    the rounding hid. Such values keep one decimal (truncated towards the bound).
    """
    whole = _half_up(pct)
    if whole == 100 and pct < 100:
        return f"{_trim(math.floor(pct * 10) / 10)}%"
    if whole == 0 and pct > 0:
        return f"{_trim(math.ceil(pct * 10) / 10)}%"
    return f"{whole:.0f}%"


# --- The figures contract -----------------------------------------------------------------


class Stats(TypedDict):
    """One phase x clock over one period. Durations are seconds (JSON-ready as they are).

    `count` is the number of measured cases (spans classified "ok"); the duration figures are
    None exactly when `count` is 0. `compliance_pct` (0-100) is the share of those cases whose
    SLA span meets its target, None for a clock without SLA or with no cases. `breaches` is
    the number that did not.
    """

    count: int
    mean_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    compliance_pct: float | None
    breaches: int
    # Filled by the aggregation (metrics.selectors), optional for hand-written figures: the
    # extremes and the quartiles behind box plots, the cases judged against a target and
    # those that met it (compliance = met / judged), and the measured cases with paused time.
    min_seconds: NotRequired[float | None]
    max_seconds: NotRequired[float | None]
    p10_seconds: NotRequired[float | None]
    p25_seconds: NotRequired[float | None]
    p75_seconds: NotRequired[float | None]
    judged: NotRequired[int]
    met: NotRequired[int]
    paused: NotRequired[int]


class ClockFigures(Stats):
    """A row of the report: `Stats` for this period plus what only the present knows.

    `phase` and `clock` are keys of `metrics.clocks.PHASES` and `CLOCKS`. `excluded` counts
    the data-quality findings (missing or negative spans). `open_breaches` counts open cases
    already past their target when the figures were computed (breaches in progress).
    `previous` is the same phase x clock for the previous period, or None when unknown; no
    trend is ever stated without it.
    """

    phase: str
    clock: str
    excluded: int
    open_breaches: int
    previous: Stats | None


class Figures(TypedDict):
    """Everything `executive_summary` reads. Example period labels: "October 2026", "Q3 2026".

    `previous_period_label` is None when there is no previous period to compare with.
    """

    period_label: str
    previous_period_label: str | None
    rows: list[ClockFigures]


# --- Sentence helpers ---------------------------------------------------------------------


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _join(items: list[str]) -> str:
    """English list: "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _phase_adjective(phase_key: str) -> str:
    """ "initial-infection", as in "initial-infection cases" (a compound adjective)."""
    return PHASES_BY_KEY[phase_key].label.lower().replace(" ", "-")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _check_stats(stats: Stats, where: str) -> None:
    """Refuse inconsistent figures instead of printing a wrong sentence in a signed report."""
    durations = (stats["mean_seconds"], stats["median_seconds"], stats["p90_seconds"])
    if stats["count"] < 0 or not 0 <= stats["breaches"] <= stats["count"]:
        raise ValueError(f"{where}: count and breaches must satisfy 0 <= breaches <= count")
    if (stats["count"] > 0) != all(d is not None for d in durations):
        raise ValueError(f"{where}: durations must be given exactly when count > 0")
    pct = stats["compliance_pct"]
    if pct is not None and not 0 <= pct <= 100:
        raise ValueError(f"{where}: compliance_pct must be between 0 and 100")


def _index(rows: Iterable[ClockFigures]) -> dict[tuple[str, str], ClockFigures]:
    """Rows by (phase, clock), validated, in the canonical phase and clock order."""
    found: dict[tuple[str, str], ClockFigures] = {}
    for row in rows:
        key = (row["phase"], row["clock"])
        if row["phase"] not in PHASES_BY_KEY or row["clock"] not in CLOCKS_BY_KEY:
            raise ValueError(f"unknown phase or clock in figures: {key}")
        if key in found:
            raise ValueError(f"figures contain {key} twice")
        where = f"{row['phase']}/{row['clock']}"
        _check_stats(row, where)
        if row["previous"] is not None:
            _check_stats(row["previous"], f"{where} (previous)")
        found[key] = row
    order = [(phase.key, clock.key) for phase in PHASES for clock in CLOCKS]
    return {key: found[key] for key in order if key in found}


def _where(row: ClockFigures) -> str:
    """ "triage on an initial-infection case": which clock, on which kind of case."""
    adjective = _phase_adjective(row["phase"])
    article = "an" if adjective[0] in "aeiou" else "a"
    return f"{CLOCKS_BY_KEY[row['clock']].noun} on {article} {adjective} case"


def _breakdown(rows: list[ClockFigures], field: Callable[[ClockFigures], int]) -> list[str]:
    """ "3 for triage", "1 for remediation": totals of `field` per clock, in clock order."""
    parts = []
    for clock in CLOCKS:
        total = sum(field(row) for row in rows if row["clock"] == clock.key)
        if total:
            parts.append(f"{total} for {clock.noun}")
    return parts


# --- Sentences ----------------------------------------------------------------------------

HEADLINE = CLOCKS_BY_KEY["remediate"]  # the clock the design says stops at remediation


def _volume_sentence(headline_rows: list[ClockFigures], period: str) -> str:
    total = sum(row["count"] for row in headline_rows)
    if total == 0:
        return f"No case reached {HEADLINE.noun} in {period}."
    phases = [
        (row["count"], PHASES_BY_KEY[row["phase"]].label.lower())
        for row in headline_rows
        if row["count"]
    ]
    if len(phases) == 1:
        detail = phases[0][1] if total == 1 else f"all {phases[0][1]}"
    else:
        detail = _join([f"{n} {label}" for n, label in phases])
    return f"In {period}, {_count(total, 'case')} reached {HEADLINE.noun} ({detail})."


def _trend_clause(row: ClockFigures, previous_label: str | None) -> str:
    """ ", down from 7.5 h in September 2026", or nothing when there is nothing to compare."""
    previous = row["previous"]
    if previous_label is None or previous is None or previous["median_seconds"] is None:
        return ""
    assert row["median_seconds"] is not None  # only called for rows with cases
    now, before = row["median_seconds"], previous["median_seconds"]
    shown_before = format_duration(before)
    if format_duration(now) == shown_before:
        return f", unchanged from {previous_label}"
    direction = "down" if now < before else "up"
    median = "a median of " if row["count"] == 1 else ""
    return f", {direction} from {median}{shown_before} in {previous_label}"


def _compliance_clause(row: ClockFigures, clock: Clock, previous_label: str | None) -> str:
    pct = row["compliance_pct"]
    if pct is None:
        return ""
    if row["count"] == 1:
        return f"; it {'met' if row['breaches'] == 0 else 'missed'} the {clock.noun} target"
    clause = f"; {format_percent(pct)} met the {clock.noun} target"
    previous = row["previous"]
    if (
        previous_label is not None
        and previous is not None
        and previous["compliance_pct"] is not None
    ):
        clause += f" ({format_percent(previous['compliance_pct'])} in {previous_label})"
    return clause


def _phase_sentence(row: ClockFigures, previous_label: str | None) -> str:
    adjective = _phase_adjective(row["phase"])
    median, mean, p90 = row["median_seconds"], row["mean_seconds"], row["p90_seconds"]
    assert median is not None and mean is not None and p90 is not None  # count > 0
    if row["count"] == 1:
        opening = f"The only {adjective} case reached {HEADLINE.noun} in {format_duration(median)}"
    else:
        opening = (
            f"{_capitalise(adjective)} cases reached {HEADLINE.noun} in a median of "
            f"{format_duration(median)} (mean {format_duration(mean)}, 90th percentile "
            f"{format_duration(p90)}, {row['count']} cases)"
        )
    trend = _trend_clause(row, previous_label)
    return f"{opening}{trend}{_compliance_clause(row, HEADLINE, previous_label)}."


def _breach_sentence(sla_rows: list[ClockFigures], previous_label: str | None) -> str:
    total = sum(row["breaches"] for row in sla_rows)
    comparison = ""
    if previous_label is not None and all(row["previous"] is not None for row in sla_rows):
        before = sum(row["previous"]["breaches"] for row in sla_rows if row["previous"])
        comparison = f" ({before} in {previous_label})"
    if total == 0:
        return f"No SLA target was breached{comparison}."
    if total == 1:
        (row,) = (row for row in sla_rows if row["breaches"])
        return f"Across all SLA clocks, 1 target was breached{comparison}: {_where(row)}."
    parts = _join(_breakdown(sla_rows, lambda row: row["breaches"]))
    return f"Across all SLA clocks, {total} targets were breached{comparison}: {parts}."


def _open_breach_sentence(sla_rows: list[ClockFigures]) -> str:
    total = sum(row["open_breaches"] for row in sla_rows)
    if total == 0:
        return "No open case is past an SLA target."
    if total == 1:
        (row,) = (row for row in sla_rows if row["open_breaches"])
        return f"There is 1 breach in progress: {_where(row)}."
    parts = _join(_breakdown(sla_rows, lambda row: row["open_breaches"]))
    return f"There are {total} breaches in progress on open cases: {parts}."


def _exclusion_sentence(rows: list[ClockFigures]) -> str:
    total = sum(row["excluded"] for row in rows)
    if total == 0:
        return ""
    verb, pronoun = ("was", "it is") if total == 1 else ("were", "they are")
    return (
        f"Data quality: {_count(total, 'measurement')} {verb} excluded because a milestone was "
        f"missing or earlier than detection; {pronoun} listed among the data-quality findings."
    )


def executive_summary(figures: Figures) -> str:
    """One paragraph of plain sentences for the top of an SLA report.

    It leads with remediation (where the clock stops) per phase, then SLA breaches across all
    clocks, breaches in progress and data-quality exclusions; the tables below it carry every
    other figure. A comparison with the previous period is made only where its figure exists.
    """
    rows = list(_index(figures["rows"]).values())
    period = figures["period_label"]
    previous_label = figures["previous_period_label"]
    if not rows:
        return f"No case was measured in {period}."
    headline_rows = [row for row in rows if row["clock"] == HEADLINE.key]
    sla_rows = [row for row in rows if CLOCKS_BY_KEY[row["clock"]].sla]
    sentences = []
    if headline_rows:
        sentences.append(_volume_sentence(headline_rows, period))
        sentences += [_phase_sentence(r, previous_label) for r in headline_rows if r["count"]]
    if sla_rows:
        sentences.append(_breach_sentence(sla_rows, previous_label))
        sentences.append(_open_breach_sentence(sla_rows))
    sentences.append(_exclusion_sentence(rows))
    return " ".join(sentence for sentence in sentences if sentence)
