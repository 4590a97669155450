"""Every refusal is documented, in the one error format (fuzzer findings: `Undocumented
status code` — 401, 403, 404 and 400 on nearly every operation, 409 from the services).

The schema class (`tenancy.schema.ApiAutoSchema`) derives 400/401/403/404/413/415/429/503
from each view; the views declare the conflicts (409) their services raise.
"""

from __future__ import annotations

import pytest

from tenancy import roles
from tests.hardening import fuzzing

ERROR = {"$ref": "#/components/schemas/Error"}
# Operations whose service refuses some states with `Conflict` (409).
CONFLICTS = [
    "POST /api/v1/alerts/{id}/dismiss/",
    "POST /api/v1/alerts/{id}/promote/",
    "POST /api/v1/alerts/bulk-triage/",
    "POST /api/v1/cases/",
    "POST /api/v1/cases/bulk/",
    "PATCH /api/v1/cases/{id}/",
    "POST /api/v1/cases/{id}/transition/",
    "POST /api/v1/cases/{id}/scope-done/",
    "POST /api/v1/cases/{id}/reopen/",
    "POST /api/v1/cases/{id}/pause/",
    "POST /api/v1/cases/{id}/resume/",
    "POST /api/v1/cases/{id}/merge/",
    "POST /api/v1/cases/{id}/split/",
    "POST /api/v1/webhook-deliveries/{id}/redeliver/",
    "POST /api/v1/actions/",
    "POST /api/v1/actions/{id}/approve/",
    "POST /api/v1/actions/{id}/reject/",
    "POST /api/v1/actions/{id}/cancel/",
    "POST /api/v1/actions/{id}/retry/",
    "POST /api/v1/actions/{id}/outcome/",
    "POST /api/v1/bulk-actions/",
    "POST /api/v1/bulk-actions/{id}/approve/",
    "POST /api/v1/bulk-actions/{id}/reject/",
    "POST /api/v1/bulk-actions/{id}/cancel/",
    "POST /api/v1/agent/actions/{id}/ack/",
    "POST /api/v1/agent/actions/{id}/result/",
    "POST /api/v1/sweeps/{id}/cancel/",
    "POST /api/v1/sweeps/{id}/resume/",
    "POST /api/v1/metrics/sla-targets/",
    "DELETE /api/v1/metrics/sla-targets/{id}/",
    "POST /api/v1/regulatory-flags/",
    "POST /api/v1/regulatory-notifications/",
    "GET /api/v1/reports/{id}/download/",
]


def _operations():
    document = fuzzing.schema_document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_documented_error_has_the_error_format(db):
    wrong = [
        (label, code)
        for label, operation in _operations()
        for code, response in operation["responses"].items()
        if int(code) >= 400
        and response.get("content", {}).get("application/json", {}).get("schema") != ERROR
    ]
    assert wrong == []


def test_every_operation_documents_the_refusals_it_can_give(db):
    missing = []
    for label, operation in _operations():
        codes = set(operation["responses"])
        expected = {"401", "503"}  # every operation needs a credential; the database may be down
        if "{" in label:
            expected.add("404")
        if "requestBody" in operation:
            expected |= {"400", "413", "415"}
        if label in CONFLICTS:
            expected.add("409")
        if not expected <= codes:
            missing.append((label, sorted(expected - codes)))
    assert missing == []
    assert {label for label, _ in _operations()} >= set(CONFLICTS)


def _admin(world):
    return {"Authorization": world.a.auth(roles.ADMIN)}


@pytest.mark.parametrize(
    ("role", "method", "path", "parts", "status"),
    [
        (None, "GET", "/api/v1/me/", {}, 401),
        (roles.ANALYST, "GET", "/api/v1/tokens/", {}, 403),
        (roles.ANALYST, "GET", "/api/v1/audit/", {}, 403),
        (roles.ADMIN, "GET", "/api/v1/audit/", {"query": {"cursor": "not-a-cursor"}}, 404),
        (roles.ADMIN, "GET", "/api/v1/tokens/", {"query": {"page": 10**12}}, 404),
        (roles.ADMIN, "DELETE", "/api/v1/tokens/{id}/", {"path_parameters": {"id": 10**9}}, 404),
        (roles.ADMIN, "GET", "/api/v1/audit/{id}/", {"path_parameters": {"id": 10**20}}, 404),
    ],
)
def test_refusals_by_credential_role_and_id_are_documented(
    world, role, method, path, parts, status
):
    headers = {"Authorization": world.a.auth(role)} if role else {}
    response, findings = fuzzing.replay(method, path, headers=headers, **parts)
    assert response.status_code == status
    assert findings == []


def test_case_state_conflicts_are_documented(world):
    case = world.a.objects["case"]  # a new case: not paused, not closed
    for action, body in (("reopen", {"body": {"reason": "again"}}), ("resume", {})):
        response, findings = fuzzing.replay(
            "POST",
            f"/api/v1/cases/{{id}}/{action}/",
            headers=_admin(world),
            path_parameters={"id": case.pk},
            media_type="application/json",
            **body,
        )
        assert response.status_code == 409, response.content
        assert findings == []


def test_a_malformed_if_match_is_a_documented_400(world):
    response, findings = fuzzing.replay(
        "POST",
        "/api/v1/cases/{id}/scope-done/",
        headers={**_admin(world), "If-Match": 'W/""'},
        path_parameters={"id": world.a.objects["case"].pk},
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "If-Match": 'expected the ETag you read, like "3"'
    }
    assert findings == []


def test_deleting_a_shipped_rule_is_a_documented_400(world):
    from endpoints.models import DetectionRule
    from tenancy.context import tenant_context

    with tenant_context(world.a.tenant):
        shipped = DetectionRule.objects.filter(source="builtin").first()
    assert shipped is not None
    response, findings = fuzzing.replay(
        "DELETE",
        "/api/v1/detection-rules/{id}/",
        headers=_admin(world),
        path_parameters={"id": shipped.pk},
    )
    assert response.status_code == 400
    assert findings == []


def test_polling_a_source_that_is_not_taxii_is_a_documented_400(world):
    response, findings = fuzzing.replay(
        "POST",
        "/api/v1/sources/{id}/poll/",
        headers=_admin(world),
        path_parameters={"id": world.a.objects["source"].pk},
    )
    assert response.status_code == 400
    assert findings == []
