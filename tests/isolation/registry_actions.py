"""Response actions in the isolation harness: the API resources, every page taking an id.

The agent routes (`/api/v1/agent/actions/…`) take no API token: the agent's token is its
endpoint, so the harness's tenant-A API client cannot call them. Their wall — endpoint X's
agent gets 404 for endpoint Y's actions, in the same tenant and in another, and on
PostgreSQL under RLS too — is tested in tests/actions/test_agent_isolation.py.
"""

from cases.actions.services import action_request, bulk_action_request
from cases.models import BulkAction, ResponseAction
from tenancy.context import current_tenant
from tests.endpoints.factories import EndpointFactory
from tests.isolation.harness import api, exempt, page

AGENT_ROUTES = "agent routes: tested in tests/actions/test_agent_isolation.py"


def make_action() -> ResponseAction:
    endpoint = EndpointFactory(tenant=current_tenant())
    return action_request(type="isolate_endpoint", endpoint=endpoint, reason="isolation marker")


def make_bulk() -> BulkAction:
    endpoint = EndpointFactory(tenant=current_tenant())
    return bulk_action_request(type="isolate_endpoint", endpoints=[endpoint.pk])


api(
    "action",
    factory=make_action,
    actions=["approve", "reject", "cancel", "retry", "outcome"],
    writable=False,
)
api("bulk-action", factory=make_bulk, actions=["approve", "reject", "cancel"], writable=False)

page("cases:action-detail", factory=make_action)
page("cases:action-row", factory=make_action, methods=("get",))
page("cases:action-status", factory=make_action, methods=("get",))
page("cases:action-do", factory=make_action, methods=("post",))
page("cases:bulk-action-detail", factory=make_bulk)
page("cases:bulk-action-progress", factory=make_bulk, methods=("get",))
page("cases:bulk-action-do", factory=make_bulk, methods=("post",))

exempt("api/v1/agent/actions/<int:pk>/ack/", AGENT_ROUTES)
exempt("api/v1/agent/actions/<int:pk>/result/", AGENT_ROUTES)
