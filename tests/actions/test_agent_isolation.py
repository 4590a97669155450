"""The agent channel's wall: an agent token of endpoint X gets 404 for endpoint Y's actions
(same tenant) and for another tenant's; on PostgreSQL, Row-Level Security keeps tenant B's
actions out of tenant A's session even when the ORM filter is gone."""

from __future__ import annotations

import pytest
from django.db import connection

from cases.actions import services
from cases.models import BulkAction, ResponseAction
from tenancy.context import tenant_context
from tests.fixtures.actions import acting

pytestmark = pytest.mark.django_db


def _queued(tenant, endpoint, user):
    with acting(user, "lead", tenant):
        action = services.action_request(
            type="collect_file",
            endpoint=endpoint,
            parameters={"path": "/etc/hosts"},
            case=_case(tenant, user),
        )
    assert action.status == "queued"
    return action


def _case(tenant, user):
    from tests.cases.factories import make_case

    with acting(user, "lead", tenant):
        return make_case()


@pytest.fixture
def two_tenants(tenant_a, tenant_b, enrol_agent, member):
    a_lead, b_lead = member(tenant_a, "lead"), member(tenant_b, "lead")
    x, y = enrol_agent(tenant_a, hostname="x"), enrol_agent(tenant_a, hostname="y")
    z = enrol_agent(tenant_b, hostname="z")
    return {
        "x": x,
        "y": y,
        "z": z,
        "y_action": _queued(tenant_a, y.endpoint, a_lead),
        "z_action": _queued(tenant_b, z.endpoint, b_lead),
    }


@pytest.mark.parametrize("target", ["y_action", "z_action"])
@pytest.mark.parametrize("path", ["ack/", "result/"])
def test_endpoint_x_gets_404_for_actions_it_does_not_own(two_tenants, target, path):
    action = two_tenants[target]
    response = two_tenants["x"].post(
        f"/api/v1/agent/actions/{action.pk}/{path}", {"status": "succeeded"}, format="json"
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert str(action.pk) not in response.content.decode()


def test_endpoint_x_polls_nothing_of_y_or_of_another_tenant(two_tenants):
    assert two_tenants["x"].get("/api/v1/agent/actions/").json()["actions"] == []
    (own,) = two_tenants["y"].get("/api/v1/agent/actions/").json()["actions"]
    assert own["id"] == two_tenants["y_action"].pk
    (theirs,) = two_tenants["z"].get("/api/v1/agent/actions/").json()["actions"]
    assert theirs["id"] == two_tenants["z_action"].pk


@pytest.mark.postgres
def test_rls_keeps_tenant_b_actions_out_of_tenant_a(tenant_a, tenant_b, two_tenants, is_postgres):
    if not is_postgres:
        pytest.skip("Row-Level Security exists on PostgreSQL only")
    with tenant_context(tenant_a):
        ResponseAction.objects.exists()  # the session now carries tenant A
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT tenant_id FROM cases_responseaction")
            assert cursor.fetchall() == [(tenant_a.pk,)]
            cursor.execute(
                "SELECT count(*) FROM cases_responseaction WHERE id = %s",
                [two_tenants["z_action"].pk],
            )
            assert cursor.fetchone() == (0,)
            cursor.execute(
                "SELECT count(*) FROM cases_bulkaction WHERE tenant_id = %s", [tenant_b.pk]
            )
            assert cursor.fetchone() == (0,)
    with tenant_context(tenant_b):
        assert BulkAction.objects.count() == 0
        assert ResponseAction.objects.get().pk == two_tenants["z_action"].pk
