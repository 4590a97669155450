r"""Every shipped rule: well-formed, and tested with a true positive and a near miss.

The near misses are the realistic look-alikes an analyst would otherwise be paged for; a
rule change that starts matching them fails here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from endpoints.detection import Engine, compile_rule, load_shipped_rules
from endpoints.detection.metadata import PHASES

WHEN = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SHIPPED = {rule.rule_id: rule for rule in map(compile_rule, load_shipped_rules())}
ENGINE = Engine(SHIPPED.values())


def _base(kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "event_id": "ev-1", "observed_at": WHEN, **fields}


def proc(image: str, command_line: str, parent: str = r"c:\windows\explorer.exe", **more: Any):
    """A process start; paths lower-case as the ingestion stores them."""
    return _base(
        "process_event",
        action="start",
        process_path=image,
        process_name=image.rsplit("\\", 1)[-1],
        command_line=command_line,
        parent_path=parent,
        parent_name=parent.rsplit("\\", 1)[-1],
        **more,
    )


def file(path: str, image: str = r"c:\windows\explorer.exe", **more: Any):
    name = path.rsplit("\\", 1)[-1]
    return _base(
        "file",
        action="create",
        file_path=path,
        file_name=name,
        file_extension=name.rsplit(".", 1)[-1] if "." in name else "",
        process_path=image,
        **more,
    )


def logon(logon_type: int, source_ip: str | None, user: str = r"bob") -> dict[str, Any]:
    return _base("logon", logon_type=logon_type, source_ip=source_ip, target_user_name=user)


def autorun(autorun_type: str, name: str, target: str) -> dict[str, Any]:
    return _base("autorun", autorun_type=autorun_type, item_name=name, target_path=target)


SYS32 = "c:\\windows\\system32\\"
CMD = SYS32 + "cmd.exe"
POWERSHELL = SYS32 + r"windowspowershell\v1.0\powershell.exe"
NET = SYS32 + "net.exe"
SCHTASKS = SYS32 + "schtasks.exe"
WMIPRVSE = SYS32 + r"wbem\wmiprvse.exe"
WINWORD = r"c:\program files\microsoft office\root\office16\winword.exe"
ACROBAT = r"c:\program files\adobe\acrobat dc\acrobat\acrobat.exe"
TEMP = r"c:\users\bob\appdata\local\temp"

# rule id -> (a record it must match, records that look alike and must not)
CASES: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    # Script File Written to a Suspicious Path
    "a1c18fb7-19b9-4b25-9f27-b16a165be08f": (
        file(TEMP + r"\invoice.js"),
        [
            file(TEMP + r"\config.json"),
            file(r"c:\programdata\vendor\agent\update.ps1"),
            file(r"c:\program files\tools\deploy.ps1"),
        ],
    ),
    # Script Run From a Suspicious Path
    "76ea90f3-8bc1-48f7-b4b9-32037a80ef4f": (
        proc(SYS32 + "wscript.exe", r'"C:\Windows\System32\WScript.exe" "C:\ProgramData\a.vbs"'),
        [
            proc(SYS32 + "wscript.exe", r'wscript.exe "C:\ProgramData\Vendor\logon.vbs"'),
            proc(POWERSHELL, r"powershell -File C:\Scripts\backup.ps1"),
            proc(CMD, r"cmd /c type C:\Users\bob\AppData\Local\Temp\out.json"),
        ],
    ),
    # Office Application Spawned a Shell or Script Host
    "d90a510f-6f6b-468e-96d8-2af8d0d76186": (
        proc(POWERSHELL, "powershell -nop -c iex $x", parent=WINWORD),
        [
            proc(SYS32 + "splwow64.exe", "splwow64.exe 8192", parent=WINWORD),
            proc(POWERSHELL, "powershell -nop", parent=r"c:\windows\explorer.exe"),
        ],
    ),
    # Adobe Acrobat Wrote an Executable or Script
    "4cee227a-b287-4ed0-af2b-051946ef8a42": (
        file(TEMP + r"\svchost.exe", image=ACROBAT),
        [
            file(r"c:\users\bob\documents\statement.pdf", image=ACROBAT),
            file(TEMP + r"\acrord32_sbx\a.tmp", image=ACROBAT),
        ],
    ),
    # Command Shell Started by an Unusual Parent
    "4b41d4c7-8905-4029-8a5b-481f4d372c88": (
        proc(CMD, "cmd /c whoami", parent=r"c:\program files\apache\tomcat9\bin\tomcat9.exe"),
        [
            proc(CMD, "cmd /c whoami", parent=r"c:\windows\explorer.exe"),
            proc(SYS32 + "conhost.exe", "conhost 0x4", parent=SYS32 + r"inetsrv\w3wp.exe"),
        ],
    ),
    # Account and Group Reconnaissance With net.exe
    "71e7e93b-22bf-498d-ac22-e69997f8ef48": (
        proc(NET, 'net group "Domain Admins" /domain'),
        [
            proc(NET, 'net localgroup "Remote Desktop Users"'),
            proc(NET, "net user bob"),
            proc(NET, 'net group "Domain Admins" eve /add /domain'),
        ],
    ),
    # Local or Domain Account Created With net.exe
    "105df156-a53b-44b0-9de4-6c325bd9f12f": (
        proc(SYS32 + "net1.exe", "net1 user support P@ssw0rd! /add"),
        [proc(NET, "net user support /delete"), proc(NET, "net user support")],
    ),
    # Suspicious PowerShell Invocation
    "b2155e25-0f01-4544-bbdf-4334a73152dc": (
        proc(POWERSHELL, "powershell.exe -NoP -W Hidden -EncodedCommand SQBFAFgA"),
        [
            proc(POWERSHELL, r"powershell.exe -File C:\Scripts\report.ps1 -Encoding utf8"),
            proc(POWERSHELL, "powershell.exe -ExecutionPolicy RemoteSigned -Command Get-Date"),
            proc(POWERSHELL, "powershell.exe -Command Update-Firmware -WindowStyle Normal"),
        ],
    ),
    # Network Logon From a Source Outside the Admin Range
    "f09da6aa-60c1-4580-9fea-e0c3a727074d": (
        logon(3, "198.51.100.23"),
        [logon(3, "127.0.0.1"), logon(3, "10.1.2.3", user="ws01$"), logon(2, "198.51.100.23")],
    ),
    # PsExec Service Installed
    "e90afd1e-b6be-4670-9965-3ec98922f5b9": (
        autorun("service", "psexesvc", r"%systemroot%\psexesvc.exe"),
        [
            autorun("service", "psshutdownsvc", r"c:\windows\psshutdown.exe"),
            autorun("run_key", "psexesvc", r"c:\windows\psexesvc.exe"),
        ],
    ),
    # PsExec Service Process Running
    "a00469a6-7786-4eee-886e-68308d3a11bb": (
        proc(CMD, "cmd /c ipconfig", parent=r"c:\windows\psexesvc.exe"),
        [proc(r"c:\tools\sysinternals\psexec.exe", r"psexec \\srv01 cmd")],
    ),
    # Shell Started Through WMI
    "e6a57ad2-dd3a-4479-9115-24c33c28c3d0": (
        proc(CMD, r"cmd.exe /Q /c cd \ 1> \\127.0.0.1\ADMIN$\__1 2>&1", parent=WMIPRVSE),
        [proc(SYS32 + "werfault.exe", "werfault -u -p 4242", parent=WMIPRVSE)],
    ),
    # Administrative Share Mounted With net use
    "bd23ce85-78c2-45ed-8823-5d6f967d4f05": (
        proc(NET, r"net use \\FS02\C$ /user:corp\admin Passw0rd"),
        [proc(NET, r"net use \\fileserver\projects"), proc(NET, r"net use z: \\fs01\home$")],
    ),
    # Scheduled Task Created on a Remote Host
    "bbb0f32c-93e4-4581-beef-6beb3348f4bb": (
        proc(SCHTASKS, r'schtasks /create /s SRV02 /tn upd /tr "c:\t\a.exe" /sc once'),
        [proc(SCHTASKS, r"schtasks /create /tn upd /tr c:\t\a.exe /sc daily /st 09:00")],
    ),
    # Archive or Container File Written to a User or Staging Path
    "a60dcc3c-ac90-4e69-afb1-f07918afc941": (
        file(r"c:\perflogs\backup.dat", header_hex="377abcaf271c0004"),
        [
            file(r"c:\users\bob\documents\q3 report.docx", header_hex="504b030414000600"),
            file(r"c:\program files\app\data.zip", header_hex="504b0304"),
            file(TEMP + r"\notes.txt", header_hex="48656c6c6f"),
        ],
    ),
    # New Persistence Mechanism on an Endpoint
    "c09afede-25da-4946-a970-a497abdfe393": (
        autorun("scheduled_task", r"\microsoft\windows\updater", r"c:\users\public\u.exe"),
        [autorun("com_object", "{b5f8350b-0548-48b1-a6ee-88bd00b4a5e7}", r"c:\x\y.dll")],
    ),
}


def test_every_shipped_rule_has_a_true_positive_and_a_near_miss():
    assert set(CASES) == set(SHIPPED)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_true_positive_is_detected(rule_id):
    record, _ = CASES[rule_id]
    assert SHIPPED[rule_id].matches(record)
    assert rule_id in {d.rule.rule_id for d in ENGINE.evaluate([record])}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_near_miss_is_not_detected(rule_id):
    _, near_misses = CASES[rule_id]
    for record in near_misses:
        assert not SHIPPED[rule_id].matches(record), record


@pytest.mark.parametrize("text", load_shipped_rules(), ids=lambda t: t.split("\n", 1)[0][7:])
def test_shipped_rule_is_complete_sigma(text):
    document = yaml.safe_load(text)
    assert uuid.UUID(document["id"])
    assert document["author"] == "Stopclock"
    assert document["status"] and document["description"] and document["falsepositives"]
    assert document["level"] in {"informational", "low", "medium", "high", "critical"}
    tags = document["tags"]
    assert any(t.startswith("attack.t") for t in tags)
    assert [t for t in tags if t.startswith("stopclock.phase.")] and all(
        t.removeprefix("stopclock.phase.") in PHASES for t in tags if t.startswith("stopclock.")
    )


def test_admin_range_is_allowlisted_by_exception_on_the_logon_rule():
    rule_id = "f09da6aa-60c1-4580-9fea-e0c3a727074d"
    engine = Engine(SHIPPED.values(), exceptions={rule_id: [("source_ip", "10.10.0.*")]})
    records = [logon(3, "10.10.0.15"), logon(3, "10.20.0.15")]
    assert [d.record_index for d in engine.evaluate(records)] == [1]
