from tenancy.models import ApiToken, AuditEvent
from tenancy.services import api_token_create, audit_record
from tests.factories import MembershipFactory
from tests.isolation.harness import api, exempt


def make_audit_event() -> AuditEvent:
    return audit_record(
        "test.event",
        None,
        {"marker": [None, "isolation"]},
        object_type="test",
        object_id="1",
        object_repr="isolation marker",
    )


def make_token() -> ApiToken:
    from tenancy.context import current_tenant

    membership = MembershipFactory(tenant=current_tenant())
    token, _key = api_token_create(user=membership.user, name="isolation")
    return token


api("audit-event", factory=make_audit_event, writable=False)
api("api-token", factory=make_token)
exempt(
    "t/<slug:tenant_slug>/settings/tokens/<int:pk>/revoke/",
    "POST-only; covered by test_token_revoke_of_other_tenant_is_404",
)
