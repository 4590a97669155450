"""IOC verbs: sources, creating and upserting IOCs, expiring them, the tenant's allowlist.

The upsert is the heart of every import: one row per (tenant, type, normalised value); a
value a second source sends adds an `IOCSource` link (and may raise confidence, widen
validity), never a second row. Values on a warning list or the tenant's allowlist are
stored *suppressed* — kept, shown with the list that caught them, but never matched —
unless an analyst adds them with `force`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from intel.matching import ioc_key, match_keys, value_hash
from intel.models import IOC, AllowlistEntry, IOCSource, IOCTag, Source, Tag
from intel.parsing import InvalidIOC, IOCCandidate, Skipped, normalize_ioc
from intel.parsing import check as warninglist_check
from intel.parsing.types import (
    HASH_TYPES,
    TLP_LEVELS,
    IOCType,
    normalize_tag,
    parse_technique,
)
from intel.parsing.warninglists import Warninglist
from intel.parsing.yara_rules import compile_yara
from metrics.targets import SEVERITIES_BY_KEY
from tenancy.services import AuditEntry, audit_record, audit_record_many

BATCH = 1000
MANUAL_SOURCE = "Analysts"
ADHOC_SOURCE = "Ad-hoc sweeps"

# The phase an IOC points to when its feed does not say (the furthest it evidences).
DEFAULT_PHASE = {
    "registry_key": "persistence",
    "ipv4": "lateral_movement",
    "ipv6": "lateral_movement",
    "cidr": "lateral_movement",
    "domain": "lateral_movement",
    "url": "lateral_movement",
}


def default_phase(ioc_type: str) -> str:
    return DEFAULT_PHASE.get(ioc_type, "initial_infection")


# --- sources ------------------------------------------------------------------------------
def source_for_name(name: str, *, kind: str = Source.UPLOAD) -> Source:
    """The tenant's source of that name, created (and audited) the first time."""
    name = (name or "").strip()[:100] or "Uploaded feeds"
    source = Source.objects.filter(name=name).first()
    if source is not None:
        return source
    with transaction.atomic():
        source, created = Source.objects.get_or_create(name=name, defaults={"kind": kind})
        if created:
            audit_record("source.create", source, {"name": [None, name], "kind": [None, kind]})
    return source


def manual_source() -> Source:
    return source_for_name(MANUAL_SOURCE, kind=Source.MANUAL)


SOURCE_FIELDS = (
    "name",
    "kind",
    "description",
    "enabled",
    "default_confidence",
    "default_severity",
    "default_tlp",
    "reputation_feed",
    "url",
    "collection_id",
    "username",
    "password",
    "poll_interval_minutes",
    "page_size",
    "timeout_seconds",
)


def _check_taxii(source: Source) -> None:
    if source.kind != Source.TAXII:
        return
    from intel.outbound import OutboundRefused, check_url

    if not source.url or not source.collection_id:
        raise ValidationError({"url": "a TAXII source needs the API root URL and a collection id"})
    try:
        check_url(source.url)
    except OutboundRefused as exc:
        raise ValidationError({"url": str(exc)}) from None


def source_create(**fields: Any) -> Source:
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise ValidationError({name: "not a source field" for name in unknown})
    source = Source(**fields)
    source.full_clean(exclude=["tenant"])
    if Source.objects.filter(name=source.name).exists():
        raise ValidationError({"name": "a source with this name exists"})
    _check_taxii(source)
    if source.kind == Source.TAXII:
        source.next_poll_at = timezone.now()
    with transaction.atomic():
        source.save()
        shown = {k: [None, v] for k, v in fields.items() if k != "password"}
        audit_record("source.create", source, shown)
    return source


