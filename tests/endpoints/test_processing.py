"""Batch processing: inventory, first-seen persistence, Sigma detections, processors."""

from __future__ import annotations

import datetime as dt
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils import timezone

from endpoints import processing
from endpoints.models import DetectionRule, Endpoint, InventoryItem, TelemetryBatch
from endpoints.processing import process_batch, register_batch_processor
from endpoints.services import (
    DetectionHit,
    dedup_key,
    detections_to_alerts,
    rule_exception_add,
    rule_set_enabled,
    rule_upload,
    telemetry_ingest,
)
from endpoints.tasks import process_telemetry_batch
from tenancy.context import tenant_context
from tests.endpoints.factories import rule_yaml

pytestmark = pytest.mark.django_db

NOW = dt.datetime.now(dt.UTC)
WORD = r"c:\program files\microsoft office\root\office16\winword.exe"
CMD = r"c:\windows\system32\cmd.exe"
NEW_PERSISTENCE = "c09afede-25da-4946-a970-a497abdfe393"
OFFICE_SHELL = "d90a510f-6f6b-468e-96d8-2af8d0d76186"


@pytest.fixture
def hits(monkeypatch):
    """Detections handed to the cases seam, captured (the cases app is not needed here)."""
    captured: list[tuple[Endpoint, list[DetectionHit]]] = []

    def fake(*, endpoint, hits):
        captured.append((endpoint, list(hits)))

    monkeypatch.setattr(processing, "detections_to_alerts", fake)
    return captured


def _rules_hit(captured) -> list[str]:
    return sorted(h.detection.rule.rule_id for _, batch in captured for h in batch)


def office_shell(event_id: str, *, pid: int = 6000, minutes: int = 5) -> dict[str, Any]:
    return {
        "kind": "process_event",
        "event_id": event_id,
        "observed_at": NOW - dt.timedelta(minutes=minutes),
        "action": "start",
        "pid": pid,
        "ppid": 5000,
        "process_name": "cmd.exe",
        "process_path": CMD,
        "parent_name": "winword.exe",
        "parent_path": WORD,
        "command_line": "cmd.exe /c whoami",
    }


def autorun(event_id: str, name: str, *, action: str | None = None) -> dict[str, Any]:
    record = {
        "kind": "autorun",
        "event_id": event_id,
        "observed_at": NOW - dt.timedelta(minutes=3),
        "autorun_type": "scheduled_task",
        "item_name": name,
        "target_path": rf"c:\programdata\{name}.exe",
        "sha256": "c" * 64,
    }
    if action:
        record["action"] = action
    return record


def ingest(tenant, endpoint, rows, *, process=True):
    with tenant_context(tenant):
        outcome = telemetry_ingest(endpoint=endpoint, records=rows, enqueue=False)
        context = process_batch(batch_id=outcome.batch_id) if process else None
    return outcome, context


@pytest.fixture
def endpoint(tenant_a, enrol_agent):
    return enrol_agent(tenant_a, hostname="ws-fin-1").endpoint


def test_a_shipped_rule_turns_a_record_into_a_detection(tenant_a, endpoint, hits):
    _, context = ingest(tenant_a, endpoint, [office_shell("e1")])
    assert OFFICE_SHELL in _rules_hit(hits)
    assert context.detections == len(hits[0][1])
    hit = hits[0][1][0]
    with tenant_context(tenant_a):
        batch = TelemetryBatch.objects.get(pk=context.batch.pk)
        assert batch.status == TelemetryBatch.PROCESSED and batch.detections >= 1
        assert DetectionRule.objects.filter(source="builtin").count() >= 16  # installed lazily
    assert hit.observation_id in {o["id"] for o in context.observations}


def test_processing_twice_is_a_no_op(tenant_a, endpoint, hits):
    outcome, _ = ingest(tenant_a, endpoint, [office_shell("e1")])
    with tenant_context(tenant_a):
        assert process_batch(batch_id=outcome.batch_id) is None
    assert len(hits) == 1


