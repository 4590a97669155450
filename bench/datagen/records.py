r"""How one observation record of each kind is shaped, shared by benign data and scenarios.

A process seen by the benign generator and the same process seen in an attack scenario
must look alike (same columns, same normalisation), or detections would key on the
generator rather than on behaviour. So both build records through these functions, and
both read an endpoint's running processes from `session` (its pids are a property of the
host, so a scenario's ``outlook.exe`` is the benign stream's ``outlook.exe``).

Conventions the rest of Stopclock relies on:

* inventory records (``process`` snapshots, ``autorun``, ``driver``) carry no ``action``;
  a *new* autorun carries ``action="create"``, which is what persistence detections key on;
* ``md5``/``sha1``/``sha256`` on a ``file`` record are the written file's hashes, on an
  ``autorun``/``driver`` record the target's, on ``process``/``process_event`` the image's;
* network, DNS and registry records name the acting process (pid, name, path, user) but
  carry no hashes, so a hash IOC matches the image or file it belongs to, nothing else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from bench.datagen import catalog
from bench.datagen.catalog import DOM, USER, Binary
from bench.datagen.fleet import EndpointSpec

Record = dict[str, Any]

_AGENT_BINARIES = frozenset({"stopclock_agent", "drv_stopclock", "mac_agent", "linux_agent"})

_WINDOWS_ACCOUNTS = {
    "system": r"nt authority\system",
    "local_service": r"nt authority\local service",
    "network_service": r"nt authority\network service",
    "dwm": r"window manager\dwm-1",
    "user": rf"{DOM}\{USER}",
}
_POSIX_ACCOUNTS = {"system": "root", "user": USER}


def resolve(text: str, endpoint: EndpointSpec) -> str:
    """Fill the catalogue's user and domain placeholders for ``endpoint``."""
    return _resolve(text, endpoint.primary_user, endpoint.netbios_domain)


def _resolve(text: str, user: str | None, dom: str | None) -> str:
    # A server has no primary user; per-user paths there belong to the local admin.
    if "%" not in text:
        return text
    return text.replace(USER, user or "administrator").replace(DOM, dom or "")


def account(endpoint: EndpointSpec, who: str) -> str:
    r"""The ``user_name`` for ``who``: a well-known role ("system", "user") or a literal.

    Windows accounts are ``domain\user``; macOS and Linux accounts are bare names.
    """
    return _account(
        endpoint.os_family == "windows", who, endpoint.primary_user, endpoint.netbios_domain
    )


@lru_cache(maxsize=4096)
def _account(windows: bool, who: str, user: str | None, dom: str | None) -> str:
    table = _WINDOWS_ACCOUNTS if windows else _POSIX_ACCOUNTS
    return _resolve(table.get(who, who), user, dom).lower()


def image(endpoint: EndpointSpec, key: str) -> Binary:
    """The build of binary ``key`` installed on ``endpoint``.

    The agent's own files carry the version the endpoint enrolled with; everything else
    follows the catalogue's per-host version spread.
    """
    if key in _AGENT_BINARIES:
        version = endpoint.agent_version
    else:
        version = catalog.installed_version(key, endpoint.hostname, endpoint.os_file_version)
    return catalog.binary(key, version)


def _command_line(
    windows: bool, display_path: str, args: str, user: str | None, dom: str | None
) -> str:
    """How a process list shows a command: Windows quotes image paths with spaces."""
    path = _resolve(display_path, user, dom)
    if windows and " " in path:
        path = f'"{path}"'
    return f"{path} {_resolve(args, user, dom)}".rstrip()


class Proc(NamedTuple):
    """A process on an endpoint: what a child record needs to name its parent."""

    key: str
    pid: int
    name: str
    path: str
    command_line: str
    user_name: str

    def actor(self) -> Record:
        """The columns that say which process did something (file, network, dns...)."""
        return {
            "pid": self.pid,
            "process_name": self.name,
            "process_path": self.path,
            "user_name": self.user_name,
        }


