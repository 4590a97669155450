"""/api/v1/alerts/: ingestion (single, bulk), filters, triage actions, bad input."""

import datetime as dt

import pytest
from django.utils import timezone

from cases.models import Alert, Case
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import AuditEvent
from tests.cases.factories import make_alert, make_endpoint
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db
ALERT_FIELDS = {
    "id",
    "title",
    "severity",
    "source",
    "phase",
    "attack_techniques",
    "observed_at",
    "external_id",
    "dedup_key",
    "status",
    "raw",
    "endpoint",
    "case",
}


def payload(**overrides):
    body = {
        "title": "Office spawned a shell",
        "severity": "medium",
        "source": "api",
        "phase": "initial_infection",
        "attack_techniques": ["T1059.001"],
        "observed_at": (timezone.now() - dt.timedelta(minutes=3)).isoformat(),
        "external_id": "siem-1",
        "dedup_key": "",
        "raw": {"rule": "office-shell", "host": "ws-1"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def client(tenant_a, api_client):
    return api_client(tenant_a, roles.INTEGRATION)


def test_ingest_one_alert_then_resend_it(client, tenant_a):
    first = client.post("/api/v1/alerts/", payload(), format="json")
    assert first.status_code == 201, first.json()
    assert set(first.json()) >= ALERT_FIELDS
    assert first["X-Stopclock-Ingest"] == "created"
    again = client.post("/api/v1/alerts/", payload(), format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again["X-Stopclock-Ingest"] == "already_known"
    with tenant_context(tenant_a):
        assert Alert.objects.count() == 1


def test_a_high_alert_comes_back_with_its_new_case(client, tenant_a):
    body = client.post("/api/v1/alerts/", payload(severity="high"), format="json").json()
    assert body["status"] == "promoted" and body["case"] and body["case_number"].startswith("CASE-")


def test_bulk_ingest_reports_each_alert(client, tenant_a):
    alerts = [payload(external_id=f"b-{i}", dedup_key="same" if i < 3 else "") for i in range(5)]
    response = client.post("/api/v1/alerts/bulk/", {"alerts": alerts}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["created"], body["deduplicated"], body["already_known"]) == (3, 2, 0)
    assert [r["outcome"] for r in body["results"]] == [
        "created",
        "deduplicated",
        "deduplicated",
        "created",
        "created",
    ]
    again = client.post("/api/v1/alerts/bulk/", alerts, format="json")  # a bare list works too
    assert again.status_code == 200 and again.json()["already_known"] == 5


def test_a_bulk_batch_with_one_bad_alert_writes_nothing(client, tenant_a):
    alerts = [payload(external_id=f"b-{i}") for i in range(10)]
    alerts[3]["severity"] = "urgent"
    alerts[7]["colour"] = "red"
    response = client.post("/api/v1/alerts/bulk/", {"alerts": alerts}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"alerts.3.severity", "alerts.7.colour"}
    assert "alerts.3.severity" in response.json()["error"]["message"]
    with tenant_context(tenant_a):
        assert Alert.objects.count() == 0


def test_a_bulk_batch_over_a_thousand_is_refused(client):
    response = client.post("/api/v1/alerts/bulk/", [payload()] * 1001, format="json")
    assert response.status_code == 400 and "alerts" in response.json()["error"]["fields"]


def test_a_thousand_alerts_in_one_request(client, tenant_a):
    alerts = [payload(external_id=f"k-{i}", raw={}) for i in range(1000)]
    response = client.post("/api/v1/alerts/bulk/", {"alerts": alerts}, format="json")
    assert response.status_code == 201 and response.json()["created"] == 1000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"severity": "urgent"}, "severity"),
        ({"source": "fax"}, "source"),
        ({"phase": "exfiltration"}, "phase"),
        ({"observed_at": "not a date"}, "observed_at"),
        ({"colour": "red"}, "colour"),
        ({"id": 5}, "id"),
        ({"raw": {"x": "y" * 70_000}}, "raw"),
        ({"attack_techniques": ["nope"]}, "attack_techniques"),
        ({"endpoint": 999999}, "endpoint"),
        ({"title": ""}, "title"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, tenant_a, change, field):
    response = client.post("/api/v1/alerts/", payload(**change), format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    with tenant_context(tenant_a):
        assert Alert.objects.count() == 0


def test_another_tenants_endpoint_is_not_a_valid_choice(client, tenant_b):
    with tenant_context(tenant_b):
        foreign = make_endpoint()
    response = client.post("/api/v1/alerts/", payload(endpoint=foreign.pk), format="json")
    assert response.status_code == 400 and "endpoint" in response.json()["error"]["fields"]


def test_a_100_mb_body_is_413_and_writes_nothing(client, tenant_a):
    body = b'{"title": "' + b"x" * (100 * 1024 * 1024) + b'"}'
    response = client.generic("POST", "/api/v1/alerts/bulk/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    with tenant_context(tenant_a):
        assert Alert.objects.count() == 0


def test_a_non_utf8_body_is_400_and_writes_nothing(client, tenant_a):
    body = '{"title": "caf\xe9", "severity": "low"}'.encode("latin-1")
    response = client.generic("POST", "/api/v1/alerts/", body, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    with tenant_context(tenant_a):
        assert Alert.objects.count() == 0


def test_list_filters_by_field_names(client, tenant_a):
    with tenant_context(tenant_a):
        a = make_alert(external_id="ext-a", severity="low", phase="persistence")
        b = make_alert(external_id="ext-b", severity="medium", title="Lateral PsExec")
        make_alert(source="ioc_sweep", severity="info")

    def ids(**params):
        body = client.get("/api/v1/alerts/", params).json()
        return {row["id"] for row in body["results"]}

    assert ids(external_id="ext-a") == {a.pk}
    assert ids(phase="persistence") == {a.pk}
    assert ids(severity=["low", "medium"]) == {a.pk, b.pk}
    assert ids(search="psexec") == {b.pk}
    assert ids(source="ioc_sweep", status="new") - {a.pk, b.pk}
    first = client.get("/api/v1/alerts/", {"ordering": "severity"}).json()["results"][0]
    assert first["severity"] == "info"
    bad = client.get("/api/v1/alerts/", {"severity": "urgent", "ordering": "colour"})
    assert bad.status_code == 400
    assert {"severity", "ordering"} <= set(bad.json()["error"]["fields"])


def test_triage_actions(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    with tenant_context(tenant_a):
        one, two, three = make_alert(), make_alert(), make_alert()
    assert client.post(f"/api/v1/alerts/{one.pk}/acknowledge/").json()["status"] == "acknowledged"
    bad = client.post(f"/api/v1/alerts/{two.pk}/dismiss/", {"reason": "meh"}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()["error"]["fields"]
    done = client.post(f"/api/v1/alerts/{two.pk}/dismiss/", {"reason": "benign"}, format="json")
    assert done.json()["status"] == "dismissed"
    case = client.post(f"/api/v1/alerts/{three.pk}/promote/", {}, format="json").json()
    assert case["status"] == "triage" and case["triaged_at"]
    conflict = client.post(f"/api/v1/alerts/{two.pk}/promote/", {}, format="json")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"


def test_bulk_triage_is_all_or_nothing(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    with tenant_context(tenant_a):
        alerts = [make_alert() for _ in range(3)]
    ids = [a.pk for a in alerts]
    response = client.post(
        "/api/v1/alerts/bulk-triage/",
        {"ids": [*ids, 999999], "action": "acknowledge"},
        format="json",
    )
    assert response.status_code == 400
    response = client.post(
        "/api/v1/alerts/bulk-triage/",
        {"ids": ids, "action": "promote", "title": "one intrusion"},
        format="json",
    )
    assert response.status_code == 200
    with tenant_context(tenant_a):
        assert Case.objects.get().title == "one intrusion"
        assert AuditEvent.objects.filter(action="alert.promote").count() == 3


def test_auditors_read_but_never_write(tenant_a, api_client):
    client = api_client(tenant_a, roles.AUDITOR)
    with tenant_context(tenant_a):
        alert = make_alert()
    assert client.get("/api/v1/alerts/").status_code == 200
    assert client.post("/api/v1/alerts/", payload(), format="json").status_code == 403
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 403


def test_the_alert_list_keeps_constant_queries(client, tenant_a):
    def add(n):
        with tenant_context(tenant_a):
            endpoint = make_endpoint()
            for _ in range(n):
                make_alert(endpoint=endpoint, severity="high")  # each opens a case

    client.get("/api/v1/me/")  # the token's last-use stamp is written once, not per row
    assert_constant_queries(add, lambda: client.get("/api/v1/alerts/"))
