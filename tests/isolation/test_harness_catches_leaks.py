import pytest

from tenancy import roles
from tenancy.context import tenant_context

from . import harness
from .registry_tenancy import make_audit_event


@pytest.mark.urls("tests.isolation.leaky")
def test_harness_reports_a_view_that_forgets_the_tenant_filter(tenant_a, tenant_b, api_client):
    client_a = api_client(tenant_a, roles.ADMIN)
    resource = harness.ApiResource("audit-event", make_audit_event, writable=False)
    with tenant_context(tenant_b):
        obj_b = make_audit_event()
    problems = harness.check_api(resource, client_a, obj_b)
    assert any("list leaked B's object" in p for p in problems)
    assert any("GET" in p and "not a JSON 404" in p for p in problems)
