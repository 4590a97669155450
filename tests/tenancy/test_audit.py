import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tenancy.context import tenant_context
from tenancy.models import AuditEvent
from tenancy.selectors import audit_verify
from tenancy.services import AuditEntry, audit_record, audit_record_many


def _chain(tenant, n=5):
    with tenant_context(tenant):
        for i in range(n):
            audit_record("test.event", None, {"i": [i, i + 1]}, object_repr=f"event {i}")


def _tamper(sql, params, is_postgres):
    with connection.cursor() as cursor:
        if is_postgres:  # the trigger refuses; the table owner can switch it off to simulate
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE tenancy_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if is_postgres:
            cursor.execute("ALTER TABLE tenancy_auditevent ENABLE TRIGGER USER")


def test_events_form_an_intact_chain_per_tenant(tenant_a, tenant_b):
    _chain(tenant_a, 5)
    _chain(tenant_b, 3)
    report_a, report_b = audit_verify(tenant_a), audit_verify(tenant_b)
    assert (report_a.ok, report_a.events) == (True, 5)
    assert (report_b.ok, report_b.events) == (True, 3)
    with tenant_context(tenant_a):
        seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
        first, second = AuditEvent.objects.order_by("seq")[:2]
    assert seqs == [1, 2, 3, 4, 5]
    assert second.prev_hash == first.hash


def test_bulk_append_keeps_the_order(tenant_a):
    with tenant_context(tenant_a):
        audit_record_many([AuditEntry(action=f"bulk.{i}") for i in range(4)])
        actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["bulk.0", "bulk.1", "bulk.2", "bulk.3"]
    assert audit_verify(tenant_a).ok


def test_altering_one_event_breaks_the_chain_at_that_event(tenant_a, is_postgres, capsys):
    _chain(tenant_a, 5)
    with tenant_context(tenant_a):
        target = AuditEvent.objects.get(seq=3)
        _tamper(
            "UPDATE tenancy_auditevent SET object_repr = %s WHERE id = %s",
            ["nothing to see", target.pk],
            is_postgres,
        )
    report = audit_verify(tenant_a)
    assert report.broken_seq == 3
    assert "altered" in report.reason
    with pytest.raises(CommandError, match="alpha"):
        call_command("verify_audit", "--tenant", "alpha")
    assert "BROKEN at event #3" in capsys.readouterr().out


def test_deleting_an_event_is_detected(tenant_a, is_postgres):
    _chain(tenant_a, 4)
    with tenant_context(tenant_a):
        target = AuditEvent.objects.get(seq=2)
        _tamper("DELETE FROM tenancy_auditevent WHERE id = %s", [target.pk], is_postgres)
    report = audit_verify(tenant_a)
    assert report.broken_seq == 2
    assert "missing" in report.reason


def test_truncating_the_tail_is_detected(tenant_a, is_postgres):
    _chain(tenant_a, 4)
    with tenant_context(tenant_a):
        target = AuditEvent.objects.get(seq=4)
        _tamper("DELETE FROM tenancy_auditevent WHERE id = %s", [target.pk], is_postgres)
    assert audit_verify(tenant_a).broken_seq == 4


def test_event_records_who_and_where(tenant_a, api_client):
    client = api_client(tenant_a, "admin")
    response = client.post(
        "/api/v1/tokens/",
        {"username": client.user.username, "name": "ci"},
        format="json",
        HTTP_X_REQUEST_ID="req-1234567890",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 201
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="token.create").order_by("-seq").first()
    assert event.actor_kind == "token"
    assert client.user.username in event.actor_label
    assert event.request_id == "req-1234567890"
    assert event.ip == "203.0.113.9"
