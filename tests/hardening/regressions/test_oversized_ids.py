"""Ids in request bodies are positive 64-bit integers (fuzzer finding: a 500).

`{"ids": [10**23]}` reached the database as an `__in` lookup: OverflowError on SQLite,
DataError on PostgreSQL. Now it is a 400 naming the field, before any query.
"""

from __future__ import annotations

import pytest

from tenancy import roles
from tests.hardening import fuzzing

HUGE = -(10**23)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/alerts/bulk-triage/", {"ids": [1, HUGE], "action": "acknowledge"}, "ids"),
        ("/api/v1/alerts/bulk-triage/", {"ids": [10**30], "action": "acknowledge"}, "ids"),
        ("/api/v1/cases/bulk/", {"ids": [10**30], "status": "triage"}, "ids"),
        ("/api/v1/sweeps/", {"iocs": [10**30]}, "iocs"),
        ("/api/v1/bulk-actions/", {"type": "isolate_endpoint", "endpoints": [10**30]}, "endpoints"),
        ("/api/v1/bulk-actions/", {"type": "isolate_endpoint", "sweep": 10**30}, "sweep"),
        ("/api/v1/bulk-actions/", {"type": "isolate_endpoint", "ioc": 0}, "ioc"),
    ],
)
def test_an_id_out_of_range_is_a_400_naming_the_field(world, path, body, field):
    response, findings = fuzzing.replay(
        "POST",
        path,
        headers={"Authorization": world.a.auth(roles.ADMIN)},
        body=body,
        media_type="application/json",
    )
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["error"]["fields"]
    assert findings == []
