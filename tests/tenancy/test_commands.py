import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from tenancy.context import tenant_context, unscoped
from tenancy.models import AuditEvent, Membership, Tenant


def test_create_tenant_user_and_token_from_the_command_line(db, capsys):
    call_command("create_tenant", "initech", "--name", "Initech")
    call_command(
        "create_user",
        "peter",
        "--tenant",
        "initech",
        "--role",
        "analyst",
        "--password",
        "tps reports 2026",
    )
    capsys.readouterr()
    call_command("create_api_token", "--tenant", "initech", "--user", "peter")
    key = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/me/").json()["tenant"] == "initech"


def test_commands_refuse_bad_input(db):
    with pytest.raises(CommandError, match="no tenant"):
        call_command("create_user", "x", "--tenant", "nope", "--role", "analyst")
    call_command("create_tenant", "initech", "--name", "Initech")
    with pytest.raises(CommandError):
        call_command("create_tenant", "initech", "--name", "Again")
    with pytest.raises(CommandError, match=r"timezone|time zone"):
        call_command("create_tenant", "other", "--name", "Other", "--timezone", "Mars/Olympus")


def test_seed_demo_is_idempotent(db):
    call_command("seed_demo")
    with unscoped("test: count all"):
        counts = (Tenant.objects.count(), Membership.objects.count(), AuditEvent.objects.count())
    call_command("seed_demo")
    with unscoped("test: count all"):
        assert (
            Tenant.objects.count(),
            Membership.objects.count(),
            AuditEvent.objects.count(),
        ) == counts
    admin = get_user_model().objects.get(username="admin")
    with tenant_context(Tenant.objects.get(slug="acme")):
        assert Membership.objects.get(user=admin).role == "admin"
    call_command("verify_audit")
