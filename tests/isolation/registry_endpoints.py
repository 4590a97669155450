"""Endpoints routes in the isolation harness (one line each; factories run in the tenant in
context). The agent API takes no object id (the token is the endpoint); its tenant wall is
tested in tests/endpoints/test_isolation_agents.py."""

from endpoints.models import DetectionRule, Endpoint, Observation, RuleException
from endpoints.services import rule_exception_add, rule_upload
from tenancy.context import current_tenant
from tests.endpoints.factories import EndpointFactory, ObservationFactory, rule_yaml
from tests.isolation.harness import api, page


def make_endpoint() -> Endpoint:
    return EndpointFactory(tenant=current_tenant())


def make_observation() -> Observation:
    return ObservationFactory(tenant=current_tenant())


def make_rule() -> DetectionRule:
    return rule_upload(yaml_text=rule_yaml())


def make_exception() -> RuleException:
    return rule_exception_add(rule=make_rule(), field="process_path", value=r"c:\tools\*")


api("endpoint", factory=make_endpoint, writable=False)
api("observation", factory=make_observation, writable=False)
api("detection-rule", factory=make_rule)
api("rule-exception", factory=make_exception)
page("endpoints:endpoint-detail", factory=make_endpoint)
page("endpoints:endpoint-timeline", factory=make_endpoint)
page("endpoints:observation", factory=make_observation)
page("endpoints:process-tree", factory=make_observation)
page("endpoints:rule-detail", factory=make_rule)
page("endpoints:rule-toggle", factory=make_rule, methods=("post",))
page("endpoints:rule-delete", factory=make_rule, methods=("post",))
page("endpoints:rule-exception-delete", factory=make_exception, methods=("post",))
