"""Response bodies match the schema (fuzzer findings: `Response violates schema`).

Read-only fields that can be null (`case_number` of an alert in no case, `author_username`
of a system note, `selection_source` of a sweep over all IOCs, `created_by` of an entry
whose user left) were documented as never null; choice columns that may be blank
(`dismiss_reason`, `phase`, `resolution`) did not list ""; evidence's `download` is a path,
not an absolute URI; observations leave absent fields out; stacking answers a page object,
and the bulk endpoints a plain list, not the paginated shape.
"""

from __future__ import annotations

import pytest

from tenancy import roles
from tests.hardening import fuzzing

# Query parameters an operation cannot do without.
REQUIRED_QUERY = {"/api/v1/stacking/endpoints/": {"key": "x"}}


def _get_operations():
    return [op for op in fuzzing.operations(fuzzing.load_schema()) if op.method.upper() == "GET"]


def test_every_read_of_real_rows_matches_the_schema(world):
    """Every GET of the API, as an admin, on rows of every kind: the body is what the
    schema says (nullable fields, blank choices, sparse objects, page shapes)."""
    admin = {"Authorization": world.a.auth(roles.ADMIN)}
    agent = {"Authorization": world.a.auth(roles.AGENT)}
    problems, reads = [], 0
    for operation in _get_operations():
        path = operation.path
        headers = agent if path.startswith(fuzzing.AGENT_PREFIX) else admin
        parts = {"query": dict(REQUIRED_QUERY.get(path, {}))}
        if "{id}" in path:
            model = fuzzing.model_of(path)
            ids = world.a.ids.get(model._meta.label, []) if model else []
            if not ids:
                continue
            parts["path_parameters"] = {"id": ids[0]}
        response, findings = fuzzing.replay("GET", path, headers=headers, **parts)
        reads += 1
        assert response.status_code < 500, (path, response.content[:300])
        problems += findings
    assert reads > 60
    assert problems == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/alerts/bulk-triage/", lambda w: {"ids": w.a.ids["cases.Alert"][:2],
                                                   "action": "acknowledge"}),
        ("/api/v1/cases/bulk/", lambda w: {"ids": w.a.ids["cases.Case"][:2],
                                           "status": "triage", "reason": "bulk"}),
    ],
)  # fmt: skip
def test_bulk_endpoints_answer_a_plain_list_as_documented(world, path, body):
    response, findings = fuzzing.replay(
        "POST",
        path,
        headers={"Authorization": world.a.auth(roles.ADMIN)},
        body=body(world),
        media_type="application/json",
    )
    assert response.status_code == 200, response.content[:300]
    assert isinstance(response.json(), list)
    assert findings == []
