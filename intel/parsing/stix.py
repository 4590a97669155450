"""STIX 2.1 bundles and TAXII object lists to IOC candidates.

Only `indicator` objects carry IOCs; the other objects give them context (relationships to
malware, threat actors and attack patterns become tags and ATT&CK techniques, marking
definitions become the TLP). An IOC is one value matched on its own, so a pattern is
reduced to the alternatives it OR's together, and each alternative must be a single
comparison we can match (`file:hashes.'SHA-256' = '...'`, `ipv4-addr:value IN (...)`).
Everything else is reported in `skipped`, naming the comparison and the reason, never
dropped silently:

- observations joined by AND or FOLLOWEDBY, and the WITHIN / REPEATS / START-STOP
  qualifiers: they need several observations (over time), not one value;
- comparisons joined by AND inside one observation, unless one of them is a file hash:
  the hash identifies the file, so each hash is imported and the narrowing conditions next
  to it (file name, size) are reported as not imported;
- NOT, `!=`, `<`, `>`, EXISTS, ISSUPERSET, unsupported object paths and hash algorithms,
  LIKE / MATCHES where they have no IOC equivalent (LIKE on file:name and registry keys
  becomes a glob, on process:command_line a substring or regex; MATCHES on
  process:command_line becomes a `re:` cmdline IOC; `ipv4-addr:value ISSUBSET '10.0.0.0/8'`
  becomes a cidr).

The pattern is parsed with the OASIS `stix2patterns` grammar through its visitor API.
The tree is walked with an explicit stack, not recursion: `[a = 1 OR b = 2 OR ...]` with
thousands of values (real feeds do this) nests thousands of levels deep.

A TAXII collection is paged: `parse_stix_objects` resolves relationships and markings
within the objects it is given, so a relationship on another page than its indicator is
not seen.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from antlr4 import ParserRuleContext
from stix2patterns.exceptions import ParseException
from stix2patterns.v21.grammars.STIXPatternParser import STIXPatternParser as P
from stix2patterns.v21.grammars.STIXPatternVisitor import STIXPatternVisitor
from stix2patterns.v21.pattern import Pattern

from .normalize import normalize_as
from .types import (
    InvalidFeed,
    InvalidIOC,
    IOCCandidate,
    IOCType,
    ParseResult,
    clean_text,
    json_kind,
    load_json,
    normalize_tag,
    parse_confidence,
    parse_technique,
    parse_timestamp,
    parse_tlp,
    phase_for_kill_chain,
    quote_value,
    strictest_tlp,
    unique,
)

MAX_PATTERN_LENGTH = 1 << 20
# A pattern's alternatives multiply across AND: (a OR b) AND (c OR d) is four. Past this,
# the indicator is skipped instead of exhausting memory.
MAX_ALTERNATIVES = 10_000
MAX_REASON_TEXT = 200
_EPOCH = datetime.min.replace(tzinfo=UTC)

# TLP marking definitions are predefined objects with fixed ids (TLP 1.0 in STIX 2.1 itself,
# TLP 2.0 in the OASIS extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d), so
# bundles reference them without carrying them.
TLP_MARKING_IDS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",  # TLP 1.0 WHITE
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": "clear",  # TLP 2.0
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": "green",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": "amber",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": "amber+strict",
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": "red",
}
ATTACK_SOURCES = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"})
# Objects an indicator's relationships may point at, and the tag prefix each one gives.
CONTEXT_TYPES = {
    "malware": "malware",
    "threat-actor": "threat-actor",
    "intrusion-set": "intrusion-set",
    "campaign": "campaign",
    "tool": "tool",
    "attack-pattern": "attack-pattern",
}
_HASHES = {"MD5": IOCType.MD5, "SHA1": IOCType.SHA1, "SHA256": IOCType.SHA256}
# (object type, property path) -> what the compared value is.
_PATHS = {
    ("ipv4-addr", ("value",)): "address",
    ("ipv6-addr", ("value",)): "address",
    ("domain-name", ("value",)): IOCType.DOMAIN,
    ("url", ("value",)): IOCType.URL,
    ("file", ("name",)): IOCType.FILE_NAME,
    ("windows-registry-key", ("key",)): IOCType.REGISTRY_KEY,
    ("process", ("command_line",)): IOCType.CMDLINE,
}


# --- Public API ---------------------------------------------------------------------------


def parse_stix_bundle(data: str | bytes | Mapping[str, Any]) -> ParseResult:
    """A STIX 2.x bundle (JSON text or parsed) to candidates; `InvalidFeed` if not a bundle."""
    document = data if isinstance(data, Mapping) else load_json(data)
    if not isinstance(document, Mapping):
        raise InvalidFeed(f"a STIX bundle is a JSON object, not a {json_kind(document)}")
    if document.get("type") != "bundle":
        raise InvalidFeed(
            f"not a STIX bundle: its type is {quote_value(document.get('type'))}, not 'bundle'"
        )
    return parse_stix_objects(iter_stix_objects(document))


def iter_stix_objects(document: object) -> Iterator[Any]:
    """The objects of a bundle, of a TAXII envelope (`{"objects": [...], "more": ...}`), of a
    plain list, or a single object. Entries are yielded as they are, even malformed ones,
    so `parse_stix_objects` can report them."""
    if isinstance(document, list):
        yield from document
        return
    if not isinstance(document, Mapping):
        raise InvalidFeed(f"expected STIX objects, got a {json_kind(document)}")
    if document.get("type") == "bundle" or "objects" in document:
        objects = document.get("objects", [])
        if not isinstance(objects, list):
            raise InvalidFeed("'objects' must be a list of STIX objects")
        yield from objects
    elif isinstance(document.get("type"), str):
        yield document
    else:
        raise InvalidFeed("expected a STIX bundle, a TAXII envelope or a STIX object")


def parse_stix_objects(objects: Iterable[Any]) -> ParseResult:
    """STIX objects (from a bundle or a TAXII page) to candidates and skipped entries."""
    result = ParseResult()
    graph = _Graph()
    for index, obj in enumerate(objects):
        graph.add(index, obj, result)
    if not graph.indicators and graph.types_seen:
        found = ", ".join(f"{count} {name}" for name, count in graph.types_seen.most_common(8))
        result.skip("bundle", f"contains no indicator objects (found: {found})")
    for ref, indicator in graph.indicators.items():
        _parse_indicator(ref, indicator, graph, result)
    return result


def extract_pattern(pattern: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The single values a STIX pattern OR's together, as (kind, raw value, comparison text),
    and a reason for every part that cannot be one. Used for indicators and MISP
    `stix2-pattern` attributes."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return [], [f"pattern is longer than {MAX_PATTERN_LENGTH} characters"]
    try:
        alternatives = Pattern(pattern).visit(_Flattener(pattern))
    except ParseException as exc:
        return [], [f"pattern does not parse: {exc}"]
    except RecursionError:
        return [], ["pattern is nested too deeply to parse"]
    except _TooComplex:
        return [], [f"pattern expands to more than {MAX_ALTERNATIVES} alternatives"]
    values: list[tuple[str, str, str]] = []
    reasons: list[str] = []
    for alternative in alternatives:
        found, why = _reduce(alternative)
        values.extend(found)
        reasons.extend(why)
    return values, unique(reasons)


# --- Objects ------------------------------------------------------------------------------


class _Graph:
    """The objects of one parse, indexed so indicators can find their context."""

    def __init__(self) -> None:
        self.indicators: dict[str, Mapping[str, Any]] = {}
        self.named: dict[str, Mapping[str, Any]] = {}
        self.markings: dict[str, Mapping[str, Any]] = {}
        self.relationships: dict[str, list[str]] = {}
        self.types_seen: Counter[str] = Counter()

    def add(self, index: int, obj: object, result: ParseResult) -> None:
        ref = f"objects[{index}]"
        if not isinstance(obj, Mapping):
            result.skip(ref, f"not a STIX object but a {json_kind(obj)}")
            return
        kind, object_id = obj.get("type"), obj.get("id")
        if not isinstance(kind, str):
            result.skip(ref, "has no type")
            return
        self.types_seen[kind] += 1
        object_id = object_id if isinstance(object_id, str) else None
        if kind == "indicator":
            self._add_indicator(object_id or ref, obj, result)
        elif kind == "relationship" and obj.get("revoked") is not True:
            source, target = obj.get("source_ref"), obj.get("target_ref")
            if isinstance(source, str) and isinstance(target, str):
                self.relationships.setdefault(source, []).append(target)
        elif kind == "marking-definition" and object_id:
            self.markings[object_id] = obj
        elif kind in CONTEXT_TYPES and object_id:
            self.named[object_id] = obj

    def _add_indicator(self, ref: str, obj: Mapping[str, Any], result: ParseResult) -> None:
        # TAXII collections return every version of an object; the latest one counts.
        previous = self.indicators.get(ref)
        if previous is not None:
            newer = max((previous, obj), key=_modified)
            result.skip(ref, f"superseded by the version modified {newer.get('modified')}")
            obj = newer
        self.indicators[ref] = obj

    def context(self, indicator_id: str) -> tuple[list[str], list[str], list[str]]:
        """Tags, ATT&CK techniques and kill-chain phase names from related objects."""
        tags: list[str] = []
        techniques: list[str] = []
        phases: list[str] = []
        for target_id in self.relationships.get(indicator_id, []):
            target = self.named.get(target_id)
            if target is None or target.get("revoked") is True:
                continue
            kind = str(target.get("type"))
            if kind == "attack-pattern":
                techniques.extend(_techniques(target))
                phases.extend(_kill_chain_names(target))
            else:
                name = normalize_tag(target.get("name", ""))
                if name:
                    tags.append(f"{CONTEXT_TYPES[kind]}:{name}")
        return tags, techniques, phases

    def tlp(self, obj: Mapping[str, Any]) -> str | None:
        refs = obj.get("object_marking_refs")
        if not isinstance(refs, list):
            return None
        return strictest_tlp(self._marking_level(ref) for ref in refs if isinstance(ref, str))

    def _marking_level(self, ref: str) -> str | None:
        if ref in TLP_MARKING_IDS:
            return TLP_MARKING_IDS[ref]
        marking = self.markings.get(ref, {})
        definition = marking.get("definition")
        candidates: list[object] = []
        if marking.get("definition_type") == "tlp" and isinstance(definition, Mapping):
            candidates.append(definition.get("tlp"))
        extensions = marking.get("extensions")
        if isinstance(extensions, Mapping):
            candidates.extend(
                ext.get("tlp_2_0") for ext in extensions.values() if isinstance(ext, Mapping)
            )
        name = marking.get("name")
        if isinstance(name, str) and name.upper().startswith("TLP:"):
            candidates.append(name)
        for candidate in candidates:
            try:
                level = parse_tlp(candidate)
            except InvalidIOC:
                continue
            if level:
                return level
        return None


def _parse_indicator(ref: str, obj: Mapping[str, Any], graph: _Graph, result: ParseResult) -> None:
    try:
        meta = _indicator_meta(ref, obj, graph)
    except InvalidIOC as exc:
        result.skip(ref, exc.message)
        return
    indicator_types = obj.get("indicator_types")
    if isinstance(indicator_types, list) and "benign" in indicator_types:
        result.skip(ref, "indicator_types says benign: it describes activity to ignore")
        return
    pattern = obj.get("pattern")
    if not isinstance(pattern, str) or not pattern.strip():
        result.skip(ref, "has no pattern")
        return
    pattern_type = obj.get("pattern_type", "stix")
    if pattern_type == "yara":
        add_candidates(result, ref, meta, [(IOCType.YARA, pattern, "yara pattern")])
    elif pattern_type == "stix":
        values, reasons = extract_pattern(pattern)
        for reason in reasons:
            result.skip(ref, reason)
        add_candidates(result, ref, meta, values)
    else:
        result.skip(
            ref, f"pattern_type {quote_value(pattern_type)} is not supported (only stix and yara)"
        )


def add_candidates(
    result: ParseResult, ref: str, meta: dict[str, Any], values: list[tuple[str, str, str]]
) -> None:
    """Normalise the (kind, raw value, comparison text) triples of one pattern into `result`;
    a value that does not normalise is skipped naming its comparison."""
    seen: set[tuple[str, str]] = set()
    for kind, raw, text in values:
        try:
            ioc_type, value = normalize_as(kind, raw)
        except InvalidIOC as exc:
            result.skip(ref, f"{_clip(text)}: {exc.message}")
            continue
        if (ioc_type, value) not in seen:
            seen.add((ioc_type, value))
            result.candidates.append(
                IOCCandidate(type=ioc_type, value=value, original_value=raw, **meta)
            )


def _indicator_meta(ref: str, obj: Mapping[str, Any], graph: _Graph) -> dict[str, Any]:
    valid_from = parse_timestamp(obj.get("valid_from"), field="valid_from")
    valid_until = parse_timestamp(obj.get("valid_until"), field="valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        raise InvalidIOC("valid_until is not after valid_from", field="valid_until")
    revoked = obj.get("revoked", False)
    if not isinstance(revoked, bool):
        raise InvalidIOC("revoked must be true or false", field="revoked")
    tags, techniques, phases = graph.context(ref)
    labels = obj.get("labels")
    if isinstance(labels, list):
        tags = [normalize_tag(label) for label in labels if isinstance(label, str)] + tags
    description = obj.get("description") or obj.get("name") or ""
    return {
        "confidence": parse_confidence(obj.get("confidence")),
        "tlp": graph.tlp(obj),
        "phase": phase_for_kill_chain([*_kill_chain_names(obj), *phases]),
        "attack_techniques": [*_techniques(obj), *techniques],
        "tags": [tag for tag in tags if tag],
        "valid_from": valid_from,
        "valid_until": valid_until,
        "revoked": revoked,
        "description": clean_text(description),
        "external_id": ref if ref.startswith("indicator--") else "",
    }


def _kill_chain_names(obj: Mapping[str, Any]) -> list[str]:
    phases = obj.get("kill_chain_phases")
    if not isinstance(phases, list):
        return []
    return [
        phase["phase_name"]
        for phase in phases
        if isinstance(phase, Mapping) and isinstance(phase.get("phase_name"), str)
    ]


def _techniques(obj: Mapping[str, Any]) -> list[str]:
    references = obj.get("external_references")
    if not isinstance(references, list):
        return []
    found = []
    for reference in references:
        if not isinstance(reference, Mapping) or reference.get("source_name") not in ATTACK_SOURCES:
            continue
        try:
            found.append(parse_technique(reference.get("external_id", "")))
        except InvalidIOC:
            continue  # CAPEC ids and the like sit next to ATT&CK ones
    return found


def _modified(obj: Mapping[str, Any]) -> datetime:
    try:
        return parse_timestamp(obj.get("modified"), field="modified") or _EPOCH
    except InvalidIOC:
        return _EPOCH


# --- Patterns -----------------------------------------------------------------------------


class _TooComplex(Exception):
    pass


@dataclass(frozen=True)
class _Comparison:
    object_type: str
    path: tuple[str, ...]
    operator: str
    negated: bool
    values: tuple[object, ...]  # str for string literals, _Literal for anything else
    text: str


@dataclass(frozen=True)
class _Literal:
    """A non-string literal (number, boolean, h'..', b'..', t'..'), kept only for messages."""

    text: str


@dataclass(frozen=True)
class _Alternative:
    """One way the pattern can match: observations that must all be seen, and what else
    (FOLLOWEDBY, qualifiers) stands between it and a single value."""

    text: str
    conjunctions: tuple[tuple[_Comparison, ...], ...]
    obstacles: tuple[str, ...] = ()


Conjunction = tuple[_Comparison, ...]


class _Flattener(STIXPatternVisitor):
    """Turns a parse tree into its alternatives (disjunctive normal form), iteratively."""

    def __init__(self, text: str) -> None:
        self.text = text

    def visitPattern(self, ctx: P.PatternContext) -> list[_Alternative]:
        # Post-order walk: a node is pushed once to expand its operands (operands None) and
        # once more, with them, to combine their results.
        results: list[Any] = []
        stack: list[tuple[ParserRuleContext, list[ParserRuleContext] | None]] = [(ctx, None)]
        while stack:
            node, operands = stack.pop()
            if operands is not None:
                args = results[len(results) - len(operands) :]
                del results[len(results) - len(operands) :]
                results.append(self._combine(node, args))
                continue
            operands = _operands(node)
            if operands is None:
                results.append([(self._comparison(node),)])
            else:
                stack.append((node, operands))
                stack.extend((operand, None) for operand in reversed(operands))
        return results[0]

    def _source(self, ctx: ParserRuleContext) -> str:
        return self.text[ctx.start.start : ctx.stop.stop + 1]

    def _combine(self, node: ParserRuleContext, args: list[Any]) -> list[Any]:
        if isinstance(node, P.ObservationExpressionsContext) and node.FOLLOWEDBY():
            return _join(args[0], args[1], "FOLLOWEDBY")
        if isinstance(node, P.ObservationExpressionAndContext) and node.AND():
            return _join(args[0], args[1], "AND")
        if (
            isinstance(node, P.ObservationExpressionOrContext | P.ComparisonExpressionContext)
            and node.OR()
        ):
            if len(args[0]) + len(args[1]) > MAX_ALTERNATIVES:
                raise _TooComplex
            args[0].extend(args[1])  # each child's list is fresh: extending beats copying
            return args[0]
        if isinstance(node, P.ComparisonExpressionAndContext) and node.AND():
            _check_size(args[0], args[1])
            return [left + right for left in args[0] for right in args[1]]
        if isinstance(node, P.ObservationExpressionSimpleContext):
            text = self._source(node)
            return [_Alternative(text, (conj,)) for conj in args[0]]
        if isinstance(
            node,
            P.ObservationExpressionWithinContext
            | P.ObservationExpressionRepeatedContext
            | P.ObservationExpressionStartStopContext,
        ):
            qualifier = self._source(node.getChild(node.getChildCount() - 1))
            return [
                _Alternative(alt.text, alt.conjunctions, (*alt.obstacles, qualifier))
                for alt in args[0]
            ]
        return args[0]  # a pass-through level of the grammar, or parentheses

    def _comparison(self, node: ParserRuleContext) -> _Comparison:
        path_ctx = node.objectPath()
        values: tuple[object, ...]
        if isinstance(node, P.PropTestEqualContext):
            operator = "=" if node.EQ() else "!="
            values = (self._literal(node.primitiveLiteral()),)
        elif isinstance(node, P.PropTestOrderContext):
            operator = (node.GT() or node.LT() or node.GE() or node.LE()).getText()
            values = (self._literal(node.orderableLiteral()),)
        elif isinstance(node, P.PropTestSetContext):
            operator = "IN"
            values = tuple(self._literal(item) for item in node.setLiteral().primitiveLiteral())
        elif isinstance(node, P.PropTestExistsContext):
            operator, values = "EXISTS", ()
        else:  # LIKE, MATCHES, ISSUBSET, ISSUPERSET take one string
            operator = node.getChild(node.getChildCount() - 2).getText().upper()
            values = (_unquote(node.StringLiteral().getText()),)
        return _Comparison(
            object_type=path_ctx.objectType().getText(),
            path=_path(path_ctx),
            operator=operator,
            negated=bool(getattr(node, "NOT", lambda: None)()),
            values=values,
            text=self._source(node),
        )

    def _literal(self, ctx: ParserRuleContext) -> object:
        text = ctx.getText()
        return _unquote(text) if text.startswith("'") else _Literal(text)


def _operands(node: ParserRuleContext) -> list[ParserRuleContext] | None:
    """The sub-expressions a grammar node combines; None for a comparison (a leaf)."""
    if isinstance(node, P.PatternContext | P.ObservationExpressionCompoundContext):
        return [node.observationExpressions()]
    if isinstance(node, P.ObservationExpressionsContext):
        return (
            node.observationExpressions() if node.FOLLOWEDBY() else [node.observationExpressionOr()]
        )
    if isinstance(node, P.ObservationExpressionOrContext):
        return node.observationExpressionOr() if node.OR() else [node.observationExpressionAnd()]
    if isinstance(node, P.ObservationExpressionAndContext):
        return node.observationExpressionAnd() if node.AND() else [node.observationExpression()]
    if isinstance(node, P.ObservationExpressionSimpleContext | P.PropTestParenContext):
        return [node.comparisonExpression()]
    if isinstance(
        node,
        P.ObservationExpressionWithinContext
        | P.ObservationExpressionRepeatedContext
        | P.ObservationExpressionStartStopContext,
    ):
        return [node.observationExpression()]
    if isinstance(node, P.ComparisonExpressionContext):
        return node.comparisonExpression() if node.OR() else [node.comparisonExpressionAnd()]
    if isinstance(node, P.ComparisonExpressionAndContext):
        return node.comparisonExpressionAnd() if node.AND() else [node.propTest()]
    return None


def _check_size(left: list[Any], right: list[Any]) -> None:
    if len(left) * len(right) > MAX_ALTERNATIVES:
        raise _TooComplex


def _join(
    left: list[_Alternative], right: list[_Alternative], connective: str
) -> list[_Alternative]:
    _check_size(left, right)
    return [
        _Alternative(
            f"{a.text} {connective} {b.text}",
            a.conjunctions + b.conjunctions,
            (*a.obstacles, *b.obstacles, connective),
        )
        for a in left
        for b in right
    ]


def _path(path_ctx: ParserRuleContext) -> tuple[str, ...]:
    first = path_ctx.firstPathComponent()
    literal = first.StringLiteral()
    parts = [_unquote(literal.getText()) if literal else first.getText()]
    stack = [path_ctx.objectPathComponent()] if path_ctx.objectPathComponent() else []
    while stack:
        component = stack.pop()
        if isinstance(component, P.PathStepContext):
            stack.extend(reversed(component.objectPathComponent()))
        elif isinstance(component, P.KeyPathStepContext):
            literal = component.StringLiteral()
            key = component.IdentifierWithoutHyphen()
            parts.append(_unquote(literal.getText()) if literal else key.getText())
        else:
            parts.append(component.getText())  # [0] or [*]
    return tuple(parts)


def _unquote(token: str) -> str:
    """A STIX string literal's value: quotes removed, \\' and \\\\ unescaped."""
    return re.sub(r"\\([\\'])", r"\1", token[1:-1])


# --- From comparisons to IOC values ---------------------------------------------------------


class _Unsupported(Exception):
    pass


_OBSTACLES = {
    "AND": "observations joined by AND must all be seen, so they are not one IOC",
    "FOLLOWEDBY": "a sequence of observations (FOLLOWEDBY) is not one IOC",
}


def _reduce(alternative: _Alternative) -> tuple[list[tuple[str, str, str]], list[str]]:
    text = alternative.text
    if alternative.obstacles:
        obstacle = alternative.obstacles[-1]
        why = _OBSTACLES.get(obstacle) or (
            f"the qualifier {obstacle} needs several observations over time, not one IOC"
        )
        return [], [f"{_clip(text)}: {why}"]
    conjunction = alternative.conjunctions[0]
    if len(conjunction) == 1:
        try:
            return _values(conjunction[0]), []
        except _Unsupported as exc:
            return [], [f"{_clip(conjunction[0].text)}: {exc}"]
    anchors = [c for c in conjunction if _is_hash_test(c)]
    if not anchors:
        return [], [f"{_clip(text)}: comparisons joined by AND are not one IOC"]
    values = [value for anchor in anchors for value in _values(anchor)]
    reasons = [
        f"{_clip(c.text)}: not imported; it narrows the file hash in the same observation, "
        "which was imported"
        for c in conjunction
        if c not in anchors
    ]
    return values, reasons


def _is_hash_test(comparison: _Comparison) -> bool:
    try:
        target = _target(comparison)
    except _Unsupported:
        return False
    return (
        target in _HASHES.values() and comparison.operator in {"=", "IN"} and not comparison.negated
    )


def _target(comparison: _Comparison) -> str:
    object_type, path = comparison.object_type, comparison.path
    if object_type == "file" and len(path) == 2 and path[0] == "hashes":
        algorithm = path[1].upper().replace("-", "")
        if algorithm in _HASHES:
            return _HASHES[algorithm]
        raise _Unsupported(
            f"hash algorithm {quote_value(path[1])} is not supported (MD5, SHA-1, SHA-256 are)"
        )
    target = _PATHS.get((object_type, path))
    if target is None:
        raise _Unsupported(f"{object_type}:{'.'.join(path)} is not an object path we match on")
    return target


def _values(comparison: _Comparison) -> list[tuple[str, str, str]]:
    """The (kind, raw value, text) triples one comparison stands for."""
    if comparison.negated:
        raise _Unsupported("a negated comparison (NOT) is not an IOC")
    target = _target(comparison)
    operator = comparison.operator
    strings = [value for value in comparison.values if isinstance(value, str)]
    if len(strings) != len(comparison.values):
        raise _Unsupported("the compared value is not a string")
    text = comparison.text
    if operator in {"=", "IN"}:
        return [(target, value, text) for value in strings]
    if operator == "LIKE" and target in {IOCType.FILE_NAME, IOCType.REGISTRY_KEY}:
        glob = _like_to_glob(strings[0])
        if target == IOCType.FILE_NAME and re.search(r"[\\/]", glob):
            target = IOCType.FILE_PATH
        return [(target, glob, text)]
    if operator == "LIKE" and target == IOCType.CMDLINE:
        return [(target, _like_to_cmdline(strings[0]), text)]
    if operator == "MATCHES" and target == IOCType.CMDLINE:
        return [(target, "re:" + strings[0], text)]
    if operator == "ISSUBSET" and target == "address":
        return [(IOCType.CIDR, strings[0], text)]
    if operator in {"LIKE", "MATCHES"}:
        raise _Unsupported(
            f"{operator} has no IOC equivalent for {comparison.object_type}:"
            f"{'.'.join(comparison.path)}"
        )
    raise _Unsupported(f"the operator {operator} is not supported (=, IN, LIKE, MATCHES are)")


def _like_to_glob(pattern: str) -> str:
    return pattern.replace("%", "*").replace("_", "?")


def _like_to_cmdline(pattern: str) -> str:
    inner = pattern.removeprefix("%").removesuffix("%")
    if pattern.startswith("%") and pattern.endswith("%") and not re.search(r"[%_]", inner):
        return inner  # LIKE '%text%' is a plain substring
    parts = ("." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern)
    return "re:(?s)^" + "".join(parts) + "$"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_TEXT else text[: MAX_REASON_TEXT - 1] + "…"
