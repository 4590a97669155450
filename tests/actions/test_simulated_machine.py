"""What the simulated agent does with actions: isolated endpoints only heartbeat, killed
processes leave the next snapshot, release resumes telemetry; YARA matches become alerts."""

from __future__ import annotations

import datetime as dt

import pytest

from cases.actions.agent import SimulatedMachine, simulated_content
from cases.models import Alert, CaseLink
from intel.services import ioc_create
from tenancy import roles
from tenancy.context import tenant_context
from tests.fixtures.actions import IMPLANT, acting

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
IMPLANT_PATH = r"c:\users\jdoe\appdata\roaming\microsoft\svchost32.exe"


def _telemetry():
    return [
        {
            "kind": "process_event",
            "action": "start",
            "pid": 4242,
            "sha256": IMPLANT,
            "process_path": IMPLANT_PATH,
            "event_id": "e1",
            "observed_at": NOW,
        },
        {
            "kind": "process_event",
            "action": "start",
            "pid": 777,
            "sha256": "1" * 64,
            "process_path": r"c:\windows\notepad.exe",
            "event_id": "e2",
            "observed_at": NOW,
        },
        {
            "kind": "network",
            "pid": 4242,
            "sha256": IMPLANT,
            "remote_ip": "203.0.113.66",
            "remote_port": 443,
            "event_id": "e3",
            "observed_at": NOW,
        },
        {
            "kind": "file",
            "action": "create",
            "file_path": IMPLANT_PATH,
            "sha256": IMPLANT,
            "header_hex": "4d5a9000",
            "event_id": "e4",
            "observed_at": NOW,
        },
    ]


def _machine() -> SimulatedMachine:
    machine = SimulatedMachine("ws-0001")
    machine.observe(_telemetry())
    return machine


def test_an_isolated_endpoint_sends_no_telemetry_until_released():
    machine = _machine()
    assert machine.execute({"type": "isolate_endpoint"}).status == "succeeded"
    assert machine.filter(_telemetry()) == [] and machine.filter(machine.snapshot(NOW, "r1")) == []
    machine.execute({"type": "release_isolation"})
    assert len(machine.filter(_telemetry())) == 4


def test_a_killed_process_leaves_the_next_snapshot_and_the_telemetry():
    machine = _machine()
    assert {row["pid"] for row in machine.snapshot(NOW, "r1")} == {4242, 777}
    outcome = machine.execute({"type": "kill_process", "parameters": {"sha256": IMPLANT}})
    assert outcome.status == "succeeded" and "4242" in outcome.output
    snapshot = machine.snapshot(NOW, "r2")
    assert [row["pid"] for row in snapshot] == [777]
    assert all(
        row["kind"] == "process" and row["event_id"].startswith("snap-r2") for row in snapshot
    )
    assert [r["event_id"] for r in machine.filter(_telemetry())] == ["e2", "e4"]


def test_a_kill_by_pid_spares_a_process_with_another_image():
    machine = _machine()
    refused = machine.execute(
        {"type": "kill_process", "parameters": {"sha256": IMPLANT, "pid": 777}}
    )
    assert refused.status == "failed" and 777 in machine.running


def test_quarantine_checks_the_hash_and_blocks_the_file():
    machine = _machine()
    wrong = machine.execute(
        {"type": "quarantine_file", "parameters": {"path": IMPLANT_PATH, "sha256": "2" * 64}}
    )
    assert wrong.status == "failed"
    right = machine.execute(
        {"type": "quarantine_file", "parameters": {"path": IMPLANT_PATH, "sha256": IMPLANT}}
    )
    assert right.status == "succeeded"
    assert "e4" not in [r["event_id"] for r in machine.filter(_telemetry())]
    missing = machine.execute({"type": "collect_file", "parameters": {"path": IMPLANT_PATH}})
    assert missing.status == "failed"


def test_a_closed_connection_stays_closed():
    machine = _machine()
    machine.execute(
        {
            "type": "close_connection",
            "parameters": {"remote_ip": "203.0.113.66", "remote_port": 443},
        }
    )
    assert "e3" not in [r["event_id"] for r in machine.filter(_telemetry())]


def test_an_unknown_action_is_refused_not_guessed():
    assert _machine().execute({"type": "format_disk", "parameters": {}}).status == "failed"


def test_collect_hands_over_the_simulated_bytes():
    outcome = _machine().execute({"type": "collect_file", "parameters": {"path": IMPLANT_PATH}})
    (artifact,) = outcome.artifacts
    assert artifact["name"] == "svchost32.exe"
    import base64

    assert base64.b64decode(artifact["content_base64"]) == simulated_content(
        IMPLANT_PATH, IMPLANT, "4d5a9000"
    )


RULE = 'rule Svchost32Implant { strings: $a = "svchost32.exe" condition: $a }'


@pytest.mark.django_db
def test_a_yara_scan_of_a_yara_ioc_finds_the_implant_and_raises_an_alert(
    tenant_a, people, incident, act
):
    with acting(people.analyst, roles.ANALYST, tenant_a):
        ioc = ioc_create(type="yara", value=RULE)
        ioc = ioc[0] if isinstance(ioc, tuple) else ioc
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="yara_scan",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"rule": ioc.pk, "paths": [r"C:\Users"]},
    )
    assert action.status == "queued"
    assert action.parameters["rules"][0]["source"].startswith("rule Svchost32Implant")
    outcome = _machine().execute({"type": "yara_scan", "parameters": action.parameters})
    assert outcome.status == "succeeded" and len(outcome.matches) == 1
    from cases.actions import services
    from tests.fixtures.actions import as_agent

    with as_agent(incident.endpoint):
        services.action_report(
            action=action, status="succeeded", output=outcome.output, matches=outcome.matches
        )
    with tenant_context(tenant_a):
        action.refresh_from_db()
        alert = Alert.objects.get(source="ioc_sweep")
        links = CaseLink.objects.filter(case=alert.case, relation="indicator").count()
    assert action.result["alerts"] == 1 and alert.endpoint_id == incident.endpoint.pk
    assert alert.case_id == incident.case.pk and alert.ioc_key == ioc.key and links == 1


@pytest.mark.django_db
def test_a_yara_scan_takes_source_text_and_refuses_a_broken_rule(tenant_a, people, incident, act):
    from django.core.exceptions import ValidationError

    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="yara_scan",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"rule": RULE, "paths": ["C:\\"]},
    )
    assert action.parameters["rules"][0]["namespace"] == "adhoc"
    with pytest.raises(ValidationError) as exc:
        act(
            people.analyst,
            roles.ANALYST,
            "action_request",
            type="yara_scan",
            endpoint=incident.endpoint,
            parameters={"rule": "rule {", "paths": ["C:\\"]},
        )
    assert "parameters.rule" in exc.value.message_dict
