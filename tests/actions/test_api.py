"""The REST API of response actions: the contract fields, transitions and their roles,
the error format, filters, constant-query lists, bulk responses, the schema."""

from __future__ import annotations

import pytest

from cases.models import ResponseAction
from tenancy import roles
from tenancy.context import tenant_context
from tests.fixtures.actions import IMPLANT, as_agent
from tests.intel.factories import observe
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db

CONTRACT = {
    "id",
    "type",
    "case",
    "endpoint",
    "parameters",
    "status",
    "requested_by",
    "approved_by",
    "result",
}


@pytest.fixture
def clients(tenant_a, api_client):
    return {
        "analyst": api_client(tenant_a, roles.ANALYST, "api-ana"),
        "lead": api_client(tenant_a, roles.LEAD, "api-lee"),
        "lead2": api_client(tenant_a, roles.LEAD, "api-lou"),
        "auditor": api_client(tenant_a, roles.AUDITOR, "api-aud"),
        "integration": api_client(tenant_a, roles.INTEGRATION, "api-soar"),
    }


def _isolate(client, incident, **extra):
    body = {
        "type": "isolate_endpoint",
        "endpoint": incident.endpoint.pk,
        "case": incident.case.pk,
        "reason": "C2 beacon",
        **extra,
    }
    return client.post("/api/v1/actions/", body, format="json")


