"""Periods far in the past or future are a 400 (fuzzer finding: a 500).

`from=0260-02-26&to=1924-05-30` computed the previous period (as long, ending where this
one starts) before checking the bounds: it fell before year 1 (OverflowError). `period=0000`
made no date at all.
"""

from __future__ import annotations

import pytest

from tenancy import roles
from tests.hardening import fuzzing


@pytest.mark.parametrize("path", ["/api/v1/metrics/mttr/", "/api/v1/metrics/spans/"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "0260-02-26", "to": "1924-05-30"}, "from"),
        ({"from": "0001-01-01", "to": "0001-01-01"}, "from"),
        ({"from": "2026-01-01", "to": "9999-12-31"}, "to"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),  # longer than MAX_DAYS
        ({"period": "0000"}, "period"),
        ({"period": "0001-05"}, "period"),
        ({"period": "9999-Q4"}, "period"),
    ],
)
def test_a_period_out_of_bounds_is_a_400_naming_the_parameter(world, path, query, field):
    response, findings = fuzzing.replay(
        "GET", path, headers={"Authorization": world.a.auth(roles.ANALYST)}, query=query
    )
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["error"]["fields"]
    assert findings == []


def test_a_period_within_bounds_still_works(world):
    response, findings = fuzzing.replay(
        "GET",
        "/api/v1/metrics/mttr/",
        headers={"Authorization": world.a.auth(roles.ANALYST)},
        query={"from": "2026-01-01", "to": "2026-03-31"},
    )
    assert response.status_code == 200
    assert findings == []
