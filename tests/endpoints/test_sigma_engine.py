r"""The Sigma engine: modifiers, conditions, field mapping, refusals, metadata, evaluation.

Plain pytest functions, no database. Rules are written as Python dicts and dumped to YAML so
each test shows exactly the detection it exercises.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.types import SpecialChars

from endpoints.detection import (
    CompiledRule,
    Engine,
    InvalidRule,
    UnsupportedRule,
    compile_rule,
    load_shipped_rules,
)
from endpoints.detection.fieldmap import normalise_registry_key
from endpoints.detection.metadata import phase_of, severity_of, techniques_of
from endpoints.detection.modifiers import Glob, any_pattern

PROCESS_CREATION = {"category": "process_creation", "product": "windows"}
WHEN = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def sigma(
    detection: dict[str, Any],
    logsource: dict[str, str] | None = None,
    **meta: Any,
) -> str:
    document = {
        "title": meta.pop("title", "test rule"),
        "id": meta.pop("id", str(uuid.uuid4())),
        "status": "test",
        "logsource": logsource or PROCESS_CREATION,
        "detection": detection,
        **meta,
    }
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def rule(detection: dict[str, Any], logsource: dict[str, str] | None = None, **meta: Any):
    return compile_rule(sigma(detection, logsource, **meta))


def proc(**fields: Any) -> dict[str, Any]:
    """A process-start record; text fields as agents send them (lstr already lower-case)."""
    record = {
        "kind": "process_event",
        "action": "start",
        "event_id": "ev-1",
        "observed_at": WHEN,
        "process_path": r"c:\windows\system32\cmd.exe",
        "command_line": "cmd.exe /c whoami",
        "parent_path": r"c:\windows\explorer.exe",
    }
    record.update(fields)
    return record


def one(field: str, value: Any) -> CompiledRule:
    return rule({"sel": {field: value}, "condition": "sel"})


# -- modifiers -------------------------------------------------------------------------------


def test_contains_startswith_endswith_ignore_case():
    assert rule({"s": {"CommandLine|contains": "WHOAMI"}, "condition": "s"}).matches(proc())
    assert rule({"s": {"CommandLine|startswith": "CMD.exe"}, "condition": "s"}).matches(proc())
    assert rule({"s": {"Image|endswith": r"\CMD.EXE"}, "condition": "s"}).matches(proc())
    assert not rule({"s": {"Image|endswith": r"\cmd.com"}, "condition": "s"}).matches(proc())


def test_all_modifier_needs_every_value_while_a_plain_list_needs_one():
    both = rule({"s": {"CommandLine|contains|all": ["/c", "whoami"]}, "condition": "s"})
    any_ = rule({"s": {"CommandLine|contains": ["/c", "hostname"]}, "condition": "s"})
    assert both.matches(proc())
    assert not both.matches(proc(command_line="cmd.exe /c hostname"))
    assert any_.matches(proc())


@pytest.mark.parametrize(
    ("value", "command_line", "expected"),
    [
        ("cmd.exe /c ?hoami", "cmd.exe /c whoami", True),
        ("cmd.exe /c ?hoami", "cmd.exe /c hoami", False),
        ("cmd*whoami", "CMD.EXE /c whoami", True),
        ("cmd*whoami", "cmd.exe /c whoami /all", False),
        (r"echo \*", "echo *", True),  # an escaped wildcard is a literal star
        (r"echo \*", "echo x", False),
        (r"echo \?", "echo ?", True),
        ("*", "anything", True),
    ],
)
def test_plain_values_use_sigma_wildcards_and_escapes(value, command_line, expected):
    assert one("CommandLine", value).matches(proc(command_line=command_line)) is expected


def test_regex_is_unanchored_and_case_sensitive_on_free_text():
    cased = one("CommandLine|re", r"\s-O\s")
    assert cased.matches(proc(command_line="wget -O out.bin http://x"))
    assert not cased.matches(proc(command_line="wget -o out.bin http://x"))
    assert one("CommandLine|re|i", r"\s-O\s").matches(proc(command_line="wget -o x"))


def test_regex_on_a_lower_case_column_ignores_case():
    assert one("Image|re", r"\\Windows\\System32\\CMD\.exe$").matches(proc())


@pytest.mark.parametrize("pattern", [r"(?<=a)b", r"(a)\1", r"a(?=b)"])
def test_regex_rre2_cannot_run_is_refused_with_the_reason(pattern):
    with pytest.raises(UnsupportedRule, match="RE2"):
        one("CommandLine|re", pattern)


@pytest.mark.parametrize("dash", ["-", "/", "\u2013", "\u2014", "\u2015"])
def test_windash_matches_every_dash_variant(dash):
    r = one("CommandLine|windash|contains", " -enc ")
    assert r.matches(proc(command_line=f"powershell {dash}enc SQBFAFgA"))
    assert not r.matches(proc(command_line="powershell +enc SQBFAFgA"))


def test_cidr_matches_ipv4_and_ipv6_ranges_and_ignores_garbage():
    r = rule(
        {"s": {"DestinationIp|cidr": ["10.0.0.0/8", "fd00::/8"]}, "condition": "s"},
        {"category": "network_connection", "product": "windows"},
    )
    assert r.matches({"kind": "network", "remote_ip": "10.20.30.40"})
    assert r.matches({"kind": "network", "remote_ip": "fd12::1"})
    assert not r.matches({"kind": "network", "remote_ip": "11.0.0.1"})
    assert not r.matches({"kind": "network", "remote_ip": "not-an-ip"})
    assert not r.matches({"kind": "network"})


@pytest.mark.parametrize("prefix", ["", "a", "ab", "xyz "])
def test_base64offset_contains_finds_text_at_any_byte_offset(prefix):
    r = one("CommandLine|base64offset|contains", "http://evil.example")
    encoded = base64.b64encode(f"{prefix}http://evil.example/p".encode()).decode()
    assert r.matches(proc(command_line=f"powershell -e {encoded}"))
    assert not r.matches(proc(command_line="powershell -e " + base64.b64encode(b"hi").decode()))


def test_base64_and_wide_modifiers_encode_the_value():
    assert one("CommandLine|base64|contains", "whoami").matches(proc(command_line="x d2hvYW1p y"))
    wide = base64.b64encode("whoami".encode("utf-16le")).decode()
    assert one("CommandLine|wide|base64|contains", "whoami").matches(
        proc(command_line=f"powershell -enc {wide}")
    )


def test_fieldref_compares_two_fields_of_the_same_record():
    same = one("ParentImage|fieldref", "Image")
    assert same.matches(proc(parent_path=r"c:\windows\system32\cmd.exe"))
    assert not same.matches(proc())
    inside = one("CommandLine|fieldref|contains", "Image")
    assert inside.matches(proc(command_line=r"C:\Windows\System32\cmd.exe /c dir"))
    assert not inside.matches(proc(command_line="cmd /c dir"))


@pytest.mark.parametrize("absent", [{}, {"user_name": None}, {"user_name": ""}])
def test_null_exists_and_empty_value_agree_on_what_absent_means(absent):
    record = {k: v for k, v in proc(**absent).items() if k != "user_name" or absent}
    assert one("User", None).matches(record)
    assert one("User", "").matches(record)
    assert one("User|exists", False).matches(record)
    assert not one("User|exists", True).matches(record)
    present = proc(user_name=r"corp\alice")
    assert not one("User", None).matches(present)
    assert one("User|exists", True).matches(present)


def test_cased_matches_exact_case_on_free_text():
    r = one("CommandLine|cased|contains", "Invoke-Mimikatz")
    assert r.matches(proc(command_line="powershell Invoke-Mimikatz"))
    assert not r.matches(proc(command_line="powershell invoke-mimikatz"))


def test_cased_upper_case_value_on_a_lower_case_column_is_refused():
    with pytest.raises(UnsupportedRule, match="stored lower-case"):
        one("Image|cased|endswith", r"\CMD.exe")
    assert one("Image|cased|endswith", r"\cmd.exe").matches(proc())


@pytest.mark.parametrize(
    ("modifier", "port", "expected"),
    [("gt", 1024, False), ("gt", 4444, True), ("gte", 1025, True), ("lt", 80, True)],
)
def test_numeric_comparisons(modifier, port, expected):
    r = rule(
        {"s": {f"DestinationPort|{modifier}": 1025 if modifier != "lt" else 443}, "condition": "s"},
        {"category": "network_connection"},
    )
    assert r.matches({"kind": "network", "remote_port": port}) is expected


def test_numbers_match_int_columns_whether_the_rule_quotes_them_or_not():
    network = {"category": "network_connection"}
    for value in (445, "445"):
        r = rule({"s": {"DestinationPort": value}, "condition": "s"}, network)
        assert r.matches({"kind": "network", "remote_port": 445})
        assert r.matches({"kind": "network", "remote_port": "445"})
        assert not r.matches({"kind": "network", "remote_port": 4450})


def test_keyword_search_looks_in_every_text_field():
    r = rule({"keywords": ["mimikatz", "sekurlsa"], "condition": "keywords"})
    assert r.matches(proc(command_line="c:\\tools\\MIMIKATZ.exe privilege::debug"))
    assert r.matches(proc(parent_path=r"c:\users\x\sekurlsa.exe"))
    assert not r.matches(proc())


DETECTION = {
    "sel_img": {"Image|endswith": r"\cmd.exe"},
    "sel_cli": {"CommandLine|contains": "whoami"},
    "sel_other": {"CommandLine|contains": "hostname"},
    "filter_parent": {"ParentImage|endswith": r"\services.exe"},
    "filter_user": {"User|contains": "svc_"},
}


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        ("sel_img and (sel_cli or sel_other) and not filter_parent", {}, True),
        (
            "sel_img and (sel_cli or sel_other) and not filter_parent",
            {"parent_path": r"c:\windows\system32\services.exe"},
            False,
        ),
        ("sel_img and not sel_cli or sel_other", {}, False),  # not binds tighter than and
        ("1 of sel_*", {"process_path": r"c:\x\a.exe"}, True),
        ("all of sel_*", {}, False),
        ("all of sel_* ", {"command_line": "whoami & hostname"}, True),
        ("1 of them", {"process_path": r"c:\a.exe", "command_line": "x"}, False),
        ("all of them", {}, False),
        ("sel_img and not 1 of filter_*", {"user_name": r"corp\svc_backup"}, False),
        ("sel_img and not all of filter_*", {"user_name": r"corp\svc_backup"}, True),
    ],
)
def test_conditions(condition, fields, expected):
    r = rule({**DETECTION, "condition": condition})
    assert r.matches(proc(**fields)) is expected


def test_list_of_maps_is_an_or_of_ands():
    r = rule(
        {
            "sel": [
                {"Image|endswith": r"\net.exe", "CommandLine|contains": "group"},
                {"OriginalFileName": "net1.exe"},
            ],
            "condition": "sel",
        }
    )
    assert r.matches(proc(process_path=r"c:\windows\system32\net.exe", command_line="net group"))
    assert not r.matches(proc(process_path=r"c:\windows\system32\net.exe", command_line="net use"))
    assert r.matches(proc(original_file_name="net1.exe"))


# -- refusals --------------------------------------------------------------------------------


def test_unmapped_field_refuses_the_whole_rule_naming_field_and_logsource():
    with pytest.raises(UnsupportedRule) as refused:
        rule(
            {
                "sel": {"Image|endswith": r"\powershell.exe"},
                "filter": {"ScriptBlockText|contains": "x"},
                "condition": "sel and not filter",
            }
        )
    assert refused.value.reason == (
        "field 'ScriptBlockText' is not mapped for logsource category process_creation"
    )


def test_observation_column_names_are_not_sigma_field_names_in_windows_logsources():
    with pytest.raises(UnsupportedRule, match="'process_path' is not mapped"):
        one("process_path", "x")


@pytest.mark.parametrize(
    ("logsource", "reason"),
    [
        ({"category": "ps_script", "product": "windows"}, "category ps_script has no telemetry"),
        ({"category": "process_creation", "product": "linux"}, "product 'linux'"),
        ({"product": "windows", "service": "sysmon"}, "service 'sysmon'"),
        ({"product": "stopclock", "category": "bogus"}, "product stopclock needs category"),
    ],
)
def test_logsources_without_telemetry_are_refused(logsource, reason):
    with pytest.raises(UnsupportedRule, match=reason):
        rule({"sel": {"Image": "x"}, "condition": "sel"}, logsource)


def test_aggregation_conditions_are_refused():
    with pytest.raises(UnsupportedRule, match=r"aggregation conditions \(count\(\) by"):
        rule({"sel": {"Image": "x"}, "condition": "sel | count() by User > 5"})


def test_correlation_and_multi_document_rules_are_refused():
    correlation = yaml.safe_dump(
        {
            "title": "c",
            "id": str(uuid.uuid4()),
            "correlation": {"type": "event_count", "rules": ["x"], "timespan": "5m"},
        }
    )
    with pytest.raises(UnsupportedRule, match="correlation"):
        compile_rule(correlation)
    with pytest.raises(UnsupportedRule, match="multi-document"):
        compile_rule(sigma({"s": {"Image": "x"}, "condition": "s"}) + "---\naction: reset\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: [unclosed", "YAML"),
        ("- just\n- a list\n", "YAML mapping"),
        (sigma({"condition": "sel"}), "No detections defined|condition"),
        (sigma({"sel": {"Image|bogus": "x"}, "condition": "sel"}), "Unknown modifier"),
        (sigma({"sel": {"Image": "x"}, "condition": "nosuch"}), "nosuch"),
        (sigma({"sel": {"Image": "x"}, "condition": "sel"}, level="urgent"), "level"),
    ],
)
def test_syntax_errors_are_invalid_rules_with_pysigma_message(text, message):
    with pytest.raises(InvalidRule, match=message):
        compile_rule(text)


def test_rule_without_id_is_invalid():
    text = sigma({"sel": {"Image": "x"}, "condition": "sel"}).replace("id:", "x-old-id:")
    with pytest.raises(InvalidRule, match="no id"):
        compile_rule(text)


def test_placeholders_and_time_modifiers_are_refused():
    with pytest.raises(UnsupportedRule, match="placeholders"):
        one("User|expand", "%admins%")


def test_huge_rule_text_is_invalid():
    with pytest.raises(InvalidRule, match="larger than"):
        compile_rule("#" * 1_100_000)


# -- field mapping ---------------------------------------------------------------------------

REGISTRY_SET = {"category": "registry_set", "product": "windows"}
RUN_KEY = r"hklm\software\microsoft\windows\currentversion\run\evil"
USER_RUN_KEY = r"hku\s-1-5-21-1-2-3-1001\software\microsoft\windows\currentversion\run\evil"


RUN = r"\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
CLASSES_KEY = r"hklm\software\classes\exefile\shell\open"
USER_CLASSES_KEY = r"hku\s-1-5-21-9_classes\exefile\shell\x"


@pytest.mark.parametrize(
    ("field", "value", "key", "expected"),
    [
        ("TargetObject", "HKLM" + RUN + r"\evil", RUN_KEY, True),
        ("TargetObject", "HKEY_LOCAL_MACHINE" + RUN + r"\evil", RUN_KEY, True),
        ("TargetObject", r"\REGISTRY\MACHINE" + RUN + r"\evil", RUN_KEY, True),
        ("TargetObject|startswith", r"HKLM:\SOFTWARE\Microsoft", RUN_KEY, True),
        ("TargetObject|startswith", RUN + "\\\\", RUN_KEY, True),  # hive-relative
        ("TargetObject|contains", r"\CurrentVersion\Run\\", RUN_KEY, True),
        ("TargetObject|endswith", r"\Run\evil", USER_RUN_KEY, True),
        ("TargetObject|startswith", "HKCU" + RUN, USER_RUN_KEY, True),
        ("TargetObject|startswith", "HKCU" + RUN, RUN_KEY, False),
        ("TargetObject|startswith", r"HKLM\SOFTWARE", USER_RUN_KEY, False),
        ("TargetObject|startswith", r"HKCR\exefile\shell", CLASSES_KEY, True),
        ("TargetObject|startswith", r"HKCR\exefile\shell", USER_CLASSES_KEY, True),
        ("TargetObject|startswith", r"HKCR\exefile\shell", r"hklm\software\exefile\shell", False),
    ],
)
def test_registry_keys_match_whatever_hive_spelling_the_rule_uses(field, value, key, expected):
    r = rule({"s": {field: value}, "condition": "s"}, REGISTRY_SET)
    assert r.matches({"kind": "registry", "action": "set", "registry_key": key}) is expected


def test_stored_registry_keys_are_normalised_to_short_lower_case_hives():
    assert normalise_registry_key(r"HKEY_LOCAL_MACHINE\SOFTWARE\X") == r"hklm\software\x"
    assert normalise_registry_key(r"\REGISTRY\USER\S-1-5-18\X ") == r"hku\s-1-5-18\x"
    assert normalise_registry_key(r"HKLM\Software\X") == r"hklm\software\x"


def test_registry_set_applies_only_to_set_actions_and_event_type_maps_to_action():
    r = rule({"s": {"TargetObject|contains": r"\Run\\"}, "condition": "s"}, REGISTRY_SET)
    assert r.kinds == {"registry"}
    assert not r.matches({"kind": "registry", "action": "delete", "registry_key": RUN_KEY})
    event = rule(
        {"s": {"EventType": "DeleteValue", "TargetObject|contains": r"\Run\\"}, "condition": "s"},
        {"category": "registry_event", "product": "windows"},
    )
    assert event.matches({"kind": "registry", "action": "delete", "registry_key": RUN_KEY})
    assert not event.matches({"kind": "registry", "action": "set", "registry_key": RUN_KEY})
    with pytest.raises(UnsupportedRule, match="EventType"):
        rule({"s": {"EventType": "Frobnicate"}, "condition": "s"}, {"category": "registry_event"})


SHA256 = "a" * 64
IMPHASH = "b" * 32


def test_hashes_field_matches_each_listed_algorithm_on_its_column():
    record = proc(sha256=SHA256, imphash=IMPHASH, md5="c" * 32)
    assert one("Hashes|contains", f"SHA256={SHA256.upper()}").matches(record)
    assert one("Hashes|contains", [f"IMPHASH={'d' * 32}", f"IMPHASH={IMPHASH}"]).matches(record)
    assert one("Hashes", f"SHA256={SHA256},IMPHASH={IMPHASH}").matches(record)
    assert not one("Hashes", f"SHA256={SHA256},IMPHASH={'d' * 32}").matches(record)
    assert one("sha256", SHA256).matches(record)


@pytest.mark.parametrize("value", [f"SHA384={'a' * 96}", "SHA256=abc", "SHA256=*abc*"])
def test_hashes_field_refuses_what_it_cannot_check_exactly(value):
    with pytest.raises(UnsupportedRule):
        one("Hashes|contains", value)


def test_network_fields_and_initiated_map_to_direction():
    r = rule(
        {
            "s": {"Initiated": "true", "DestinationPort": 445, "Protocol": "tcp"},
            "condition": "s",
        },
        {"category": "network_connection", "product": "windows"},
    )
    record = {"kind": "network", "direction": "outbound", "remote_port": 445, "protocol": "tcp"}
    assert r.matches(record)
    assert not r.matches({**record, "direction": "inbound"})
    inbound = rule(
        {"s": {"Initiated": False}, "condition": "s"}, {"category": "network_connection"}
    )
    assert inbound.matches({**record, "direction": "inbound"})


@pytest.mark.parametrize(
    ("field", "value"), [("Initiated|re", "tr.e"), ("IntegrityLevel|cased", "high")]
)
def test_translated_fields_refuse_values_they_cannot_translate(field, value):
    with pytest.raises(UnsupportedRule, match="plain values only"):
        rule({"s": {field: value}, "condition": "s"}, {"category": "network_connection"})


def test_integrity_level_sids_map_to_names():
    assert one("IntegrityLevel", "S-1-16-12288").matches(proc(integrity_level="high"))
    assert one("IntegrityLevel", "System").matches(proc(integrity_level="system"))
    assert not one("IntegrityLevel", "S-1-16-16384").matches(proc(integrity_level="high"))


def test_security_logon_event_ids_other_than_4624_are_not_collected():
    security = {"product": "windows", "service": "security"}
    with pytest.raises(UnsupportedRule, match=r"never match.*EventID 4625"):
        rule({"s": {"EventID": 4625}, "condition": "s"}, security)
    either = rule({"s": {"EventID": [4624, 4625], "LogonType": 10}, "condition": "s"}, security)
    assert either.kinds == {"logon"}
    assert either.matches({"kind": "logon", "logon_type": 10})


def test_system_log_service_installs_are_autorun_records():
    system = {"product": "windows", "service": "system"}
    r = rule(
        {
            "s": {
                "Provider_Name": "Service Control Manager",
                "EventID": 7045,
                "ImagePath|contains": r"\\Users\\Public\\",
            },
            "condition": "s",
        },
        system,
    )
    installed = {
        "kind": "autorun",
        "autorun_type": "service",
        "target_path": r"c:\users\public\s.exe",
    }
    assert r.matches(installed)
    assert not r.matches({**installed, "autorun_type": "run_key"})
    with pytest.raises(UnsupportedRule, match="Provider_Name LsaSrv is not collected"):
        rule({"s": {"Provider_Name": "LsaSrv", "EventID": 6038}, "condition": "s"}, system)


def test_process_creation_covers_started_events_and_process_snapshots():
    r = one("Image|endswith", r"\cmd.exe")
    assert r.kinds == {"process", "process_event"}
    assert r.matches(proc())
    assert not r.matches(proc(action="stop"))
    assert r.matches({**proc(), "kind": "process", "action": None})
    assert not r.matches({**proc(), "kind": "file"})


def test_custom_stopclock_logsource_uses_observation_column_names():
    r = rule(
        {"s": {"autorun_type": "run_key", "target_path|contains": r"\temp\\"}, "condition": "s"},
        {"product": "stopclock", "category": "autorun"},
    )
    assert r.kinds == {"autorun"}
    assert r.matches(
        {"kind": "autorun", "autorun_type": "run_key", "target_path": r"c:\temp\a.exe"}
    )
    with pytest.raises(UnsupportedRule, match="'Image' is not mapped"):
        rule({"s": {"Image": "x"}, "condition": "s"}, {"product": "stopclock", "category": "file"})


# -- metadata --------------------------------------------------------------------------------


def test_alert_metadata_comes_from_the_rule():
    r = rule(
        {"s": {"Image": "x"}, "condition": "s"},
        title="Encoded PowerShell",
        level="critical",
        tags=["attack.execution", "attack.t1059.001", "attack.T1027"],
        falsepositives=["admin scripts"],
        references=["https://example.org/a"],
    )
    assert (r.title, r.severity, r.phase) == ("Encoded PowerShell", "critical", "initial_infection")
    assert r.attack_techniques == ("T1059.001", "T1027")
    assert r.falsepositives == ("admin scripts",)
    assert r.references == ("https://example.org/a",)
    assert uuid.UUID(r.rule_id)


@pytest.mark.parametrize(
    ("level", "severity"),
    [("informational", "info"), ("low", "low"), ("HIGH", "high"), (None, "medium")],
)
def test_sigma_levels_map_to_our_severities(level, severity):
    assert severity_of(level) == severity


@pytest.mark.parametrize(
    ("tags", "phase"),
    [
        (["attack.execution"], "initial_infection"),
        (["attack.defense-evasion"], "initial_infection"),
        (["attack.privilege_escalation"], "persistence"),
        (["attack.execution", "attack.persistence"], "persistence"),  # the furthest
        (["attack.discovery"], "lateral_movement"),
        (["attack.command-and-control", "stopclock.phase.persistence"], "persistence"),
        ([], "initial_infection"),
    ],
)
def test_phase_is_the_furthest_tactic_unless_a_stopclock_tag_says_otherwise(tags, phase):
    assert phase_of(tags) == phase


def test_unknown_stopclock_phase_tag_is_invalid():
    with pytest.raises(InvalidRule, match="unknown phase"):
        rule({"s": {"Image": "x"}, "condition": "s"}, tags=["stopclock.phase.exfil"])


def test_techniques_are_upper_case_and_deduplicated():
    assert techniques_of(["attack.t1059", "attack.t1059", "cve.2021-1"]) == ("T1059",)


# -- engine ----------------------------------------------------------------------------------


def test_engine_reports_each_match_with_the_record_index():
    cmd = one("Image|endswith", r"\cmd.exe")
    net = rule(
        {"s": {"DestinationPort": 4444}, "condition": "s"}, {"category": "network_connection"}
    )
    records = [
        proc(),
        {"kind": "network", "remote_port": 4444},
        proc(process_path=r"c:\x\notepad.exe"),
        {"kind": "dns", "dns_query": "x"},
        {"no kind": True},
    ]
    found = Engine([cmd, net]).evaluate(records)
    assert [(d.rule, d.record_index) for d in found] == [(cmd, 0), (net, 1)]
    assert found[0].record is records[0]


def test_allowlist_exception_suppresses_a_detection_and_can_report_it():
    r = one("Image|endswith", r"\cmd.exe")
    admin = proc(process_path=r"C:\Tools\Admin\cmd.exe")
    engine = Engine([r], exceptions={r.rule_id: [("process_path", r"c:\tools\admin\*")]})
    assert [d.record_index for d in engine.evaluate([proc(), admin])] == [0]
    both = engine.evaluate([proc(), admin], include_suppressed=True)
    assert [d.suppressed_by for d in both] == [None, ("process_path", r"c:\tools\admin\*")]


def test_allowlist_for_an_unknown_rule_is_reported_and_a_bad_field_is_an_error():
    r = one("Image", "x")
    assert Engine([r], exceptions={"nope": [("process_path", "x")]}).unused_exceptions == ("nope",)
    with pytest.raises(ValueError, match="Image"):
        Engine([r], exceptions={r.rule_id: [("Image", "x")]})


def test_text_values_of_other_types_and_lone_surrogates_do_not_crash():
    rules = [
        one("CommandLine|re", "abc"),
        one("CommandLine|contains", "abc"),
        one("ProcessId", "12*"),
        rule({"k": ["abc"], "condition": "k"}),
    ]
    records = [proc(command_line="x\ud800abc", pid=123), proc(command_line=42, pid="x")]
    found = Engine(rules).evaluate(records)
    assert {(d.rule.rule_id, d.record_index) for d in found} == {
        (rules[0].rule_id, 0),
        (rules[1].rule_id, 0),
        (rules[2].rule_id, 0),
        (rules[3].rule_id, 0),
    }


def test_many_wildcards_on_a_long_command_line_stay_fast():
    r = one("CommandLine", "*a*a*a*a*a*a*a*a*a*b")
    start = time.perf_counter()
    assert not r.matches(proc(command_line="a" * 8192))
    # Exponential backtracking would take hours here; linear matching takes milliseconds.
    assert time.perf_counter() - start < 2


# -- properties ------------------------------------------------------------------------------

ALPHABET = "ab\\."
parts = st.lists(
    st.one_of(
        st.text(ALPHABET, min_size=1, max_size=3),
        st.just(SpecialChars.WILDCARD_MULTI),
        st.just(SpecialChars.WILDCARD_SINGLE),
    ),
    min_size=1,
    max_size=6,
)


def _reference(pattern: list[Any]) -> re.Pattern[str]:
    source = "".join(
        ".*" if p is SpecialChars.WILDCARD_MULTI else "." if p is SpecialChars.WILDCARD_SINGLE
        else re.escape(p)
        for p in pattern
    )  # fmt: skip
    return re.compile(source, re.DOTALL)


def _normal(pattern: list[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for p in pattern:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        elif not (p is SpecialChars.WILDCARD_MULTI and out and out[-1] is p):
            out.append(p)
    return tuple(out)


@given(pattern=parts, value=st.text(ALPHABET, max_size=12))
def test_wildcard_matching_agrees_with_a_reference_regex(pattern, value):
    expected = _reference(pattern).fullmatch(value) is not None
    assert Glob(_normal(pattern))(value) is expected
    assert any_pattern([_normal(pattern)])(value) is expected


@given(
    dash=st.sampled_from(["-", "/", "\u2013", "\u2014", "\u2015"]),
    flag=st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    before=st.text(" abc", max_size=5),
    after=st.text(" xyz", max_size=5),
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
def test_windash_accepts_any_dash_before_any_flag(dash, flag, before, after):
    r = _windash_rule(flag)
    assert r.matches(proc(command_line=f"tool{before} {dash}{flag} {after}"))


_WINDASH_CACHE: dict[str, CompiledRule] = {}


def _windash_rule(flag: str) -> CompiledRule:
    if flag not in _WINDASH_CACHE:
        _WINDASH_CACHE[flag] = one("CommandLine|windash|contains", f" -{flag} ")
    return _WINDASH_CACHE[flag]


# The index (anchors) must never change a result: compare it with brute force.
_INDEX_RULES = [compile_rule(text) for text in load_shipped_rules()] + [
    one("Image|endswith", [r"\cmd.exe", "calc.exe"]),
    one("CommandLine|contains", ["whoami", "net use"]),
    one("CommandLine", "*e?c*"),
    rule({"s": {"Image": r"c:\windows\net.exe"}, "n": {"User": None}, "condition": "s or not n"}),
]

text_values = st.sampled_from(
    [
        r"c:\windows\system32\cmd.exe",
        r"c:\windows\system32\net.exe",
        r"c:\windows\calc.exe",
        r"c:\windows\system32\wbem\wmiprvse.exe",
        r"c:\program files\microsoft office\winword.exe",
        r"c:\users\bob\appdata\local\temp\a.ps1",
        "net use \\\\h\\c$",
        "powershell -enc aaa",
        "whoami",
        "",
    ]
)
records = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["process_event", "process", "file", "autorun", "logon"]),
            "action": st.sampled_from(["start", "create", None]),
            "process_path": text_values,
            "parent_path": text_values,
            "command_line": text_values,
            "file_path": text_values,
            "user_name": st.sampled_from([None, "", r"corp\bob"]),
            "autorun_type": st.sampled_from(["service", "com_object"]),
            "header_hex": st.sampled_from(["504b03040a", "4d5a"]),
        }
    ),
    max_size=8,
)


@given(batch=records)
@settings(max_examples=80, deadline=None)
def test_engine_index_never_changes_a_result(batch):
    engine = Engine(_INDEX_RULES)
    indexed = {(d.rule.rule_id, d.record_index) for d in engine.evaluate(batch)}
    brute = {(r.rule_id, i) for i, rec in enumerate(batch) for r in _INDEX_RULES if r.matches(rec)}
    assert indexed == brute
