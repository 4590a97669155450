"""Browser pages of response actions: request forms, the approval queue (roles, four eyes,
htmx rows), an action's live status, bulk responses, the case page's actions and its
"mark remediated" banner, the approval settings."""

from __future__ import annotations

import pytest

from cases.models import BulkAction, ResponseAction, Task
from tenancy import roles
from tenancy.context import tenant_context
from tests.fixtures.actions import IMPLANT, as_agent
from tests.intel.factories import observe
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(tenant_a, web_client):
    return {
        "analyst": web_client(tenant_a, roles.ANALYST, "web-ana"),
        "lead": web_client(tenant_a, roles.LEAD, "web-lee"),
        "admin": web_client(tenant_a, roles.ADMIN, "web-ada"),
        "auditor": web_client(tenant_a, roles.AUDITOR, "web-aud"),
    }


def _request(client, incident, type="isolate_endpoint", **params):
    body = {
        "type": type,
        "case": incident.case.number,
        "endpoint": incident.endpoint.hostname,
        "reason": "from the page",
        **params,
    }
    return client.post(client.url("actions/new/"), body)


def _only(tenant) -> ResponseAction:
    with tenant_context(tenant):
        return ResponseAction.objects.get()


def test_request_from_the_form_then_a_lead_approves_from_the_queue(tenant_a, web, incident):
    form = web["analyst"].get(
        web["analyst"].url(f"actions/new/?case={incident.case.pk}&type=isolate_endpoint")
    )
    assert form.status_code == 200 and b"data-action-form" in form.content
    assert incident.endpoint.hostname.encode() in form.content  # the case's endpoints offered
    response = _request(web["analyst"], incident)
    action = _only(tenant_a)
    assert response.status_code == 302 and response["Location"].endswith(f"actions/{action.pk}/")
    assert action.status == "awaiting_approval" and action.reason == "from the page"
    queue = web["lead"].get(web["lead"].url("actions/"))
    assert queue.status_code == 200 and b'data-shortcut="y"' in queue.content
    assert f'id="action-{action.pk}"'.encode() in queue.content
    row = web["lead"].post(
        web["lead"].url(f"actions/{action.pk}/do/"), {"op": "approve"}, HTTP_HX_REQUEST="true"
    )
    assert (
        row.status_code == 200
        and b"Queued" in row.content
        and b'hx-trigger="every 3s"' in row.content
    )
    assert _only(tenant_a).status == "queued"


def test_the_requester_sees_four_eyes_and_cannot_approve(tenant_a, web, incident):
    _request(web["lead"], incident)
    action = _only(tenant_a)
    queue = web["lead"].get(web["lead"].url("actions/"))
    assert b"awaits another lead" in queue.content and b'data-testid="approve"' not in queue.content
    response = web["lead"].post(
        web["lead"].url(f"actions/{action.pk}/do/"), {"op": "approve"}, follow=True
    )
    assert b"Four eyes" in response.content and _only(tenant_a).status == "awaiting_approval"


def test_analysts_do_not_approve_and_auditors_change_nothing(tenant_a, web, incident):
    _request(web["analyst"], incident)
    action = _only(tenant_a)
    url = web["analyst"].url(f"actions/{action.pk}/do/")
    assert web["analyst"].post(url, {"op": "approve"}).status_code == 403
    auditor = web["auditor"]
    assert auditor.get(auditor.url("actions/")).status_code == 200
    assert auditor.get(auditor.url(f"actions/{action.pk}/")).status_code == 200
    assert (
        auditor.post(auditor.url(f"actions/{action.pk}/do/"), {"op": "cancel"}).status_code == 403
    )
    assert _request(auditor, incident).status_code == 403
    assert auditor.post(auditor.url("bulk-actions/new/"), {}).status_code == 403
    assert auditor.post(auditor.url("settings/actions/"), {}).status_code == 403
    assert _only(tenant_a).status == "awaiting_approval"


def test_reject_needs_a_reason(tenant_a, web, incident):
    _request(web["analyst"], incident)
    action = _only(tenant_a)
    url = web["lead"].url(f"actions/{action.pk}/do/")
    web["lead"].post(url, {"op": "reject", "reason": ""})
    assert _only(tenant_a).status == "awaiting_approval"
    web["lead"].post(url, {"op": "reject", "reason": "wrong host"})
    assert _only(tenant_a).status == "cancelled"


def test_bad_parameters_come_back_as_a_message(tenant_a, web, incident):
    response = _request(web["analyst"], incident, type="kill_process", sha256="xyz")
    assert response.status_code == 200 and b"parameters.sha256" in response.content
    with tenant_context(tenant_a):
        assert not ResponseAction.objects.exists()
    response = _request(web["analyst"], incident, type="kill_process", sha256=IMPLANT, pid="4242")
    action = _only(tenant_a)
    assert response.status_code == 302 and action.parameters == {"sha256": IMPLANT, "pid": 4242}


