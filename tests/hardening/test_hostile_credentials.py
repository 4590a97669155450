"""Credentials that no longer hold, on every operation.

`tests/tenancy/test_auth.py` shows one endpoint refusing a revoked or expired token; here
every operation of the API (from the OpenAPI schema) is called with each dead credential —
a revoked token, an expired one, the token of a deactivated user, of a user who left the
tenant, and a forged one — and must answer 401 in the error format with
`WWW-Authenticate`, changing nothing. Agents likewise: a replaced agent token (the agent
re-enrolled), a rotated enrolment secret, and a user's token on the agent routes (or an
agent's token on the users' routes) are refused. In the browser, a deactivated user's or a
removed member's session opens nothing.
"""

from __future__ import annotations

import datetime as dt
import json

from django.utils import timezone

from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import ApiToken
from tenancy.services import api_token_create, api_token_revoke, membership_remove

from .hostile import api_operations, browser, changed, state_digest


def _dead_tokens(world) -> dict[str, str]:
    side = world.a
    admin = side.users[roles.ADMIN]
    with tenant_context(side.tenant):
        revoked, revoked_key = api_token_create(user=admin, name="to revoke")
        api_token_revoke(token=revoked)
        expired, expired_key = api_token_create(user=admin, name="to expire")
        ApiToken.objects.filter(pk=expired.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
        membership_remove(user=side.users[roles.ANALYST])
    lead = side.users[roles.LEAD]
    lead.is_active = False
    lead.save(update_fields=["is_active"])
    forged = side.tokens[roles.ADMIN][:-4] + "AAAA"
    return {
        "revoked": f"Token {revoked_key}",
        "expired": f"Token {expired_key}",
        "deactivated user": side.auth(roles.LEAD),
        "left the tenant": side.auth(roles.ANALYST),
        "forged": f"Token {forged}",
        "agent token on a user route": side.auth(roles.AGENT),
    }


def _agent_credentials(world) -> dict[str, str]:
    from endpoints.services import endpoint_enrol, enrolment_secret_rotate

    side = world.a
    old_agent = side.auth(roles.AGENT)
    old_secret = side.enrolment_secret
    with tenant_context(side.tenant):
        endpoint_enrol(agent_id=f"agent-{side.marker}", facts={})  # re-enrolled: new token
        enrolment_secret_rotate()
    return {
        "replaced agent token": old_agent,
        "rotated enrolment secret": f"Enrolment {old_secret}",
        "user token on an agent route": side.auth(roles.ADMIN),
        "forged agent token": old_agent[:-4] + "AAAA",
    }


def test_every_operation_refuses_every_dead_credential(world, client):
    credentials = _dead_tokens(world)
    agent_credentials = _agent_credentials(world)
    before = state_digest()
    problems, tried = [], 0
    for operation in api_operations():
        dead = agent_credentials if operation.is_agent else credentials
        for label, header in dead.items():
            tried += 1
            response = client.generic(
                operation.method.upper(),
                operation.url(world.a),
                json.dumps({}),
                content_type="application/json",
                HTTP_AUTHORIZATION=header,
            )
            body = response.json() if response["Content-Type"] == "application/json" else {}
            code = body.get("error", {}).get("code")
            if (
                response.status_code != 401
                or code not in ("authentication_failed", "not_authenticated")
                or not response.has_header("WWW-Authenticate")
            ):
                problems.append(f"{operation.label} [{label}]: {response.status_code} {code}")
    assert tried > 600
    assert not problems, f"{len(problems)} accepted:\n" + "\n".join(problems)
    assert changed(before, state_digest()) == []


def test_a_deactivated_user_s_browser_session_opens_nothing(world):
    client = browser(world.a, roles.LEAD)
    url = f"/t/{world.a.tenant.slug}/cases/"
    assert client.get(url).status_code == 200
    lead = world.a.users[roles.LEAD]
    lead.is_active = False
    lead.save(update_fields=["is_active"])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_removed_member_s_browser_session_opens_nothing(world):
    client = browser(world.a, roles.ANALYST)
    url = f"/t/{world.a.tenant.slug}/cases/"
    assert client.get(url).status_code == 200
    with tenant_context(world.a.tenant):
        membership_remove(user=world.a.users[roles.ANALYST])
    assert client.get(url).status_code == 404
    assert client.post(f"/t/{world.a.tenant.slug}/cases/new/", {"title": "x"}).status_code == 404
