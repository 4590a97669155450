"""The shapes every feed parser speaks: IOC types, candidates, skips and their field rules.

A parser never writes to the database. It turns a feed into `IOCCandidate`s (normalised,
ready to upsert) and `Skipped` entries (what could not be imported, and why), so the import
service, the API and `import_iocs` can report exactly what happened to every object, row
or line. The field validators live here, once, so a CSV column and a MISP tag mean the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from metrics.clocks import PHASE_KEYS
from metrics.targets import SEVERITY_KEYS


class IOCType(StrEnum):
    """The IOC types. The values are a public contract (API, database, feeds): never rename."""

    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    CIDR = "cidr"
    DOMAIN = "domain"
    URL = "url"
    FILE_NAME = "file_name"
    FILE_PATH = "file_path"
    REGISTRY_KEY = "registry_key"
    CMDLINE = "cmdline"
    HEADER_BYTES = "header_bytes"
    YARA = "yara"


IOC_TYPES: tuple[str, ...] = tuple(t.value for t in IOCType)
HASH_TYPES = frozenset({IOCType.MD5, IOCType.SHA1, IOCType.SHA256})

# The platform's scales, defined once in metrics (pure Python): re-exported, never copied.
SEVERITIES: tuple[str, ...] = SEVERITY_KEYS
# Ordered from least to most restrictive, so "the strictest marking wins" is a max().
TLP_LEVELS: tuple[str, ...] = ("clear", "green", "amber", "amber+strict", "red")
PHASES: tuple[str, ...] = PHASE_KEYS

_SEVERITY_ALIASES = {"informational": "info", "moderate": "medium", "crit": "critical"}
# TLP 1.0 WHITE became TLP 2.0 CLEAR with the same meaning.
_TLP_ALIASES = {"white": "clear"}

# Kill-chain phase names (MITRE ATT&CK tactics, Lockheed Martin kill chain) onto our phases.
# Impact is the furthest an attacker gets, so it counts as lateral movement; reconnaissance,
# resource development and weaponisation happen before anything runs on an endpoint, so
# they map to no phase at all.
KILL_CHAIN_TO_PHASE: dict[str, str] = {
    "initial-access": "initial_infection",
    "execution": "initial_infection",
    "defense-evasion": "initial_infection",
    "delivery": "initial_infection",
    "exploitation": "initial_infection",
    "persistence": "persistence",
    "privilege-escalation": "persistence",
    "installation": "persistence",
    "lateral-movement": "lateral_movement",
    "discovery": "lateral_movement",
    "collection": "lateral_movement",
    "exfiltration": "lateral_movement",
    "command-and-control": "lateral_movement",
    "credential-access": "lateral_movement",
    "impact": "lateral_movement",
    "actions-on-objectives": "lateral_movement",
}

TECHNIQUE_RE = re.compile(r"T\d{4}(?:\.\d{3})?")
MAX_TAG_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 4000


class InvalidIOC(ValueError):
    """A value (or one of its fields) cannot become an IOC; `field` says which input was wrong.

    `field` and `message` map straight onto the API error's `fields` entry.
    """

    code = "invalid_ioc"

    def __init__(self, message: str, field: str = "value") -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidFeed(ValueError):
    """The feed as a whole is unusable (not JSON, not a bundle, a mapped column is missing).

    Problems with a single object, row or line are never raised: they become `Skipped`.
    """

    code = "invalid_feed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class IOCCandidate:
    """One IOC a feed asks for, normalised and validated, not yet stored.

    `external_id` names it in the source (STIX indicator id, MISP attribute uuid) so a later
    import updates rather than duplicates. `domain_exact` only matters for domains: by default
    a domain IOC also matches its subdomains.
    """

    type: str
    value: str
    original_value: str
    confidence: int | None = None
    severity: str | None = None
    tlp: str | None = None
    phase: str | None = None
    attack_techniques: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    revoked: bool = False
    description: str = ""
    external_id: str = ""
    domain_exact: bool = False

    def __post_init__(self) -> None:
        # Parsers share one metadata dict between all candidates of an object; copying keeps
        # a later edit of one candidate's lists from leaking into its siblings.
        self.attack_techniques = unique(self.attack_techniques)
        self.tags = unique(self.tags)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something a feed contained that did not become an IOC. `ref` names the object/row/line."""

    ref: str
    reason: str


@dataclass(slots=True)
class ParseResult:
    """What a parser made of a feed: the IOCs to import and everything it had to leave out."""

    candidates: list[IOCCandidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, ref: str, reason: str) -> None:
        self.skipped.append(Skipped(ref=ref, reason=reason))


# --- Shared field rules -------------------------------------------------------------------


def unique(items: Iterable[str]) -> list[str]:
    """De-duplicate keeping first-seen order (order is what the analyst wrote)."""
    return list(dict.fromkeys(items))


