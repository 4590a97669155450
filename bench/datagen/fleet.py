"""A believable enterprise fleet: who the endpoints are, before any telemetry exists.

The fleet is a pure function of ``(n, seed, tenant_domain)``. Its shape follows a mid-size
company: ~80 % Windows (workstations plus a server tier with domain controllers, file, SQL,
IIS, application and management servers), ~10 % macOS laptops and Linux servers split
between the data centre and a cloud VPC. Every site has its own RFC 1918 range, so an IP
says where an endpoint sits, as analysts expect when they read a logon source.

Small fleets keep the pieces the attack scenario needs: from ``n=2`` there is a Windows
workstation and ``SRV-FILE-01``; from ``n=3`` a domain controller.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from bench.datagen import catalog

OS_FAMILIES = ("windows", "macos", "linux")
WINDOWS_SERVER_ROLES = (
    "domain_controller",
    "file_server",
    "management_server",
    "sql_server",
    "web_server",
    "app_server",
)
LINUX_ROLES = ("linux_web", "linux_db", "linux_k8s", "linux_app")
ROLES = ("workstation", *WINDOWS_SERVER_ROLES, *LINUX_ROLES)

_NAMESPACE = uuid.UUID("6f1d3c52-4b8e-4f5a-9a57-2f0c7d6f0b11")  # agent ids: uuid5 in here


@dataclass(frozen=True, slots=True)
class Peer:
    """Another machine an endpoint talks to (it need not run the agent itself)."""

    hostname: str
    fqdn: str
    ip: str
    user: str | None = None  # for admin workstations: the admin account used from it


@dataclass(frozen=True, slots=True)
class Infrastructure:
    """The servers and admin machines benign traffic comes from, shared by a whole fleet.

    Benign network logons (type 3) only ever come from these servers and RDP (type 10) only
    from admin workstations; a workstation-to-server network logon is therefore unusual,
    which is what the lateral-movement detections rely on.
    """

    domain_controllers: tuple[Peer, ...]
    file_servers: tuple[Peer, ...]
    management_servers: tuple[Peer, ...]
    app_servers: tuple[Peer, ...]
    admin_workstations: tuple[Peer, ...]


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One enrolled endpoint, as its agent would describe itself on enrolment."""

    agent_id: str
    hostname: str
    fqdn: str
    os_family: str  # one of OS_FAMILIES
    os_version: str  # human readable, e.g. "Windows 11 Enterprise 23H2 (10.0.22631.4460)"
    os_build: str  # "10.0.22631.4460", "23H222", "5.15.0-126-generic"
    role: str  # one of ROLES
    site: str
    department: str | None  # workstations only
    criticality: str  # low, medium, high, critical
    ip_addresses: tuple[str, ...]
    mac_addresses: tuple[str, ...]
    domain: str
    user_groups: tuple[str, ...]
    privileged_admin_logons: bool
    tags: tuple[str, ...]  # "site:lon", "criticality:high", "role:...", "dept:..."
    agent_version: str
    primary_user: str | None  # sAMAccountName, e.g. "jdoe"; None on servers
    software: tuple[str, ...]  # catalog package keys installed, baseline included
    infra: Infrastructure = field(compare=False, repr=False)

    @property
    def primary_ip(self) -> str:
        return self.ip_addresses[0]

    @property
    def netbios_domain(self) -> str:
        """``acme`` for ``acme.example``: the prefix of ``acme\\jdoe`` account names."""
        return self.domain.split(".", 1)[0]

    @property
    def is_server(self) -> bool:
        return self.role != "workstation"

    @property
    def os_file_version(self) -> str:
        """The version stamped on inbox OS files (what catalog hashes of OS binaries use)."""
        return _file_version(self.os_family, self.os_build)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for enrolment payloads and fixtures), without peers."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        del data["infra"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@lru_cache(maxsize=64)
