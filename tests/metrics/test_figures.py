"""The aggregation on the hand-computed story (tests/fixtures/metrics.py): every figure of
October 2026 and September 2026, the lists behind them, and the same numbers three ways
(the database's path, the portable window-function path, spans loaded into Python)."""

from __future__ import annotations

import datetime as dt

import pytest

from metrics import selectors
from metrics.aggregation import Filters
from metrics.clocks import CLOCKS, measure, percentile
from metrics.periods import parse_period
from tenancy.context import tenant_context
from tests.fixtures.metrics import (
    EXPECTED,
    EXPECTED_BREACHES,
    EXPECTED_FINDINGS,
    EXPECTED_OPEN_BREACHES,
    EXPECTED_PREVIOUS,
    H,
    M,
)

pytestmark = pytest.mark.django_db

FIGURE_KEYS = (
    "count",
    "mean_seconds",
    "median_seconds",
    "p90_seconds",
    "min_seconds",
    "max_seconds",
    "compliance_pct",
    "breaches",
)


def _october():
    return parse_period({"period": "2026-10"}, "UTC")


def _figures(story, **filters):
    with tenant_context(story.tenant):
        return selectors.compute_figures(
            period=_october(), filters=Filters(**filters), now=story.now
        )


def _by_key(figures):
    return {(row["phase"], row["clock"]): row for row in figures["rows"]}


def test_every_figure_of_october_is_the_hand_computed_one(metrics_story):
    rows = _by_key(_figures(metrics_story))
    assert set(rows) == set(EXPECTED)
    for key, expected in EXPECTED.items():
        got = {name: rows[key][name] for name in (*FIGURE_KEYS, "excluded", "open_breaches")}
        assert got == expected, key


def test_previous_period_is_september(metrics_story):
    figures = _figures(metrics_story)
    assert figures["period_label"] == "October 2026"
    assert figures["previous_period_label"] == "September 2026"
    rows = _by_key(figures)
    for key, row in rows.items():
        expected = EXPECTED_PREVIOUS.get(key)
        previous = row["previous"]
        if expected is None:
            assert previous["count"] == 0, key
            continue
        assert {name: previous[name] for name in FIGURE_KEYS} == {
            name: expected[name] for name in FIGURE_KEYS
        }, key


def test_paused_time_is_subtracted_from_sla_spans_only(metrics_story):
    rows = _by_key(_figures(metrics_story))
    contain = rows[("initial_infection", "contain")]
    # C's raw 10 h is in the mean and the maximum; its SLA span (6 h) met the 8 h target.
    assert contain["max_seconds"] == 10 * H
    assert contain["compliance_pct"] == 100.0
    assert contain["paused"] == 1


def test_target_in_force_at_detection_decides(metrics_story):
    """N (detected 15 Oct, triaged in 20 min) met the 30-minute target in force since
    8 October; B (detected 6 Oct, 20 min) breached the 15 minutes in force then."""
    with tenant_context(metrics_story.tenant):
        breaches = selectors.breach_list(period=_october(), filters=Filters())
        numbers = {(b["case_number"], b["clock"]) for b in breaches}
        table = selectors.target_table()
    story = metrics_story
    assert (story.number("B"), "triage") in numbers
    assert (story.number("N"), "triage") not in numbers
    detected_n = story.cases["N"].detected_at
    assert table.at("initial_infection", "high", "triage", detected_n) == dt.timedelta(minutes=30)
    assert table.at(
        "initial_infection", "high", "triage", story.cases["B"].detected_at
    ) == dt.timedelta(minutes=15)


def test_breach_list_is_complete_worst_first_with_reasons(metrics_story):
    with tenant_context(metrics_story.tenant):
        breaches = selectors.breach_list(period=_october(), filters=Filters())
    got = [(b["case_number"], b["clock"], b["target_seconds"], b["sla_seconds"]) for b in breaches]
    expected = [
        (metrics_story.number(letter), clock, target, actual)
        for letter, clock, target, actual in EXPECTED_BREACHES
    ]
    assert got == expected
    reopened = next(b for b in breaches if b["case_number"] == metrics_story.number("D"))
    assert reopened["reason"] == "reopened: malware persisted via a second run key"


def test_data_quality_findings_are_listed(metrics_story):
    with tenant_context(metrics_story.tenant):
        found = selectors.findings(period=_october(), filters=Filters())
    assert [(f["case_number"], f["clock"], f["status"]) for f in found] == [
        (metrics_story.number(letter), clock, status) for letter, clock, status in EXPECTED_FINDINGS
    ]


def test_breaches_in_progress_subtract_open_pauses(metrics_story):
    """G is past its scope, contain and remediate targets even after its open pause; Q's
    open pause keeps its containment clock (36 h elapsed, 34 h paused) within 24 h."""
    with tenant_context(metrics_story.tenant):
        items = selectors.open_clocks(now=metrics_story.now)
    got = sorted((i["case_number"], i["clock"]) for i in items)
    assert got == sorted(
        (metrics_story.number(letter), clock) for letter, clock in EXPECTED_OPEN_BREACHES
    )
    scope = next(i for i in items if i["clock"] == "scope")
    # 5 days 2 hours since detection, 48 hours of it paused.
    assert scope["elapsed_seconds"] == 74 * H
    assert scope["paused_seconds"] == 48 * H
    assert scope["overdue_seconds"] == 73 * H