def clean_text(value: object, max_length: int = MAX_DESCRIPTION_LENGTH) -> str:
    """Free text from a feed, safe to store: no NUL (PostgreSQL refuses it), no lone surrogates."""
    if value is None:
        return ""
    text = str(value).replace("\x00", "")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text.strip()[:max_length]


def normalize_tag(value: object) -> str:
    """Tags compare case-insensitively and ignore spacing, so store them lower-case, collapsed."""
    text = " ".join(clean_text(value, max_length=4 * MAX_TAG_LENGTH).split()).lower()
    return text[:MAX_TAG_LENGTH]


def parse_confidence(value: object) -> int | None:
    """Confidence is 0-100 as in STIX; blank means unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InvalidIOC("confidence must be a whole number from 0 to 100", field="confidence")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,3}\s*", value):
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidIOC(
            f"confidence must be a whole number from 0 to 100, got {quote_value(value)}",
            field="confidence",
        )
    return value


def parse_severity(value: object) -> str | None:
    """One of SEVERITIES (case-insensitive, a few common synonyms); blank means unset."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().lower()
    text = _SEVERITY_ALIASES.get(text, text)
    if text not in SEVERITIES:
        raise InvalidIOC(
            f"severity must be one of {', '.join(SEVERITIES)}, got {quote_value(value)}",
            field="severity",
        )
    return text


def parse_tlp(value: object) -> str | None:
    """Accepts `amber`, `TLP:AMBER`, `tlp:amber+strict`; TLP 1.0 `white` becomes `clear`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().lower()
    text = text.removeprefix("tlp:").strip()
    text = _TLP_ALIASES.get(text, text)
    if text not in TLP_LEVELS:
        raise InvalidIOC(
            f"tlp must be one of {', '.join(TLP_LEVELS)}, got {quote_value(value)}", field="tlp"
        )
    return text


def strictest_tlp(levels: Iterable[str | None]) -> str | None:
    """Several markings on one object: the most restrictive one applies."""
    known = [level for level in levels if level in TLP_LEVELS]
    return max(known, key=TLP_LEVELS.index) if known else None


def parse_technique(value: object) -> str:
    """An ATT&CK technique id, upper-case: reports and filters compare them as strings."""
    text = str(value).strip().upper()
    if not TECHNIQUE_RE.fullmatch(text):
        raise InvalidIOC(
            f"ATT&CK technique must look like T1059 or T1059.001, got {quote_value(value)}",
            field="attack_techniques",
        )
    return text


def phase_for_kill_chain(phase_names: Iterable[str]) -> str | None:
    """The furthest phase among kill-chain phase names; a case's phase is the furthest too."""
    phases = {
        KILL_CHAIN_TO_PHASE.get(re.sub(r"[\s_]+", "-", name.strip().lower()))
        for name in phase_names
    }
    known = [phase for phase in PHASES if phase in phases]
    return known[-1] if known else None


def parse_timestamp(value: object, *, field: str, end_of_day: bool = False) -> datetime | None:
    """ISO 8601 to an aware UTC datetime; naive values are taken as UTC.

    A bare date means the whole day: as a `valid_until` (`end_of_day=True`) it ends at the
    next midnight, so "valid until 2025-12-31" still matches on the 31st.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        message = f"{field} must be an ISO 8601 timestamp, got {quote_value(value)}"
        raise InvalidIOC(message, field=field)
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            parsed = datetime.combine(day, time(0), tzinfo=UTC)
            return parsed + timedelta(days=1) if end_of_day else parsed
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise InvalidIOC(
            f"{field} must be an ISO 8601 timestamp, got {quote_value(value)}", field=field
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidIOC(f"{field} is out of range: {quote_value(value)}", field=field) from None


def decode_text(data: str | bytes) -> str:
    """Feeds arrive as uploaded bytes or text; a UTF-8 byte-order mark is not content."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidFeed(f"the feed is not UTF-8 text (byte {exc.start})") from None
    if not isinstance(data, str):
        raise InvalidFeed(f"expected text, got {type(data).__name__}")
    return data.removeprefix("\ufeff")


def load_json(data: str | bytes | bytearray) -> object:
    """Parse a JSON feed, turning every way it can be broken into `InvalidFeed`."""
    text = decode_text(data)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidFeed(
            f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise InvalidFeed("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python allows
        raise InvalidFeed(f"malformed JSON: {exc}") from None


def json_kind(value: object) -> str:
    """How JSON would name a value's type, for "expected an object, got a list" messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "list", str: "string"}.get(type(value), "null")


def quote_value(value: object, limit: int = 60) -> str:
    """A value quoted for an error message, cut so a huge input cannot flood the report.

    Printable text is quoted as is, so a Windows path reads c:\temp, not c:\\temp.
    """
    text = f"'{value}'" if isinstance(value, str) and value.isprintable() else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
