import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import ApiToken
from tenancy.services import api_token_create, api_token_revoke, membership_remove


def test_token_is_stored_hashed_and_identifies_user_tenant_role(tenant_a, api_client):
    client = api_client(tenant_a, roles.LEAD)
    with tenant_context(tenant_a):
        stored = ApiToken.objects.get(pk=client.token.pk)
    assert client.key not in {stored.key_hash, stored.prefix}
    assert client.key.startswith(stored.prefix)
    body = client.get("/api/v1/me/").json()
    assert body == {"username": client.user.username, "tenant": "alpha", "role": "lead"}


@pytest.mark.parametrize(
    "header", ["Token", "Token a b", "Token not-a-real-token", "Bearer x", "Token \u00e9t\u00e9"]
)
def test_bad_credentials_get_401_in_the_error_format(db, header):
    client = APIClient()
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"authentication_failed", "not_authenticated"}
    assert response["WWW-Authenticate"] == "Token"


def test_expired_token_is_refused(tenant_a, api_client):
    client = api_client(tenant_a)
    with tenant_context(tenant_a):
        ApiToken.objects.filter(pk=client.token.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    assert client.get("/api/v1/me/").status_code == 401


def test_revoked_token_is_refused_and_revocation_is_audited(tenant_a, api_client):
    client = api_client(tenant_a)
    with tenant_context(tenant_a):
        api_token_revoke(token=client.token)
    assert client.get("/api/v1/me/").status_code == 401


def test_leaving_the_tenant_ends_the_token(tenant_a, api_client):
    client = api_client(tenant_a)
    with tenant_context(tenant_a):
        membership_remove(user=client.user)
    assert client.get("/api/v1/me/").status_code == 401


def test_token_for_non_member_is_refused(tenant_a, tenant_b, member):
    outsider = member(tenant_b)
    with tenant_context(tenant_a), pytest.raises(Exception, match="not a member"):
        api_token_create(user=outsider, name="x")


def test_admin_creates_a_token_shown_once(tenant_a, api_client, member):
    admin = api_client(tenant_a, roles.ADMIN)
    analyst = member(tenant_a, roles.ANALYST, "ana")
    created = admin.post(
        "/api/v1/tokens/", {"username": "ana", "name": "siem", "days": 7}, format="json"
    )
    assert created.status_code == 201
    key = created.json()["key"]
    listed = admin.get("/api/v1/tokens/").json()["results"]
    assert all("key" not in row for row in listed)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert other.get("/api/v1/me/").json()["username"] == analyst.username
    token_id = created.json()["id"]
    assert admin.delete(f"/api/v1/tokens/{token_id}/").status_code == 204
    assert other.get("/api/v1/me/").status_code == 401


@pytest.mark.parametrize("role", [roles.ANALYST, roles.AUDITOR, roles.INTEGRATION, roles.LEAD])
def test_only_admins_manage_tokens(tenant_a, api_client, role):
    client = api_client(tenant_a, role)
    assert client.get("/api/v1/tokens/").status_code == 403
    response = client.post(
        "/api/v1/tokens/", {"username": client.user.username, "name": "x"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_auditor_reads_the_audit_trail_but_analyst_does_not(tenant_a, api_client):
    assert api_client(tenant_a, roles.AUDITOR).get("/api/v1/audit/").status_code == 200
    assert api_client(tenant_a, roles.ANALYST).get("/api/v1/audit/").status_code == 403


# --- browser ---------------------------------------------------------------------------
def test_login_lands_on_the_tenant_dashboard_and_logout_ends_the_session(tenant_a, member):
    member(tenant_a, roles.ANALYST, "sam")
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "sam", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/t/alpha/"
    assert b"Alpha Corp" in response.content
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/t/alpha/").status_code == 302


def test_failed_logins_are_throttled_per_account(tenant_a, member, settings):
    member(tenant_a, roles.ANALYST, "sam")
    client = Client()
    for _ in range(settings.LOGIN_THROTTLE_ATTEMPTS):
        assert (
            client.post("/accounts/login/", {"username": "sam", "password": "wrong"}).status_code
            == 200
        )
    blocked = client.post(
        "/accounts/login/", {"username": "sam", "password": "correct horse battery"}
    )
    assert blocked.status_code == 429
    assert blocked["Retry-After"]


def test_failed_logins_are_throttled_per_ip(tenant_a, member, settings):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for i in range(settings.LOGIN_THROTTLE_ATTEMPTS):
        client.post("/accounts/login/", {"username": f"nobody{i}", "password": "wrong"})
    member(tenant_a, roles.ANALYST, "sam")
    assert (
        client.post(
            "/accounts/login/", {"username": "sam", "password": "correct horse battery"}
        ).status_code
        == 429
    )


def test_integration_role_has_no_browser_access(tenant_a, web_client):
    client = web_client(tenant_a, roles.INTEGRATION)
    assert client.get(client.url()).status_code == 403


def test_password_change(tenant_a, member):
    member(tenant_a, roles.ANALYST, "sam")
    client = Client()
    client.login(username="sam", password="correct horse battery")
    response = client.post(
        "/accounts/password/",
        {
            "old_password": "correct horse battery",
            "new_password1": "a much longer secret 42",
            "new_password2": "a much longer secret 42",
        },
    )
    assert response.status_code == 302
    assert Client().login(username="sam", password="a much longer secret 42")


def test_admin_creates_and_revokes_tokens_in_the_browser(tenant_a, web_client, in_tenant):
    client = web_client(tenant_a, roles.ADMIN)
    with in_tenant(tenant_a):
        from tenancy.models import Membership

        membership = Membership.objects.get(user=client.user)
    page = client.post(
        client.url("settings/tokens/"), {"member": membership.pk, "name": "siem", "days": 30}
    )
    assert page.status_code == 200
    key = page.context["new_key"]
    assert key.encode() in page.content
    with in_tenant(tenant_a):
        token = ApiToken.objects.get(name="siem")
    assert client.post(client.url(f"settings/tokens/{token.pk}/revoke/")).status_code == 302
    with in_tenant(tenant_a):
        token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_revoke_of_other_tenant_is_404(tenant_a, tenant_b, web_client, member):
    client = web_client(tenant_a, roles.ADMIN)
    other = member(tenant_b, roles.ADMIN)
    with tenant_context(tenant_b):
        token, _ = api_token_create(user=other, name="b")
    assert client.post(client.url(f"settings/tokens/{token.pk}/revoke/")).status_code == 404
    with tenant_context(tenant_b):
        token.refresh_from_db()
    assert token.revoked_at is None


def test_analyst_cannot_open_token_or_audit_pages(tenant_a, web_client):
    client = web_client(tenant_a, roles.ANALYST)
    assert client.get(client.url("settings/tokens/")).status_code == 403
    assert client.get(client.url("audit/")).status_code == 403
