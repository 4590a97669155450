"""Detections reach the cases app: alerts in every phase, cases opened by grouping, dedup."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps

from endpoints.models import Observation
from endpoints.processing import process_batch
from endpoints.services import telemetry_ingest
from endpoints.simulation import FleetSimulator, LocalTransport
from tenancy import roles
from tenancy.context import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert_model():
    return apps.get_model("cases", "Alert")


@pytest.fixture
def intrusion(tenant_a):
    from endpoints.demo import NETWORK_LOGON_RULE, SERVER_RANGE
    from endpoints.models import DetectionRule
    from endpoints.services import rule_exception_add, rules_sync_builtin

    with tenant_context(tenant_a):
        rules_sync_builtin()  # as any tenant would: its servers' network logons are expected
        rule = DetectionRule.objects.get(rule_id=NETWORK_LOGON_RULE)
        rule_exception_add(rule=rule, field="source_ip", value=SERVER_RANGE)
        simulator = FleetSimulator(LocalTransport(), endpoints=3, seed=3, threads=1)
        simulator.enrol_all()
        simulator.send_benign(per_endpoint=60)
        simulator.play_intrusion()
    return simulator


def test_the_intrusion_raises_alerts_in_all_three_phases_and_opens_a_case(
    tenant_a, intrusion, alert_model
):
    case_model = apps.get_model("cases", "Case")
    with tenant_context(tenant_a):
        alerts = list(alert_model.objects.filter(source="detection_rule"))
        assert {a.phase for a in alerts} == {"initial_infection", "persistence", "lateral_movement"}
        assert case_model.objects.exists()
        for alert in alerts:
            observation = Observation.objects.get(pk=alert.raw["observation_id"])
            assert observation.endpoint_id == alert.endpoint_id
            assert alert.dedup_key.startswith(f"rule:{alert.rule_id}:endpoint:")
        hosts = {a.endpoint.hostname for a in alerts}
        assert "srv-file-01" in hosts and len(hosts) == 2


def test_resending_the_intrusion_creates_no_new_alert(tenant_a, intrusion, alert_model):
    with tenant_context(tenant_a):
        before = alert_model.objects.count()
        counts = sorted(alert_model.objects.values_list("count", flat=True))
    outcome = intrusion.totals.accepted
    with tenant_context(tenant_a):
        intrusion.play_intrusion()  # same fleet, new event ids: the same behaviour again
        assert alert_model.objects.count() == before
        assert sum(alert_model.objects.values_list("count", flat=True)) > sum(counts)
    assert intrusion.totals.accepted > outcome


def test_a_replayed_batch_is_not_evaluated_twice(tenant_a, enrol_agent, alert_model):
    endpoint = enrol_agent(tenant_a).endpoint
    record = {
        "kind": "process_event",
        "event_id": "macro-1",
        "action": "start",
        "pid": 8,
        "observed_at": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3),
        "process_path": r"c:\windows\system32\cmd.exe",
        "process_name": "cmd.exe",
        "parent_path": r"c:\program files\microsoft office\root\office16\winword.exe",
    }
    with tenant_context(tenant_a):
        first = telemetry_ingest(endpoint=endpoint, records=[record], enqueue=False)
        process_batch(batch_id=first.batch_id)
        again = telemetry_ingest(endpoint=endpoint, records=[record], enqueue=False)
        assert (again.accepted, again.duplicates) == (0, 1)
        alerts = alert_model.objects.filter(endpoint=endpoint)
        assert alerts.count() >= 1 and set(alerts.values_list("count", flat=True)) == {1}


def test_endpoint_page_lists_its_alerts_with_evidence_links(
    tenant_a, intrusion, web_client, alert_model
):
    client = web_client(tenant_a, roles.ANALYST)
    with tenant_context(tenant_a):
        alert = alert_model.objects.filter(source="detection_rule").first()
    html = client.get(client.url(f"endpoints/{alert.endpoint_id}/")).content.decode()
    assert alert.title in html
    assert f"/endpoints/observations/{alert.raw['observation_id']}/" in html