def test_the_action_page_follows_the_status_live(tenant_a, web, incident):
    _request(web["analyst"], incident, type="collect_file", path=r"C:\x.txt")
    action = _only(tenant_a)
    page = web["analyst"].get(web["analyst"].url(f"actions/{action.pk}/"))
    assert page.status_code == 200 and b'hx-trigger="every 2s"' in page.content
    with as_agent(incident.endpoint):
        from cases.actions import services

        services.action_report(action=action, status="failed", output="no such file")
    panel = web["analyst"].get(web["analyst"].url(f"actions/{action.pk}/status/"))
    assert b"Failed" in panel.content and b"every 2s" not in panel.content
    assert b"no such file" in panel.content
    page = web["analyst"].get(web["analyst"].url(f"actions/{action.pk}/"))
    assert b'data-testid="retry"' in page.content


def test_the_case_page_shows_its_actions_and_proposes_remediation(
    tenant_a, web, incident, people, act
):
    analyst = web["analyst"]
    page = analyst.get(analyst.url(f"cases/{incident.case.pk}/"))
    assert b'data-testid="case-actions"' in page.content
    assert b'data-testid="remediation-banner"' not in page.content
    patch = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="deploy_patch",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"kb": "KB5034441"},
    )
    patch = act(people.lead, roles.LEAD, "action_approve", action=patch)
    with as_agent(incident.endpoint):
        from cases.actions import services

        services.action_report(action=patch, status="succeeded", output="installed")
    with tenant_context(tenant_a):
        Task.objects.filter(case=incident.case, is_remediation=True).update(
            done_at=patch.created_at
        )
    page = analyst.get(analyst.url(f"cases/{incident.case.pk}/"))
    assert b"Deploy patch" in page.content and b'data-testid="remediation-banner"' in page.content
    analyst.post(
        analyst.url(f"cases/{incident.case.pk}/action/"),
        {"action": "transition", "status": "remediated", "version": _version(tenant_a, incident)},
    )
    with tenant_context(tenant_a):
        incident.case.refresh_from_db()
    assert incident.case.status == "remediated" and incident.case.remediated_at


def _version(tenant, incident):
    with tenant_context(tenant):
        incident.case.refresh_from_db()
    return incident.case.version


def test_bulk_preview_request_approve_and_progress(
    tenant_a, web, agents, incident, django_capture_on_commit_callbacks
):
    for agent in agents[:2]:
        observe(agent.endpoint, [{"kind": "process", "pid": 9, "sha256": IMPLANT}], tenant=tenant_a)
    analyst, lead = web["analyst"], web["lead"]
    preview = analyst.get(analyst.url(f"bulk-actions/new/?type=kill_process&sha256={IMPLANT}"))
    assert preview.status_code == 200 and b"2 endpoints" in preview.content
    response = analyst.post(
        analyst.url("bulk-actions/new/"),
        {
            "type": "kill_process",
            "sha256": IMPLANT,
            "case": incident.case.number,
            "reason": "everywhere",
        },
    )
    with tenant_context(tenant_a):
        bulk = BulkAction.objects.get()
    assert response.status_code == 302 and bulk.status == "awaiting_approval"
    with django_capture_on_commit_callbacks(execute=True):
        lead.post(lead.url(f"bulk-actions/{bulk.pk}/do/"), {"op": "approve"})
    detail = analyst.get(analyst.url(f"bulk-actions/{bulk.pk}/"))
    assert detail.content.count(b'data-testid="action-row"') == 2
    progress = analyst.get(analyst.url(f"bulk-actions/{bulk.pk}/progress/"))
    assert b"2 queued" in progress.content and b"every 3s" in progress.content


def test_only_admins_change_the_approval_settings(tenant_a, web):
    assert web["lead"].get(web["lead"].url("settings/actions/")).status_code == 200
    assert web["lead"].post(web["lead"].url("settings/actions/"), {}).status_code == 403
    web["admin"].post(
        web["admin"].url("settings/actions/"), {"approval_required_types": ["isolate_endpoint"]}
    )
    tenant_a.refresh_from_db()
    assert tenant_a.settings["cases"]["approval_required_types"] == ["isolate_endpoint"]


def test_the_queue_keeps_constant_queries(tenant_a, web, people, incident, act):
    def add(n):
        for _ in range(n):
            act(
                people.analyst,
                roles.ANALYST,
                "action_request",
                type="isolate_endpoint",
                endpoint=incident.endpoint,
                case=incident.case,
            )

    lead = web["lead"]
    assert_constant_queries(add, lambda: lead.get(lead.url("actions/")))
    assert_constant_queries(add, lambda: lead.get(lead.url(f"cases/{incident.case.pk}/")))


def test_pages_elsewhere_offer_a_response(tenant_a, web, incident):
    analyst = web["analyst"]
    alert = analyst.get(analyst.url(f"alerts/{incident.alert.pk}/"))
    assert b'data-testid="alert-respond"' in alert.content
    endpoint = analyst.get(analyst.url(f"endpoints/{incident.endpoint.pk}/"))
    assert b'data-testid="respond-link"' in endpoint.content
    nav = analyst.get(analyst.url("actions/"))
    assert b'data-key="r"' in nav.content