def test_filters_narrow_the_figures(metrics_story):
    story = metrics_story
    by_tag = _by_key(_figures(story, tag="ransomware"))
    assert by_tag[("initial_infection", "remediate")]["count"] == 1  # B
    assert by_tag[("persistence", "remediate")]["count"] == 1  # F
    by_assignee = _by_key(_figures(story, assignee_id=story.analyst.pk))
    assert by_assignee[("initial_infection", "triage")]["count"] == 2  # A and C
    by_source = _by_key(_figures(story, source="detection_rule"))
    assert by_source[("initial_infection", "close")]["count"] == 1  # A
    assert by_source[("persistence", "close")]["count"] == 0
    only = _figures(story, phases=("lateral_movement",), severities=("medium",))
    assert {row["phase"] for row in only["rows"]} == {"lateral_movement"}
    assert _by_key(only)[("lateral_movement", "close")]["count"] == 2


def test_window_path_equals_percentile_cont(metrics_story):
    """The SQLite path (window functions) is plain SQL: on PostgreSQL it must agree with
    percentile_cont to the last bit; on SQLite both calls take it (and must agree too)."""
    with tenant_context(metrics_story.tenant):
        native = selectors.compute_figures(
            period=_october(), filters=Filters(), now=metrics_story.now
        )
        window = selectors.compute_figures(
            period=_october(), filters=Filters(), now=metrics_story.now, window=True
        )
        trend_native = selectors.compute_trend(period=_october(), filters=Filters())
        trend_window = selectors.compute_trend(period=_october(), filters=Filters(), window=True)
    assert native == window
    assert trend_native == trend_window


def test_figures_equal_spans_loaded_into_python(metrics_story):
    """The baseline: every case's milestones loaded and measured with metrics.clocks."""
    from cases.models import Case, CasePause

    october = _october()
    with tenant_context(metrics_story.tenant):
        figures = _by_key(
            selectors.compute_figures(period=october, filters=Filters(), now=metrics_story.now)
        )
        cases = list(Case.objects.filter(merged_into__isnull=True).exclude(resolution="duplicate"))
        pauses = {}
        for pause in CasePause.objects.all():
            pauses.setdefault(pause.case_id, []).append((pause.started_at, pause.ended_at))
    for (phase, clock_key), row in figures.items():
        clock = next(c for c in CLOCKS if c.key == clock_key)
        values = []
        for case in cases:
            if case.phase != phase:
                continue
            if clock.intrusions_only and case.resolution in ("false_positive", "benign"):
                continue
            milestone = getattr(case, clock.milestone)
            if milestone is None or not october.start <= milestone < october.end:
                continue
            measured = measure(clock, vars(case), pauses.get(case.pk, ()))
            if measured.status == "ok":
                values.append(measured.raw.total_seconds())
        assert row["count"] == len(values)
        if values:
            assert row["median_seconds"] == round(percentile(values, 0.5), 6)
            assert row["p90_seconds"] == round(percentile(values, 0.9), 6)
            assert row["mean_seconds"] == round(sum(values) / len(values), 6)


def test_trend_buckets_in_the_tenant_zone(metrics_story):
    with tenant_context(metrics_story.tenant):
        trend = selectors.compute_trend(
            period=parse_period({"period": "2026-10", "granularity": "week"}, "UTC"),
            filters=Filters(),
        )
    assert trend["buckets"][0] == "2026-09-28"  # the ISO week holding 1 October
    remediations = [
        p
        for p in trend["points"]
        if p["clock"] == "remediate"
        and p["phase"] == "initial_infection"
        and p["period"] == "current"
    ]
    # L (1 Oct), D (9 Oct), A (6 Oct), B (9 Oct), C (12 Oct), N (18 Oct)
    assert {p["bucket"]: p["count"] for p in remediations} == {
        "2026-09-28": 1,
        "2026-10-05": 3,
        "2026-10-12": 2,
    }


def test_trend_buckets_follow_the_tenant_zone(metrics_story):
    """A remediation at 23:30 UTC on a Sunday is Monday morning in Paris: next week."""
    with tenant_context(metrics_story.tenant):
        utc = selectors.compute_trend(
            period=parse_period({"period": "2026-10", "granularity": "day"}, "UTC"),
            filters=Filters(),
        )
        paris = selectors.compute_trend(
            period=parse_period({"period": "2026-10", "granularity": "day"}, "Europe/Paris"),
            filters=Filters(),
        )
    # L remediated 1 Oct 10:00 UTC (12:00 in Paris); E triaged 12 Oct 06:12 UTC.
    assert any(p["bucket"] == "2026-10-01" and p["clock"] == "remediate" for p in utc["points"])
    assert any(p["bucket"] == "2026-10-01" and p["clock"] == "remediate" for p in paris["points"])
    # C closed 12 Oct 20:00 UTC = 22:00 Paris: same day; D closed 9 Oct 18:00 UTC.
    assert utc["buckets"][0] == "2026-10-01" and paris["buckets"][-1] == "2026-10-31"


def test_dwell_counts_only_activity_before_detection(metrics_story):
    with tenant_context(metrics_story.tenant):
        dwell = {
            row["phase"]: row
            for row in selectors.compute_dwell(period=_october(), filters=Filters())
        }
    assert dwell["initial_infection"]["current"]["count"] == 1
    assert dwell["initial_infection"]["current"]["median_seconds"] == 90 * M
    assert dwell["persistence"]["current"]["count"] == 0


def test_other_tenant_sees_none_of_it(metrics_story, tenant_b):
    with tenant_context(tenant_b):
        figures = selectors.compute_figures(period=_october(), filters=Filters())
        assert selectors.open_clocks() == []
    assert all(row["count"] == 0 for row in figures["rows"])