def source_update(*, source: Source, **fields: Any) -> Source:
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise ValidationError({name: "not a source field" for name in unknown})
    changes = {}
    for name, value in fields.items():
        before = getattr(source, name)
        if before != value:
            setattr(source, name, value)
            changes[name] = [
                "***" if name == "password" else before,
                "***" if name == "password" else value,
            ]
    if not changes:
        return source
    source.full_clean(exclude=["tenant"], validate_unique=False)
    if "name" in changes and Source.objects.filter(name=source.name).exclude(pk=source.pk).exists():
        raise ValidationError({"name": "a source with this name exists"})
    _check_taxii(source)
    if source.kind == Source.TAXII and {"url", "collection_id", "enabled"} & set(changes):
        source.next_poll_at = timezone.now()
    with transaction.atomic():
        source.save()
        audit_record("source.update", source, changes)
    return source


# --- warning lists and the tenant's allowlist ---------------------------------------------
class Screen:
    """Checks values against the shipped warning lists and this tenant's allowlist."""

    def __init__(self) -> None:
        self.entries = list(AllowlistEntry.objects.all())
        self.matchers = [(entry, _entry_matcher(entry)) for entry in self.entries]

    def __call__(self, ioc_type: str, value: str) -> list[dict[str, str]]:
        if ioc_type == IOCType.YARA:
            return []
        found = [
            {"list": match.list_name, "reason": match.reason}
            for match in warninglist_check(ioc_type, value)
        ]
        for entry, matcher in self.matchers:
            if matcher is not None and matcher.matches(ioc_type, value):
                found.append({"list": "tenant allowlist", "reason": entry.reason})
        return found


def _entry_matcher(entry: AllowlistEntry) -> Warninglist | None:
    """One allowlist entry as a (one-entry) warning list, so it matches the same way."""
    try:
        if entry.type in {IOCType.IPV4, IOCType.IPV6, IOCType.CIDR}:
            network = ipaddress.ip_network(entry.value, strict=False)
            return Warninglist("allowlist", entry.reason, "", networks=(network,))
        if entry.type == IOCType.DOMAIN:
            return Warninglist("allowlist", entry.reason, "", domains=frozenset({entry.value}))
    except ValueError:
        return None
    return Warninglist("allowlist", entry.reason, "", values=frozenset({(entry.type, entry.value)}))


def ioc_screen(ioc_type: str, value: str) -> list[dict[str, str]]:
    """The warning lists and allowlist entries a value is on (shown before it is added)."""
    return Screen()(ioc_type, value)


def allowlist_add(*, type: str, value: str, reason: str, user=None) -> AllowlistEntry:
    try:
        ioc_type, normalized = normalize_ioc(type, value)
    except InvalidIOC as exc:
        raise ValidationError({exc.field: exc.message}) from None
    if ioc_type == IOCType.YARA:
        raise ValidationError({"type": "YARA rules cannot be allowlisted"})
    if not reason.strip():
        raise ValidationError({"reason": "say why this value is benign"})
    if AllowlistEntry.objects.filter(type=ioc_type, value=normalized).exists():
        raise ValidationError({"value": "already on the allowlist"})
    with transaction.atomic():
        entry = AllowlistEntry.objects.create(
            type=ioc_type, value=normalized, reason=reason.strip()[:300], created_by=user
        )
        audit_record(
            "allowlist.add", entry, {"value": [None, str(entry)], "reason": [None, reason]}
        )
        _rescreen(IOC.objects.filter(family=_family(ioc_type)))
    return entry


def allowlist_remove(*, entry: AllowlistEntry) -> None:
    family = _family(entry.type)
    with transaction.atomic():
        audit_record("allowlist.remove", entry, {"value": [str(entry), None]})
        entry.delete()
        _rescreen(IOC.objects.filter(family=family))


def _family(ioc_type: str) -> str:
    from intel.matching import FAMILY_BY_TYPE

    return FAMILY_BY_TYPE[ioc_type]


def _rescreen(queryset) -> int:
    """Recompute warnings of IOCs of one family after the allowlist changed."""
    screen = Screen()
    changed = []
    for ioc in queryset.only("id", "type", "value", "warnings", "suppressed").iterator(2000):
        warnings = screen(ioc.type, ioc.value)
        forced = not ioc.suppressed and bool(ioc.warnings)
        suppressed = bool(warnings) and not forced
        if warnings != ioc.warnings or suppressed != ioc.suppressed:
            ioc.warnings, ioc.suppressed = warnings, suppressed
            changed.append(ioc)
    IOC.objects.bulk_update(changed, ["warnings", "suppressed"], batch_size=BATCH)
    return len(changed)