def process_record(
    endpoint: EndpointSpec,
    binary: Binary,
    *,
    key: str,
    pid: int,
    parent: Proc | None,
    args: str = "",
    who: str = "system",
    integrity: str | None = "system",
    event: bool = False,
    typed: str | None = None,
) -> tuple[Proc, Record]:
    """A ``process`` snapshot (or ``process_event`` start, with ``event``) and its Proc.

    ``parent`` None means a root (System, launchd, systemd): ``ppid`` 0. ``typed`` is
    the command line exactly as a shell passed it (``net group ... /domain``), when it is
    not the image path plus ``args``.
    """
    windows = endpoint.os_family == "windows"
    # Only a record that names the user depends on who the user is: leaving the user out
    # of the cache key otherwise lets thousands of endpoints share one skeleton.
    personal = "%" in binary.display_path or "%" in args or who in _PERSONAL
    user = endpoint.primary_user if personal else None
    dom = endpoint.netbios_domain if personal else None
    parent_id = (parent.name, parent.path, parent.command_line) if parent else None
    skeleton = _process_skeleton(
        binary, parent_id, args, who, integrity if windows else None, event, windows, user, dom
    )
    record = skeleton.copy()
    record["pid"] = pid
    record["ppid"] = parent.pid if parent else 0
    if typed is not None:
        record["command_line"] = typed
    proc = Proc(
        key, pid, binary.name, record["process_path"], record["command_line"], record["user_name"]
    )
    return proc, record


_PERSONAL = frozenset({"user"})


@lru_cache(maxsize=8192)
def _process_skeleton(
    binary: Binary,
    parent: tuple[str, str, str] | None,
    args: str,
    who: str,
    integrity: str | None,
    event: bool,
    windows: bool,
    user: str | None,
    dom: str | None,
) -> Record:
    """The endpoint-independent part of a process record (callers copy it)."""
    record: Record = {
        "kind": "process_event" if event else "process",
        "pid": 0,
        "ppid": 0,
        "process_name": binary.name,
        "process_path": _resolve(binary.path, user, dom),
        "command_line": _command_line(windows, binary.display_path, args, user, dom),
        "user_name": _account(windows, who, user, dom),
        **binary.fields,
    }
    if integrity:
        record["integrity_level"] = integrity
    if parent:
        # Children of an image-less parent (Windows' System) get only its name.
        name, path, cmd = parent
        record["parent_name"] = name
        if path:
            record["parent_path"] = path
        if event and cmd:
            record["parent_command_line"] = cmd
    if event:
        record["action"] = "start"
    return record


def system_root(endpoint: EndpointSpec) -> tuple[Proc, Record]:
    """The Windows ``System`` process (pid 4): it has no image file, so no hashes."""
    proc = Proc("system", 4, "system", "", "", account(endpoint, "system"))
    record = {
        "kind": "process",
        "pid": 4,
        "ppid": 0,
        "process_name": "system",
        "user_name": proc.user_name,
        "integrity_level": "system",
    }
    return proc, record


def autorun_record(endpoint: EndpointSpec, item: catalog.Autorun, binary: Binary) -> Record:
    """An inventoried persistence item; a new one is the same plus ``action="create"``."""
    return dict(_autorun(item, binary, *_owner(endpoint, binary, item.item_name, item.arguments)))


def driver_record(endpoint: EndpointSpec, item: catalog.Driver, binary: Binary) -> Record:
    return dict(_driver(item, binary))


def _owner(endpoint: EndpointSpec, binary: Binary, *texts: str) -> tuple[str | None, ...]:
    """(user, domain) if any of the texts is per-user, else (None, None): a cache key."""
    if "%" in binary.path or any("%" in t for t in texts):
        return endpoint.primary_user, endpoint.netbios_domain
    return None, None


