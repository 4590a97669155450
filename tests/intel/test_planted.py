"""A sweep over a fleet's benign telemetry plus the intrusion finds exactly the planted hits."""

import pytest

from intel.models import Hit
from intel.services import sweep_launch, sweep_run_inline
from tenancy.context import tenant_context
from tests.intel.telemetry import add_planted_iocs, expected_hits, load_world

pytestmark = pytest.mark.django_db


def test_planted_hits_exactly_no_more_no_fewer(tenant_a):
    with tenant_context(tenant_a):
        world = load_world(endpoints=30, per_endpoint=60)
        add_planted_iocs(world.scenario)
        sweep = sweep_run_inline(
            sweep=sweep_launch(chunk_endpoints=4, dispatch=False), alerts=False
        )
        found = set(Hit.objects.filter(sweep=sweep).values_list("ioc_key", "endpoint__hostname"))
        assert sweep.chunks_total == 8 and sweep.status == "succeeded"
    assert found == expected_hits(world.scenario)
