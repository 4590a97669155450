"""How an IOC meets telemetry: its match family and the keys the set-wise SQL joins on.

Every IOC (and every term of a sweep) carries denormalised match keys, computed once when it
is stored, so a sweep chunk is a handful of joins on indexed columns instead of per-row
Python. One module decides them for the IOC table, the sweep terms and ad-hoc values:

- `hash`     md5/sha1/sha256 = the observation's md5/sha1/sha256 (image, written file,
             autorun or driver target).
- `address`  ipv4/ipv6 equal to remote_ip/source_ip; cidr contains them. PostgreSQL uses
             `inet <<= cidr` on the typed `network` column; SQLite compares fixed-width hex
             (`ip_lo`..`ip_hi`, IPv4 mapped into ::ffff:0:0/96), which gives the same hits.
- `domain`   dns_query/remote_hostname equal to the IOC or ending in ".<ioc>" (unless
             `domain_exact`); matched by joining each observed name's suffixes on equality.
- `name`     file_name (file_name, process_name), file_path (file_path, process_path,
             target_path), registry_key: equality on `match_value`; globs (and values too
             long to index) become an anchored RE2 `pattern`, run as one RE2 set per chunk
             over those columns (`glob` pass) — a LIKE join would be rows x globs.
- `header`   header_bytes: a prefix of header_hex (the observation's header prefixes are
             joined on equality).
- `cmdline`  cmdline substrings and URLs: a case-insensitive substring of command_line
             (`needle`); `re:` patterns run through RE2 (bounded) in one pass per chunk.
- `yara`     YARA rules scan files (evidence, samples, endpoint scans), not telemetry rows.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import asdict, dataclass

from intel.parsing.types import IOCType

FAMILY_BY_TYPE: dict[str, str] = {
    IOCType.MD5: "hash",
    IOCType.SHA1: "hash",
    IOCType.SHA256: "hash",
    IOCType.IPV4: "address",
    IOCType.IPV6: "address",
    IOCType.CIDR: "address",
    IOCType.DOMAIN: "domain",
    IOCType.FILE_NAME: "name",
    IOCType.FILE_PATH: "name",
    IOCType.REGISTRY_KEY: "name",
    IOCType.HEADER_BYTES: "header",
    IOCType.CMDLINE: "cmdline",
    IOCType.URL: "cmdline",
    IOCType.YARA: "yara",
}
FAMILIES = ("hash", "address", "domain", "name", "header", "cmdline")

# Which observation columns each IOC type is compared with.
COLUMNS_BY_TYPE: dict[str, tuple[str, ...]] = {
    IOCType.MD5: ("md5",),
    IOCType.SHA1: ("sha1",),
    IOCType.SHA256: ("sha256",),
    IOCType.IPV4: ("remote_ip", "source_ip"),
    IOCType.IPV6: ("remote_ip", "source_ip"),
    IOCType.CIDR: ("remote_ip", "source_ip"),
    IOCType.DOMAIN: ("dns_query", "remote_hostname"),
    IOCType.FILE_NAME: ("file_name", "process_name"),
    IOCType.FILE_PATH: ("file_path", "process_path", "target_path"),
    IOCType.REGISTRY_KEY: ("registry_key",),
    IOCType.HEADER_BYTES: ("header_hex",),
    IOCType.CMDLINE: ("command_line",),
    IOCType.URL: ("command_line",),
}

# Longest value kept in the indexed `match_value` column; longer ones match through LIKE
# (PostgreSQL b-tree entries are limited to about 2.7 kB, and multi-byte paths add up).
MAX_INDEXED = 600
MAX_DOMAIN_LABELS = 12  # suffixes tried per observed name
MAX_HEADER_BYTES = 16
REGEX_PREFIX = "re:"

# Environment variables in IOC paths, as the expanded paths agents report them (RE2).
_ENV_PATHS = {
    "appdata": r".*\\appdata\\roaming",
    "localappdata": r".*\\appdata\\local",
    "temp": r".*\\temp",
    "tmp": r".*\\temp",
    "userprofile": r"c:\\users\\[^\\]+",
    "public": r"c:\\users\\public",
    "programdata": r"c:\\programdata",
    "allusersprofile": r"c:\\programdata",
    "programfiles": r"c:\\program files",
    "programfiles(x86)": r"c:\\program files \(x86\)",
    "windir": r"c:\\windows",
    "systemroot": r"c:\\windows",
    "systemdrive": "c:",
}
_ENV_PREFIX = re.compile(r"^%([^%\\]+)%")


@dataclass(frozen=True)
class MatchKeys:
    family: str
    match_value: str | None = None
    pattern: str | None = None
    needle: str | None = None
    network: str | None = None
    ip_lo: str | None = None
    ip_hi: str | None = None
    domain_exact: bool = False

    def as_fields(self) -> dict:
        return asdict(self)


def value_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def ioc_key(ioc_type: str, value: str) -> str:
    """The stable name of an IOC across sweeps, alerts and cases: `sha256:<hex>`, `domain:x`.

    Long or multi-line values (command lines, URLs, YARA) are named by their SHA-256.
    """
    if len(value) <= 200 and "\n" not in value:
        return f"{ioc_type}:{value}"
    return f"{ioc_type}:#{value_hash(value)}"


def ip_hex(text: str | None) -> str | None:
    """An address as 32 lower-case hex digits (IPv4 mapped into ::ffff:0:0/96); None if not one.

    Registered as the SQLite function `sc_ip_hex` so CIDR containment is a BETWEEN.
    """
    if not text:
        return None
    try:
        address = ipaddress.ip_address(str(text).split("/", 1)[0])
    except ValueError:
        return None
    if address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    return f"{int(address):032x}"


def domain_suffix(name: str | None, skip: int) -> str | None:
    """`name` without its first `skip` labels (SQLite function `sc_domain_suffix`)."""
    if not name:
        return None
    labels = str(name).split(".")
    if skip >= len(labels):
        return ""
    return ".".join(labels[skip:])


def glob_to_regex(glob: str) -> str:
    """An IOC glob (`*` any run, `?` one character; a leading %VAR% expanded) as an
    anchored RE2 pattern over the normalised (lower-case) column."""
    out = ["^"]
    match = _ENV_PREFIX.match(glob)
    if match:
        out.append(_ENV_PATHS.get(match.group(1).lower(), ".*"))
        glob = glob[match.end() :]
    for ch in glob:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    out.append("$")
    return "".join(out)


def is_regex(ioc_type: str, value: str) -> bool:
    return ioc_type == IOCType.CMDLINE and value[:3].lower() == REGEX_PREFIX


def match_keys(ioc_type: str, value: str, *, domain_exact: bool = False) -> MatchKeys:
    """The keys a normalised IOC value is matched on (see the module docstring)."""
    family = FAMILY_BY_TYPE[ioc_type]
    if family in {"hash", "header"}:
        return MatchKeys(family, match_value=value)
    if family == "address":
        network = ipaddress.ip_network(value, strict=False)
        return MatchKeys(
            family,
            match_value=str(network.network_address) if ioc_type != IOCType.CIDR else None,
            network=str(network),
            ip_lo=ip_hex(str(network.network_address)),
            ip_hi=ip_hex(str(network.broadcast_address)),
        )
    if family == "domain":
        return MatchKeys(family, match_value=value, domain_exact=domain_exact)
    if family == "name":
        wildcard = (
            "*" in value
            or "?" in value
            or (ioc_type == IOCType.FILE_PATH and _ENV_PREFIX.match(value) is not None)
        )
        if wildcard or len(value) > MAX_INDEXED:
            return MatchKeys(family, pattern=glob_to_regex(value))
        return MatchKeys(family, match_value=value)
    if family == "cmdline":
        if is_regex(ioc_type, value):
            return MatchKeys(family)  # the pattern stays in `value`; RE2 runs it
        return MatchKeys(
            family, needle=url_needle(value) if ioc_type == IOCType.URL else value.lower()
        )
    return MatchKeys(family)


def url_needle(url: str) -> str:
    """What a URL IOC looks for inside command lines.

    Normalisation gives a bare host a trailing slash (`http://evil.example/`), which a
    command line like `curl http://evil.example` does not contain, so the slash of an
    empty path is dropped from the needle.
    """
    needle = url.lower()
    _scheme, sep, rest = needle.partition("://")
    if sep and rest.count("/") == 1 and rest.endswith("/"):
        needle = needle[:-1]
    return needle