# --- the upsert ---------------------------------------------------------------------------
@dataclass
class UpsertOutcome:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)  # added or reactivated: retro-hunt them
    warnings: list[dict[str, Any]] = field(default_factory=list)
    iocs: dict[tuple[str, str], int] = field(default_factory=dict)  # (type, value) -> id


def _severity_rank(key: str | None) -> int:
    return SEVERITIES_BY_KEY[key].rank if key in SEVERITIES_BY_KEY else -1


def _merge(ioc: IOC, cand: IOCCandidate, *, primary: bool) -> list[str]:
    """Apply what a source says about an IOC we have; the names of the fields changed."""
    changed: list[str] = []

    def put(name: str, value: Any) -> None:
        if getattr(ioc, name) != value:
            setattr(ioc, name, value)
            changed.append(name)

    if primary:
        # The IOC's own source re-sent it: its newest statement wins.
        for name in ("confidence", "severity", "tlp", "phase", "valid_until"):
            value = getattr(cand, name)
            if value is not None or name == "valid_until":
                put(name, value if value is not None else None)
        if cand.valid_from is not None:
            put("valid_from", cand.valid_from)
        if cand.revoked:
            put("revoked", True)
        if cand.description:
            put("description", cand.description)
    else:
        # Another source vouches too: keep the strongest statement of the two.
        if cand.confidence is not None and (ioc.confidence or -1) < cand.confidence:
            put("confidence", cand.confidence)
        if _severity_rank(cand.severity) > _severity_rank(ioc.severity):
            put("severity", cand.severity)
        if cand.tlp and TLP_LEVELS.index(cand.tlp) > TLP_LEVELS.index(ioc.tlp):
            put("tlp", cand.tlp)
        if ioc.valid_until is not None and (
            cand.valid_until is None or cand.valid_until > ioc.valid_until
        ):
            put("valid_until", cand.valid_until)
    techniques = list(dict.fromkeys([*ioc.attack_techniques, *cand.attack_techniques]))
    put("attack_techniques", techniques)
    return changed


def _candidate_defaults(cand: IOCCandidate, source: Source, at: datetime) -> dict[str, Any]:
    return {
        "confidence": cand.confidence if cand.confidence is not None else source.default_confidence,
        "severity": cand.severity or source.default_severity,
        "tlp": cand.tlp or source.default_tlp,
        "phase": cand.phase or default_phase(cand.type),
        "attack_techniques": list(cand.attack_techniques),
        "valid_from": cand.valid_from or at,
        "valid_until": cand.valid_until,
        "description": cand.description,
    }


