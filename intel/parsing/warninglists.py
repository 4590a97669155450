"""Warning lists: well-known benign values that should almost never be an IOC.

An IOC on 8.8.8.8, microsoft.com or the hash of an empty file would alert on every endpoint
of every tenant, and feeds do contain such values (sandboxes report every DNS query). The
importer warns when such an IOC is added and the matcher can suppress its hits; nothing is
refused here, because an analyst may know better (an internal address can be the
compromised host).

The lists live in `intel/warninglists/*.txt`, small and hand-curated, each with a header
saying where it comes from:

    # name: public-dns-resolvers
    # reason: why a match is suspicious (shown to the analyst)
    # domain-match: suffix | exact    (domains; suffix by default)
    # type: file_name                 (optional; otherwise each entry's type is detected)
    # source: where the entries come from

IP entries are networks and match any address inside (a cidr IOC matches when it overlaps);
domains match by suffix (login.microsoft.com is on the microsoft.com list) unless the list is
`exact`, which shared-hosting lists are: a customer's evil.s3.amazonaws.com is a fine IOC.
A URL is checked through its host, against the suffix lists and the address lists only.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

from .normalize import IPNetwork, detect_type, normalize, normalize_ioc
from .types import HASH_TYPES, InvalidIOC, IOCType

_HEADER = re.compile(r"#\s*([a-z-]+):\s*(.*)")


@dataclass(frozen=True)
class WarninglistMatch:
    """A value is on a warning list; `reason` says why that makes it a poor IOC."""

    list_name: str
    reason: str


# The name the design uses. Prefer WarninglistMatch when importing it by name, so the
# builtin Warning is not shadowed in the importing module.
Warning = WarninglistMatch


@dataclass(frozen=True)
class Warninglist:
    """One list file: its header, and its entries indexed the way they are matched."""

    name: str
    reason: str
    source: str
    domain_match: str = "suffix"
    networks: tuple[IPNetwork, ...] = ()
    domains: frozenset[str] = frozenset()
    values: frozenset[tuple[str, str]] = frozenset()

    def matches(self, ioc_type: str, value: str) -> bool:
        if ioc_type in {IOCType.IPV4, IOCType.IPV6}:
            address = ipaddress.ip_address(value)
            return any(address in network for network in self.networks)
        if ioc_type == IOCType.CIDR:
            ioc_network = ipaddress.ip_network(value)
            return any(_overlaps(ioc_network, network) for network in self.networks)
        if ioc_type == IOCType.DOMAIN:
            return self._domain_matches(value)
        if ioc_type == IOCType.URL:
            return self._url_matches(value)
        return (ioc_type, value) in self.values

    def _domain_matches(self, domain: str) -> bool:
        if self.domain_match == "exact":
            return domain in self.domains
        labels = domain.split(".")
        return any(".".join(labels[i:]) in self.domains for i in range(len(labels)))

    def _url_matches(self, url: str) -> bool:
        host = urlsplit(url).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            # Shared-hosting names are fine inside a URL: the path makes it specific.
            return self.domain_match == "suffix" and self._domain_matches(host)
        return any(address in network for network in self.networks)


def check(ioc_type: str, value: str) -> list[WarninglistMatch]:
    """The warning lists `value` is on, as an IOC of `ioc_type`; [] for invalid values."""
    try:
        kind, normalized = normalize_ioc(ioc_type, value)
    except InvalidIOC:
        return []
    return [
        WarninglistMatch(list_name=wl.name, reason=wl.reason)
        for wl in load_warninglists()
        if wl.matches(kind, normalized)
    ]


@functools.cache
def load_warninglists() -> tuple[Warninglist, ...]:
    """Every list shipped in intel/warninglists, parsed once per process."""
    folder = resources.files("intel").joinpath("warninglists")
    return tuple(
        _parse(entry.read_text(encoding="utf-8"), entry.name)
        for entry in sorted(folder.iterdir(), key=lambda item: item.name)
        if entry.name.endswith(".txt")
    )


def _parse(text: str, filename: str) -> Warninglist:
    header: dict[str, str] = {}
    networks: list[IPNetwork] = []
    domains: set[str] = set()
    values: set[tuple[str, str]] = set()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            match = _HEADER.fullmatch(line)
            if match and match.group(1) not in header:
                header[match.group(1)] = match.group(2).strip()
            continue
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        kind = header.get("type") or _entry_type(entry)
        if kind in {IOCType.IPV4, IOCType.IPV6, IOCType.CIDR}:
            # Not normalize(): special-purpose ranges (224.0.0.0/4) are broader than any IOC.
            networks.append(ipaddress.ip_network(entry, strict=True))
        elif kind == IOCType.DOMAIN and re.fullmatch(r"\.[a-z0-9-]+", entry):
            domains.add(entry[1:])  # a whole top-level domain
        elif kind == IOCType.DOMAIN:
            domains.add(normalize(kind, entry))
        else:
            values.add((kind, normalize(kind, entry)))
    if "name" not in header or "reason" not in header:
        raise ValueError(f"warning list {filename} needs '# name:' and '# reason:' headers")
    if header.get("domain-match", "suffix") not in {"suffix", "exact"}:
        raise ValueError(f"warning list {filename}: domain-match must be suffix or exact")
    return Warninglist(
        name=header["name"],
        reason=header["reason"],
        source=header.get("source", ""),
        domain_match=header.get("domain-match", "suffix"),
        networks=tuple(networks),
        domains=frozenset(domains),
        values=frozenset(values),
    )


def _entry_type(entry: str) -> str:
    """Addresses, networks and hashes by their shape; anything else in an untyped list is a
    domain (lists of file names say so in their header), validated by normalize()."""
    kind = detect_type(entry)
    if kind in {*HASH_TYPES, IOCType.IPV4, IOCType.IPV6, IOCType.CIDR}:
        return kind
    return IOCType.DOMAIN


def _overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)