@lru_cache(maxsize=4096)
def _autorun(item: catalog.Autorun, binary: Binary, user: str | None, dom: str | None) -> Record:
    record: Record = {
        "kind": "autorun",
        "autorun_type": item.autorun_type,
        "item_name": _resolve(item.item_name, user, dom).lower(),
        "target_path": _resolve(binary.path, user, dom),
        "md5": binary.md5,
        "sha1": binary.sha1,
        "sha256": binary.sha256,
    }
    if item.arguments:
        record["arguments"] = _resolve(item.arguments, user, dom)
    if "signer" in binary.fields:
        record["signer"] = binary.fields["signer"]
    if item.registry_key:
        record["registry_key"] = item.registry_key
    return record


@lru_cache(maxsize=1024)
def _driver(item: catalog.Driver, binary: Binary) -> Record:
    return {
        "kind": "driver",
        "item_name": item.item_name.lower(),
        "target_path": binary.path,
        **binary.fields,
    }


def file_record(
    actor: Proc,
    display_path: str,
    *,
    when: datetime,
    size: int,
    header_hex: str | None = None,
    hashes: tuple[str, str, str] | None = None,
    action: str = "create",
) -> Record:
    """A file written by ``actor``; ``hashes`` is (md5, sha1, sha256) of the content."""
    record: Record = {"kind": "file", **actor.actor(), "action": action}
    record.update(file_columns(display_path, when, size, header_hex, hashes))
    return record


def file_columns(
    display_path: str,
    when: datetime,
    size: int,
    header_hex: str | None = None,
    hashes: tuple[str, str, str] | None = None,
) -> Record:
    """The columns describing the file itself (the benign generator fills these per record)."""
    path = display_path.lower()
    name = catalog.basename(path)
    columns: Record = {
        "file_path": path,
        "file_name": name,
        "file_size": size,
        "file_created_at": when,
        "file_modified_at": when,
    }
    dot = name.rfind(".")
    if dot > 0:
        columns["file_extension"] = name[dot + 1 :]
    if header_hex:
        columns["header_hex"] = header_hex
    if hashes:
        columns["md5"], columns["sha1"], columns["sha256"] = hashes
    return columns


def network_record(
    actor: Proc,
    *,
    local_ip: str,
    local_port: int,
    remote_ip: str,
    remote_port: int,
    remote_hostname: str | None = None,
    protocol: str = "tcp",
    direction: str = "outbound",
) -> Record:
    record: Record = {
        "kind": "network",
        **actor.actor(),
        "protocol": protocol,
        "local_ip": local_ip,
        "local_port": local_port,
        "remote_ip": remote_ip,
        "remote_port": remote_port,
        "direction": direction,
        "connection_state": "established" if protocol == "tcp" else "",
    }
    if not record["connection_state"]:
        del record["connection_state"]
    if remote_hostname:
        record["remote_hostname"] = remote_hostname.lower()
    return record


def dns_record(actor: Proc, query: str, answers: tuple[str, ...]) -> Record:
    return {
        "kind": "dns",
        **actor.actor(),
        "dns_query": query.lower().rstrip("."),
        "dns_answers": ",".join(answers),
    }


def registry_record(actor: Proc, key: str, value: str, action: str = "set") -> Record:
    return {
        "kind": "registry",
        **actor.actor(),
        "action": action,
        "registry_key": key.lower(),
        "registry_value": value,
    }


def logon_record(
    *,
    logon_type: int,
    target_user_name: str,
    auth_package: str,
    source_ip: str | None = None,
    source_hostname: str | None = None,
    logon_id: str | None = None,
) -> Record:
    record: Record = {
        "kind": "logon",
        "logon_type": logon_type,
        "target_user_name": target_user_name.lower(),
        "auth_package": auth_package,
    }
    if source_ip:
        record["source_ip"] = source_ip
    if source_hostname:
        record["source_hostname"] = source_hostname.lower()
    if logon_id:
        record["logon_id"] = logon_id
    return record


# -- the running session of a host ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionDef:
    """A long-running process of an OS profile; present if its package/role is there."""

    key: str
    binary: str
    parent: str
    args: str = ""
    who: str = "system"
    integrity: str | None = "system"
    needs: str | None = None  # a package key, or "role:<role>", or "user" (interactive)


