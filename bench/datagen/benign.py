r"""Benign telemetry: what an ordinary day on an enterprise endpoint looks like to the agent.

A stream for one endpoint starts with the inventory an agent sends when it starts (running
processes parent-first, autoruns, drivers), then a weighted mix of events: process starts
with believable parents (explorer -> winword, chrome -> chrome renderer, services ->
svchost), file writes, network connections (443 to vendor CDNs, 53 and 88 to domain
controllers, 445 to file servers), DNS queries, logons and registry sets.

Speed matters (the benchmarks draw a million records), so per-endpoint work is done
once, and only for what a stream uses: every kind of event becomes a *template* (a
finished dict for this host, built on first use) plus a small ``fill`` function that sets
the few columns that vary per record. Generating a record is then a dict copy, an id, a
timestamp and that fill. Endpoint-independent pieces (a process record's skeleton, an
autorun) are cached across endpoints in `records`.

What benign data deliberately never contains, so the detections stay quiet on it:
scripts written to or run from Temp/AppData/Downloads/Users\Public/ProgramData root,
Office or Acrobat spawning anything, shells under server or document processes, ``net``
recon, encoded/hidden/bypass/download-cradle PowerShell, network logons (type 3) from
anything but domain controllers, file and management servers, PsExec, WMI-spawned
shells, admin-share mounts, remote scheduled tasks, archive headers in user or staging
paths (Office Open XML documents excepted: they *are* ZIP files, see
``catalog.OOXML_EXTENSIONS``) and new (``action="create"``) autoruns or run-key sets.

``noise=True`` adds the two false positives every SOC knows, on purpose and rarely: the
ConfigMgr client running a PowerShell script with ``-ExecutionPolicy Bypass``, and an IT
admin looking up an account with ``net user <name> /domain``. See `NOISE`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import accumulate
from typing import TypeVar

from bench.datagen import catalog, records
from bench.datagen.catalog import DOCUMENT_NAMES, OOXML_HEADER
from bench.datagen.fleet import EndpointSpec, Peer
from bench.datagen.records import Proc, Record

DEFAULT_SPAN = timedelta(hours=24)
T = TypeVar("T")

Fill = Callable[[Record, random.Random, datetime], None]

# -- what happens on a host, by OS -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """A process started by a long-running session process (kind ``process_event``)."""

    binary: str
    parent: str  # session key
    args: tuple[str, ...]  # alternatives, equally likely
    weight: float
    who: str = "system"
    integrity: str | None = "system"
    needs: str | None = None  # package key


@dataclass(frozen=True, slots=True)
class Write:
    """A file written by a session process.

    Placeholders filled per record: {doc} (a document title), {hex}, {date}, {pick} (one
    of ``picks``); per host: {olk} (the Outlook attachment folder).
    """

    actor: str
    path: str
    weight: float
    size: tuple[int, int]
    header: str | None = None
    hashed: bool = False
    action: str = "create"
    picks: tuple[str, ...] = ()
    role: str | None = None  # only on endpoints of this role


@dataclass(frozen=True, slots=True)
class Web:
    """Outbound traffic of a session process to public services: a DNS query and a flow."""

    actor: str
    domains: tuple[str, ...]
    weight: float
    port: int = 443


@dataclass(frozen=True, slots=True)
class Peers:
    """Traffic between a session process and other hosts of the fleet.

    ``group`` is an `Infrastructure` attribute, or "clients" (any office address).
    """

    actor: str
    group: str
    port: int
    weight: float
    protocol: str = "tcp"
    direction: str = "outbound"
    role: str | None = None  # only on endpoints of this role (inbound services)


@dataclass(frozen=True, slots=True)
class RegSet:
    actor: str
    key: str
    value: str
    weight: float


@dataclass(frozen=True, slots=True)
class Logon:
    """A logon to this host. ``source``: "local", an `Infrastructure` group, or None."""

    logon_type: int
    account: str  # "user", "machine" (the source's computer account), "admin" or literal
    source: str | None
    auth: str
    weight: float
    servers_only: bool = False


_USERDIR = r"C:\Users\%user%"
_TEMP = rf"{_USERDIR}\AppData\Local\Temp"
_U = "user"
_M = "medium"
_RENDERER = (
    "--type=renderer --lang=en-US --js-flags=--ms-user-locale= --device-scale-factor=1 "
    "--num-raster-threads=4 --enable-main-frame-before-activation --renderer-client-id=7",
    "--type=renderer --lang=en-US --device-scale-factor=1.25 --num-raster-threads=4 "
    "--renderer-client-id=12 --launch-time-ticks=2207143870",
    "--type=gpu-process --gpu-preferences=UAAAAAAAAADgAAAEAAAAAAAAAAAAAAAAAABgAAEAAAA",
    "--type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US "
    "--service-sandbox-type=none",
)
_DOCS = tuple(rf'/n "{_USERDIR}\Documents\{d}.docx"' for d in DOCUMENT_NAMES[:8])
_SHEETS = tuple(rf'"{_USERDIR}\Documents\{d}.xlsx"' for d in DOCUMENT_NAMES[8:14])
_PDFS = tuple(rf'"{_USERDIR}\Downloads\{d}.pdf"' for d in DOCUMENT_NAMES[14:])
_CCM_LOGS = ("CcmExec", "PolicyAgent", "DataTransferService", "StatusAgent", "InventoryAgent")
_SHARES = ("Finance", "Sales", "HR", "Engineering", "Operations", "Marketing")

_WINDOWS_STARTS = (
    Start("chrome", "chrome", _RENDERER, 6, _U, "low"),
    Start("msedge", "msedge", _RENDERER, 2, _U, "low"),
    Start("winword", "explorer", _DOCS, 1.2, _U, _M),
    Start("excel", "explorer", _SHEETS, 1, _U, _M),
    Start("powerpnt", "explorer", ("",), 0.3, _U, _M),
    Start("acrord32", "explorer", _PDFS, 0.7, _U, _M, needs="acrobat"),
    Start("notepadpp", "explorer", ("",), 0.4, _U, _M, needs="notepadpp"),
    Start("git", "vscode", ("fetch --all", "status -z -uall", "pull --rebase"), 1.5, _U, _M,
          needs="git"),
    Start("sevenzipfm", "explorer", ("",), 0.2, _U, _M, needs="sevenzip"),
    # developers (git installed) open consoles from the Start menu: a shell under explorer
    Start("cmd", "explorer", ("",), 0.15, _U, _M, needs="git"),
    Start("powershell", "explorer", ("",), 0.15, _U, _M, needs="git"),
    Start("runtimebroker", "svchost_dcom", ("-Embedding",), 2, _U, _M),
    Start("backgroundtaskhost", "svchost_dcom",
          ("-ServerName:BackgroundTaskHost.WebAccountProvider",
           "-ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca"), 1.5, _U, "low"),
    Start("dllhost", "svchost_dcom", ("/Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}",
                                      "/Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}"), 1),
    Start("smartscreen", "svchost_dcom", ("-Embedding",), 0.5, _U, _M),
    Start("wmiprvse", "svchost_dcom", ("-secured -Embedding",), 0.5, "network_service"),
    Start("taskhostw", "svchost_netsvcs", ("", "Install $(Arg0)"), 1.2, _U, _M),
    Start("svchost", "services", ("-k UnistackSvcGroup", "-k wsappx -p -s AppXSvc",
                                  "-k netsvcs -p -s BITS"), 1),
    Start("searchprotocolhost", "searchindexer",
          ("Global\\UsGthrFltPipeMssGthrPipe1_ Global\\UsGthrCtrlFltPipeMssGthrPipe1 1 "
           "-2147483646 \"Software\\Microsoft\\Windows Search\" "
           "\"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)\" "
           "\"C:\\ProgramData\\Microsoft\\Search\\Data\\Temp\\usgthrsvc\" \"DownLevelDaemon\"",),
          2),
    Start("mpcmdrun", "msmpeng", ("SignaturesUpdateService -ScheduleJob -UnmanagedUpdate",
                                  "-IdleTask -TaskName WdCacheMaintenance"), 0.5),
    Start("onedriveupdater", "svchost_netsvcs", ("/reporting",), 0.3, _U, _M),
    Start("conhost", "agent", ("0xffffffff -ForceV1",), 0.3),
)  # fmt: skip

_WINDOWS_WRITES = (
    Write("chrome", rf"{_USERDIR}\AppData\Local\Google\Chrome\User Data\Default\Cache"
          r"\Cache_Data\f_{hex}", 3, (2_000, 400_000)),
    Write("chrome", rf"{_USERDIR}\Downloads\{{doc}}.pdf", 0.6, (50_000, 5_000_000),
          catalog.HEADER_PDF, hashed=True),
    Write("msedge", rf"{_USERDIR}\AppData\Local\Microsoft\Edge\User Data\Default\Cache"
          r"\Cache_Data\f_{hex}", 1, (2_000, 400_000)),
    Write("outlook", r"{olk}\{doc}.pdf", 0.6, (40_000, 3_000_000), catalog.HEADER_PDF,
          hashed=True),
    Write("outlook", r"{olk}\{doc}.xlsx", 0.4, (15_000, 900_000), OOXML_HEADER, hashed=True),
    Write("outlook", rf"{_USERDIR}\AppData\Local\Microsoft\Outlook\{{hex}}.tmp", 0.5,
          (1_000, 90_000)),
    Write("explorer", rf"{_USERDIR}\Documents\{{doc}}.docx", 1, (12_000, 2_000_000),
          OOXML_HEADER, hashed=True),
    Write("explorer", rf"{_USERDIR}\Documents\{{doc}}.xlsx", 0.8, (9_000, 4_000_000),
          OOXML_HEADER, hashed=True),
    Write("explorer", rf"{_USERDIR}\Pictures\Screenshots\Screenshot {{date}}.png", 0.3,
          (90_000, 2_500_000), catalog.HEADER_PNG, hashed=True),
    Write("outlook", rf"{_TEMP}\~DF{{hex}}.TMP", 1, (16_384, 65_536)),
    Write("msteams", rf"{_USERDIR}\AppData\Local\Packages\MSTeams_8wekyb3d8bbwe\LocalCache"
          r"\Microsoft\MSTeams\Logs\MSTeams_{date}.log", 1, (40_000, 9_000_000), action="modify"),
    Write("ccmexec", r"C:\Windows\CCM\Logs\{pick}.log", 1, (100_000, 3_000_000),
          "3c215b4c4f475b", action="modify", picks=_CCM_LOGS),
    Write("agent", r"C:\ProgramData\Stopclock\Agent\queue\batch-{hex}.dat", 1, (4_096, 524_288)),
    Write("sqlservr", r"D:\MSSQL\Backup\{pick}_{date}.bak", 0.5, (10**8, 10**10),
          "54415045000003008e010000", picks=("Finance", "CRM", "Inventory", "HRIS")),
    Write("system", r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex{date}.log", 2, (10**5, 10**8),
          action="modify", role="web_server"),
    Write("system", r"D:\Shares\{pick}\{doc}.xlsx", 2, (9_000, 4_000_000), OOXML_HEADER,
          hashed=True, picks=_SHARES, role="file_server"),
    Write("dns", r"C:\Windows\System32\dns\dns.log", 1, (10**6, 5 * 10**8), action="modify"),
)  # fmt: skip

_WINDOWS_WEB = (
    Web("chrome", ("www.google.com", "fonts.gstatic.com", "accounts.google.com",
                   "www.youtube.com", "update.googleapis.com", "www.linkedin.com",
                   "%dom%.sharepoint.com", "github.com"), 6),
    Web("msedge", ("www.bing.com", "edge.microsoft.com", "%dom%.sharepoint.com"), 2),
    Web("outlook", ("outlook.office365.com", "login.microsoftonline.com"), 3),
    Web("msteams", ("teams.microsoft.com", "graph.microsoft.com"), 2),
    Web("onedrive", ("%dom%.sharepoint.com", "login.microsoftonline.com"), 1),
    Web("svchost_netsvcs", ("settings-win.data.microsoft.com",
                            "7.dl.delivery.mp.microsoft.com"), 1),
    Web("svchost_netsvcs", ("ctldl.windowsupdate.com",), 0.5, 80),
    Web("msmpeng", ("wdcp.microsoft.com",), 0.5),
    Web("slack", ("slack.com",), 1),
    Web("zoom", ("zoom.us",), 0.8),
    Web("vscode", ("api.github.com", "registry.npmjs.org", "pypi.org"), 1),
)  # fmt: skip

_WINDOWS_PEERS = (
    Peers("system", "file_servers", 445, 2),
    Peers("lsass", "domain_controllers", 88, 1),
    Peers("svchost_netsvcs", "domain_controllers", 389, 0.7),
    Peers("svchost_dnscache", "domain_controllers", 53, 1.5, "udp"),
    Peers("ccmexec", "management_servers", 443, 0.5),
    Peers("system", "clients", 445, 2, direction="inbound", role="file_server"),
    Peers("lsass", "clients", 88, 2, direction="inbound", role="domain_controller"),
    Peers("dns", "clients", 53, 2, "udp", "inbound"),
    Peers("sqlservr", "app_servers", 1433, 2, direction="inbound"),
    Peers("w3wp", "clients", 443, 2, direction="inbound"),
)

_WINDOWS_REGISTRY = (
    RegSet("explorer", r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs"
           r"\.docx\MRUListEx", "{doc}.docx", 1.5),
    RegSet("outlook", r"HKCU\Software\Microsoft\Office\16.0\Common\Roaming\Identities"
           r"\LastUpdate", "{epoch}", 0.5),
    RegSet("msmpeng", r"HKLM\SOFTWARE\Microsoft\Windows Defender\Signature Updates"
           r"\AVSignatureVersion", "1.421.{n}.0", 0.5),
    RegSet("chrome", r"HKCU\Software\Google\Chrome\BLBeacon\state", "1", 0.5),
    RegSet("onedrive", r"HKCU\Software\Microsoft\OneDrive\Accounts\Business1\LastSignInTime",
           "{epoch}", 0.3),
    RegSet("svchost_netsvcs", r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate"
           r"\Orchestrator\LastScanSuccessTime", "{epoch}", 0.3),
)  # fmt: skip

_WINDOWS_LOGONS = (
    Logon(2, "user", "local", "negotiate", 0.2),
    Logon(7, "user", "local", "negotiate", 0.4),
    Logon(5, "system", None, "negotiate", 0.5),
    Logon(3, "machine", "domain_controllers", "kerberos", 0.6),
    Logon(3, "svc_sccm", "management_servers", "kerberos", 0.3),
    Logon(3, "machine", "file_servers", "kerberos", 0.3, servers_only=True),
    Logon(10, "admin", "admin_workstations", "negotiate", 0.3, servers_only=True),
)

_MAC_STARTS = (
    Start("mac_chrome_helper", "chrome", _RENDERER, 6, _U),
    Start("mdworker", "launchd", ("-s mdworker -c MDSImporterWorker -m com.apple.mdworker.shared",),
          3, _U),
    Start("softwareupdated", "launchd", ("",), 0.2),
    Start("zsh", "terminal", ("-zsh",), 0.5, _U),
)  # fmt: skip

_MAC_WRITES = (
    Write("chrome", "/Users/%user%/Library/Caches/Google/Chrome/Default/Cache/Cache_Data/f_{hex}",
          3, (2_000, 400_000)),
    Write("chrome", "/Users/%user%/Downloads/{doc}.pdf", 0.6, (50_000, 5_000_000),
          catalog.HEADER_PDF, hashed=True),
    Write("outlook", "/Users/%user%/Library/Containers/com.microsoft.Outlook/Data/Library/"
          "Caches/Attachments/{doc}.xlsx", 0.5, (15_000, 900_000), OOXML_HEADER, hashed=True),
    Write("logd", "/private/var/db/diagnostics/Persist/0000000000{hex}.tracev3", 1,
          (100_000, 10_500_000), action="modify"),
    Write("agent", "/Library/Stopclock/queue/batch-{hex}.dat", 1, (4_096, 524_288)),
)  # fmt: skip

_MAC_WEB = (
    Web("chrome", ("www.google.com", "fonts.gstatic.com", "github.com", "www.youtube.com",
                   "%dom%.sharepoint.com"), 6),
    Web("outlook", ("outlook.office365.com", "login.microsoftonline.com"), 3),
    Web("msteams", ("teams.microsoft.com",), 2),
    Web("slack", ("slack.com",), 1),
    Web("zoom", ("zoom.us",), 0.8),
    Web("jamf", ("%dom%.jamfcloud.com",), 0.5),
    Web("apsd", ("gateway.icloud.com", "api.apple-cloudkit.com"), 0.5),
    Web("vscode", ("api.github.com", "registry.npmjs.org"), 1),
)  # fmt: skip

_MAC_PEERS = (Peers("mdnsresponder", "domain_controllers", 53, 1.5, "udp"),)
_MAC_LOGONS = (Logon(2, "user", "local", "opendirectory", 0.3),)

_LINUX_STARTS = (
    Start("sh", "cron", ("-c '[ -x /usr/lib/php/sessionclean ] && /usr/lib/php/sessionclean'",
                         "-c 'test -x /usr/sbin/anacron || run-parts --report /etc/cron.daily'",
                         "-c 'command -v debian-sa1 > /dev/null && debian-sa1 1 1'"), 2),
    Start("logrotate", "cron", ("/etc/logrotate.conf",), 0.3),
    Start("sshd", "sshd", ("-D -R",), 0.3),
)  # fmt: skip

_LINUX_WRITES = (
    Write("rsyslogd", "/var/log/syslog", 2, (10**5, 10**8), action="modify"),
    Write("rsyslogd", "/var/log/auth.log", 0.5, (10**4, 10**7), action="modify"),
    Write("nginx_worker", "/var/log/nginx/access.log", 3, (10**5, 10**9), action="modify"),
    Write("postgres", "/var/lib/postgresql/16/main/pg_wal/00000001000000A3000000{hex}", 1,
          (16_777_216, 16_777_216)),
    Write("containerd", "/var/lib/containerd/io.containerd.content.v1.content/ingest/{hex}/data",
          1, (10**4, 10**8)),
    Write("java", "/var/log/acme/orders-service.log", 2, (10**5, 10**8), action="modify"),
    Write("agent", "/var/lib/stopclock/queue/batch-{hex}.dat", 1, (4_096, 524_288)),
)  # fmt: skip

_LINUX_WEB = (
    Web("resolved", ("archive.ubuntu.com",), 0.3, 80),
    Web("dockerd", ("registry-1.docker.io", "production.cloudflare.docker.com"), 1),
    Web("containerd", ("registry-1.docker.io",), 0.5),
)
_LINUX_PEERS = (
    Peers("resolved", "domain_controllers", 53, 1.5, "udp"),
    Peers("sshd", "admin_workstations", 22, 0.3, direction="inbound"),
    Peers("nginx_worker", "clients", 443, 3, direction="inbound"),
    Peers("postgres", "app_servers", 5432, 2, direction="inbound"),
    Peers("node_exporter", "management_servers", 9100, 0.5, direction="inbound"),
)
_LINUX_LOGONS = (Logon(10, "admin", "admin_workstations", "publickey", 0.2),)


@dataclass(frozen=True, slots=True)
class _Profile:
    starts: tuple[Start, ...]
    writes: tuple[Write, ...]
    web: tuple[Web, ...]
    peers: tuple[Peers, ...]
    registry: tuple[RegSet, ...]
    logons: tuple[Logon, ...]


_PROFILES = {
    "windows": _Profile(_WINDOWS_STARTS, _WINDOWS_WRITES, _WINDOWS_WEB, _WINDOWS_PEERS,
                        _WINDOWS_REGISTRY, _WINDOWS_LOGONS),
    "macos": _Profile(_MAC_STARTS, _MAC_WRITES, _MAC_WEB, _MAC_PEERS, (), _MAC_LOGONS),
    "linux": _Profile(_LINUX_STARTS, _LINUX_WRITES, _LINUX_WEB, _LINUX_PEERS, (),
                      _LINUX_LOGONS),
}  # fmt: skip

NOISE = (
    Start("powershell", "ccmexec", (
        "-NoLogo -Noninteractive -ExecutionPolicy Bypass -File "
        r'"C:\Windows\CCM\SystemTemp\9f2c6e1a-1b7d-4f2e-8a55-0d3c2b1e7f40.ps1"',), 1),
    Start("net", "explorer", ("user jsmith /domain", "user mgarcia /domain"), 1, _U, "high",
          needs="noise:it"),
)  # fmt: skip
# Each noise start is about 1 in 5,000 events on the endpoints where it applies.
_NOISE_WEIGHT = 0.0002


# -- per-endpoint model --------------------------------------------------------------------


@dataclass(slots=True)
class _Template:
    base: Record
    fill: Fill | None


class _Model:
    """Everything about one endpoint that does not change from record to record.

    Event templates are registered with their weight and a builder, and built on first
    use: a stream of a hundred records touches a third of them, and building is most of
    the cost of a short stream.
    """

    def __init__(self, endpoint: EndpointSpec, noise: bool) -> None:
        self.endpoint = endpoint
        self.session = records.session(endpoint)
        self.procs = self.session.procs
        self.windows = endpoint.os_family == "windows"
        self.ip = endpoint.primary_ip
        self.next_pid = 0  # each stream sets its own starting point
        self.pid_step = 4 if self.windows else 1  # Windows pids are multiples of 4
        self.inventory = [*self.session.snapshot, *self._autoruns(), *self._drivers()]
        self.weights: list[float] = []
        self.builders: list[Callable[[], _Template]] = []
        profile = _PROFILES[endpoint.os_family]
        for start in profile.starts:
            self._start(start)
        for write in profile.writes:
            self._write(write)
        for web in profile.web:
            self._web(web)
        for peers in profile.peers:
            self._peers(peers)
        for reg in profile.registry:
            self._registry(reg)
        for logon in profile.logons:
            self._logon(logon)
        if noise and self.windows:
            total = sum(self.weights)
            for start in NOISE:
                self._start(start, total * _NOISE_WEIGHT / start.weight)
        self.cum_weights = list(accumulate(self.weights))
        self.built: list[_Template | None] = [None] * len(self.builders)

    def template(self, index: int) -> _Template:
        built = self.built[index]
        if built is None:
            built = self.built[index] = self.builders[index]()
        return built

    def _later(self, weight: float, builder: Callable[[], _Template]) -> None:
        self.weights.append(weight)
        self.builders.append(builder)

    # -- inventory

    def _autoruns(self) -> Iterator[Record]:
        e = self.endpoint
        for key in e.software:
            for item in catalog.PACKAGE_BY_KEY[key].autoruns:
                yield records.autorun_record(e, item, records.image(e, item.binary))

    def _drivers(self) -> Iterator[Record]:
        e = self.endpoint
        for key in e.software:
            for item in catalog.PACKAGE_BY_KEY[key].drivers:
                yield records.driver_record(e, item, records.image(e, item.binary))

    # -- event templates: each method checks the event applies here, then registers it

    def _needs(self, needs: str | None) -> bool:
        if needs is None:
            return True
        if needs == "noise:it":
            return self.endpoint.department == "IT"
        return needs in self.endpoint.software

    def _start(self, start: Start, scale: float = 1.0) -> None:
        parent = self.procs.get(start.parent)
        if parent is None or not self._needs(start.needs):
            return
        weight = start.weight * scale / len(start.args)
        for args in start.args:
            self._later(weight, partial(self._build_start, start, parent, args))

    def _build_start(self, start: Start, parent: Proc, args: str) -> _Template:
        _, base = records.process_record(
            self.endpoint,
            records.image(self.endpoint, start.binary),
            key=start.binary,
            pid=0,
            parent=parent,
            args=args,
            who=start.who,
            integrity=start.integrity,
            event=True,
        )
        return _Template(base, self._fill_start)

    def _fill_start(self, rec: Record, rng: random.Random, when: datetime) -> None:
        self.next_pid += self.pid_step
        rec["pid"] = self.next_pid
        rec["started_at"] = when

    def _write(self, w: Write) -> None:
        actor = self.procs.get(w.actor)
        e = self.endpoint
        if actor is None or (w.role and e.role != w.role):
            return

        def build() -> _Template:
            pattern = records.resolve(w.path, e)
            if "{olk}" in pattern:
                pattern = pattern.replace("{olk}", records.outlook_cache_folder(e))
            lo, hi = w.size
            header, hashed, picks = w.header, w.hashed, w.picks

            def fill(rec: Record, rng: random.Random, when: datetime) -> None:
                path = _fill_pattern(pattern, rng, when, picks)
                # OOXML headers end in 3 varying bytes (a CRC); other headers are fixed.
                head = f"{header}{rng.getrandbits(24):06x}" if header == OOXML_HEADER else header
                digests = _random_digests(rng) if hashed else None
                rec.update(records.file_columns(path, when, _between(rng, lo, hi), head, digests))

            return _Template({"kind": "file", **actor.actor(), "action": w.action}, fill)

        self._later(w.weight, build)

    def _web(self, web: Web) -> None:
        actor = self.procs.get(web.actor)
        if actor is None:
            return
        # DNS queries are attributed to the asking process (as Sysmon does), not to the DNS
        # Client service that performs them on Windows.
        share = web.weight / len(web.domains)

        def dns(name: str, ips: tuple[str, ...]) -> _Template:
            return _Template(records.dns_record(actor, name, ips), None)

        def flow(name: str, ips: tuple[str, ...]) -> _Template:
            base = records.network_record(
                actor,
                local_ip=self.ip,
                local_port=0,
                remote_ip="",
                remote_port=web.port,
                remote_hostname=name,
            )
            return _Template(base, _pick_remote(ips))

        for domain in web.domains:
            name = records.resolve(domain, self.endpoint)
            ips = catalog.DESTINATIONS[domain]
            self._later(share * 0.4, partial(dns, name, ips))
            self._later(share, partial(flow, name, ips))

    def _peers(self, p: Peers) -> None:
        actor = self.procs.get(p.actor)
        if actor is None or (p.role and self.endpoint.role != p.role):
            return
        hosts: list[tuple[str, str]] = []
        if p.group != "clients":
            hosts = [(peer.ip, peer.fqdn) for peer in self._group(p.group)]
            if not hosts:
                return

        def build() -> _Template:
            base = records.network_record(
                actor,
                local_ip=self.ip,
                local_port=0,
                remote_ip="",
                remote_port=0,
                protocol=p.protocol,
                direction=p.direction,
            )
            return _Template(base, _peer_fill(hosts, p.port, p.direction == "inbound"))

        self._later(p.weight, build)

    def _group(self, name: str) -> tuple[Peer, ...]:
        """Fleet machines of an `Infrastructure` group, this endpoint excluded."""
        group = getattr(self.endpoint.infra, name)
        if self.ip not in _ips(group):
            return group
        return tuple(p for p in group if p.ip != self.ip)

    def _registry(self, r: RegSet) -> None:
        actor = self.procs.get(r.actor)
        if actor is None:
            return

        def build() -> _Template:
            value = records.resolve(r.value, self.endpoint)
            base = records.registry_record(actor, records.resolve(r.key, self.endpoint), value)
            if "{" not in value:
                return _Template(base, None)

            def fill(rec: Record, rng: random.Random, when: datetime) -> None:
                rec["registry_value"] = (
                    value.replace("{doc}", _pick(rng, DOCUMENT_NAMES))
                    .replace("{epoch}", str(int(when.timestamp())))
                    .replace("{n}", str(_between(rng, 1500, 1700)))
                )

            return _Template(base, fill)

        self._later(r.weight, build)

    def _logon(self, lg: Logon) -> None:
        e = self.endpoint
        if lg.servers_only and not e.is_server:
            return
        sources: list[tuple[str | None, str | None, str]]
        if lg.source in (None, "local"):
            user = self._logon_account(lg.account, None)
            host = ("127.0.0.1", e.hostname.lower()) if lg.source == "local" else (None, None)
            sources = [(*host, user)] if user else []
        else:
            # Each source host logs on with its own account (computer account, admin).
            sources = [
                (p.ip, p.fqdn, user)
                for p in self._group(lg.source)
                if (user := self._logon_account(lg.account, p)) is not None
            ]
        if not sources:
            return

        def build() -> _Template:
            ip, host, user = sources[0]
            base = records.logon_record(
                logon_type=lg.logon_type,
                target_user_name=user,
                auth_package=lg.auth,
                source_ip=ip,
                source_hostname=host,
            )
            return _Template(base, _logon_fill(sources))

        self._later(lg.weight, build)

    def _logon_account(self, who: str, peer: Peer | None) -> str | None:
        """The account of a logon: the user, a computer account, an admin, or a literal."""
        e = self.endpoint
        prefix = f"{e.netbios_domain}\\" if self.windows else ""
        if who == _U:
            return records.account(e, who) if e.primary_user else None
        if who == "system":
            return records.account(e, who)
        if who == "machine":
            return f"{prefix}{peer.hostname.lower()}$" if peer else None
        if who == "admin":
            return f"{prefix}{peer.user}" if peer and peer.user else None
        return f"{prefix}{who}"


_GROUP_IPS: dict[int, tuple[tuple[Peer, ...], frozenset[str]]] = {}


def _ips(group: tuple[Peer, ...]) -> frozenset[str]:
    """The addresses of a peer group, computed once per fleet (groups are shared)."""
    cached = _GROUP_IPS.get(id(group))
    if cached is None or cached[0] is not group:
        cached = _GROUP_IPS[id(group)] = (group, frozenset(p.ip for p in group))
    return cached[1]


def _between(rng: random.Random, lo: int, hi: int) -> int:
    """``rng.randint`` at a fifth of the cost (fills run once per record)."""
    return lo + int(rng.random() * (hi - lo + 1))


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    """``rng.choice`` at a fifth of the cost."""
    return items[int(rng.random() * len(items))]


def _fill_pattern(pattern: str, rng: random.Random, when: datetime, picks: tuple[str, ...]) -> str:
    if "{" not in pattern:
        return pattern
    if "{doc}" in pattern:
        pattern = pattern.replace("{doc}", _pick(rng, DOCUMENT_NAMES))
    if "{hex}" in pattern:
        pattern = pattern.replace("{hex}", f"{rng.getrandbits(24):06x}")
    if "{date}" in pattern:
        pattern = pattern.replace("{date}", when.strftime("%y%m%d"))
    if "{pick}" in pattern:
        pattern = pattern.replace("{pick}", _pick(rng, picks))
    return pattern


def _random_digests(rng: random.Random) -> tuple[str, str, str]:
    """Hashes of unique content (a user's document): random, but from the stream's rng."""
    return (
        f"{rng.getrandbits(128):032x}",
        f"{rng.getrandbits(160):040x}",
        f"{rng.getrandbits(256):064x}",
    )


def _pick_remote(ips: tuple[str, ...]) -> Fill:
    def fill(rec: Record, rng: random.Random, when: datetime) -> None:
        rec["remote_ip"] = ips[0] if len(ips) == 1 else _pick(rng, ips)
        rec["local_port"] = _between(rng, 49152, 65535)

    return fill


def _peer_fill(hosts: Sequence[tuple[str, str]], port: int, inbound: bool) -> Fill:
    """Set the far end: a fleet server, or (``hosts`` empty) any office client address."""

    def fill(rec: Record, rng: random.Random, when: datetime) -> None:
        if hosts:
            ip, rec["remote_hostname"] = hosts[0] if len(hosts) == 1 else _pick(rng, hosts)
        else:
            site = _pick(rng, (10, 20, 30, 40))  # an office: see fleet's address plan
            ip = f"10.{site}.{_between(rng, 32, 40)}.{_between(rng, 10, 249)}"
        ephemeral = _between(rng, 49152, 65535)
        rec["remote_ip"] = ip
        if inbound:
            rec["local_port"], rec["remote_port"] = port, ephemeral
        else:
            rec["local_port"], rec["remote_port"] = ephemeral, port

    return fill


def _logon_fill(sources: Sequence[tuple[str | None, str | None, str]]) -> Fill:
    """Pick the source host (and the account it logs on with) and a logon id."""

    def fill(rec: Record, rng: random.Random, when: datetime) -> None:
        if len(sources) > 1:
            rec["source_ip"], rec["source_hostname"], rec["target_user_name"] = _pick(rng, sources)
        rec["logon_id"] = f"0x{rng.getrandbits(28):x}"

    return fill


# -- public API ----------------------------------------------------------------------------


def stream_prefix(kind: str, endpoint: EndpointSpec, start: datetime, seed: int) -> str:
    """The event_id prefix of one generated stream: same inputs, same ids (a re-sent
    batch is recognisable), different start or seed, disjoint ids on the same endpoint."""
    key = f"{kind}|{endpoint.agent_id}|{start.isoformat()}|{seed}"
    return f"{kind}-{hashlib.blake2b(key.encode(), digest_size=5).hexdigest()}-"


def benign_records(
    endpoint: EndpointSpec,
    start: datetime,
    count: int,
    seed: int,
    *,
    span: timedelta = DEFAULT_SPAN,
    noise: bool = False,
) -> Iterator[Record]:
    """``count`` benign records of ``endpoint`` from ``start`` over ``span``, in time order.

    The first records are the agent's start-up inventory (processes parent-first,
    autoruns, drivers), all within the first second; the rest are events spread evenly
    with jitter. Deterministic for ``(endpoint, start, count, seed, span, noise)``.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    if count <= 0:
        return
    model = _Model(endpoint, noise)
    rng = random.Random(f"benign|{seed}|{endpoint.agent_id}|{start.isoformat()}")
    prefix = stream_prefix("bn", endpoint, start, seed)
    inventory = model.inventory[:count]
    boot = start - model.session.boot_offset
    tick = timedelta(milliseconds=1)
    for i, base in enumerate(inventory):
        rec = base.copy()
        rec["event_id"] = f"{prefix}{i}"
        rec["observed_at"] = start + i * tick
        if rec["kind"] == "process":
            rec["started_at"] = boot
        yield rec

    events = count - len(inventory)
    if events <= 0 or not model.builders:
        return
    model.next_pid = (12000 if model.windows else 20000) + 4 * rng.randrange(0, 1000)
    picks = rng.choices(range(len(model.builders)), cum_weights=model.cum_weights, k=events)
    first = start + len(inventory) * tick
    step = max((span - len(inventory) * tick).total_seconds(), 0.0) / events
    random_ = rng.random
    built, template = model.built, model.template
    offset = len(inventory)
    for j, index in enumerate(picks):
        t = built[index] or template(index)
        rec = t.base.copy()
        when = first + timedelta(seconds=step * (j + random_()))
        rec["event_id"] = f"{prefix}{offset + j}"
        rec["observed_at"] = when
        if t.fill is not None:
            t.fill(rec, rng, when)
        yield rec


def fleet_telemetry(
    fleet: Sequence[EndpointSpec],
    total_records: int,
    start: datetime,
    seed: int,
    *,
    span: timedelta = DEFAULT_SPAN,
    noise: bool = False,
) -> Iterator[tuple[EndpointSpec, Record]]:
    """``total_records`` benign records spread over ``fleet``, endpoint after endpoint.

    Servers are busier than workstations (domain controllers three times, other servers
    twice); the split is exact (largest remainder), so the sum is ``total_records``.
    Records of one endpoint come together, as an agent's batches would.
    """
    if not fleet:
        return
    weights = [_busyness(e) for e in fleet]
    total_weight = sum(weights)
    shares = [total_records * w / total_weight for w in weights]
    counts = [int(s) for s in shares]
    short = total_records - sum(counts)
    by_remainder = sorted(range(len(fleet)), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[:short]:
        counts[i] += 1
    for endpoint, count in zip(fleet, counts, strict=True):
        for record in benign_records(endpoint, start, count, seed, span=span, noise=noise):
            yield endpoint, record


def _busyness(endpoint: EndpointSpec) -> float:
    if endpoint.role == "domain_controller":
        return 3.0
    return 2.0 if endpoint.is_server else 1.0
