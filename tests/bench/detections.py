r"""Reference predicates for the detections the intrusion scenario is built to trigger.

These are not the product's rules (those are Sigma, elsewhere): they are the plainest
reading of each detection in `bench.datagen.scenarios.DETECTIONS`, so the generator's
promises can be tested here: benign data fires none of them, and each scenario step
fires exactly the ones it is labelled with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bench.datagen.catalog import ARCHIVE_HEADERS, OOXML_EXTENSIONS, SCRIPT_EXTENSIONS

Record = dict[str, Any]

SHELLS = {"cmd.exe", "powershell.exe", "pwsh.exe", "wscript.exe", "cscript.exe", "mshta.exe"}
OFFICE = {"winword.exe", "excel.exe", "powerpnt.exe", "outlook.exe", "msaccess.exe"}
PDF_READERS = {"acrord32.exe", "acrobat.exe"}
_SCRIPTS = "|".join(sorted(SCRIPT_EXTENSIONS))
_USER_PLACES = r"(\\appdata\\|\\temp\\|\\downloads\\|\\users\\public\\|^c:\\programdata\\[^\\]+$)"
_SCRIPT_FILE = re.compile(rf"\.({_SCRIPTS})$")
_SCRIPT_IN_TEXT = re.compile(
    rf"(\\appdata\\|\\temp\\|\\downloads\\|\\users\\public\\|c:\\programdata\\[^\\\s\"]+)"
    rf"[^\s\"]*\.({_SCRIPTS})\b"
)
_STAGING = re.compile(r"^(c:\\users\\|c:\\perflogs\\|c:\\programdata\\|c:\\windows\\temp\\)")
_ADMIN_SHARE = re.compile(r"\\\\[^\\\s]+\\(c|d|admin)\$")
_POWERSHELL_SIGNS = re.compile(
    r"\s-e(nc|ncodedcommand)?\s|downloadstring|downloadfile|net\.webclient"
    r"|-w(indowstyle)?\s+hidden|bypass"
)


def _started(record: Record) -> bool:
    return record["kind"] == "process_event" and record.get("action") == "start"


def _cmd(record: Record) -> str:
    return record.get("command_line", "").lower()


def script_in_user_path(r: Record) -> bool:
    if r["kind"] == "file" and r.get("action") == "create":
        path = r["file_path"]
        return bool(_SCRIPT_FILE.search(path) and re.search(_USER_PLACES, path))
    return _started(r) and bool(_SCRIPT_IN_TEXT.search(_cmd(r)))


def office_spawns_shell(r: Record) -> bool:
    return _started(r) and r.get("parent_name") in OFFICE and r["process_name"] in SHELLS


def pdf_reader_drops_script(r: Record) -> bool:
    return (
        r["kind"] == "file"
        and r.get("process_name") in PDF_READERS
        and r.get("file_extension") in SCRIPT_EXTENSIONS | {"exe", "dll", "scr"}
    )


def shell_unusual_parent(r: Record) -> bool:
    unusual = OFFICE | PDF_READERS | {"w3wp.exe", "sqlservr.exe"}
    return _started(r) and r["process_name"] in SHELLS and r.get("parent_name") in unusual


def net_recon(r: Record) -> bool:
    if not _started(r) or r["process_name"] not in ("net.exe", "net1.exe"):
        return False
    return bool(re.search(r"\s(group|localgroup|user)(\s|$)", _cmd(r)))


def suspicious_powershell(r: Record) -> bool:
    if not _started(r) or r["process_name"] not in ("powershell.exe", "pwsh.exe"):
        return False
    return bool(_POWERSHELL_SIGNS.search(_cmd(r)))


def network_logon_unusual_source(r: Record) -> bool:
    # The fleet's servers are SRV-*; benign network logons only come from them.
    source = r.get("source_hostname", "")
    return r["kind"] == "logon" and r["logon_type"] == 3 and not source.startswith("srv-")


def psexec(r: Record) -> bool:
    if r["kind"] == "autorun":
        return r["item_name"] == "psexesvc"
    if r["kind"] == "file":
        return r["file_name"] == "psexesvc.exe"
    if not _started(r):
        return False
    return (
        r["process_name"] in ("psexec.exe", "psexesvc.exe")
        or r.get("parent_name") == "psexesvc.exe"
    )


def wmi_remote_exec(r: Record) -> bool:
    if not _started(r):
        return False
    cmd = _cmd(r)
    remote = r["process_name"] == "wmic.exe" and "/node:" in cmd and "call create" in cmd
    return remote or (r.get("parent_name") == "wmiprvse.exe" and r["process_name"] in SHELLS)


def admin_share_mount(r: Record) -> bool:
    return (
        _started(r)
        and r["process_name"] in ("net.exe", "net1.exe")
        and " use " in _cmd(r)
        and bool(_ADMIN_SHARE.search(_cmd(r)))
    )


def remote_scheduled_task(r: Record) -> bool:
    cmd = _cmd(r)
    return (
        _started(r) and r["process_name"] == "schtasks.exe" and "/create" in cmd and " /s " in cmd
    )


def archive_in_staging_path(r: Record) -> bool:
    if r["kind"] != "file" or not r.get("header_hex", "").startswith(ARCHIVE_HEADERS):
        return False
    return bool(_STAGING.match(r["file_path"])) and r.get("file_extension") not in OOXML_EXTENSIONS


def new_persistence(r: Record) -> bool:
    if r["kind"] == "autorun":
        return r.get("action") == "create"
    if r["kind"] == "registry":
        return r.get("action") == "set" and "\\currentversion\\run\\" in r["registry_key"]
    cmd = _cmd(r)
    return (
        _started(r)
        and r["process_name"] == "schtasks.exe"
        and "/create" in cmd
        and " /s " not in cmd
    )


PREDICATES: dict[str, Callable[[Record], bool]] = {
    "script_in_user_path": script_in_user_path,
    "office_spawns_shell": office_spawns_shell,
    "pdf_reader_drops_script": pdf_reader_drops_script,
    "shell_unusual_parent": shell_unusual_parent,
    "net_recon": net_recon,
    "suspicious_powershell": suspicious_powershell,
    "network_logon_unusual_source": network_logon_unusual_source,
    "psexec": psexec,
    "wmi_remote_exec": wmi_remote_exec,
    "admin_share_mount": admin_share_mount,
    "remote_scheduled_task": remote_scheduled_task,
    "archive_in_staging_path": archive_in_staging_path,
    "new_persistence": new_persistence,
}


def fired(record: Record) -> set[str]:
    """The detections ``record`` triggers."""
    return {name for name, predicate in PREDICATES.items() if predicate(record)}