def ioc_upsert_many(
    candidates: Sequence[IOCCandidate],
    *,
    source: Source,
    user=None,
    force: bool = False,
    extra_tags: Iterable[str] = (),
) -> UpsertOutcome:
    """Store normalised candidates: add new IOCs, update or link existing ones (one batch).

    Runs in one transaction; the caller batches large feeds (see `feeds.import_run`).
    """
    at = timezone.now()
    outcome = UpsertOutcome()
    extra = [normalize_tag(tag) for tag in extra_tags if normalize_tag(tag)]
    merged: dict[tuple[str, str], IOCCandidate] = {}
    for cand in candidates:
        key = (cand.type, cand.value)
        if key in merged:
            merged[key].tags = list(dict.fromkeys([*merged[key].tags, *cand.tags]))
            merged[key].attack_techniques = list(
                dict.fromkeys([*merged[key].attack_techniques, *cand.attack_techniques])
            )
        else:
            merged[key] = cand
    if not merged:
        return outcome
    with transaction.atomic():
        hashes = {value_hash(value) for _, value in merged}
        existing = {(ioc.type, ioc.value): ioc for ioc in IOC.objects.filter(value_hash__in=hashes)}
        linked = set(
            IOCSource.objects.filter(
                source=source, ioc_id__in=[ioc.pk for ioc in existing.values()]
            ).values_list("ioc_id", flat=True)
        )
        screen = Screen()
        new_objs: list[IOC] = []
        updated: list[IOC] = []
        update_fields: set[str] = set()
        for key, cand in merged.items():
            ioc = existing.get(key)
            if ioc is None:
                if cand.revoked:
                    outcome.skipped.append(
                        Skipped(_ref(cand), "revoked by the source; there is nothing to import")
                    )
                    continue
                if cand.valid_until is not None and cand.valid_until <= at:
                    outcome.skipped.append(
                        Skipped(_ref(cand), f"expired on {cand.valid_until.isoformat()}")
                    )
                    continue
                warnings = screen(cand.type, cand.value)
                if warnings:
                    outcome.warnings.append(
                        {"type": cand.type, "value": cand.value, "lists": warnings}
                    )
                new_objs.append(
                    IOC(
                        type=cand.type,
                        value=cand.value,
                        value_hash=value_hash(cand.value),
                        key=ioc_key(cand.type, cand.value),
                        original_value=cand.original_value[:4000],
                        source=source,
                        warnings=warnings,
                        suppressed=bool(warnings) and not force,
                        created_by=user,
                        created_at=at,
                        updated_at=at,
                        **_candidate_defaults(cand, source, at),
                        **match_keys(
                            cand.type, cand.value, domain_exact=cand.domain_exact
                        ).as_fields(),
                    )
                )
                continue
            was_active = ioc.is_active
            changed = _merge(ioc, cand, primary=ioc.source_id == source.pk)
            if changed:
                ioc.updated_at = at
                update_fields |= {*changed, "updated_at"}
                updated.append(ioc)
                outcome.updated += 1
                if ioc.is_active and not was_active:
                    outcome.new_ids.append(ioc.pk)
            elif ioc.pk not in linked:
                outcome.updated += 1  # a new source link is an update of what we know
            else:
                outcome.unchanged += 1
        if new_objs:
            IOC.objects.bulk_create(new_objs, batch_size=BATCH, ignore_conflicts=True)
            outcome.added = len(new_objs)
        if updated:
            IOC.objects.bulk_update(updated, sorted(update_fields), batch_size=BATCH)
        ids = dict(existing.items())
        if new_objs:
            for ioc in IOC.objects.filter(value_hash__in=[obj.value_hash for obj in new_objs]).only(
                "id", "type", "value"
            ):
                ids[(ioc.type, ioc.value)] = ioc
            outcome.new_ids += [
                ids[(obj.type, obj.value)].pk
                for obj in new_objs
                if (obj.type, obj.value) in ids and not obj.suppressed
            ]
        stored = {key: ids[key].pk for key in merged if key in ids}
        outcome.iocs = stored
        _link_sources(stored, merged, source, at)
        _link_tags(stored, merged, extra)
        if source.reputation_feed:
            _record_reputation(stored, merged, source)
        audit_record(
            "ioc.import",
            source,
            {
                "added": [None, outcome.added],
                "updated": [None, outcome.updated],
                "unchanged": [None, outcome.unchanged],
                "skipped": [None, len(outcome.skipped)],
            },
        )
    return outcome


def _ref(cand: IOCCandidate) -> str:
    return cand.external_id or f"{cand.type}:{cand.value[:80]}"


