"""Real chromium: an analyst requests an isolation from the case page, a lead approves it
from the queue with the keyboard, the agent (driven by the test through
endpoints/agent_client.py) verifies and carries it out, and the action's page and the case
follow live: succeeded, contained."""

from __future__ import annotations

import re

import pytest

from cases.actions.agent import ActionRunner, ActionVerifier, SimulatedMachine
from cases.actions.signing import decode_key
from cases.services import alert_ingest
from endpoints.agent_client import AgentClient
from endpoints.services import enrolment_secret_reveal
from tenancy import roles
from tenancy.context import tenant_context
from tests.cases.factories import alert_input

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_request_approve_and_watch_an_isolation_carried_out(
    page, sign_in, tenant_a, member, live_server
):
    member(tenant_a, roles.ANALYST, "anna")
    member(tenant_a, roles.LEAD, "leo")
    with tenant_context(tenant_a):
        secret = enrolment_secret_reveal()
    agent = AgentClient(live_server.url)
    agent.enrol(
        secret, agent_id="agent-e2e-1", facts={"hostname": "ws-e2e", "os_family": "windows"}
    )
    with tenant_context(tenant_a):
        from endpoints.models import Endpoint

        endpoint = Endpoint.objects.get(pk=agent.endpoint_id)
        alert = alert_ingest(
            alerts=[
                alert_input(
                    title="Implant beacon on ws-e2e", severity="critical", endpoint=endpoint
                )
            ]
        ).alerts[0]
        alert.refresh_from_db()
    page.on("dialog", lambda dialog: dialog.accept())

    # the analyst: from the case page, "Isolate…", the form comes filled in
    sign_in(page, "anna")
    page.wait_for_url("**/t/alpha/")
    page.goto(f"/t/alpha/cases/{alert.case_id}/")
    page.click("[data-testid=respond-isolate]")
    page.wait_for_url(re.compile(r".*/actions/new/.*"))
    assert page.locator("[data-testid=endpoint-input]").input_value() == "ws-e2e"
    assert page.locator("input[name=sha256]").is_hidden()  # only this type's parameters
    page.fill("input[name=reason]", "beaconing to its C2")
    page.click("[data-testid=request-action]")
    page.wait_for_url(re.compile(r".*/actions/\d+/$"))
    assert page.locator("[data-testid=action-status]").first.inner_text() == "Awaiting approval"
    action_url = page.url
    page.click("[data-testid=logout]")

    # the lead: g r, j, y — approved from the keyboard
    sign_in(page, "leo")
    page.wait_for_url("**/t/alpha/")
    page.keyboard.press("g")
    page.keyboard.press("r")
    page.wait_for_url("**/actions/")
    assert page.locator("[data-testid=action-row]").count() == 1
    page.keyboard.press("j")
    page.keyboard.press("y")
    status = page.locator("[data-testid=action-row] [data-testid=action-status]")
    status.filter(has_text="Queued").wait_for()

    # the action's page follows live while the agent works
    page.goto(action_url)
    assert page.locator("[data-testid=action-status]").first.inner_text() == "Queued"
    machine = SimulatedMachine("ws-e2e")
    key = decode_key(agent.action_key()["key"])
    runner = ActionRunner(agent, ActionVerifier(key=key, endpoint_id=agent.endpoint_id), machine)
    assert runner.run_once().executed and machine.isolated
    page.locator("[data-testid=action-status]", has_text="Succeeded").first.wait_for(timeout=10_000)
    assert "network isolated" in page.locator("[data-testid=action-output]").inner_text()

    # the case: contained, the steps on its timeline
    page.goto(f"/t/alpha/cases/{alert.case_id}/")
    assert page.locator("[data-testid=case-status]").inner_text() == "Contained"
    assert page.locator("[data-testid=m-contained_at]").inner_text() != "—"
    timeline = page.locator("[data-testid=timeline]").inner_text()
    for step in (
        "requested by anna",
        "approved by leo",
        "picked up by the agent",
        "Isolate endpoint on ws-e2e succeeded",
    ):
        assert step in timeline, step
    assert page.console_errors == []
