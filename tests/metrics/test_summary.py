"""Formats and the executive summary: the words printed above every SLA figure."""

from __future__ import annotations

from datetime import timedelta

import pytest

from metrics.summary import (
    ClockFigures,
    Figures,
    Stats,
    executive_summary,
    format_duration,
    format_percent,
)

H = 3600.0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 s"),
        (0.2, "0 s"),
        (45, "45 s"),
        (59.5, "1 min"),  # rounds up into the next unit
        (12 * 60, "12 min"),
        (12.5 * 60, "13 min"),  # half up, not to even
        (59.6 * 60, "1 h"),
        (5400, "1.5 h"),
        (3.5 * H, "3.5 h"),
        (23.96 * H, "1 d"),
        (2.1 * 24 * H, "2.1 d"),
        (90 * 24 * H, "90 d"),
        (timedelta(minutes=15), "15 min"),
        (timedelta(minutes=-15), "-15 min"),
        (-0.2, "0 s"),
    ],
)
def test_format_duration_reads_as_people_say_it(value, text):
    assert format_duration(value) == text


def test_format_duration_refuses_nan():
    with pytest.raises(ValueError):
        format_duration(float("nan"))


@pytest.mark.parametrize(
    ("pct", "text"),
    [(100, "100%"), (87.5, "88%"), (0, "0%"), (99.7, "99.7%"), (99.96, "99.9%"), (0.2, "0.2%")],
)
def test_format_percent_never_rounds_to_a_false_100_or_0(pct, text):
    assert format_percent(pct) == text


# --- Executive summary --------------------------------------------------------------------


def stats(count: int, median: float | None = None, pct: float | None = None, breaches: int = 0,
          mean: float | None = None, p90: float | None = None) -> Stats:  # fmt: skip
    return Stats(
        count=count,
        mean_seconds=mean if mean is not None else median,
        median_seconds=median,
        p90_seconds=p90 if p90 is not None else median,
        compliance_pct=pct,
        breaches=breaches,
    )


def row(phase: str, clock: str, current: Stats, *, previous: Stats | None = None,
        excluded: int = 0, open_breaches: int = 0) -> ClockFigures:  # fmt: skip
    return ClockFigures(
        phase=phase,
        clock=clock,
        excluded=excluded,
        open_breaches=open_breaches,
        previous=previous,
        **current,
    )


def figures(*rows: ClockFigures, previous: str | None = "September 2026") -> Figures:
    return Figures(period_label="October 2026", previous_period_label=previous, rows=list(rows))


def test_a_full_month_reads_as_one_paragraph_with_counts_trends_and_breaches():
    text = executive_summary(
        figures(
            row("lateral_movement", "remediate", stats(3, 18 * H, 66.67, 1, 20 * H, 30 * H)),
            row(
                "initial_infection",
                "remediate",
                stats(10, 5.2 * H, 80, 2, mean=6.1 * H, p90=11 * H),
                previous=stats(8, 7.5 * H, 75, 2),
            ),
            row("persistence", "remediate", stats(1, 5 * H, 100), previous=stats(3, 7 * H, 100)),
            row("initial_infection", "triage", stats(12, 540, 91.7, 1), open_breaches=2),
            row("lateral_movement", "contain", stats(3, 540, 100), excluded=1, open_breaches=1),
            row("initial_infection", "close", stats(10, 600), excluded=1),
        )
    )
    assert text == (
        "In October 2026, 14 cases reached remediation (10 initial infection, 1 persistence "
        "and 3 lateral movement). "
        "Initial-infection cases reached remediation in a median of 5.2 h (mean 6.1 h, "
        "90th percentile 11 h, 10 cases), down from 7.5 h in September 2026; 80% met the "
        "remediation target (75% in September 2026). "
        "The only persistence case reached remediation in 5 h, down from a median of 7 h in "
        "September 2026; it met the remediation target. "
        "Lateral-movement cases reached remediation in a median of 18 h (mean 20 h, "
        "90th percentile 1.3 d, 3 cases); 67% met the remediation target. "
        "Across all SLA clocks, 4 targets were breached: 1 for triage and 3 for remediation. "
        "There are 3 breaches in progress on open cases: 2 for triage and 1 for containment. "
        "Data quality: 2 measurements were excluded because a milestone was missing or earlier "
        "than detection; they are listed among the data-quality findings."
    )