def _link_sources(
    stored: dict[tuple[str, str], int],
    merged: dict[tuple[str, str], IOCCandidate],
    source: Source,
    at: datetime,
) -> None:
    IOCSource.objects.bulk_create(
        [
            IOCSource(
                ioc_id=ioc_id,
                source=source,
                external_id=merged[key].external_id[:255],
                confidence=merged[key].confidence,
                first_seen_at=at,
                last_seen_at=at,
            )
            for key, ioc_id in stored.items()
        ],
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    IOCSource.objects.filter(source=source, ioc_id__in=list(stored.values())).update(
        last_seen_at=at
    )


def _link_tags(
    stored: dict[tuple[str, str], int],
    merged: dict[tuple[str, str], IOCCandidate],
    extra: list[str],
) -> None:
    wanted = {key: [*merged[key].tags, *extra] for key in stored}
    names = {name for tags in wanted.values() for name in tags}
    if not names:
        return
    Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
    tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))
    IOCTag.objects.bulk_create(
        [
            IOCTag(ioc_id=stored[key], tag_id=tag_ids[name])
            for key, tags in wanted.items()
            for name in tags
            if name in tag_ids
        ],
        batch_size=BATCH,
        ignore_conflicts=True,
    )


def _record_reputation(
    stored: dict[tuple[str, str], int],
    merged: dict[tuple[str, str], IOCCandidate],
    source: Source,
) -> None:
    from intel.services.reputation import ReputationInput, reputation_record_many

    entries = []
    for (ioc_type, value), _ioc_id in stored.items():
        if ioc_type not in HASH_TYPES:
            continue
        cand = merged[(ioc_type, value)]
        if cand.revoked:
            continue
        confidence = cand.confidence if cand.confidence is not None else source.default_confidence
        verdict = "suspicious" if confidence is not None and confidence < 50 else "malicious"
        entries.append(ReputationInput(ioc_type, value, verdict, source=source.name))
    if entries:
        reputation_record_many(entries, audit=False)


# --- one IOC at a time (browser and API) ----------------------------------------------------
def _normalised(ioc_type: str, value: str) -> tuple[str, str]:
    try:
        if ioc_type == IOCType.YARA:
            compiled = compile_yara(value)  # the error names the line, as YARA reports it
            return ioc_type, compiled.source
        return normalize_ioc(ioc_type, value)
    except InvalidIOC as exc:
        raise ValidationError({exc.field: exc.message}) from None


def _techniques(values: Iterable[str]) -> list[str]:
    try:
        return [parse_technique(v) for v in values if str(v).strip()]
    except InvalidIOC as exc:
        raise ValidationError({"attack_techniques": exc.message}) from None


def ioc_create(
    *,
    type: str,
    value: str,
    source: Source | None = None,
    confidence: int | None = None,
    severity: str | None = None,
    tlp: str | None = None,
    phase: str = "",
    attack_techniques: Iterable[str] = (),
    tags: Iterable[str] = (),
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    description: str = "",
    domain_exact: bool = False,
    force: bool = False,
    user=None,
    retro_hunt: bool = True,
) -> tuple[IOC, bool, list[dict[str, str]]]:
    """Add one IOC (or link it to `source` if it exists): (ioc, created, warnings).

    `force` stores a warning-listed value unsuppressed ("I know, match it anyway").
    A new, matchable IOC starts a retro-hunt over stored telemetry after commit.
    """
    ioc_type, normalized = _normalised(type, value)
    if valid_until is not None and valid_until <= (valid_from or timezone.now()):
        raise ValidationError({"valid_until": "must be later than valid_from (and now)"})
    cand = IOCCandidate(
        type=ioc_type,
        value=normalized,
        original_value=str(value),
        confidence=confidence,
        severity=severity,
        tlp=tlp,
        phase=phase or None,
        attack_techniques=_techniques(attack_techniques),
        tags=[normalize_tag(t) for t in tags if normalize_tag(t)],
        valid_from=valid_from,
        valid_until=valid_until,
        description=description,
        domain_exact=domain_exact,
    )
    source = source or manual_source()
    with transaction.atomic():
        existed = IOC.objects.filter(type=ioc_type, value_hash=value_hash(normalized)).exists()
        outcome = ioc_upsert_many([cand], source=source, user=user, force=force)
        ioc = IOC.objects.get(pk=outcome.iocs[(ioc_type, normalized)])
        audit_record(
            "ioc.create" if not existed else "ioc.link",
            ioc,
            {"value": [None, str(ioc)], "source": [None, source.name]},
        )
        if retro_hunt and outcome.new_ids:
            from intel.services.sweeps import retro_hunt_on_commit

            retro_hunt_on_commit(outcome.new_ids, reason=f"new IOC {ioc}")
    return ioc, not existed, ioc.warnings