_U = "user"
_WINDOWS_SESSION = (
    SessionDef("smss", "smss", "system"),
    SessionDef("csrss", "csrss", "smss", r"ObjectDirectory=\Windows SharedSection=1024,20480,768 "
               "Windows=On SubSystemType=Windows ServerDll=basesrv,1 "
               "ServerDll=winsrv:UserServerDllInitialization,3 ServerDll=sxssrv,4 "
               "ProfileControl=Off MaxRequestThreads=16"),
    SessionDef("wininit", "wininit", "smss"),
    SessionDef("winlogon", "winlogon", "smss"),
    SessionDef("services", "services", "wininit"),
    SessionDef("lsass", "lsass", "wininit"),
    SessionDef("svchost_dcom", "svchost", "services", "-k DcomLaunch -p"),
    SessionDef("svchost_rpcss", "svchost", "services", "-k RPCSS -p", "network_service"),
    SessionDef("svchost_netsvcs", "svchost", "services", "-k netsvcs -p -s Schedule"),
    SessionDef("svchost_dnscache", "svchost", "services", "-k NetworkService -p -s Dnscache",
               "network_service"),
    SessionDef("svchost_eventlog", "svchost", "services",
               "-k LocalServiceNetworkRestricted -p -s EventLog", "local_service"),
    SessionDef("msmpeng", "msmpeng", "services"),
    SessionDef("ccmexec", "ccmexec", "services"),
    SessionDef("agent", "stopclock_agent", "services", "--service"),
    SessionDef("spoolsv", "spoolsv", "services", needs="windows_workstation"),
    SessionDef("searchindexer", "searchindexer", "services", "/Embedding",
               needs="windows_workstation"),
    SessionDef("vpnagent", "vpnagent", "services", needs="vpn"),
    SessionDef("vmtoolsd", "vmtoolsd", "services", needs="windows_server"),
    SessionDef("dns", "dns", "services", needs="role:domain_controller"),
    SessionDef("dfsrs", "dfsrs", "services", needs="role_file_server"),
    SessionDef("dfsrs", "dfsrs", "services", needs="role:domain_controller"),
    SessionDef("ismserv", "ismserv", "services", needs="role:domain_controller"),
    SessionDef("adws", "adws", "services", needs="role:domain_controller"),
    SessionDef("sqlservr", "sqlservr", "services", "-sMSSQLSERVER", r"nt service\mssqlserver",
               "high", needs="role:sql_server"),
    SessionDef("sqlagent", "sqlagent", "services", "-i MSSQLSERVER",
               r"nt service\sqlserveragent", "high", needs="role:sql_server"),
    SessionDef("svchost_iis", "svchost", "services", "-k iissvcs", needs="role:web_server"),
    SessionDef("w3wp", "w3wp", "svchost_iis",
               r'-ap "DefaultAppPool" -v "v4.0" -l "webengine4.dll" -a \\.\pipe\iisipm8f3c2a '
               r'-h "C:\inetpub\temp\apppools\DefaultAppPool\DefaultAppPool.config" -w "" -m 0',
               r"iis apppool\defaultapppool", "high", needs="role:web_server"),
    SessionDef("smsexec", "smsexec", "services", needs="role:management_server"),
    SessionDef("teamviewer", "teamviewer", "services", needs="teamviewer"),
    SessionDef("anydesk", "anydesk", "services", "--service", needs="anydesk"),
    # the interactive user's desktop (workstations)
    SessionDef("dwm", "dwm", "winlogon", "", "dwm", "system", needs=_U),
    SessionDef("sihost", "sihost", "svchost_netsvcs", "", _U, "medium", needs=_U),
    SessionDef("explorer", "explorer", "winlogon", "", _U, "medium", needs=_U),
    SessionDef("runtimebroker", "runtimebroker", "svchost_dcom", "-Embedding", _U, "medium",
               needs=_U),
    SessionDef("securityhealthsystray", "securityhealthsystray", "explorer", "", _U, "medium",
               needs=_U),
    SessionDef("onedrive", "onedrive", "explorer", "/background", _U, "medium", needs=_U),
    SessionDef("outlook", "outlook", "explorer", "", _U, "medium", needs=_U),
    SessionDef("msteams", "msteams", "explorer", "msteams:system-initiated", _U, "medium",
               needs=_U),
    SessionDef("msedge", "msedge", "explorer", "--no-startup-window --win-session-start", _U,
               "medium", needs=_U),
    SessionDef("chrome", "chrome", "explorer", "", _U, "medium", needs="chrome"),
    SessionDef("slack", "slack", "explorer", "--process-start-args --startup", _U, "medium",
               needs="slack"),
    SessionDef("zoom", "zoom", "explorer", "", _U, "medium", needs="zoom"),
    SessionDef("saplogon", "saplogon", "explorer", "", _U, "medium", needs="sapgui"),
    SessionDef("vscode", "vscode", "explorer", "", _U, "medium", needs="vscode"),
)  # fmt: skip

