"""The clock definitions and span rules that every figure in Stopclock rests on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics.clocks import (
    CLOCKS,
    CLOCKS_BY_KEY,
    DEFINITIONS_VERSION,
    DWELL,
    FIRST_ACTIVITY,
    MILESTONES,
    PHASE_KEYS,
    SLA_CLOCKS,
    classify_span,
    final_milestone,
    measure,
    meets_target,
    methodology_text,
    paused_overlap,
    percentile,
    raw_span,
    sla_span,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# --- Definitions --------------------------------------------------------------------------


def test_phases_are_the_three_attack_phases_in_lifecycle_order():
    assert PHASE_KEYS == ("initial_infection", "persistence", "lateral_movement")


def test_clocks_are_defined_on_case_milestones_with_close_the_only_one_without_sla():
    assert [c.key for c in CLOCKS] == ["triage", "scope", "contain", "remediate", "close"]
    assert [c.abbreviation for c in CLOCKS] == ["MTTT", "MTTS", "MTTC", "MTTR", "MTTClose"]
    assert all(c.milestone in MILESTONES and c.start == "detected_at" for c in CLOCKS)
    assert [c.key for c in SLA_CLOCKS] == ["triage", "scope", "contain", "remediate"]
    assert CLOCKS_BY_KEY["remediate"].milestone == "remediated_at"


def test_dwell_runs_from_first_activity_to_detection():
    assert (DWELL.start, DWELL.milestone, DWELL.sla) == (FIRST_ACTIVITY, "detected_at", False)


def test_reopen_counts_the_final_remediation_and_closure_but_the_first_triage():
    rules = {c.key: c.reopen_rule for c in CLOCKS}
    assert rules == {
        "triage": "first",
        "scope": "first",
        "contain": "first",
        "remediate": "final",
        "close": "final",
    }


def test_methodology_names_the_version_every_clock_and_every_rule():
    text = " ".join(methodology_text())
    assert DEFINITIONS_VERSION in text
    for clock in CLOCKS:
        assert clock.abbreviation in text and clock.definition in text
    for phrase in (
        "milestone's time minus the case's detection time",
        "earliest observed time of the case's alerts, not the moment the case was created",
        "last remediated_at after the last reopen",
        "really clean",
        "data-quality finding",
        "none is dropped silently",
        "subtracted from the SLA span",
        "never reduced by pauses",
        "used as corrected",
        "target in force at its detection time",
    ):
        assert phrase in text, phrase


def test_methodology_is_a_new_list_each_time_so_callers_cannot_corrupt_it():
    first = methodology_text()
    first.append("tampered")
    assert methodology_text()[-1] != "tampered"


# --- Spans --------------------------------------------------------------------------------


def test_raw_span_is_milestone_minus_detection():
    assert raw_span(at(0), at(12)) == minutes(12)
    assert raw_span(at(0), None) is None
    assert raw_span(None, at(5)) is None
    assert raw_span(at(10), at(4)) == minutes(-6)


def test_classify_span_separates_ok_missing_and_negative():
    assert classify_span(at(0), at(0)) == "ok"  # triaged the instant it was detected
    assert classify_span(at(0), at(3)) == "ok"
    assert classify_span(at(0), None) == "missing"
    assert classify_span(None, at(3)) == "missing"
    assert classify_span(at(5), at(3)) == "negative"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        raw_span(datetime(2026, 1, 1), at(0))


def test_paused_overlap_merges_overlapping_pauses_and_counts_open_ones_to_the_end():
    pauses = [(at(10), at(20)), (at(15), at(30)), (at(50), None)]
    assert paused_overlap(pauses, at(0), at(60)) == minutes(20 + 10)


def test_paused_overlap_clips_pauses_to_the_window():
    pauses = [(at(-30), at(5)), (at(55), at(90)), (at(100), at(120))]
    assert paused_overlap(pauses, at(0), at(60)) == minutes(5 + 5)


def test_paused_overlap_is_zero_without_pauses_or_with_an_inverted_window():
    assert paused_overlap([], at(0), at(60)) == timedelta(0)
    assert paused_overlap([(at(0), None)], at(60), at(0)) == timedelta(0)


def test_a_pause_ending_before_it_starts_is_an_error():
    with pytest.raises(ValueError, match="ends before it starts"):
        paused_overlap([(at(10), at(5))], at(0), at(60))


def test_sla_span_subtracts_pauses_and_leaves_bad_spans_alone():
    pauses = [(at(5), at(15))]
    assert sla_span(at(0), at(30), pauses) == minutes(20)
    assert sla_span(at(0), at(30)) == minutes(30)
    assert sla_span(at(30), at(0), pauses) == minutes(-30)
    assert sla_span(at(0), None, pauses) is None


def test_sla_span_of_an_open_case_runs_to_now_with_the_open_pause_counted():
    now = at(40)
    assert sla_span(at(0), now, [(at(30), None)]) == minutes(30)


def test_a_span_equal_to_its_target_meets_it():
    assert meets_target(minutes(15), minutes(15))
    assert not meets_target(minutes(15) + timedelta(seconds=1), minutes(15))


def test_final_milestone_is_the_last_one_after_the_last_reopen():
    remediations = [at(60), at(300)]
    assert final_milestone(remediations, reopens=[]) == at(300)
    assert final_milestone(remediations, reopens=[at(120)]) == at(300)
    assert final_milestone(remediations, reopens=[at(120), at(400)]) is None
    assert final_milestone([], reopens=[]) is None


def test_measure_applies_pauses_only_to_sla_clocks():
    milestones = {"detected_at": at(0), "triaged_at": at(20), "closed_at": at(500)}
    pauses = [(at(5), at(10))]
    triage = measure(CLOCKS_BY_KEY["triage"], milestones, pauses)
    assert (triage.status, triage.raw, triage.sla) == ("ok", minutes(20), minutes(15))
    close = measure(CLOCKS_BY_KEY["close"], milestones, pauses)
    assert (close.status, close.raw, close.sla) == ("ok", minutes(500), None)


def test_measure_reports_missing_and_negative_spans_without_durations():
    milestones = {"detected_at": at(10), "triaged_at": at(0)}
    assert measure(CLOCKS_BY_KEY["triage"], milestones).status == "negative"
    missing = measure(CLOCKS_BY_KEY["scope"], milestones)
    assert (missing.status, missing.raw, missing.sla) == ("missing", None, None)


def test_measure_dwell_needs_the_first_activity_time():
    assert measure(DWELL, {"detected_at": at(0)}).status == "missing"
    dwell = measure(DWELL, {FIRST_ACTIVITY: at(-180), "detected_at": at(0)})
    assert dwell.raw == minutes(180)


# --- Percentiles --------------------------------------------------------------------------


def test_percentile_interpolates_like_postgresql_percentile_cont():
    assert percentile([4, 1, 3, 2], 0.5) == 2.5
    assert percentile(range(1, 11), 0.9) == pytest.approx(9.1)
    assert percentile([7], 0.9) == 7
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError):
        percentile([1], 1.5)


# --- Properties ---------------------------------------------------------------------------

offsets = st.integers(min_value=-50, max_value=250)
pause_lists = st.lists(
    st.tuples(offsets, st.one_of(st.none(), st.integers(min_value=0, max_value=120))).map(
        lambda p: (at(p[0]), None if p[1] is None else at(p[0] + p[1]))
    ),
    max_size=6,
)


@given(pause_lists, offsets, offsets)
def test_paused_overlap_never_exceeds_the_span(pauses, a, b):
    overlap = paused_overlap(pauses, at(a), at(b))
    assert timedelta(0) <= overlap <= max(at(b) - at(a), timedelta(0))


@given(pause_lists, offsets, offsets, st.randoms(use_true_random=False))
def test_paused_overlap_ignores_order_and_duplicates(pauses, a, b, rnd):
    shuffled = pauses + pauses
    rnd.shuffle(shuffled)
    assert paused_overlap(shuffled, at(a), at(b)) == paused_overlap(pauses, at(a), at(b))


@given(pause_lists, offsets, offsets)
def test_paused_overlap_equals_the_minutes_covered(pauses, a, b):
    covered = set()
    for start, end in pauses:
        first = int((start - T0) / minutes(1))
        last = b if end is None else int((end - T0) / minutes(1))
        covered |= set(range(max(first, a), min(last, b)))
    assert paused_overlap(pauses, at(a), at(b)) == minutes(len(covered))


@given(pause_lists, offsets, offsets, offsets)
def test_paused_overlap_adds_up_over_a_split_window(pauses, a, b, c):
    a, b, c = sorted((a, b, c))
    whole = paused_overlap(pauses, at(a), at(c))
    assert whole == paused_overlap(pauses, at(a), at(b)) + paused_overlap(pauses, at(b), at(c))


@given(pause_lists, offsets, offsets)
def test_sla_span_is_between_zero_and_the_raw_span_when_the_span_is_valid(pauses, a, b):
    span = sla_span(at(a), at(b), pauses)
    raw = raw_span(at(a), at(b))
    if raw >= timedelta(0):
        assert timedelta(0) <= span <= raw
    else:
        assert span == raw
