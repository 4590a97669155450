"""Races with real concurrent transactions (PostgreSQL): two leads approving at once, an
agent reporting twice at once, two workers launching the same bulk chunk."""

from __future__ import annotations

import pytest

from cases.actions import services
from cases.models import ResponseAction
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import AuditEvent
from tests.cases.test_concurrency import run_together
from tests.fixtures.actions import acting, as_agent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres):
    if not is_postgres:
        pytest.skip("needs concurrent transactions (SQLite serialises writers)")


def test_two_leads_approving_at_once_one_wins_one_gets_409(
    tenant_a, people, incident, act, member, api_client
):
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="isolate_endpoint",
        endpoint=incident.endpoint,
        case=incident.case,
    )
    leads = [api_client(tenant_a, roles.LEAD, f"racer{i}") for i in range(4)]

    def approve(client):
        return lambda: client.post(f"/api/v1/actions/{action.pk}/approve/").status_code

    codes = run_together(*(approve(client) for client in leads))
    assert sorted(codes) == [200, 409, 409, 409], codes
    with tenant_context(tenant_a):
        fresh = ResponseAction.objects.get(pk=action.pk)
        approvals = AuditEvent.objects.filter(action="action.approve").count()
        queued = AuditEvent.objects.filter(action="action.queue").count()
    assert fresh.status == "queued" and approvals == 1 and queued == 1


def test_an_agent_reporting_twice_at_once_finishes_the_action_once(tenant_a, people, incident, act):
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="collect_file",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"path": "/tmp/none"},
    )

    def report():
        with as_agent(incident.endpoint):
            return services.action_report(action=action, status="failed", output="gone").status

    results = run_together(report, report, report)
    assert all(result == "failed" for result in results), results
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="action.fail").count() == 1


def test_the_same_bulk_chunk_in_two_workers_creates_each_action_once(
    tenant_a, people, agents, act, monkeypatch
):
    act(people.admin, roles.ADMIN, "action_settings_update", approval_required_types=[])
    monkeypatch.setattr(services, "_bulk_launch", lambda bulk: None)  # no group: we race
    with acting(people.analyst, roles.ANALYST, tenant_a):
        bulk = services.bulk_action_request(
            type="isolate_endpoint", endpoints=[a.endpoint.pk for a in agents]
        )

    def chunk():
        with tenant_context(tenant_a):
            return services.bulk_action_launch_chunk(
                bulk_id=bulk.pk, endpoint_ids=bulk.endpoint_ids
            )

    results = run_together(chunk, chunk)
    assert sorted(results) == [0, 3], results
    with tenant_context(tenant_a):
        bulk.refresh_from_db()
        assert ResponseAction.objects.filter(bulk=bulk).count() == 3
    assert bulk.launched == 3 and bulk.status == "running"