def test_nothing_measured_says_so():
    assert executive_summary(figures()) == "No case was measured in October 2026."


def test_zero_cases_use_no_and_the_singular():
    text = executive_summary(
        figures(row("persistence", "remediate", stats(0)), row("persistence", "triage", stats(0)))
    )
    assert text == (
        "No case reached remediation in October 2026. No SLA target was breached. "
        "No open case is past an SLA target."
    )


def test_one_case_uses_the_singular_throughout():
    text = executive_summary(
        figures(
            row("initial_infection", "remediate", stats(1, 60, 0, 1), excluded=1, open_breaches=1),
            previous=None,
        )
    )
    assert text == (
        "In October 2026, 1 case reached remediation (initial infection). "
        "The only initial-infection case reached remediation in 1 min; it missed the "
        "remediation target. "
        "Across all SLA clocks, 1 target was breached: remediation on an initial-infection case. "
        "There is 1 breach in progress: remediation on an initial-infection case. "
        "Data quality: 1 measurement was excluded because a milestone was missing or earlier "
        "than detection; it is listed among the data-quality findings."
    )


def test_many_cases_in_one_phase_say_all():
    text = executive_summary(figures(row("persistence", "remediate", stats(4, H, 100))))
    assert text.startswith("In October 2026, 4 cases reached remediation (all persistence).")


@pytest.mark.parametrize(
    ("previous_label", "previous"),
    [
        (None, stats(5, 2 * H, 50, 3)),  # no previous period at all
        ("September 2026", None),  # a previous period, but no figure for this row
        ("September 2026", stats(0)),  # a previous figure with no cases behind it
    ],
)
def test_no_trend_is_claimed_without_a_previous_figure(previous_label, previous):
    text = executive_summary(
        figures(
            row("persistence", "remediate", stats(4, H, 100), previous=previous),
            previous=previous_label,
        )
    )
    phase_sentence = text.split(". ")[1]
    assert phase_sentence.startswith("Persistence cases reached remediation")
    for word in ("down", "up from", "unchanged", "September"):
        assert word not in phase_sentence


def test_a_change_too_small_to_show_is_unchanged_not_up_or_down():
    text = executive_summary(
        figures(row("persistence", "remediate", stats(4, H, 100), previous=stats(4, H + 30, 100)))
    )
    assert "unchanged from September 2026" in text


def test_breaches_are_compared_with_the_previous_period_when_every_row_has_one():
    text = executive_summary(
        figures(
            row("persistence", "triage", stats(4, 60, 75, 1), previous=stats(5, 60, 60, 2)),
            row("persistence", "scope", stats(4, 60, 75, 1), previous=stats(5, 60, 100, 0)),
        )
    )
    assert "Across all SLA clocks, 2 targets were breached (2 in September 2026): " in text
    assert "1 for triage and 1 for scoping." in text


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([row("reconnaissance", "remediate", stats(0))], "unknown phase or clock"),
        ([row("persistence", "mttr", stats(0))], "unknown phase or clock"),
        ([row("persistence", "triage", stats(0))] * 2, "twice"),
        ([row("persistence", "triage", stats(2, None))], "durations"),
        ([row("persistence", "triage", stats(2, 60, 50, 3))], "breaches"),
        ([row("persistence", "triage", stats(2, 60, 150, 0))], "compliance_pct"),
        ([row("persistence", "triage", stats(1, 60), previous=stats(0, 60))], "previous"),
    ],
)
def test_inconsistent_figures_are_refused_rather_than_printed(rows, message):
    with pytest.raises(ValueError, match=message):
        executive_summary(figures(*rows))