def test_inventory_items_are_recorded_once_per_endpoint(tenant_a, endpoint, hits):
    rows = [autorun("a1", "updater"), office_shell("p1"), office_shell("p2", pid=6004)]
    ingest(tenant_a, endpoint, rows)
    ingest(tenant_a, endpoint, [office_shell("p3", pid=6008, minutes=1)])
    with tenant_context(tenant_a):
        items = InventoryItem.objects.order_by("category")
        assert [(i.category, i.name) for i in items] == [
            ("autorun", "updater"),
            ("process", "cmd.exe"),
        ]
        process = items.get(category="process")
        assert process.first_observation_id is not None
        assert process.first_seen_at <= process.last_seen_at


def test_the_first_inventory_is_a_baseline_not_new_persistence(tenant_a, endpoint, hits):
    ingest(tenant_a, endpoint, [autorun("a1", "vendor_updater"), autorun("a2", "backup")])
    assert NEW_PERSISTENCE not in _rules_hit(hits)


def test_an_autorun_reported_as_created_is_new_persistence(tenant_a, endpoint, hits):
    ingest(
        tenant_a,
        endpoint,
        [autorun("a1", "vendor_updater"), autorun("a2", "evil", action="create")],
    )
    new = [h for _, batch in hits for h in batch if h.detection.rule.rule_id == NEW_PERSISTENCE]
    assert [h.detection.record["item_name"] for h in new] == ["evil"]


def test_after_the_baseline_an_unseen_autorun_is_new_and_a_seen_one_is_not(
    tenant_a, endpoint, hits
):
    ingest(tenant_a, endpoint, [autorun("a1", "vendor_updater")])
    tenant_a.settings = {"endpoints": {"baseline_minutes": 0}}
    tenant_a.save()
    with tenant_context(tenant_a):
        Endpoint.objects.filter(pk=endpoint.pk).update(
            first_seen_at=timezone.now() - dt.timedelta(days=1)
        )
        endpoint.refresh_from_db()
    ingest(tenant_a, endpoint, [autorun("a2", "vendor_updater"), autorun("a3", "dropper")])
    new = [h for _, batch in hits for h in batch if h.detection.rule.rule_id == NEW_PERSISTENCE]
    assert [h.detection.record["item_name"] for h in new] == ["dropper"]


def test_an_exception_suppresses_and_disabling_silences(tenant_a, endpoint, hits):
    with tenant_context(tenant_a):
        processing.tenant_engine()  # cached now: changes below must invalidate it
        rule = DetectionRule.objects.get(rule_id=OFFICE_SHELL)
        rule_exception_add(rule=rule, field="command_line", value="*whoami*", reason="test")
    ingest(tenant_a, endpoint, [office_shell("e1")])
    assert OFFICE_SHELL not in _rules_hit(hits)
    with tenant_context(tenant_a):
        rule.exceptions.all().delete()
        DetectionRule.objects.filter(pk=rule.pk).update(updated_at=timezone.now())
    ingest(tenant_a, endpoint, [office_shell("e2", minutes=2)])
    assert OFFICE_SHELL in _rules_hit(hits)
    hits.clear()
    with tenant_context(tenant_a):
        rule_set_enabled(rule=DetectionRule.objects.get(rule_id=OFFICE_SHELL), enabled=False)
    ingest(tenant_a, endpoint, [office_shell("e3", minutes=1)])
    assert OFFICE_SHELL not in _rules_hit(hits)


def test_an_uploaded_rule_runs_on_the_next_batch(tenant_a, endpoint, hits):
    with tenant_context(tenant_a):
        processing.tenant_engine()
        rule = rule_upload(yaml_text=rule_yaml())
    whoami = {
        **office_shell("e1"),
        "process_path": r"c:\windows\system32\whoami.exe",
        "parent_path": CMD,
        "parent_name": "cmd.exe",
    }
    ingest(tenant_a, endpoint, [whoami])
    assert _rules_hit(hits) == [rule.rule_id]


def test_registered_processors_see_each_batch(tenant_a, endpoint, hits):
    seen = []
    register_batch_processor(lambda context: seen.append(context), name="test.seen")
    try:
        ingest(tenant_a, endpoint, [office_shell("e1"), autorun("a1", "x")])
    finally:
        processing._processors.pop("test.seen")
    (context,) = seen
    assert context.endpoint == endpoint
    assert sorted(o["event_id"] for o in context.observations) == ["a1", "e1"]
    assert context.detections >= 1


