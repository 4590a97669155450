"""Default SLA targets: the numbers a new tenant starts with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metrics.clocks import PHASE_KEYS, SLA_CLOCKS
from metrics.targets import SEVERITIES, SEVERITY_KEYS, default_targets, target_in_force

H = timedelta(hours=1)
D = timedelta(days=1)


def test_severity_scale_runs_from_info_to_critical():
    assert SEVERITY_KEYS == ("info", "low", "medium", "high", "critical")
    assert [s.rank for s in SEVERITIES] == sorted(s.rank for s in SEVERITIES)


def test_every_phase_severity_and_sla_clock_has_a_target_and_nothing_else_does():
    targets = default_targets()
    expected = {(p, s, c.key) for p in PHASE_KEYS for s in SEVERITY_KEYS for c in SLA_CLOCKS}
    assert set(targets) == expected
    assert not any(key[2] == "close" for key in targets)


def test_triage_and_scoping_targets_are_the_same_everywhere():
    targets = default_targets()
    for phase in PHASE_KEYS:
        for severity in SEVERITY_KEYS:
            assert targets[(phase, severity, "triage")] == timedelta(minutes=15)
            assert targets[(phase, severity, "scope")] == H


@pytest.mark.parametrize(
    ("severity", "contain", "remediate"),
    [
        ("critical", 4 * H, 24 * H),
        ("high", 8 * H, 72 * H),
        ("medium", 24 * H, 7 * D),
        ("low", 72 * H, 30 * D),
        ("info", 7 * D, 90 * D),
    ],
)
def test_containment_and_remediation_targets_follow_severity(severity, contain, remediate):
    targets = default_targets()
    for phase in PHASE_KEYS:
        assert targets[(phase, severity, "contain")] == contain
        assert targets[(phase, severity, "remediate")] == remediate


def test_a_more_severe_case_never_gets_more_time_and_containment_comes_before_remediation():
    targets = default_targets()
    for phase in PHASE_KEYS:
        for clock in SLA_CLOCKS:
            times = [targets[(phase, s, clock.key)] for s in SEVERITY_KEYS]
            assert times == sorted(times, reverse=True)
        for severity in SEVERITY_KEYS:
            ordered = [targets[(phase, severity, c.key)] for c in SLA_CLOCKS]
            assert ordered == sorted(ordered)


def test_default_targets_is_a_fresh_dict_each_call():
    default_targets()[("persistence", "high", "triage")] = timedelta(0)
    assert default_targets()[("persistence", "high", "triage")] == timedelta(minutes=15)


def test_the_target_in_force_at_detection_applies():
    history = [
        (datetime(2026, 6, 1, tzinfo=UTC), 2 * H),
        (datetime(2026, 1, 1, tzinfo=UTC), 4 * H),
        (datetime(2026, 9, 1, tzinfo=UTC), None),
    ]
    assert target_in_force(history, datetime(2025, 12, 31, tzinfo=UTC)) is None
    assert target_in_force(history, datetime(2026, 3, 1, tzinfo=UTC)) == 4 * H
    assert target_in_force(history, datetime(2026, 6, 1, tzinfo=UTC)) == 2 * H
    assert target_in_force(history, datetime(2026, 10, 1, tzinfo=UTC)) is None
