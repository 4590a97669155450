"""An ETag for another tenant's case.

A case's ETag is its version (`"3"`), meaningful only for the URL it was read from
(RFC 9110 §8.8.3). Tenant A holding tenant B's case id and ETag learns nothing and changes
nothing: on every operation that takes `If-Match` (from the OpenAPI schema) and on
`If-None-Match` reads, B's case is a 404 whatever the precondition — never a 412 or a 304
that would confirm it exists and at which version — and carries no ETag. On A's own case,
B's ETag is just a stale one: 412, and A's case is unchanged.
"""

from __future__ import annotations

import json

import pytest

from cases.models import Case
from cases.services import case_update
from tenancy import roles
from tenancy.context import tenant_context

from .hostile import api_operations, changed, state_digest

# Bodies valid for each operation, so that the precondition, not the body, decides.
BODIES = {
    "put /api/v1/cases/{id}/": {
        "title": "changed",
        "description": "",
        "severity": "low",
        "phase": "initial_infection",
        "tlp": "amber",
        "tags": [],
        "watchers": [],
        "assignee": None,
    },
    "patch /api/v1/cases/{id}/": {"title": "changed"},
    "post /api/v1/cases/{id}/transition/": {"status": "triage"},
    "post /api/v1/cases/{id}/assign/": {"assignee": None},
    "post /api/v1/cases/{id}/pause/": {"reason": "waiting"},
    "post /api/v1/cases/{id}/scope-done/": {},
}


def _if_match_operations():
    found = []
    for operation in api_operations():
        names = {p["name"] for p in operation.spec.get("parameters", []) if p["in"] == "header"}
        if "If-Match" in names:
            found.append(operation)
    assert len(found) >= 10, "the schema lost its If-Match operations"
    return found


def _etag(client, case_id: int, auth) -> str:
    response = client.get(f"/api/v1/cases/{case_id}/", **auth)
    assert response.status_code == 200
    return response["ETag"]


@pytest.fixture
def cases(world):
    """A's case at version 1 (a fresh one) and B's text-rich case moved on to version 4."""
    with tenant_context(world.b.tenant):
        b_case = world.b.objects["case"]
        for n in range(3):
            b_case = case_update(case=b_case, title=f"{world.b.marker} v{n + 2}")
    with tenant_context(world.a.tenant):
        from cases.services import case_create

        a_case = case_create(title="a's case", severity="high", phase="initial_infection")
    return a_case, b_case


def test_another_tenant_s_case_is_404_whatever_the_precondition(world, client, cases):
    _, b_case = cases
    a_auth = {"HTTP_AUTHORIZATION": world.a.auth(roles.ADMIN)}
    b_etag = _etag(client, b_case.pk, {"HTTP_AUTHORIZATION": world.b.auth(roles.ADMIN)})
    before = state_digest()
    problems = []
    for operation in _if_match_operations():
        body = BODIES.get(f"{operation.method} {operation.path}", {})
        url = operation.path.replace("{id}", str(b_case.pk))
        for precondition in (b_etag, f"W/{b_etag}", '"1"', "*", "garbage"):
            response = client.generic(
                operation.method.upper(),
                url,
                json.dumps(body),
                content_type="application/json",
                HTTP_IF_MATCH=precondition,
                **a_auth,
            )
            if response.status_code != 404 or response.has_header("ETag"):
                problems.append(
                    f"{operation.label} If-Match {precondition}: {response.status_code}"
                )
    for precondition in (b_etag, f"W/{b_etag}", "*"):
        response = client.get(
            f"/api/v1/cases/{b_case.pk}/", HTTP_IF_NONE_MATCH=precondition, **a_auth
        )
        if response.status_code != 404 or response.has_header("ETag"):
            problems.append(f"GET If-None-Match {precondition}: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert changed(before, state_digest()) == []


def test_another_tenant_s_etag_on_one_s_own_case_is_stale(world, client, cases):
    a_case, b_case = cases
    a_auth = {"HTTP_AUTHORIZATION": world.a.auth(roles.ADMIN)}
    b_etag = _etag(client, b_case.pk, {"HTTP_AUTHORIZATION": world.b.auth(roles.ADMIN)})
    a_etag = _etag(client, a_case.pk, a_auth)
    assert a_etag != b_etag
    before = state_digest()
    for key, body in BODIES.items():
        method, path = key.split(" ")
        response = client.generic(
            method.upper(),
            path.replace("{id}", str(a_case.pk)),
            json.dumps(body),
            content_type="application/json",
            HTTP_IF_MATCH=b_etag,
            **a_auth,
        )
        assert response.status_code == 412, (key, response.content[:200])
        assert response.json()["error"]["code"] == "precondition_failed"
    assert changed(before, state_digest()) == []
    # and the read: B's ETag is not A's, so A gets the body, not a 304
    response = client.get(f"/api/v1/cases/{a_case.pk}/", HTTP_IF_NONE_MATCH=b_etag, **a_auth)
    assert response.status_code == 200 and response["ETag"] == a_etag
    with tenant_context(world.a.tenant):
        assert Case.objects.get(pk=a_case.pk).title == "a's case"