def test_a_batch_whose_processing_fails_is_left_whole_for_the_retry(tenant_a, endpoint, hits):
    """A worker dying (or a processor raising) mid-batch leaves nothing half done: the task
    is acknowledged late and re-delivered, and the re-run does the whole batch."""

    def broken(context):
        raise RuntimeError("worker lost")

    register_batch_processor(broken, name="test.broken")
    try:
        outcome, _ = ingest(
            tenant_a, endpoint, [autorun("a1", "x"), office_shell("e1")], process=False
        )
        with tenant_context(tenant_a), pytest.raises(RuntimeError):
            process_batch(batch_id=outcome.batch_id)
        with tenant_context(tenant_a):
            assert TelemetryBatch.objects.get(pk=outcome.batch_id).status == "pending"
            assert not InventoryItem.objects.exists()
    finally:
        processing._processors.pop("test.broken")
    with tenant_context(tenant_a):
        assert process_batch(batch_id=outcome.batch_id).detections >= 1
        assert InventoryItem.objects.count() == 2


def test_the_task_ignores_another_tenants_batch(tenant_a, tenant_b, enrol_agent, hits):
    other = enrol_agent(tenant_b).endpoint
    outcome, _ = ingest(tenant_b, other, [office_shell("e1")], process=False)
    result = process_telemetry_batch.apply(
        kwargs={"tenant_id": tenant_a.pk, "batch_id": outcome.batch_id}
    )
    assert result.get() is None
    assert hits == []
    with tenant_context(tenant_b):
        assert TelemetryBatch.objects.get(pk=outcome.batch_id).status == TelemetryBatch.PENDING
    result = process_telemetry_batch.apply(
        kwargs={"tenant_id": tenant_b.pk, "batch_id": outcome.batch_id}
    )
    assert result.get() >= 1


def test_dedup_keys_name_the_behaviour_not_the_event():
    a = {**office_shell("e1", pid=100), "observed_at": NOW}
    b = {**office_shell("e2", pid=200), "observed_at": NOW + dt.timedelta(hours=1)}
    c = {**office_shell("e3"), "command_line": "cmd.exe /c net user"}
    assert dedup_key("r", 1, a) == dedup_key("r", 1, b)
    assert dedup_key("r", 1, a) != dedup_key("r", 2, a)
    assert dedup_key("r", 1, a) != dedup_key("r", 1, c)
    assert dedup_key("r", 1, a).startswith("rule:r:endpoint:1:")


@dataclass
class FakeAlertInput:
    title: str
    severity: str
    source: str
    phase: str
    attack_techniques: list
    observed_at: Any
    external_id: str
    dedup_key: str
    raw: dict
    endpoint: Any
    rule_id: str
    ioc_key: Any


@dataclass
class FakeCases:
    received: list = field(default_factory=list)


def test_detections_become_alert_inputs_of_the_cases_contract(tenant_a, endpoint, monkeypatch):
    """The seam itself, against a stand-in of `cases.services` (the contract's shape)."""
    sent = FakeCases()
    module = types.ModuleType("cases.services")
    module.AlertInput = FakeAlertInput
    module.alert_ingest = lambda *, alerts: sent.received.extend(alerts) or "ok"
    monkeypatch.setitem(sys.modules, "cases.services", module)
    captured = []
    monkeypatch.setattr(processing, "detections_to_alerts", lambda **kw: captured.append(kw))
    ingest(tenant_a, endpoint, [office_shell("e1"), office_shell("e2", pid=6004)])
    (call,) = captured
    with tenant_context(tenant_a):
        assert detections_to_alerts(**call) == "ok"
    by_rule = {a.rule_id: a for a in sent.received}
    alert = by_rule[OFFICE_SHELL]
    assert alert.source == "detection_rule"
    assert alert.phase == "initial_infection" and alert.severity == "high"
    assert "T1204.002" in alert.attack_techniques
    assert alert.endpoint == endpoint
    assert alert.raw["observation_id"] == call["hits"][0].observation_id
    assert alert.dedup_key.startswith(f"rule:{OFFICE_SHELL}:endpoint:{endpoint.pk}:")
    # two records of the same behaviour in one batch: one alert
    assert sum(a.rule_id == OFFICE_SHELL for a in sent.received) == 1