EDITABLE = (
    "confidence",
    "severity",
    "tlp",
    "phase",
    "attack_techniques",
    "valid_until",
    "description",
    "domain_exact",
)


def ioc_update(*, ioc: IOC, tags: Iterable[str] | None = None, **fields: Any) -> IOC:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: "cannot be changed" for name in unknown})
    if "attack_techniques" in fields:
        fields["attack_techniques"] = _techniques(fields["attack_techniques"])
    changes = {}
    for name, value in fields.items():
        if getattr(ioc, name) != value:
            changes[name] = [getattr(ioc, name), value]
            setattr(ioc, name, value)
    if "domain_exact" in changes:
        for name, value in (
            match_keys(ioc.type, ioc.value, domain_exact=ioc.domain_exact).as_fields().items()
        ):
            setattr(ioc, name, value)
    ioc.full_clean(exclude=["tenant", "source", "value_hash", "key"], validate_unique=False)
    with transaction.atomic():
        if tags is not None:
            names = sorted({normalize_tag(t) for t in tags if normalize_tag(t)})
            before = sorted(ioc.tags.values_list("name", flat=True))
            if names != before:
                changes["tags"] = [before, names]
                IOCTag.objects.filter(ioc=ioc).delete()
                _link_tags(
                    {(ioc.type, ioc.value): ioc.pk},
                    {(ioc.type, ioc.value): IOCCandidate(ioc.type, ioc.value, "", tags=names)},
                    [],
                )
        if changes:
            ioc.updated_at = timezone.now()
            ioc.save()
            audit_record("ioc.update", ioc, changes)
    return ioc


def ioc_expire(*, ioc: IOC, at: datetime | None = None) -> IOC:
    """Stop matching from `at` (now): expired IOCs are kept, with their hits."""
    at = at or timezone.now()
    if ioc.valid_until is not None and ioc.valid_until <= at:
        return ioc
    with transaction.atomic():
        audit_record("ioc.expire", ioc, {"valid_until": [ioc.valid_until, at]})
        ioc.valid_until = at
        ioc.updated_at = at
        ioc.save(update_fields=["valid_until", "updated_at"])
    return ioc


def ioc_expire_many(*, iocs: Iterable[IOC]) -> int:
    at = timezone.now()
    targets = [ioc for ioc in iocs if ioc.valid_until is None or ioc.valid_until > at]
    with transaction.atomic():
        audit_record_many(
            [
                AuditEntry(
                    "ioc.expire",
                    "intel.ioc",
                    str(ioc.pk),
                    str(ioc),
                    {"valid_until": [ioc.valid_until, at]},
                )
                for ioc in targets
            ]
        )
        IOC.objects.filter(pk__in=[ioc.pk for ioc in targets]).update(valid_until=at, updated_at=at)
    return len(targets)


def ioc_set_suppressed(*, ioc: IOC, suppressed: bool) -> IOC:
    """Match a warning-listed IOC anyway (False), or silence one (True)."""
    if ioc.suppressed == suppressed:
        return ioc
    with transaction.atomic():
        audit_record(
            "ioc.suppress" if suppressed else "ioc.unsuppress",
            ioc,
            {"suppressed": [ioc.suppressed, suppressed]},
        )
        ioc.suppressed = suppressed
        ioc.save(update_fields=["suppressed"])
    return ioc


def ioc_add_from_stacking(*, sha256: str, name: str, path: str, category: str, user=None) -> IOC:
    """A rare item spotted in stacking becomes a SHA-256 IOC (and is retro-hunted)."""
    where = f" at {path}" if path else ""
    ioc, _created, _warnings = ioc_create(
        type="sha256",
        value=sha256,
        severity="high",
        tags=["stacking", category],
        description=f"Added from stacking: {category} {name}{where}",
        user=user,
    )
    return ioc
