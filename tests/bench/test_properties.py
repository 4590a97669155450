"""Whatever the fleet size and seed, the generator keeps its promises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.datagen import fleet_telemetry, generate_fleet, intrusion_scenario
from tests.bench.conftest import START
from tests.bench.contract import assert_valid
from tests.bench.detections import fired
from tests.bench.trees import assert_process_tree


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 2**32), variant=st.sampled_from(["macro", "pdf"]))
def test_any_fleet_gives_valid_quiet_telemetry_and_a_complete_scenario(n, seed, variant):
    fleet = generate_fleet(n, seed)
    assert len(fleet) == n == len({e.hostname for e in fleet})
    benign = list(fleet_telemetry(fleet, 40 * n, START, seed))
    assert assert_valid(benign) == 40 * n
    assert_process_tree(benign)
    assert not [r for _, r in benign if fired(r)]
    if n >= 2:
        scenario = intrusion_scenario(fleet, START, seed, variant=variant)
        assert_valid(scenario.records())
        assert_process_tree(scenario.records())
        assert all(fired(s.record) == set(s.signals) for s in scenario.steps)
