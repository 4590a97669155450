"""The REST API of endpoints: inventory, observations, detection rules and exceptions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from endpoints.models import DetectionRule, Endpoint, RuleException
from endpoints.services import rule_upload, rules_sync_builtin
from tenancy import roles
from tenancy.context import tenant_context
from tests.endpoints.factories import (
    EndpointFactory,
    ObservationFactory,
    add_observations,
    rule_yaml,
)
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    client.get("/api/v1/me/")  # the token's first use is recorded once
    return client


# -- endpoints -------------------------------------------------------------------------------


def test_endpoints_list_filters_and_reports_online(tenant_a, client, enrol_agent):
    enrol_agent(
        tenant_a,
        hostname="ws-fin-1",
        user_groups=["Finance"],
        tags=["site:hq"],
        ip_addresses=["10.10.32.5"],
    )
    stale = enrol_agent(tenant_a, hostname="lnx-db-1", os_family="linux").endpoint
    with tenant_context(tenant_a):
        Endpoint.objects.filter(pk=stale.pk).update(
            last_seen_at=timezone.now() - dt.timedelta(hours=1)
        )
    body = client.get("/api/v1/endpoints/").json()
    by_host = {e["hostname"]: e for e in body["results"]}
    assert by_host["ws-fin-1"]["online"] is True and by_host["lnx-db-1"]["online"] is False
    assert by_host["ws-fin-1"]["user_groups"] == ["Finance"]
    assert "token_hash" not in by_host["ws-fin-1"]

    def hosts(**query):
        return sorted(
            e["hostname"] for e in client.get("/api/v1/endpoints/", query).json()["results"]
        )

    assert hosts(os_family="linux") == ["lnx-db-1"]
    assert hosts(group="Finance") == ["ws-fin-1"]
    assert hosts(tag="site:hq") == ["ws-fin-1"]
    assert hosts(online="false") == ["lnx-db-1"]
    assert hosts(q="10.10.32") == ["ws-fin-1"]
    assert hosts(isolated="true") == []


def test_endpoints_api_queries_do_not_grow(tenant_a, client, enrol_agent):
    def add(n):
        for _ in range(n):
            enrol_agent(tenant_a, user_groups=["Finance", "VPN"], tags=["site:hq"])

    assert_constant_queries(add, lambda: client.get("/api/v1/endpoints/"))


# -- observations ----------------------------------------------------------------------------


def test_observations_filter_by_kind_hash_name_endpoint_and_time(tenant_a, client):
    with tenant_context(tenant_a):
        first = ObservationFactory(tenant=tenant_a, sha256="ab" * 32)
        other = EndpointFactory(tenant=tenant_a)
        ObservationFactory(
            tenant=tenant_a,
            endpoint=other,
            kind="dns",
            action=None,
            dns_query="evil.example",
            pid=None,
            process_name="svchost.exe",
            observed_at=timezone.now() - dt.timedelta(days=2),
        )

    def ids(**query):
        return [o["id"] for o in client.get("/api/v1/observations/", query).json()["results"]]

    assert ids(sha256="AB" * 32) == [first.pk]
    assert ids(process_name="CMD.EXE") == [first.pk]
    assert len(ids(kind="dns")) == 1
    assert len(ids(kind=["dns", "process_event"])) == 2
    assert ids(endpoint=first.endpoint_id) == [first.pk]
    assert len(ids(since=(timezone.now() - dt.timedelta(days=1)).isoformat())) == 1
    assert ids(dns_query="evil.example") != []
    detail = client.get(f"/api/v1/observations/{first.pk}/").json()
    assert detail["sha256"] == "ab" * 32
    assert "dns_query" not in detail  # absent fields are left out


def test_observations_page_by_cursor_in_constant_queries(tenant_a, client):
    with tenant_context(tenant_a):
        first = ObservationFactory(tenant=tenant_a)
    assert_constant_queries(
        lambda n: add_observations(tenant_a, first, n),
        lambda: client.get("/api/v1/observations/"),
    )
    page = client.get("/api/v1/observations/", {"page_size": 10}).json()
    assert len(page["results"]) == 10 and "cursor=" in page["next"]


def test_an_unknown_endpoint_filter_is_a_400(tenant_a, tenant_b, client):
    with tenant_context(tenant_b):
        foreign = EndpointFactory(tenant=tenant_b)
    response = client.get("/api/v1/observations/", {"endpoint": foreign.pk})
    assert response.status_code == 400
    assert "endpoint" in response.json()["error"]["fields"]


# -- detection rules -------------------------------------------------------------------------


def test_rules_api_lists_shipped_rules(client):
    body = client.get("/api/v1/detection-rules/", {"page_size": 100}).json()
    titles = {r["title"] for r in body["results"]}
    assert "Office Application Spawned a Shell or Script Host" in titles
    assert all(r["source"] == "builtin" for r in body["results"])


def test_uploading_a_rule_and_refusals_that_name_the_reason(tenant_a, client):
    created = client.post("/api/v1/detection-rules/", {"yaml": rule_yaml()}, format="json")
    assert created.status_code == 201
    assert created.json()["source"] == "uploaded" and created.json()["phase"] == "lateral_movement"
    unsupported = rule_yaml().replace("Image|endswith", "ImageLoadedByAlien|endswith")
    refused = client.post("/api/v1/detection-rules/", {"yaml": unsupported}, format="json")
    assert refused.status_code == 400
    assert "refused" in refused.json()["error"]["fields"]["yaml"]
    assert "ImageLoadedByAlien" in refused.json()["error"]["fields"]["yaml"]
    aggregation = rule_yaml().replace("condition: selection", "condition: selection | count() > 5")
    refused = client.post("/api/v1/detection-rules/", {"yaml": aggregation}, format="json")
    assert (
        refused.status_code == 400
        and "aggregation"
        in refused.json()["error"]["message"] + (refused.json()["error"]["fields"]["yaml"])
    )
    broken = client.post("/api/v1/detection-rules/", {"yaml": "title: [unclosed"}, format="json")
    assert broken.status_code == 400
    with tenant_context(tenant_a):
        assert DetectionRule.objects.filter(source="uploaded").count() == 1


def test_a_shipped_rule_id_cannot_be_uploaded_over(tenant_a, client):
    with tenant_context(tenant_a):
        rules_sync_builtin()
        shipped = DetectionRule.objects.filter(source="builtin").first()
    response = client.post(
        "/api/v1/detection-rules/", {"yaml": rule_yaml(shipped.rule_id)}, format="json"
    )
    assert response.status_code == 400
    assert "shipped rule" in response.json()["error"]["fields"]["yaml"]


def test_reuploading_replaces_the_teams_rule(tenant_a, client):
    rule_id = "0d1f5a5c-1111-4222-8333-444455556666"
    client.post("/api/v1/detection-rules/", {"yaml": rule_yaml(rule_id, "First")}, format="json")
    client.post("/api/v1/detection-rules/", {"yaml": rule_yaml(rule_id, "Second")}, format="json")
    with tenant_context(tenant_a):
        assert list(
            DetectionRule.objects.filter(rule_id=rule_id).values_list("title", flat=True)
        ) == ["Second"]


def test_enable_disable_and_delete(tenant_a, client):
    with tenant_context(tenant_a):
        mine = rule_upload(yaml_text=rule_yaml())
        rules_sync_builtin()
        shipped = DetectionRule.objects.filter(source="builtin").first()
    response = client.patch(
        f"/api/v1/detection-rules/{shipped.pk}/", {"enabled": False}, format="json"
    )
    assert response.status_code == 200 and response.json()["enabled"] is False
    refused = client.delete(f"/api/v1/detection-rules/{shipped.pk}/")
    assert refused.status_code == 400
    assert client.delete(f"/api/v1/detection-rules/{mine.pk}/").status_code == 204
    with tenant_context(tenant_a):
        assert not DetectionRule.objects.filter(pk=mine.pk).exists()
        assert DetectionRule.objects.get(pk=shipped.pk).enabled is False


def test_auditors_cannot_change_rules(tenant_a, api_client):
    auditor = api_client(tenant_a, roles.AUDITOR)
    assert auditor.get("/api/v1/detection-rules/").status_code == 200
    response = auditor.post("/api/v1/detection-rules/", {"yaml": rule_yaml()}, format="json")
    assert response.status_code == 403


def test_rule_exceptions_are_validated_and_scoped(tenant_a, tenant_b, client):
    with tenant_context(tenant_a):
        rule = rule_upload(yaml_text=rule_yaml())
    with tenant_context(tenant_b):
        foreign = rule_upload(yaml_text=rule_yaml())
    ok = client.post(
        "/api/v1/rule-exceptions/",
        {"rule": rule.pk, "field": "process_path", "value": r"c:\tools\*"},
        format="json",
    )
    assert ok.status_code == 201, ok.content
    bad_field = client.post(
        "/api/v1/rule-exceptions/",
        {"rule": rule.pk, "field": "colour", "value": "x"},
        format="json",
    )
    assert bad_field.status_code == 400 and "field" in bad_field.json()["error"]["fields"]
    other = client.post(
        "/api/v1/rule-exceptions/",
        {"rule": foreign.pk, "field": "process_path", "value": "x"},
        format="json",
    )
    assert other.status_code == 400 and "rule" in other.json()["error"]["fields"]
    with tenant_context(tenant_b):
        assert not RuleException.objects.exists()
    assert client.delete(f"/api/v1/rule-exceptions/{ok.json()['id']}/").status_code == 204


def test_the_openapi_schema_documents_the_agent_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    import json

    schema = json.loads(response.content)
    paths = schema["paths"]
    for path in (
        "/api/v1/agent/enrol/",
        "/api/v1/agent/heartbeat/",
        "/api/v1/agent/telemetry/",
        "/api/v1/endpoints/",
        "/api/v1/observations/",
        "/api/v1/stacking/",
    ):
        assert path in paths, path
    telemetry = paths["/api/v1/agent/telemetry/"]["post"]
    assert "application/x-ndjson" in telemetry["requestBody"]["content"]
    assert "413" in telemetry["responses"]
    assert "records" in telemetry["description"]
