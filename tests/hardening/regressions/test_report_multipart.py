"""A report request reads a multipart body like a JSON one (fuzzer finding: a 500).

`POST /reports/` passed `dict(request.data)` to the period parser: for a multipart body
every value is a list there (`{"from": ["2026-10-01"]}`), and `.strip()` on a list failed.
It now parses the validated values, whatever the body's media type.
"""

from __future__ import annotations

from tenancy import roles
from tests.hardening import fuzzing

FIELDS = {"from": "2026-10-01", "to": "2026-10-31", "phase": ["persistence", "lateral_movement"],
          "severity": ["high"], "paper": "letter"}  # fmt: skip


def _request(world, body, media_type):
    return fuzzing.replay(
        "POST",
        "/api/v1/reports/",
        headers={"Authorization": world.a.auth(roles.LEAD)},
        body=body,
        media_type=media_type,
    )


def test_multipart_and_json_report_requests_name_the_same_period_and_filters(world):
    as_json, json_findings = _request(world, FIELDS, "application/json")
    as_form, form_findings = _request(world, FIELDS, "multipart/form-data")
    assert (as_json.status_code, as_form.status_code) == (202, 202), as_form.content[:300]
    assert as_form.json()["period"] == as_json.json()["period"]
    assert as_form.json()["filters"] == as_json.json()["filters"]
    assert as_form.json()["paper"] == "letter"
    assert json_findings == form_findings == []