def _file_version(os_family: str, os_build: str) -> str:
    if os_family != "windows":
        return os_build
    # 22H2 / 23H2 are enablement packages: the files keep the base release's build.
    major, minor, build, ubr = os_build.split(".")
    build = {"19045": "19041", "22631": "22621"}.get(build, build)
    return f"{major}.{minor}.{build}.{ubr}"


# -- what exists -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Release:
    name: str
    builds: tuple[str, ...]  # the os_build values in the wild, newest first
    weight: float

    def version_string(self, build: str) -> str:
        return f"{self.name} ({build})"


_WIN_WORKSTATION = (
    _Release("Windows 11 Enterprise 23H2",
             ("10.0.22631.4602", "10.0.22631.4460", "10.0.22631.4751"), 0.45),
    _Release("Windows 11 Enterprise 24H2",
             ("10.0.26100.2605", "10.0.26100.2314", "10.0.26100.2894"), 0.25),
    _Release("Windows 10 Enterprise 22H2",
             ("10.0.19045.5247", "10.0.19045.5131", "10.0.19045.5371"), 0.30),
)  # fmt: skip
_WIN_SERVER = (
    _Release("Windows Server 2022 Standard",
             ("10.0.20348.2966", "10.0.20348.2849", "10.0.20348.3091"), 0.6),
    _Release("Windows Server 2019 Standard",
             ("10.0.17763.6659", "10.0.17763.6532", "10.0.17763.6775"), 0.4),
)  # fmt: skip
# macOS: (marketing version, build) pairs; os_build is the build, as `sw_vers` prints it.
_MAC = (
    _Release("macOS 14.7.2", ("23H311",), 0.25),
    _Release("macOS 14.7.1", ("23H222",), 0.15),
    _Release("macOS 15.2", ("24C101",), 0.40),
    _Release("macOS 15.1.1", ("24B91",), 0.20),
)
_LINUX = (
    _Release("Ubuntu 22.04.5 LTS", ("5.15.0-126-generic", "5.15.0-125-generic"), 0.4),
    _Release("Ubuntu 24.04.1 LTS", ("6.8.0-49-generic", "6.8.0-48-generic"), 0.3),
    _Release("Red Hat Enterprise Linux 9.5 (Plow)",
             ("5.14.0-503.15.1.el9_5.x86_64", "5.14.0-503.14.1.el9_5.x86_64"), 0.2),
    _Release("Red Hat Enterprise Linux 9.4 (Plow)",
             ("5.14.0-427.42.1.el9_4.x86_64",), 0.1),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Site:
    code: str
    octet: int  # 10.<octet>.0.0/16
    weight: float  # share of workstations


_OFFICES = (
    _Site("hq", 10, 0.45),
    _Site("lon", 20, 0.2),
    _Site("fra", 30, 0.15),
    _Site("sin", 40, 0.2),
)
_DATACENTRE = _Site("dc1", 50, 0)
_CLOUD = _Site("aws-euw1", 100, 0)
_BACKUP_LAN = 51  # second NIC of Windows servers

# Address blocks (third octet) inside a site, so roles do not overlap.
_BLOCK = {
    "workstation": 32,
    "domain_controller": 0,
    "file_server": 8,
    "sql_server": 16,
    "web_server": 24,
    "app_server": 32,
    "management_server": 40,
    "linux_web": 64,
    "linux_db": 72,
    "linux_k8s": 64,
    "linux_app": 96,
}

_HOST_PREFIX = {
    "domain_controller": "SRV-DC",
    "file_server": "SRV-FILE",
    "sql_server": "SRV-SQL",
    "web_server": "SRV-WEB",
    "app_server": "SRV-APP",
    "management_server": "SRV-MGMT",
    "linux_web": "lnx-web",
    "linux_db": "lnx-db",
    "linux_k8s": "lnx-k8s",
    "linux_app": "lnx-app",
}

_CRITICALITY = {
    "domain_controller": "critical",
    "management_server": "critical",
    "file_server": "high",
    "sql_server": "high",
    "web_server": "high",
    "app_server": "medium",
    "linux_web": "high",
    "linux_db": "high",
    "linux_k8s": "medium",
    "linux_app": "medium",
}

_SERVER_GROUPS = {
    "domain_controller": ("Domain Controllers", "Servers", "Tier0"),
    "management_server": ("Servers", "Tier0", "SCCM-Servers"),
    "file_server": ("Servers", "File-Servers"),
    "sql_server": ("Servers", "SQL-Servers"),
    "web_server": ("Servers", "Web-Servers", "DMZ"),
    "app_server": ("Servers", "App-Servers"),
    "linux_web": ("Servers", "Linux-Servers", "DMZ"),
    "linux_db": ("Servers", "Linux-Servers"),
    "linux_k8s": ("Servers", "Linux-Servers", "Kubernetes"),
    "linux_app": ("Servers", "Linux-Servers"),
}

# (name, hostname code, share of Windows workstations, share of Macs)
_DEPARTMENTS = (
    ("Finance", "FIN", 0.10, 0.02),
    ("Engineering", "ENG", 0.25, 0.55),
    ("Sales", "SAL", 0.15, 0.08),
    ("Marketing", "MKT", 0.08, 0.20),
    ("Human Resources", "HR", 0.05, 0.02),
    ("Legal", "LEG", 0.03, 0.01),
    ("Operations", "OPS", 0.14, 0.02),
    ("IT", "IT", 0.08, 0.05),
    ("Executive", "EXE", 0.02, 0.05),
    ("Customer Support", "SUP", 0.10, 0.0),
)
_HIGH_VALUE_DEPARTMENTS = {"Finance", "Executive", "IT", "Legal"}

# Hardware vendors' OUIs: laptops/desktops, virtual servers, Apple, AWS ENIs.
_OUI = {
    "dell": "f8:bc:12",
    "lenovo": "54:e1:ad",
    "hp": "3c:52:82",
    "vmware": "00:50:56",
    "apple": "a4:83:e7",
    "aws": "0a:3f:9c",
}

_AGENT_VERSIONS = ("4.2.1", "4.2.0", "4.1.7")  # most of the fleet on the newest
_AGENT_WEIGHTS = (0.80, 0.15, 0.05)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "james mary john patricia robert jennifer michael linda david elizabeth william barbara "
    "richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy "
    "matthew betty anthony sandra mark margaret donald ashley steven kimberly andrew emily "
    "paul donna joshua michelle kenneth carol kevin amanda brian melissa george deborah "
    "timothy stephanie ronald rebecca jason sharon edward laura jeffrey cynthia ryan amy "
    "jacob kathleen gary angela nicholas dorothy eric shirley jonathan emma stephen brenda "
    "larry nicole justin pamela scott samantha brandon katherine benjamin christine samuel "
    "debra gregory rachel alexander carolyn patrick janet frank maria raymond olivia jack "
    "heather dennis helen jerry catherine tyler diane aaron julie jose victoria adam joyce "
    "nathan lauren henry kelly zachary christina douglas ruth peter joan kyle virginia noah "
    "judith ethan evelyn jeremy hannah walter andrea christian megan keith cheryl roger "
    "jacqueline terry martha austin madison sean teresa gerald kathryn carl sara dylan janice "
    "harold julia jordan kayla jesse alexis bryan lori lawrence tiffany arthur anna gabriel "
    "denise bruce beverly logan alice albert amber wayne theresa roy grace ralph sophia"
)
_LAST = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
    "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter "
    "roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart "
    "morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed "
    "kelly howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray "
    "mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez "
    "powell jenkins perry russell sullivan bell coleman butler henderson barnes gonzales "
    "fisher vasquez simmons romero jordan patterson alexander hamilton graham reynolds griffin "
    "wallace moreno west cole hayes bryant herrera gibson ellis tran medina aguilar stevens "
    "murray ford castro marshall owens harrison fernandez mcdonald woods washington kennedy "
    "wells vargas henry chen freeman webb tucker guzman burns crawford olson simpson porter "
    "hunter gordon mendez silva shaw snyder mason dixon munoz hunt hicks holmes palmer wagner "
    "black robertson boyd rose stone salazar fox warren mills meyer rice schmidt garza daniels "
    "doe muller fischer weber schneider becker schulz hoffmann koch richter klein wolf "
    "schroeder neumann schwarz zimmermann braun kruger hartmann lange werner krause lehmann "
    "tanaka suzuki watanabe ito yamamoto nakamura kobayashi kato yoshida yamada sasaki "
    "okafor mensah adeyemi nwosu kariuki otieno singh kumar sharma gupta reddy iyer rao das"
)