_MAC_SESSION = (
    SessionDef("logd", "logd", "launchd"),
    SessionDef("opendirectoryd", "opendirectoryd", "launchd"),
    SessionDef("mdnsresponder", "mdnsresponder", "launchd", "", "_mdnsresponder"),
    SessionDef("windowserver", "windowserver", "launchd", "-daemon", "_windowserver"),
    SessionDef("apsd", "apsd", "launchd"),
    SessionDef("mds", "mds", "launchd"),
    SessionDef("jamf", "jamf", "launchd", "launchDaemon -monitorUsage"),
    SessionDef("agent", "mac_agent", "launchd", "--daemon"),
    SessionDef("loginwindow", "loginwindow", "launchd", "console", _U),
    SessionDef("dock", "dock", "launchd", "", _U),
    SessionDef("finder", "finder", "launchd", "", _U),
    SessionDef("chrome", "mac_chrome", "launchd", "", _U),
    SessionDef("outlook", "mac_outlook", "launchd", "", _U),
    SessionDef("msteams", "mac_teams", "launchd", "", _U),
    SessionDef("slack", "mac_slack", "launchd", "", _U, needs="mac_slack"),
    SessionDef("zoom", "mac_zoom", "launchd", "", _U, needs="mac_zoom"),
    SessionDef("vscode", "mac_vscode", "launchd", "", _U, needs="mac_vscode"),
    SessionDef("terminal", "terminal", "launchd", "", _U, needs="mac_vscode"),
)

_LINUX_SESSION = (
    SessionDef("journald", "journald", "systemd"),
    SessionDef("udevd", "udevd", "systemd"),
    SessionDef("logind", "logind", "systemd"),
    SessionDef("resolved", "resolved", "systemd", "", "systemd-resolve"),
    SessionDef("sshd", "sshd", "systemd", "-D"),
    SessionDef("cron", "cron", "systemd", "-f -P"),
    SessionDef("rsyslogd", "rsyslogd", "systemd", "-n -iNONE", "syslog"),
    SessionDef("node_exporter", "node_exporter", "systemd", "", "node_exporter"),
    SessionDef("agent", "linux_agent", "systemd", "--foreground"),
    SessionDef("nginx", "nginx", "systemd", "-g 'daemon on; master_process on;'",
               needs="role:linux_web"),
    SessionDef("nginx_worker", "nginx", "nginx", "-g 'daemon on; master_process on;'",
               "www-data", needs="role:linux_web"),
    SessionDef("postgres", "postgres", "systemd",
               "-D /var/lib/postgresql/16/main -c config_file=/etc/postgresql/16/main/"
               "postgresql.conf", "postgres", needs="role:linux_db"),
    SessionDef("containerd", "containerd", "systemd", needs="role:linux_k8s"),
    SessionDef("kubelet", "kubelet", "systemd",
               "--config=/var/lib/kubelet/config.yaml --container-runtime-endpoint="
               "unix:///run/containerd/containerd.sock", needs="role:linux_k8s"),
    SessionDef("containerd", "containerd", "systemd", needs="role:linux_app"),
    SessionDef("dockerd", "dockerd", "systemd",
               "-H fd:// --containerd=/run/containerd/containerd.sock", needs="role:linux_app"),
    SessionDef("java", "java", "systemd", "-Xms2g -Xmx2g -jar /opt/acme/orders-service.jar",
               "acmeapp", needs="role:linux_app"),
)  # fmt: skip

