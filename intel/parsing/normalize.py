"""IOC normalisation: one canonical spelling per value, so an IOC and telemetry meet in SQL.

Sweeps match IOCs against telemetry with set-wise SQL joins on plain equality (or a prefix,
or a glob), never with per-row Python. That only works when both sides were written the
same way, so every IOC value goes through `normalize()` and the telemetry columns follow
the same rules (`endpoints.observation_fields`): lower-case names, paths, hashes, domains
and registry keys; Windows paths with backslashes. `normalize` is idempotent, and it raises
`InvalidIOC` with a reason an analyst can act on, never anything else.

Decisions worth knowing:

- cidr: host bits set (`10.1.2.3/8`) are refused, not silently widened: the author may have
  meant the single host, and turning a typo into a /8 would flood every tenant's alert
  queue. Networks broader than /8 (IPv4) or /16 (IPv6) are refused for the same reason. A
  bare address is accepted as its /32 or /128. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is
  stored as IPv4 everywhere, because dual-stack sockets report IPv4 peers that way.
- Defanged network values (`hxxp://evil[.]com`, `1.2.3(.)4`, `[:]`) are refanged for the
  network types (ipv4, ipv6, cidr, domain, url) and by `detect_type`; see `refang`.
- domain: lower-case, trailing dot removed, internationalised names IDNA 2008 (UTS 46)
  encoded to punycode, underscores tolerated (they occur in real host names), at least two
  labels, a leading `*.` dropped (a domain IOC matches its subdomains unless exact).
- url: scheme and host lower-case, host IDNA-encoded, default ports removed, percent-escapes
  normalised (unreserved characters decoded, hex upper-case, unsafe characters encoded),
  fragment dropped, an empty http(s) path becomes `/`. Dot segments are kept: exploit URLs
  (`/cgi-bin/../../etc/passwd`) are indicators precisely because of them. A scheme is
  required; "evil.com/gate.php" is refused with a hint rather than guessed.
- file_name, file_path, registry_key may be globs: `*` is any run of characters (path
  separators included), `?` one character. A glob needs at least four literal characters
  so `*.exe` cannot become an IOC. Paths must be absolute (`c:\\...`, `\\\\server\\...`,
  `%appdata%\\...`, `/usr/...`) or start with `*`; registry keys start with a hive or `*`.
- cmdline: a substring, matched case-insensitively (stored lower-case), at least four
  characters; or `re:` and an RE2 regular expression, stored verbatim, matched
  case-insensitively in linear time. A regex that matches the empty string is refused.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Callable

import idna

from endpoints.observation_fields import FIELD_BY_NAME

from . import safe_regex
from .types import IOC_TYPES, InvalidIOC, IOCType, quote_value
from .yara_rules import MAX_SOURCE_LENGTH, validate_yara

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# An IOC longer than the telemetry column it is matched against can never match.
MAX_FILE_NAME = FIELD_BY_NAME["file_name"].max_length or 260
MAX_FILE_PATH = FIELD_BY_NAME["file_path"].max_length or 1024
MAX_REGISTRY_KEY = FIELD_BY_NAME["registry_key"].max_length or 1024
MAX_CMDLINE = FIELD_BY_NAME["command_line"].max_length or 8192
MAX_HEADER_BYTES = 16
MAX_DOMAIN = 253
MAX_URL = 8192
# Anything longer than this is refused before any parsing work is spent on it.
MAX_INPUT = 4 * MAX_URL

MIN_CIDR_PREFIX = {4: 8, 6: 16}
MIN_GLOB_LITERALS = 4
MIN_SUBSTRING = 4
CMDLINE_REGEX_PREFIX = "re:"

HASH_LENGTHS = {IOCType.MD5: 32, IOCType.SHA1: 40, IOCType.SHA256: 64}
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}

# File extensions that make "invoice.pdf.exe" a file name rather than a domain in a bare
# list (a typed column settles it). "com", "pl" and "so" are left out: evil.com, evil.pl
# and evil.so are hosts far more often than files.
_FILE_EXTENSION_WORDS = (
    "exe dll sys scr cpl ocx drv efi ps1 psm1 psd1 bat cmd vbs vbe js jse wsf wsh hta lnk "
    "msi msp msc jar class apk dmg pkg elf ko bin dat tmp log ini inf reg doc docx docm dot "
    "dotm xls xlsx xlsm xlsb xll ppt pptx pptm pdf rtf one iso img vhd vhdx zip rar 7z gz "
    "tgz bz2 xz cab arj ace txt csv py pyc rb php asp aspx jsp sh"
)
FILE_EXTENSIONS = frozenset(_FILE_EXTENSION_WORDS.split())
# Extensions that are also top-level domains: only "name.ext" (one dot) is taken as a file;
# "a.b.one" is a host (one.one.one.one is Cloudflare's resolver).
_TLD_EXTENSIONS = frozenset({"zip", "one", "cab", "sh", "py"})

_HIVES = {
    "hkey_local_machine": "hklm",
    "hklm": "hklm",
    "hkey_current_user": "hkcu",
    "hkcu": "hkcu",
    "hkey_users": "hku",
    "hku": "hku",
    "hkey_classes_root": "hkcr",
    "hkcr": "hkcr",
    "hkey_current_config": "hkcc",
    "hkcc": "hkcc",
}
# How drivers and ETW spell the hives.
_KERNEL_HIVE = re.compile(r"\\registry\\(machine|user)(?=\\|$)")

_HEX = re.compile(r"[0-9a-fA-F]+")
_NOT_HEX = re.compile(r"[^0-9a-f]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[a-z]:", re.IGNORECASE)
_DRIVE_ROOT = re.compile(r"[a-z]:\\")
_ENV_ROOT = re.compile(r"%[^%\\\s]+%\\")
_WINDOWS_PATH = re.compile(r"(?:[a-z]:[\\/]|\\\\|%[^%\\/\s]+%[\\/])", re.IGNORECASE)
_REGISTRY_PREFIX = re.compile(
    r"(?:hkey_(?:local_machine|current_user|users|classes_root|current_config)"
    r"|hklm|hkcu|hku|hkcr|hkcc|\\registry\\(?:machine|user))(?:\\|$)",
    re.IGNORECASE,
)
_DOMAIN_SHAPE = re.compile(r"(?:\*\.)?[^\s/\\:@*?]+\.[^\s/\\:@*?.]+\.?")

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_QUERY_SAFE = _PATH_SAFE | {"?"}
_USERINFO_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:")

# Defanging conventions seen in reports and feeds, undone in this order. Only applied to
# network values, where brackets and "hxxp" can never be meant literally.
_REFANG: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^h(?:xx|\*\*|xt|tx)p(s?)(?=:|\[:)", re.IGNORECASE), r"http\1"),
    (re.compile(r"^fxp(?=:|\[:)", re.IGNORECASE), "ftp"),
    (re.compile(r"\[:\]//|\[://\]"), "://"),
    (re.compile(r"\[(?:\.|dot)\]|\((?:\.|dot)\)|\{(?:\.|dot)\}", re.IGNORECASE), "."),
    (re.compile(r"\\\."), "."),
    (re.compile(r"\[:\]"), ":"),
    (re.compile(r"\[/\]"), "/"),
    (re.compile(r"\[@\]|\[at\]", re.IGNORECASE), "@"),
)


# --- Public API ---------------------------------------------------------------------------


def parse_ioc_type(value: object) -> IOCType:
    """The IOC type named by `value` (case and surrounding spaces ignored)."""
    if isinstance(value, IOCType):
        return value
    text = str(value).strip().lower() if isinstance(value, str) else ""
    try:
        return IOCType(text)
    except ValueError:
        raise InvalidIOC(
            f"unknown IOC type {quote_value(value)}; expected one of {', '.join(IOC_TYPES)}",
            field="type",
        ) from None


def normalize(ioc_type: str, value: str) -> str:
    """The canonical spelling of `value` as an IOC of `ioc_type`, or `InvalidIOC` saying why."""
    kind = parse_ioc_type(ioc_type)
    return _NORMALIZERS[kind](_prepare(value, kind))


def normalize_ioc(ioc_type: str, value: str) -> tuple[str, str]:
    """Like `normalize`, but lets a value move to the type its canonical form belongs to.

    The one case today: an IPv4-mapped IPv6 address given as ipv6 is an ipv4 IOC.
    """
    kind = parse_ioc_type(ioc_type)
    if kind is IOCType.IPV6:
        text = _prepare(value, kind)
        address = _unmap(_parse_ip(refang(text), kind))
        if address.version == 4:
            return IOCType.IPV4.value, str(address)
    return kind.value, normalize(kind, value)


def normalize_address(value: str) -> tuple[str, str]:
    """An IP address or network of either family, typed by its shape (feeds often don't say)."""
    text = refang(value).strip() if isinstance(value, str) else value
    if "/" in text:
        return IOCType.CIDR.value, normalize(IOCType.CIDR, text)
    kind = IOCType.IPV6 if ":" in text else IOCType.IPV4
    address = _unmap(_parse_ip(_prepare(text, kind), kind))
    return (IOCType.IPV4 if address.version == 4 else IOCType.IPV6).value, str(address)


def normalize_as(kind: str, value: str) -> tuple[str, str]:
    """`normalize_ioc`, plus two pseudo-types for feeds that are vaguer than we are:
    "address" (IPv4, IPv6 or CIDR, by shape) and "file" (a path when it has a folder,
    otherwise a file name)."""
    if kind == "address":
        return normalize_address(value)
    if kind == "file":
        has_folder = isinstance(value, str) and re.search(r"[\\/]", value.strip())
        return normalize_ioc(IOCType.FILE_PATH if has_folder else IOCType.FILE_NAME, value)
    return normalize_ioc(kind, value)


def detect_type(value: str) -> str | None:
    """The IOC type a bare value looks like, for lists that don't say; None when unsure.

    Only the shape is checked: `normalize` then explains what is wrong with a value that
    looks like a cidr but has host bits set. cmdline, header_bytes and yara are never guessed.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_INPUT or "\x00" in text:
        return None
    if _HEX.fullmatch(text):
        kind = {32: IOCType.MD5, 40: IOCType.SHA1, 64: IOCType.SHA256}.get(len(text))
        return kind.value if kind else None
    if _REGISTRY_PREFIX.match(text):
        return IOCType.REGISTRY_KEY.value
    if _WINDOWS_PATH.match(text):
        return IOCType.FILE_PATH.value
    plain = refang(text)
    if _SCHEME.match(plain):
        return IOCType.URL.value
    if "/" in plain and _is_network(plain):
        return IOCType.CIDR.value
    address = _try_ip(plain)
    if address is not None:
        return IOCType.IPV4.value if _unmap(address).version == 4 else IOCType.IPV6.value
    if text.startswith("/") and not any(ch.isspace() for ch in text):
        return IOCType.FILE_PATH.value
    extension = text.rsplit(".", 1)[-1].lower() if "." in text else ""
    if (
        extension in FILE_EXTENSIONS
        and not any(sep in text for sep in "/\\:")
        and (extension not in _TLD_EXTENSIONS or text.count(".") == 1)
    ):
        return IOCType.FILE_NAME.value
    if _DOMAIN_SHAPE.fullmatch(plain):
        last = plain.rstrip(".").rsplit(".", 1)[-1].lower()
        if last.isalpha() or last.startswith("xn--"):
            return IOCType.DOMAIN.value
    return None


def undetected_reason(value: str) -> str:
    """Why `detect_type` found nothing, for the skipped entry a list parser reports."""
    text = value.strip() if isinstance(value, str) else ""
    if _HEX.fullmatch(text) and 24 <= len(text) <= 72:
        return (
            f"{quote_value(text)} looks like a hash but has {len(text)} hex digits "
            "(md5 has 32, sha1 40, sha256 64)"
        )
    return f"cannot tell what kind of IOC {quote_value(text)} is"


def refang(value: str) -> str:
    """Undo common defanging: hxxp(s)/h**p/fxp schemes, [.] (.) {.} [dot], [:] [://] [/] [@].

    Threat reports defang network indicators so nobody clicks them; the IOC is the live value.
    """
    for pattern, replacement in _REFANG:
        value = pattern.sub(replacement, value)
    return value


def compile_cmdline(value: str) -> Callable[[str], bool]:
    """A matcher for a normalised cmdline IOC, for telemetry checked in Python.

    Case-insensitive like the rest of command-line matching: substrings compare lower-case,
    `re:` patterns run in RE2 with case folding.
    """
    if value[: len(CMDLINE_REGEX_PREFIX)].lower() == CMDLINE_REGEX_PREFIX:
        regex = safe_regex.compile(value[len(CMDLINE_REGEX_PREFIX) :], case_sensitive=False)
        return lambda command_line: regex.search(command_line) is not None
    needle = value.lower()
    return lambda command_line: needle in command_line.lower()


# --- Per-type rules -----------------------------------------------------------------------


def _prepare(value: object, kind: IOCType) -> str:
    """Checks every type shares: text, no NUL (PostgreSQL refuses it), valid Unicode, bounded."""
    if not isinstance(value, str):
        raise InvalidIOC(f"{kind} value must be text, got {type(value).__name__}")
    limit = MAX_SOURCE_LENGTH if kind is IOCType.YARA else MAX_INPUT
    if len(value) > limit:
        raise InvalidIOC(f"{kind} value is too long ({len(value)} characters)")
    if "\x00" in value:
        raise InvalidIOC(f"{kind} value contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidIOC(f"{kind} value is not valid Unicode (lone surrogate)") from None
    if not value.strip():
        raise InvalidIOC(f"{kind} value is empty")
    return value


def _hash_normalizer(kind: IOCType) -> Callable[[str], str]:
    length = HASH_LENGTHS[kind]

    def normalize_hash(value: str) -> str:
        text = value.strip().lower()
        bad = _NOT_HEX.search(text)
        if bad:
            raise InvalidIOC(
                f"{kind} must be {length} hex characters; {quote_value(bad.group())} "
                f"at position {bad.start() + 1} is not a hex digit"
            )
        if len(text) != length:
            raise InvalidIOC(f"{kind} must be {length} hex characters, got {len(text)}")
        return text

    return normalize_hash


def _parse_ip(text: str, kind: IOCType) -> IPAddress:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" in text:
        raise InvalidIOC(f"{kind} {quote_value(text)}: zone ids (%eth0) are not part of an IOC")
    if "/" in text:
        raise InvalidIOC(f"{quote_value(text)} is a network; use type cidr")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    reason = "is not an IP address"
    if ":" not in text:
        try:
            ipaddress.IPv4Address(text)
        except ValueError as exc:  # says which octet is wrong (e.g. leading zeros)
            reason = f"is not an IPv4 address: {exc}"
    raise InvalidIOC(f"{kind} {quote_value(text)} {reason}")


def _try_ip(text: str) -> IPAddress | None:
    try:
        return _parse_ip(text, IOCType.IPV4)
    except InvalidIOC:
        return None


def _unmap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ipv4(value: str) -> str:
    address = _unmap(_parse_ip(refang(value), IOCType.IPV4))
    if address.version != 4:
        raise InvalidIOC(f"{quote_value(value.strip())} is an IPv6 address; use type ipv6")
    return str(address)


def _ipv6(value: str) -> str:
    address = _parse_ip(refang(value), IOCType.IPV6)
    if address.version != 6:
        raise InvalidIOC(f"{quote_value(value.strip())} is an IPv4 address; use type ipv4")
    mapped = _unmap(address)
    if mapped.version == 4:
        raise InvalidIOC(
            f"{quote_value(value.strip())} is an IPv4-mapped address; it is stored as ipv4 {mapped}"
        )
    return str(address)


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return False
    return True


def _cidr(value: str) -> str:
    text = refang(value).strip()
    if "%" in text:
        raise InvalidIOC(f"cidr {quote_value(text)}: zone ids (%eth0) are not part of an IOC")
    try:
        network: IPNetwork = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            wider = ipaddress.ip_network(text, strict=False)
            host = text.split("/", 1)[0]
            raise InvalidIOC(
                f"cidr {quote_value(text)} has host bits set: the network is {wider}, "
                f"the single address is {host}; say which one you mean"
            ) from None
        raise InvalidIOC(f"cidr {quote_value(text)} is not a network: {exc}") from None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    minimum = MIN_CIDR_PREFIX[network.version]
    if network.prefixlen < minimum:
        raise InvalidIOC(
            f"cidr {network} is too broad: IPv{network.version} networks must be /{minimum} "
            "or narrower, or the IOC would match a large part of the internet"
        )
    return str(network)


def _hostname(text: str, *, kind: IOCType, allow_single_label: bool) -> str:
    name = text.strip()
    shown = quote_value(name)
    if not name.isascii():
        try:
            name = idna.uts46_remap(name, std3_rules=False, transitional=False)
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            message = f"{kind} {shown} is not a valid internationalised name: {exc}"
            raise InvalidIOC(message) from None
    name = name.lower().removesuffix(".")
    if not name:
        raise InvalidIOC(f"{kind} {shown} has no host name")
    labels = [_label(label, kind=kind, shown=shown) for label in name.split(".")]
    result = ".".join(labels)
    if len(result) > MAX_DOMAIN:
        raise InvalidIOC(f"{kind} {shown} is longer than {MAX_DOMAIN} characters")
    if not allow_single_label and len(labels) < 2:
        raise InvalidIOC(f"{kind} {shown} needs at least two labels, like example.com")
    if labels[-1].isdigit():
        raise InvalidIOC(f"{kind} {shown} ends in a number; is it an IP address?")
    return result


def _label(label: str, *, kind: IOCType, shown: str) -> str:
    if not label:
        raise InvalidIOC(f"{kind} {shown} has an empty label (two dots in a row?)")
    if not label.isascii():
        try:
            return idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            message = f"{kind} {shown}: label {quote_value(label)} is invalid: {exc}"
            raise InvalidIOC(message) from None
    if len(label) > 63:
        raise InvalidIOC(f"{kind} {shown}: label {quote_value(label)} is longer than 63")
    if not _LABEL.fullmatch(label):
        raise InvalidIOC(
            f"{kind} {shown}: label {quote_value(label)} may only contain letters, digits, "
            "hyphens and underscores"
        )
    if label.startswith("xn--"):
        try:
            idna.ulabel(label)
        except (idna.IDNAError, UnicodeError, ValueError):
            message = f"{kind} {shown}: {quote_value(label)} is not valid punycode"
            raise InvalidIOC(message) from None
    return label


def _domain(value: str) -> str:
    text = refang(value).strip()
    if _SCHEME.match(text) or "/" in text:
        raise InvalidIOC(f"{quote_value(text)} looks like a URL; use type url or give the domain")
    if _try_ip(text) is not None:
        raise InvalidIOC(f"{quote_value(text)} is an IP address; use type ipv4 or ipv6")
    if ":" in text or "@" in text:
        raise InvalidIOC(f"domain {quote_value(text)} must be a host name alone (no port, no user)")
    return _hostname(text.removeprefix("*."), kind=IOCType.DOMAIN, allow_single_label=False)


def _percent(text: str, safe: frozenset[str]) -> str:
    """One spelling per byte: unreserved characters decoded, other escapes upper-case hex,
    unsafe characters (spaces, quotes, non-ASCII as UTF-8) encoded; a stray % becomes %25."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        escape = text[i + 1 : i + 3]
        if ch == "%" and len(escape) == 2 and _HEX.fullmatch(escape):
            decoded = chr(int(escape, 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + escape.upper())
            i += 3
            continue
        if ch in safe:
            out.append(ch)
        else:
            out.append("".join(f"%{byte:02X}" for byte in ch.encode("utf-8")))
        i += 1
    return "".join(out)


def _url_host(host: str) -> str:
    if host.startswith("["):
        if not host.endswith("]"):
            raise InvalidIOC(f"url host {quote_value(host)} has an unclosed [")
        address = _unmap(_parse_ip(host[1:-1], IOCType.URL))
        return str(address) if address.version == 4 else f"[{address}]"
    if host and all(ch.isdigit() or ch == "." for ch in host):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError as exc:
            message = f"url host {quote_value(host)} is not an IPv4 address: {exc}"
            raise InvalidIOC(message) from None
    return _hostname(host, kind=IOCType.URL, allow_single_label=True)


def _split_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        host, rest = (hostport, "") if end < 0 else (hostport[: end + 1], hostport[end + 1 :])
        if rest and not rest.startswith(":"):
            raise InvalidIOC(f"url host {quote_value(hostport)} is malformed")
        port = rest[1:]
    else:
        host, _, port = hostport.partition(":")
    if not port:
        return host, None
    if not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise InvalidIOC(f"url port {quote_value(port)} must be a number from 0 to 65535")
    return host, int(port)


def _url(value: str) -> str:
    text = refang(value).strip()
    scheme_match = _SCHEME.match(text)
    if not scheme_match:
        hint = ""
        if detect_type(text.split("/", 1)[0]) in {"domain", "ipv4", "ipv6"}:
            hint = " (add http:// or https://)"
        raise InvalidIOC(f"url must start with a scheme, like https://example.com/path{hint}")
    scheme = scheme_match.group(1).lower()
    rest = text[scheme_match.end() :].split("#", 1)[0]
    authority_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    path, has_query, query = tail.partition("?")
    userinfo, at, hostport = authority.rpartition("@")
    host, port = _split_port(hostport)
    if not host:
        raise InvalidIOC(f"url {quote_value(text)} has no host")
    host = _url_host(host)
    if port is not None and DEFAULT_PORTS.get(scheme) == port:
        port = None
    path = _percent(path, _PATH_SAFE)
    if not path and scheme in {"http", "https"}:
        path = "/"
    query = _percent(query, _QUERY_SAFE) if has_query else ""
    user = _percent(userinfo, _USERINFO_SAFE) + "@" if at and userinfo else ""
    result = (
        f"{scheme}://{user}{host}{'' if port is None else f':{port}'}{path}"
        f"{'?' + query if query else ''}"
    )
    if len(result) > MAX_URL:
        raise InvalidIOC(f"url is longer than {MAX_URL} characters")
    return result


def _check_plain(kind: IOCType, text: str, limit: int) -> None:
    if _CONTROL.search(text):
        raise InvalidIOC(f"{kind} contains control characters")
    if len(text) > limit:
        raise InvalidIOC(f"{kind} is longer than {limit} characters")
    if "*" in text or "?" in text:
        literal = re.sub(r"^[a-z]:|[*?.:%\\/]", "", text)
        if len(literal) < MIN_GLOB_LITERALS:
            raise InvalidIOC(
                f"{kind} pattern {quote_value(text)} is too broad: give at least "
                f"{MIN_GLOB_LITERALS} characters besides wildcards, drive, dots and separators"
            )


def _file_name(value: str) -> str:
    name = re.split(r"[\\/]", value.strip())[-1].strip().lower()
    if not name:
        raise InvalidIOC("file_name ends with a path separator: there is no file name")
    if name in {".", ".."}:
        raise InvalidIOC(f"file_name {quote_value(name)} is not a file name")
    _check_plain(IOCType.FILE_NAME, name, MAX_FILE_NAME)
    return name


def _file_path(value: str) -> str:
    path = value.strip().lower()
    if "\\" in path or _DRIVE.match(path) or path.startswith("%"):
        path = _windows_path(path)
        absolute = bool(
            path.startswith(("\\\\", "*")) or _DRIVE_ROOT.match(path) or _ENV_ROOT.match(path)
        )
        separator = "\\"
    else:
        path = re.sub(r"/+", "/", path)
        absolute = path.startswith(("/", "*", "~/"))
        separator = "/"
    if path.endswith(separator):
        raise InvalidIOC(
            f"file_path {quote_value(path)} ends with a separator; to match the files in a "
            f"folder, end it with {separator}*"
        )
    if separator not in path.lstrip(separator):
        raise InvalidIOC(f"file_path {quote_value(path)} has no folder; use type file_name")
    if not absolute:
        raise InvalidIOC(
            f"file_path {quote_value(path)} must be absolute (c:\\..., \\\\server\\..., "
            "%appdata%\\..., /usr/...) or start with a * wildcard"
        )
    _check_plain(IOCType.FILE_PATH, path, MAX_FILE_PATH)
    return path


def _windows_path(path: str) -> str:
    path = path.replace("/", "\\")
    for prefix in ("\\\\?\\unc\\", "\\??\\unc\\"):
        if path.startswith(prefix):
            path = "\\\\" + path[len(prefix) :]
    for prefix in ("\\\\?\\", "\\??\\"):
        if path.startswith(prefix) and _DRIVE.match(path[len(prefix) :]):
            path = path[len(prefix) :]
    unc = path.startswith("\\\\")
    path = re.sub(r"\\+", r"\\", path.lstrip("\\") if unc else path)
    return "\\\\" + path if unc else path


def _registry_key(value: str) -> str:
    key = re.sub(r"\\+", r"\\", value.strip().lower())
    kernel = _KERNEL_HIVE.match(key)
    if kernel:
        key = ("hklm" if kernel.group(1) == "machine" else "hku") + key[kernel.end() :]
    key = key.strip(string.whitespace + "\\")
    hive, separator, rest = key.partition("\\")
    canonical = _HIVES.get(hive)
    if canonical is None and hive != "*":
        raise InvalidIOC(
            f"registry_key {quote_value(key)} must start with a hive (hklm\\, hkcu\\, hku\\, "
            "hkcr\\, hkcc\\ or their HKEY_ names) or * for any hive"
        )
    result = (canonical or "*") + separator + rest
    _check_plain(IOCType.REGISTRY_KEY, result, MAX_REGISTRY_KEY)
    return result


def _cmdline(value: str) -> str:
    if value[: len(CMDLINE_REGEX_PREFIX)].lower() == CMDLINE_REGEX_PREFIX:
        pattern = value[len(CMDLINE_REGEX_PREFIX) :]
        try:
            regex = safe_regex.compile(pattern, case_sensitive=False)
        except safe_regex.UnsafeRegex as exc:
            raise InvalidIOC(f"cmdline regex: {exc.message}") from None
        if regex.search("") is not None:
            raise InvalidIOC(
                "cmdline regex matches an empty command line, so it would match every process"
            )
        return CMDLINE_REGEX_PREFIX + pattern
    text = value.lower()
    if len(text.strip()) < MIN_SUBSTRING:
        raise InvalidIOC(
            f"cmdline substring {quote_value(value)} is too short (at least {MIN_SUBSTRING} "
            "characters): it would match too many processes"
        )
    if len(text) > MAX_CMDLINE:
        raise InvalidIOC(f"cmdline is longer than {MAX_CMDLINE} characters")
    return text


def _header_bytes(value: str) -> str:
    text = value.strip().lower().removeprefix("0x").replace("\\x", "")
    text = re.sub(r"[\s:-]", "", text)
    bad = _NOT_HEX.search(text)
    if not text or bad:
        raise InvalidIOC(
            "header_bytes must be hex digits (like 4d5a9000)"
            + (f"; {quote_value(bad.group())} is not one" if bad else "")
        )
    if len(text) % 2:
        raise InvalidIOC(
            f"header_bytes must be an even number of hex digits (whole bytes), got {len(text)}"
        )
    if len(text) > 2 * MAX_HEADER_BYTES:
        raise InvalidIOC(
            f"header_bytes is at most {MAX_HEADER_BYTES} bytes (the telemetry keeps the first "
            f"{MAX_HEADER_BYTES}), got {len(text) // 2}"
        )
    return text


_NORMALIZERS: dict[IOCType, Callable[[str], str]] = {
    IOCType.MD5: _hash_normalizer(IOCType.MD5),
    IOCType.SHA1: _hash_normalizer(IOCType.SHA1),
    IOCType.SHA256: _hash_normalizer(IOCType.SHA256),
    IOCType.IPV4: _ipv4,
    IOCType.IPV6: _ipv6,
    IOCType.CIDR: _cidr,
    IOCType.DOMAIN: _domain,
    IOCType.URL: _url,
    IOCType.FILE_NAME: _file_name,
    IOCType.FILE_PATH: _file_path,
    IOCType.REGISTRY_KEY: _registry_key,
    IOCType.CMDLINE: _cmdline,
    IOCType.HEADER_BYTES: _header_bytes,
    IOCType.YARA: validate_yara,
}