# -- the generator -------------------------------------------------------------------------


def generate_fleet(n: int, seed: int, tenant_domain: str = "acme.example") -> list[EndpointSpec]:
    """``n`` endpoints of one tenant, the same list for the same arguments.

    Core servers come first (``SRV-DC-01``, ``SRV-FILE-01``...), then the rest in a
    shuffled order, so any prefix of the list is a representative sample.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    domain = tenant_domain.lower()
    rng = random.Random(f"fleet|{seed}|{domain}")
    builder = _FleetBuilder(rng, seed, domain)
    roles = _plan_roles(n)
    core = [r for r in ("domain_controller", "file_server") if r in roles]
    rest = list(roles)
    for r in core:
        rest.remove(r)
    rng.shuffle(rest)
    drafts = [builder.draft(role) for role in core + rest]
    builder.assign_rare_packages(drafts)
    infra = builder.infrastructure(drafts)
    return [EndpointSpec(**d, infra=infra) for d in drafts]


def _plan_roles(n: int) -> list[str]:
    """How many endpoints of each role a fleet of ``n`` has (servers scale with size)."""
    counts = {
        "domain_controller": max(round(n * 0.0005), 2 if n >= 20 else 1 if n >= 3 else 0),
        "file_server": max(round(n * 0.002), 1 if n >= 2 else 0),
        "management_server": max(round(n * 0.0002), 1 if n >= 20 else 0),
        "sql_server": max(round(n * 0.004), 1 if n >= 20 else 0),
        "web_server": max(round(n * 0.003), 1 if n >= 20 else 0),
        "app_server": max(round(n * 0.02), 1 if n >= 20 else 0),
        "linux": round(n * 0.08),
        "macos": round(n * 0.10),
    }
    counts["workstation"] = n - sum(counts.values())  # the thresholds keep this >= 1
    roles: list[str] = []
    for role, count in counts.items():
        if role == "linux":  # 30 % web, 15 % db, 35 % k8s nodes, 20 % app hosts
            shares = (("linux_web", 0.30), ("linux_db", 0.15), ("linux_k8s", 0.35))
            split = [(r, round(count * s)) for r, s in shares]
            split.append(("linux_app", count - sum(c for _, c in split)))
            for linux_role, c in split:
                roles += [linux_role] * c
        else:
            roles += [role] * count
    return roles


def _weighted(rng: random.Random, items: Iterable[Any], weights: Iterable[float]) -> Any:
    return rng.choices(list(items), weights=list(weights))[0]


class _FleetBuilder:
    """Holds the counters (host numbers, addresses, user names) one fleet draws from."""

    def __init__(self, rng: random.Random, seed: int, domain: str) -> None:
        self.rng = rng
        self.seed = seed
        self.domain = domain
        self.host_numbers: dict[str, int] = {}
        self.site_counters: dict[tuple[str, str], int] = {}
        self.users: set[str] = set()
        self.macs: set[str] = set()

    # -- naming and addressing

    def _next_number(self, prefix: str) -> int:
        self.host_numbers[prefix] = self.host_numbers.get(prefix, 0) + 1
        return self.host_numbers[prefix]

    def _address(self, site: _Site, role: str) -> str:
        key = (site.code, role if role != "macos" else "workstation")
        index = self.site_counters.get(key, 0)
        self.site_counters[key] = index + 1
        block = _BLOCK["workstation" if role == "macos" else role]
        return f"10.{site.octet}.{block + index // 240}.{10 + index % 240}"

    def _mac(self, vendor: str) -> str:
        while True:
            tail = self.rng.getrandbits(24)
            mac = f"{_OUI[vendor]}:{tail >> 16:02x}:{(tail >> 8) & 0xFF:02x}:{tail & 0xFF:02x}"
            if mac not in self.macs:
                self.macs.add(mac)
                return mac

    def _user(self) -> str:
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        base = f"{first[0]}{last}"
        name, suffix = base, 1
        while name in self.users:
            suffix += 1
            name = f"{base}{suffix}"
        self.users.add(name)
        return name

    # -- one endpoint

    def draft(self, role: str) -> dict[str, Any]:
        """Keyword arguments for one EndpointSpec (infra is added once the fleet exists)."""
        rng = self.rng
        if role in ("workstation", "macos"):
            return self._workstation(mac=role == "macos")
        linux = role.startswith("linux")
        prefix = _HOST_PREFIX[role]
        number = self._next_number(prefix)
        hostname = f"{prefix}-{number:02d}" if number < 100 else f"{prefix}-{number:03d}"
        site = _CLOUD if role in ("linux_k8s", "linux_app") else _DATACENTRE
        releases = _LINUX if linux else _WIN_SERVER
        release = _weighted(rng, releases, [r.weight for r in releases])
        ips = [self._address(site, role)]
        macs = [self._mac("aws" if site is _CLOUD else "vmware")]
        if not linux:
            ips.append(ips[0].replace(f"10.{site.octet}.", f"10.{_BACKUP_LAN}.", 1))
            macs.append(self._mac("vmware"))
        packages = (
            ["linux", f"role_{role}"] if linux else ["windows", "windows_server", f"role_{role}"]
        )
        return self._spec(
            hostname=hostname,
            os_family="linux" if linux else "windows",
            release=release,
            role=role,
            site=site.code,
            department=None,
            criticality=_CRITICALITY[role],
            ip_addresses=tuple(ips),
            mac_addresses=tuple(macs),
            user_groups=_SERVER_GROUPS[role] + ("IT-Admins",),
            privileged_admin_logons=True,
            primary_user=None,
            software=tuple(packages),
        )

    def _workstation(self, *, mac: bool) -> dict[str, Any]:
        rng = self.rng
        column = 3 if mac else 2
        dept, code = _weighted(
            rng, [(d[0], d[1]) for d in _DEPARTMENTS], [d[column] for d in _DEPARTMENTS]
        )
        site = _weighted(rng, _OFFICES, [s.weight for s in _OFFICES])
        user = self._user()
        if mac:
            hostname = f"MBP-{user}"
            release = _weighted(rng, _MAC, [r.weight for r in _MAC])
            macs = (self._mac("apple"),)
        else:
            hostname = f"WS-{code}-{self._next_number(code):04d}"
            release = _weighted(rng, _WIN_WORKSTATION, [r.weight for r in _WIN_WORKSTATION])
            macs = (self._mac(rng.choice(("dell", "lenovo", "hp"))),)
        groups = ["Domain Users", dept, "VPN-Users"]
        privileged = dept == "IT"
        if privileged:
            groups.append("IT-Admins")
            if rng.random() < 0.25:
                groups.append("Domain Admins")
        family = "macos" if mac else "windows"
        packages = ["macos"] if mac else ["windows", "windows_workstation"]
        packages += [
            p.key
            for p in catalog.optional_packages(family)
            if rng.random() < p.by_department.get(dept, p.prevalence)
        ]
        return self._spec(
            hostname=hostname,
            os_family=family,
            release=release,
            role="workstation",
            site=site.code,
            department=dept,
            criticality="high" if dept in _HIGH_VALUE_DEPARTMENTS else "medium",
            ip_addresses=(self._address(site, "macos" if mac else "workstation"),),
            mac_addresses=macs,
            user_groups=tuple(groups),
            privileged_admin_logons=privileged,
            primary_user=user,
            software=tuple(packages),
        )

    def _spec(self, *, hostname: str, release: _Release, **fields: Any) -> dict[str, Any]:
        """The fields every endpoint has, whatever its role."""
        rng = self.rng
        build = _weighted(rng, release.builds, [0.6, 0.3, 0.1][: len(release.builds)])
        tags = [
            f"site:{fields['site']}",
            f"criticality:{fields['criticality']}",
            f"role:{fields['role']}",
        ]
        if fields["department"]:
            tags.append(f"dept:{fields['department'].lower().replace(' ', '-')}")
        return {
            "agent_id": str(uuid.uuid5(_NAMESPACE, f"{self.seed}|{self.domain}|{hostname}")),
            "hostname": hostname,
            "fqdn": f"{hostname.lower()}.{self.domain}",
            "os_version": release.version_string(build),
            "os_build": build,
            "domain": self.domain,
            "tags": tuple(tags),
            "agent_version": _weighted(rng, _AGENT_VERSIONS, _AGENT_WEIGHTS),
            **fields,
        }

    # -- fleet-wide

    def assign_rare_packages(self, drafts: list[dict[str, Any]]) -> None:
        """Put each long-tail package on one to three Windows workstations.

        Chance alone would leave a small fleet without a tail and give a large one hundreds
        of copies; stacking demos need "present on 1-3 endpoints" at every size.
        """
        candidates = [
            i
            for i, d in enumerate(drafts)
            if d["os_family"] == "windows" and d["role"] == "workstation"
        ]
        if not candidates:
            return
        for package in catalog.RARE_PACKAGES:
            for i in self.rng.sample(candidates, min(len(candidates), self.rng.randint(1, 3))):
                drafts[i]["software"] += (package.key,)

    def infrastructure(self, drafts: list[dict[str, Any]]) -> Infrastructure:
        """The fleet's servers as peers; roles missing in a small fleet get a default host.

        A 5-endpoint fleet still has a domain controller somewhere, it just does not run
        the agent; its address is where the address plan would put it.
        """

        def peers(role: str, limit: int = 50) -> tuple[Peer, ...]:
            found = tuple(
                Peer(d["hostname"], d["fqdn"], d["ip_addresses"][0])
                for d in drafts
                if d["role"] == role
            )[:limit]
            if found:
                return found
            hostname = f"{_HOST_PREFIX[role]}-01"
            ip = f"10.{_DATACENTRE.octet}.{_BLOCK[role]}.10"
            return (Peer(hostname, f"{hostname.lower()}.{self.domain}", ip),)

        admins = tuple(
            Peer(d["hostname"], d["fqdn"], d["ip_addresses"][0], f"adm-{d['primary_user']}")
            for d in drafts
            if d["department"] == "IT" and d["os_family"] == "windows"
        )[:20]
        return Infrastructure(
            domain_controllers=peers("domain_controller"),
            file_servers=peers("file_server"),
            management_servers=peers("management_server"),
            app_servers=peers("app_server"),
            admin_workstations=admins,
        )


def find_endpoint(fleet: Iterable[EndpointSpec], hostname: str) -> EndpointSpec:
    """The endpoint called ``hostname`` (case-insensitive); KeyError if there is none."""
    wanted = hostname.lower()
    for endpoint in fleet:
        if endpoint.hostname.lower() == wanted:
            return endpoint
    raise KeyError(hostname)


__all__ = [
    "OS_FAMILIES",
    "ROLES",
    "EndpointSpec",
    "Infrastructure",
    "Peer",
    "find_endpoint",
    "generate_fleet",
]
