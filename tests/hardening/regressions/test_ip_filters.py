"""An IP filter that is no IP address is a 400 (fuzzer finding on PostgreSQL: a 500).

`/observations/?source_ip=letter` went to the `inet` column as text and PostgreSQL's
adapter refused it; SQLite, storing text, merely found nothing.
"""

from __future__ import annotations

import pytest

from tenancy import roles
from tests.hardening import fuzzing


@pytest.mark.parametrize("column", ["source_ip", "remote_ip"])
def test_a_value_that_is_no_ip_is_a_400_naming_the_filter(world, column):
    response, findings = fuzzing.replay(
        "GET",
        "/api/v1/observations/",
        headers={"Authorization": world.a.auth(roles.ANALYST)},
        query={column: "letter"},
    )
    assert response.status_code == 400, response.content[:300]
    assert column in response.json()["error"]["fields"]
    assert findings == []


def test_a_real_ip_still_filters(world):
    response, findings = fuzzing.replay(
        "GET",
        "/api/v1/observations/",
        headers={"Authorization": world.a.auth(roles.ANALYST)},
        query={"remote_ip": "2001:DB8::1", "source_ip": "10.0.0.1"},
    )
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert findings == []
