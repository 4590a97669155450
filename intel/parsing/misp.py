"""MISP events (JSON export or restSearch response) to IOC candidates.

MISP says what is meant for detection with `to_ids`; attributes without it are context
(a victim's IP, a report URL) and are skipped with the reason "to_ids is false". Attributes
inside objects (`Event.Object[].Attribute[]`) count the same. Composite types keep MISP's
own detection semantics: `filename|sha256` is the hash (the file name goes into the
description, since matching the name alone would flag every file called invoice.exe),
`ip-dst|port` is the address, `regkey|value` the key, `domain|ip` both.

Tags: `tlp:*` gives the TLP (an attribute's own marking wins over the event's); galaxy
clusters of ATT&CK attack patterns give techniques (`... - T1059.001`); threat actors,
intrusion sets, malware and tools become `threat-actor:...`, `malware:...` tags like in
STIX; other tags are kept as they are. `Event.threat_level_id` gives the severity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .normalize import normalize_as
from .stix import add_candidates, extract_pattern
from .types import (
    TECHNIQUE_RE,
    InvalidFeed,
    InvalidIOC,
    IOCCandidate,
    IOCType,
    ParseResult,
    clean_text,
    json_kind,
    load_json,
    normalize_tag,
    parse_tlp,
    quote_value,
    strictest_tlp,
    unique,
)

# 1 High, 2 Medium, 3 Low, 4 Undefined.
THREAT_LEVEL_SEVERITY = {"1": "high", "2": "medium", "3": "low"}


@dataclass(frozen=True)
class _Part:
    """Which part of a (possibly composite) MISP value is an IOC, and of what type."""

    index: int
    kind: str  # an IOC type, "address" (IPv4, IPv6 or CIDR), or "file" (name or path)
    exact: bool = False


# MISP attribute type -> the parts of its value that become IOCs. The remaining parts of a
# composite value are written into the description.
MISP_TYPES: dict[str, tuple[_Part, ...]] = {
    "md5": (_Part(0, IOCType.MD5),),
    "sha1": (_Part(0, IOCType.SHA1),),
    "sha256": (_Part(0, IOCType.SHA256),),
    "ip-src": (_Part(0, "address"),),
    "ip-dst": (_Part(0, "address"),),
    "ip-src|port": (_Part(0, "address"),),
    "ip-dst|port": (_Part(0, "address"),),
    "domain": (_Part(0, IOCType.DOMAIN),),
    "hostname": (_Part(0, IOCType.DOMAIN, exact=True),),
    "hostname|port": (_Part(0, IOCType.DOMAIN, exact=True),),
    "domain|ip": (_Part(0, IOCType.DOMAIN), _Part(1, "address")),
    "url": (_Part(0, IOCType.URL),),
    "filename": (_Part(0, "file"),),
    "email-attachment": (_Part(0, IOCType.FILE_NAME),),
    "filename|md5": (_Part(1, IOCType.MD5),),
    "filename|sha1": (_Part(1, IOCType.SHA1),),
    "filename|sha256": (_Part(1, IOCType.SHA256),),
    "malware-sample": (_Part(1, IOCType.MD5),),
    "regkey": (_Part(0, IOCType.REGISTRY_KEY),),
    "regkey|value": (_Part(0, IOCType.REGISTRY_KEY),),
    "yara": (_Part(0, IOCType.YARA),),
}
# Object attributes whose MISP type is generic ("text") but whose relation is precise.
OBJECT_RELATIONS: dict[tuple[str, str], _Part] = {
    ("process", "command-line"): _Part(0, IOCType.CMDLINE),
    ("file", "fullpath"): _Part(0, IOCType.FILE_PATH),
}
# Galaxy -> tag prefix, for galaxies whose clusters name who or what was involved.
GALAXY_PREFIXES = {
    "threat-actor": "threat-actor",
    "mitre-intrusion-set": "intrusion-set",
    "mitre-enterprise-attack-intrusion-set": "intrusion-set",
    "malpedia": "malware",
    "mitre-malware": "malware",
    "mitre-enterprise-attack-malware": "malware",
    "ransomware": "malware",
    "banker": "malware",
    "rat": "malware",
    "stealer": "malware",
    "botnet": "malware",
    "backdoor": "malware",
    "mitre-tool": "tool",
    "mitre-enterprise-attack-tool": "tool",
    "tool": "tool",
}
_TECHNIQUE_IN_CLUSTER = re.compile(rf"\b({TECHNIQUE_RE.pattern})\b")


def parse_misp(data: str | bytes | Mapping[str, Any] | list[Any]) -> ParseResult:
    """One or more MISP events to candidates; `InvalidFeed` when it is not MISP at all."""
    document = data if isinstance(data, Mapping | list) else load_json(data)
    events = _events(document)
    result = ParseResult()
    for position, event in enumerate(events):
        _parse_event("Event" if len(events) == 1 else f"Event[{position}]", event, result)
    return result


def _events(document: object) -> list[Mapping[str, Any]]:
    """Accepts {"Event": {...}}, {"response": [{"Event": ...}]}, a list of those, or a bare
    event (an object with Attribute, Object or info)."""
    if isinstance(document, Mapping) and isinstance(document.get("response"), list):
        document = document["response"]
    items = document if isinstance(document, list) else [document]
    if not items:
        raise InvalidFeed("no MISP event in the document")
    events = []
    for item in items:
        event = item.get("Event", item) if isinstance(item, Mapping) else None
        if not isinstance(event, Mapping) or not {"Attribute", "Object", "info"} & set(event):
            raise InvalidFeed(
                "not a MISP event: expected an object with an 'Event' key (or Attribute, "
                f"Object and info), got a {json_kind(item)}"
            )
        events.append(event)
    return events


@dataclass(frozen=True)
class _EventContext:
    """What an event lends each of its attributes."""

    tags: _Tags
    severity: str | None
    info: str


def _parse_event(prefix: str, event: Mapping[str, Any], result: ParseResult) -> None:
    context = _EventContext(
        tags=_Tags.of(event),
        severity=THREAT_LEVEL_SEVERITY.get(str(event.get("threat_level_id", "")).strip()),
        info=clean_text(event.get("info")),
    )
    for position, attribute in enumerate(_list(event.get("Attribute"))):
        _parse_attribute(f"{prefix}.Attribute[{position}]", attribute, None, context, result)
    for object_position, obj in enumerate(_list(event.get("Object"))):
        object_ref = f"{prefix}.Object[{object_position}]"
        if not isinstance(obj, Mapping):
            result.skip(object_ref, "not a MISP object")
            continue
        name = str(obj.get("name", ""))
        for position, attribute in enumerate(_list(obj.get("Attribute"))):
            ref = f"{object_ref}.Attribute[{position}]"
            _parse_attribute(ref, attribute, name, context, result)


def _parse_attribute(
    ref: str,
    attribute: object,
    object_name: str | None,
    event: _EventContext,
    result: ParseResult,
) -> None:
    if not isinstance(attribute, Mapping):
        result.skip(ref, "not a MISP attribute")
        return
    uuid = attribute.get("uuid")
    if isinstance(uuid, str) and uuid:
        ref = f"{ref} {uuid}"
    kind, value = attribute.get("type"), attribute.get("value")
    if _flag(attribute.get("deleted")):
        result.skip(ref, "deleted")
        return
    if not _flag(attribute.get("to_ids")):
        result.skip(ref, "to_ids is false")
        return
    if not isinstance(kind, str) or not isinstance(value, str):
        result.skip(ref, "type and value must be text")
        return
    if kind == "stix2-pattern":
        values, reasons = extract_pattern(value)
        for reason in reasons:
            result.skip(ref, reason)
        add_candidates(result, ref, _meta(attribute, event, [value], ()), values)
        return
    relation = OBJECT_RELATIONS.get((object_name or "", str(attribute.get("object_relation"))))
    parts = (relation,) if relation is not None else MISP_TYPES.get(kind)
    if parts is None:
        result.skip(ref, f"MISP attribute type {quote_value(kind)} is not supported")
        return
    pieces = value.split("|", len(_part_names(kind)) - 1)
    meta = _meta(attribute, event, pieces, parts)
    for part in parts:
        if part.index >= len(pieces):
            result.skip(ref, f"{kind} value {quote_value(value)} lacks its part {part.index + 1}")
            continue
        try:
            ioc_type, normalized = normalize_as(part.kind, pieces[part.index])
        except InvalidIOC as exc:
            result.skip(ref, exc.message)
            continue
        result.candidates.append(
            IOCCandidate(
                type=ioc_type,
                value=normalized,
                original_value=pieces[part.index],
                domain_exact=part.exact,
                **meta,
            )
        )


def _meta(
    attribute: Mapping[str, Any],
    event: _EventContext,
    pieces: list[str],
    parts: tuple[_Part, ...],
) -> dict[str, Any]:
    """Candidate fields for an attribute; the parts of a composite value that are not
    imported (the file name next to a hash) are kept in the description."""
    tags = _Tags.of(attribute)
    used = {part.index for part in parts}
    names = _part_names(str(attribute.get("type", "")))
    extra = [
        f"{name}: {piece}"
        for index, (name, piece) in enumerate(zip(names, pieces, strict=False))
        if index not in used and len(pieces) > 1
    ]
    description = "; ".join(
        text for text in [clean_text(attribute.get("comment")) or event.info, *extra] if text
    )
    uuid = attribute.get("uuid")
    return {
        "severity": event.severity,
        "tlp": tags.tlp or event.tags.tlp,
        "attack_techniques": [*tags.techniques, *event.tags.techniques],
        "tags": [*tags.tags, *event.tags.tags],
        "description": clean_text(description),
        "external_id": uuid if isinstance(uuid, str) else "",
    }


@dataclass
class _Tags:
    """What a MISP Tag list says: TLP, ATT&CK techniques and plain tags."""

    tlp: str | None
    techniques: list[str]
    tags: list[str]

    @classmethod
    def of(cls, container: Mapping[str, Any]) -> _Tags:
        levels: list[str | None] = []
        techniques: list[str] = []
        tags: list[str] = []
        for tag in _list(container.get("Tag")):
            name = tag.get("name") if isinstance(tag, Mapping) else None
            if not isinstance(name, str) or not name.strip():
                continue
            name = name.strip()
            if name.lower().startswith("tlp:"):
                try:
                    levels.append(parse_tlp(name))
                    continue
                except InvalidIOC:
                    pass  # tlp:ex:chr and friends: keep as a plain tag
            if name.lower().startswith("misp-galaxy:"):
                galaxy, _, cluster = name[len("misp-galaxy:") :].partition("=")
                cluster = cluster.strip().strip('"')
                technique = _TECHNIQUE_IN_CLUSTER.search(cluster)
                if "attack-pattern" in galaxy and technique:
                    techniques.append(technique.group(1))
                    continue
                prefix = GALAXY_PREFIXES.get(galaxy.strip().lower(), galaxy.strip().lower())
                tags.append(normalize_tag(f"{prefix}:{cluster}"))
                continue
            tags.append(normalize_tag(name))
        return cls(strictest_tlp(levels), unique(techniques), [tag for tag in tags if tag])


def _part_names(kind: str) -> list[str]:
    """The names of a composite value's parts: "filename|md5" has two, "md5" one."""
    return ["filename", "md5"] if kind == "malware-sample" else kind.split("|")


def _flag(value: object) -> bool:
    """MISP booleans: true/false in JSON exports, "1"/"0" strings in older ones."""
    if isinstance(value, bool):
        return value
    return isinstance(value, int | str) and str(value).strip().lower() in {"1", "true"}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
