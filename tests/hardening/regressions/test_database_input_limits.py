"""Input PostgreSQL cannot store or compare is a 400, not a database error (fuzzer findings
on PostgreSQL: 500s that SQLite, storing text, never showed).

- An instant with an offset past ±15:59 (`until=0260-05-27T14:03:51+22:39`, which Python
  accepts): the date-time filters convert to UTC first; one with no UTC equivalent is a 400.
- A NUL byte in a query parameter a view reads itself (`/stacking/endpoints/?tag=a%00b`):
  validated as a serializer's CharField would.
- `\u0000` in an alert's `raw` JSON (jsonb cannot hold it): refused by the ingest service.
"""

from __future__ import annotations

import pytest

from tenancy import roles
from tests.hardening import fuzzing

FILTERS = [
    ("/api/v1/observations/", "until"),
    ("/api/v1/observations/", "since"),
    ("/api/v1/audit/", "since"),
    ("/api/v1/alerts/", "observed_after"),
    ("/api/v1/cases/", "detected_before"),
    ("/api/v1/actions/", "created_after"),
    ("/api/v1/hits/", "since"),
]


def _get(world, path, query):
    return fuzzing.replay(
        "GET", path, headers={"Authorization": world.a.auth(roles.ADMIN)}, query=query
    )


@pytest.mark.parametrize(("path", "name"), FILTERS)
def test_an_offset_postgresql_refuses_is_converted_to_utc(world, path, name):
    response, findings = _get(world, path, {name: "0260-05-27T14:03:51+22:39"})
    assert response.status_code == 200, response.content[:300]
    assert findings == []


@pytest.mark.parametrize(("path", "name"), FILTERS)
def test_an_instant_with_no_utc_equivalent_is_a_400(world, path, name):
    response, findings = _get(world, path, {name: "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400, response.content[:300]
    assert name in response.json()["error"]["fields"]
    assert findings == []


def test_the_date_time_filters_still_compare_instants(world):
    response, _ = _get(world, "/api/v1/alerts/", {"observed_after": "2000-01-01T05:00:00+05:00"})
    assert response.json()["count"] >= 1
    response, _ = _get(world, "/api/v1/alerts/", {"observed_before": "2000-01-01T00:00:00Z"})
    assert response.json()["count"] == 0


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/api/v1/stacking/endpoints/", {"key": "x", "tag": ["ok", "a\x00b"]}, "tag"),
        ("/api/v1/stacking/endpoints/", {"key": "x", "group": "\x00"}, "group"),
        ("/api/v1/stacking/endpoints/", {"key": "x\x00"}, "key"),
        ("/api/v1/stacking/", {"name": "svc\x00"}, "name"),
        ("/api/v1/intel-search/", {"q": "powershell\x00"}, "q"),
    ],
)
def test_a_nul_byte_in_a_query_parameter_is_a_400_naming_it(world, path, query, name):
    response, findings = _get(world, path, query)
    assert response.status_code == 400, response.content[:300]
    assert name in response.json()["error"]["fields"]
    assert findings == []


@pytest.mark.parametrize("raw", [{"a\x00": "b"}, {"a": ["ok", "b\x00c"]}, "\x00"])
@pytest.mark.parametrize("path", ["/api/v1/alerts/", "/api/v1/alerts/bulk/"])
def test_a_nul_character_in_an_alerts_raw_json_is_a_400(world, path, raw):
    alert = {"title": "nul", "severity": "low", "source": "api", "raw": raw,
             "observed_at": "2026-01-01T00:00:00Z"}  # fmt: skip
    response, findings = fuzzing.replay(
        "POST",
        path,
        headers={"Authorization": world.a.auth(roles.INTEGRATION)},
        body=alert if path.endswith("alerts/") else {"alerts": [alert]},
        media_type="application/json",
    )
    assert response.status_code == 400, response.content[:300]
    fields = response.json()["error"]["fields"]
    assert "raw" in fields or "alerts.0.raw" in fields
    assert findings == []


def test_a_nul_character_in_action_parameters_is_a_400(world):
    response, findings = fuzzing.replay(
        "POST",
        "/api/v1/actions/",
        headers={"Authorization": world.a.auth(roles.ANALYST)},
        body={"type": "kill_process", "endpoint": world.a.endpoint_id, "reason": "nul",
              "parameters": {"pid": 4100, "sha256": "a" * 64, "name\x00": "x\x00"}},
        media_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400, response.content[:300]
    assert findings == []