_SESSION_DEFS = {"windows": _WINDOWS_SESSION, "macos": _MAC_SESSION, "linux": _LINUX_SESSION}
_ROOT_BINARY = {"macos": "launchd", "linux": "systemd"}


@dataclass(frozen=True, slots=True)
class Session:
    """The processes running on a host when the agent looks, parents before children."""

    procs: dict[str, Proc]
    snapshot: tuple[Record, ...]  # kind "process", no event_id / observed_at yet
    boot_offset: timedelta  # how long before a stream's start the host booted


def _present(endpoint: EndpointSpec, needs: str | None) -> bool:
    if needs is None:
        return True
    if needs == _U:
        return endpoint.primary_user is not None
    if needs.startswith("role:"):
        return endpoint.role == needs[5:]
    return needs in endpoint.software


_SESSION_CACHE: dict[str, tuple[EndpointSpec, Session]] = {}


def session(endpoint: EndpointSpec) -> Session:
    """The running processes of ``endpoint``; pids are fixed by the host, not by a seed.

    Benign streams and attack scenarios of the same host therefore agree on the pid of
    ``explorer.exe``, so a scenario's ``winword.exe`` hangs under the benign tree.
    """
    # A small cache keyed by agent id and checked by identity: hashing a whole
    # EndpointSpec costs more than a lookup should.
    cached = _SESSION_CACHE.get(endpoint.agent_id)
    if cached is not None and cached[0] is endpoint:
        return cached[1]
    if len(_SESSION_CACHE) >= 256:
        _SESSION_CACHE.clear()
    built = _build_session(endpoint)
    _SESSION_CACHE[endpoint.agent_id] = (endpoint, built)
    return built


def _build_session(endpoint: EndpointSpec) -> Session:
    rng = random.Random(f"pids|{endpoint.agent_id}")
    windows = endpoint.os_family == "windows"
    if windows:
        root, root_record = system_root(endpoint)
    else:
        binary = image(endpoint, _ROOT_BINARY[endpoint.os_family])
        init_args = "/sbin/init" if endpoint.os_family == "linux" else ""
        root, root_record = process_record(endpoint, binary, key="root", pid=1, parent=None)
        if init_args:
            root = Proc(root.key, 1, root.name, root.path, init_args, root.user_name)
            root_record["command_line"] = init_args
    procs = {"system" if windows else _ROOT_BINARY[endpoint.os_family]: root}
    records = [root_record]
    # Pids grow in start order with gaps (processes that came and went); Windows pids are
    # multiples of 4.
    step = 4 if windows else 1
    pid = 80 + step * rng.randrange(0, 50)
    for d in _SESSION_DEFS[endpoint.os_family]:
        if d.key in procs or not _present(endpoint, d.needs):
            continue
        pid += step * (2 + int(rng.random() * 59))
        proc, record = process_record(
            endpoint,
            image(endpoint, d.binary),
            key=d.key,
            pid=pid,
            parent=procs[d.parent],
            args=d.args,
            who=d.who,
            integrity=d.integrity,
        )
        procs[d.key] = proc
        records.append(record)
    uptime = timedelta(hours=rng.randint(2, 24 * 14), minutes=rng.randint(0, 59))
    return Session(procs, tuple(records), uptime)


def outlook_cache_folder(endpoint: EndpointSpec) -> str:
    """The per-profile random folder Outlook saves opened attachments in (display case)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    rng = random.Random(f"olk|{endpoint.agent_id}")
    folder = "".join(rng.choice(letters) for _ in range(8))
    return (
        rf"C:\Users\{endpoint.primary_user}\AppData\Local\Microsoft\Windows\INetCache"
        rf"\Content.Outlook\{folder}"
    )