def test_request_approve_and_read_back_with_the_contract_fields(clients, incident):
    created = _isolate(clients["analyst"], incident)
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) >= CONTRACT
    assert body["status"] == "awaiting_approval" and body["type"] == "isolate_endpoint"
    assert body["requested_by"] == clients["analyst"].user.pk and body["approved_by"] is None
    assert body["destructive"] is True and body["milestone"] == "contained"
    url = f"/api/v1/actions/{body['id']}/"
    assert clients["analyst"].post(f"{url}approve/").status_code == 403  # not a lead
    approved = clients["lead"].post(f"{url}approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "queued"
    assert approved.json()["approved_by"] == clients["lead"].user.pk
    again = clients["lead2"].post(f"{url}approve/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert clients["auditor"].get(url).json()["status"] == "queued"


def test_four_eyes_over_the_api(clients, incident):
    created = _isolate(clients["lead"], incident).json()
    own = clients["lead"].post(f"/api/v1/actions/{created['id']}/approve/")
    assert own.status_code == 403 and "Four eyes" in own.json()["error"]["message"]
    assert clients["lead2"].post(f"/api/v1/actions/{created['id']}/approve/").status_code == 200


def test_bad_parameters_are_a_400_naming_them(clients, incident):
    def post(parameters):
        body = {"type": "kill_process", "endpoint": incident.endpoint.pk, "parameters": parameters}
        response = clients["analyst"].post("/api/v1/actions/", body, format="json")
        assert response.status_code == 400
        return response.json()["error"]["fields"]

    assert "parameters.sha256" in post({"sha256": "nope"})
    assert post({"sha256": IMPLANT, "signal": 9}) == {"parameters.signal": "unknown parameter"}
    typo = clients["analyst"].post(
        "/api/v1/actions/", {"type": "kill_process", "endpont": 1}, format="json"
    )
    assert typo.status_code == 400 and typo.json()["error"]["fields"]["endpont"]


def test_reject_needs_a_reason_cancel_and_retry(clients, incident):
    created = _isolate(clients["analyst"], incident).json()
    url = f"/api/v1/actions/{created['id']}/"
    assert clients["lead"].post(f"{url}reject/", {}, format="json").status_code == 400
    rejected = clients["lead"].post(f"{url}reject/", {"reason": "not the DC"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["status"] == "cancelled"
    assert clients["analyst"].post(f"{url}retry/").status_code == 409
    queued = (
        clients["analyst"]
        .post(
            "/api/v1/actions/",
            {
                "type": "collect_file",
                "endpoint": incident.endpoint.pk,
                "case": incident.case.pk,
                "parameters": {"path": "C:\\x.txt"},
            },
            format="json",
        )
        .json()
    )
    with as_agent(incident.endpoint), tenant_context(incident.endpoint.tenant):
        from cases.actions import services

        action = ResponseAction.objects.get(pk=queued["id"])
        services.action_report(action=action, status="failed", output="no such file")
    retried = clients["analyst"].post(f"/api/v1/actions/{queued['id']}/retry/")
    assert retried.status_code == 201 and retried.json()["attempt"] == 2
    assert retried.json()["retry_of"] == queued["id"]
    cancelled = clients["analyst"].post(f"/api/v1/actions/{retried.json()['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_auditors_change_nothing(clients, incident):
    created = _isolate(clients["analyst"], incident).json()
    auditor, url = clients["auditor"], f"/api/v1/actions/{created['id']}/"
    assert _isolate(auditor, incident).status_code == 403
    for path in ("approve/", "reject/", "cancel/", "retry/", "outcome/"):
        assert auditor.post(f"{url}{path}", {"reason": "x"}, format="json").status_code == 403
    bulk = {"type": "isolate_endpoint", "endpoints": [incident.endpoint.pk]}
    assert auditor.post("/api/v1/bulk-actions/", bulk, format="json").status_code == 403
    for method in ("put", "patch", "delete"):
        assert getattr(auditor, method)(url, {}, format="json").status_code in (403, 405)
    assert auditor.get("/api/v1/actions/").status_code == 200


def test_integrations_request_but_do_not_approve(clients, incident):
    created = _isolate(clients["integration"], incident)
    assert created.status_code == 201
    url = f"/api/v1/actions/{created.json()['id']}/"
    assert clients["integration"].post(f"{url}approve/").status_code == 403
    assert (
        clients["integration"].post(f"{url}reject/", {"reason": "x"}, format="json").status_code
        == 403
    )


def test_filters(clients, incident, agents):
    _isolate(clients["analyst"], incident)
    clients["lead"].post(
        "/api/v1/actions/",
        {
            "type": "collect_file",
            "endpoint": agents[1].endpoint.pk,
            "case": incident.case.pk,
            "parameters": {"path": "/etc/passwd"},
        },
        format="json",
    )
    get = clients["analyst"].get

    def ids(**params):
        return [row["type"] for row in get("/api/v1/actions/", params).json()["results"]]

    assert ids(status="awaiting_approval") == ["isolate_endpoint"]
    assert ids(status="open") == ["collect_file", "isolate_endpoint"]
    assert ids(type="collect_file") == ["collect_file"]
    assert ids(endpoint=agents[1].endpoint.pk) == ["collect_file"]
    assert ids(requested_by="me") == ["isolate_endpoint"]
    assert ids(ordering="created_at") == ["isolate_endpoint", "collect_file"]
    assert len(ids(case=incident.case.pk)) == 2
    bad = get("/api/v1/actions/", {"status": "sleeping"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]


def test_lists_keep_constant_queries(tenant_a, clients, agents, act, people):
    def add(n):
        for _ in range(n):
            act(
                people.analyst,
                roles.ANALYST,
                "action_request",
                type="kill_process",
                endpoint=agents[0].endpoint,
                parameters={"sha256": IMPLANT},
            )
            act(
                people.analyst,
                roles.ANALYST,
                "bulk_action_request",
                type="isolate_endpoint",
                endpoints=[a.endpoint.pk for a in agents],
            )

    clients["analyst"].get("/api/v1/me/")  # the token's first use is recorded once
    assert_constant_queries(add, lambda: clients["analyst"].get("/api/v1/actions/"))
    assert_constant_queries(add, lambda: clients["analyst"].get("/api/v1/bulk-actions/"))


def test_a_bulk_kill_over_the_api(
    tenant_a, clients, agents, incident, django_capture_on_commit_callbacks
):
    for agent in agents[:2]:
        observe(agent.endpoint, [{"kind": "process", "pid": 4, "sha256": IMPLANT}], tenant=tenant_a)
    created = clients["analyst"].post(
        "/api/v1/bulk-actions/",
        {"type": "kill_process", "sha256": IMPLANT, "case": incident.case.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    bulk = created.json()
    assert bulk["status"] == "awaiting_approval" and bulk["total"] == 2
    assert sorted(bulk["endpoints"]) == sorted(a.endpoint.pk for a in agents[:2])
    with django_capture_on_commit_callbacks(execute=True):
        approved = clients["lead"].post(f"/api/v1/bulk-actions/{bulk['id']}/approve/")
    assert approved.status_code == 200
    detail = clients["analyst"].get(f"/api/v1/bulk-actions/{bulk['id']}/").json()
    assert detail["status"] == "running" and detail["counts"]["queued"] == 2
    children = clients["analyst"].get("/api/v1/actions/", {"bulk": bulk["id"]}).json()
    assert children["count"] == 2
    assert {row["approved_by"] for row in children["results"]} == {clients["lead"].user.pk}
    listed = clients["analyst"].get("/api/v1/bulk-actions/").json()["results"]
    assert listed[0]["percent"] == 0 and "endpoints" not in listed[0]
    bad = clients["analyst"].post(
        "/api/v1/bulk-actions/", {"type": "isolate_endpoint"}, format="json"
    )
    assert bad.status_code == 400 and "target" in bad.json()["error"]["fields"]


def test_the_schema_documents_actions_and_the_agent_channel(db, client):
    schema = client.get("/api/schema/").content.decode()
    for path in (
        "/api/v1/actions/{id}/approve/",
        "/api/v1/actions/{id}/reject/",
        "/api/v1/actions/{id}/cancel/",
        "/api/v1/actions/{id}/retry/",
        "/api/v1/bulk-actions/",
        "/api/v1/agent/actions/",
        "/api/v1/agent/actions/{id}/ack/",
        "/api/v1/agent/actions/{id}/result/",
        "/api/v1/agent/actions/key/",
    ):
        assert path in schema, path
    for name in ("kill_process", "awaiting_approval", "yara_scan"):
        assert name in schema
