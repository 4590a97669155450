"""The Sigma behaviour-detection engine: compile rules once, evaluate record batches fast.

    rule = compile_rule(yaml_text)            # InvalidRule / UnsupportedRule
    rule.kinds, rule.matches(record)          # one record
    engine = Engine([rule, ...], exceptions={rule.rule_id: [("process_path", r"c:\\tools\\*")]})
    for d in engine.evaluate(records): ...    # Detection(rule, record_index, record)

Rules are parsed by pySigma (so its validation and modifier semantics are the reference),
then compiled to closures over our observation records (see `conditions`). No database,
no Django: the ingestion service and the retro-hunt both call `Engine.evaluate`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import yaml
from sigma.exceptions import SigmaError
from sigma.policy.profiles import TrustedPolicy
from sigma.rule import SigmaRule
from sigma.rule.base import SigmaYAMLLoader
from sigma.types import SigmaString

from endpoints.observation_fields import FIELD_BY_NAME

from . import conditions, index, metadata, modifiers
from .conditions import Node, Predicate, Record
from .errors import InvalidRule, UnsupportedRule
from .fieldmap import resolve_logsource

# Rules come from tenants as well as from us. SigmaHQ's largest (vulnerable drivers, a
# hash list) is 300 KB; ten times a page of YAML is not a rule but an attack on the parser.
MAX_RULE_CHARS = 1024 * 1024


class _Plan(NamedTuple):
    """How a rule runs on one record kind."""

    predicate: Predicate
    columns: frozenset[str] | None  # columns read (None: all, a keyword search)
    anchors: frozenset[index.Anchor] | None  # a match carries one of these (None: unknown)


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """A Sigma rule ready to run, with what an alert needs to say about it.

    Holds closures, so it does not pickle: hand Celery tasks rule ids or YAML, and compile
    (or look up a per-process cache) inside the worker.
    """

    rule_id: str
    title: str
    description: str
    status: str | None
    level: str | None
    severity: str
    phase: str
    attack_techniques: tuple[str, ...]
    tags: tuple[str, ...]
    falsepositives: tuple[str, ...]
    references: tuple[str, ...]
    logsource: Mapping[str, str]
    source: str = field(repr=False)
    _by_kind: Mapping[str, _Plan] = field(repr=False)

    @property
    def kinds(self) -> frozenset[str]:
        """Record kinds this rule can match (others are never evaluated)."""
        return frozenset(self._by_kind)

    def matches(self, record: Record) -> bool:
        """Does one observation record match? Records of other kinds never do."""
        plan = self._by_kind.get(record.get("kind"))
        return plan is not None and plan.predicate(conditions.prepare(record), record)


@dataclass(frozen=True)
class Detection:
    """A rule matched ``record`` (``records[record_index]`` of the evaluated batch).

    ``suppressed_by`` is set only when the caller asked for suppressed detections too: the
    allowlist entry (field, value) that silenced it, for the audit trail.
    """

    rule: CompiledRule
    record_index: int
    record: Record
    suppressed_by: tuple[str, str] | None = None


def compile_rule(yaml_text: str) -> CompiledRule:
    """Parse one Sigma rule (a single YAML document) and compile it.

    Raises `InvalidRule` for YAML / Sigma errors (pySigma's message) and `UnsupportedRule`
    when the rule is valid but the engine cannot apply all of it.
    """
    rule = _parse(yaml_text)
    if rule.id is None:
        raise InvalidRule("rule has no id: alerts and allowlists refer to rules by id")
    for text in rule.detection.condition:
        if not isinstance(text, str):
            raise InvalidRule(f"a condition is text, not {type(text).__name__}")
        if "|" in text:
            raise UnsupportedRule("aggregation conditions (count() by, near) are not supported")
    ls = rule.logsource
    logsource = resolve_logsource(ls.category, ls.product, ls.service)
    try:
        trees = [c.parse() for c in rule.detection.parsed_condition]
    except SigmaError as exc:
        raise InvalidRule(str(exc)) from exc
    body = conditions.Or(tuple(conditions.translate(t, logsource) for t in trees))
    anchors = index.anchors(conditions.simplify(body))  # a guard pins nothing useful

    by_kind: dict[str, _Plan] = {}
    never: list[str] = []
    for kind, guard in logsource.kinds.items():
        node: Node = body if guard is None else conditions.And((conditions.guard_node(guard), body))
        node = conditions.simplify(node)
        if isinstance(node, conditions.Const) and not node.value:
            never.append(node.why)
            continue
        columns = conditions.columns_of(node)
        by_kind[kind] = _Plan(
            conditions.to_predicate(node),
            None if columns is None else frozenset(columns),
            anchors,
        )
    if not by_kind:
        raise UnsupportedRule(
            "rule can never match collected telemetry: " + ("; ".join(filter(None, never)) or "?")
        )

    tags = tuple(str(t) for t in rule.tags)
    try:
        phase = metadata.phase_of(tags)
    except ValueError as exc:
        raise InvalidRule(str(exc)) from exc
    level = str(rule.level) if rule.level is not None else None
    return CompiledRule(
        rule_id=str(rule.id),
        title=rule.title,
        description=rule.description or "",
        status=str(rule.status) if rule.status is not None else None,
        level=level,
        severity=metadata.severity_of(level),
        phase=phase,
        attack_techniques=metadata.techniques_of(tags),
        tags=tags,
        falsepositives=tuple(str(f) for f in rule.falsepositives),
        references=tuple(str(r) for r in rule.references),
        logsource={
            k: v for k in ("category", "product", "service") if (v := getattr(ls, k)) is not None
        },
        source=yaml_text,
        _by_kind=by_kind,
    )


def _parse(yaml_text: str) -> SigmaRule:
    """YAML -> pySigma rule, sorting failures into invalid and unsupported."""
    if len(yaml_text) > MAX_RULE_CHARS:
        raise InvalidRule(f"rule is larger than {MAX_RULE_CHARS} characters")
    try:
        documents = list(yaml.load_all(yaml_text, SigmaYAMLLoader))  # a safe loader
    except yaml.YAMLError as exc:
        raise InvalidRule(f"YAML: {exc}") from exc
    if len(documents) != 1:
        raise UnsupportedRule(
            "multi-document rule collections (action: global / repeat) are not supported"
        )
    document = documents[0]
    if not isinstance(document, dict):
        raise InvalidRule("a Sigma rule is a YAML mapping")
    if "correlation" in document:
        raise UnsupportedRule("correlation rules are not supported")
    if "filter" in document and "detection" not in document:
        raise UnsupportedRule("Sigma filter documents are not supported; use allowlist exceptions")
    try:
        # Python-regex policy only so that pySigma accepts any valid regex and *we* say
        # why RE2 refuses it; every regex is executed by RE2 (see modifiers.compile_regex).
        return SigmaRule.from_dict(document, policy=TrustedPolicy)
    except SigmaError as exc:
        raise InvalidRule(str(exc)) from exc
    except (TypeError, AttributeError, ValueError) as exc:
        # pySigma trusts some fields to have their documented type (an `id` that is a list
        # or a number fails inside it): the upload is malformed, not a server error.
        raise InvalidRule(f"malformed rule: {exc}") from exc


# -- evaluation ----------------------------------------------------------------------------------

Exceptions = Mapping[str, Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class _Allow:
    """One compiled allowlist entry of a rule."""

    field: str
    value: str
    predicate: Predicate


def _compile_allow(field_name: str, value: str) -> _Allow:
    """An allowlist entry: our column name and a wildcard value, case-insensitive.

    Unlike in rule YAML, a backslash is always literal here (``c:\\tools\\*`` as typed by
    an analyst): Windows paths cannot contain ``*`` or ``?``, so nothing needs escaping,
    and Sigma's ``\\*`` escape would silently turn a path prefix into a literal star.
    """
    if field_name not in FIELD_BY_NAME:
        raise ValueError(f"allowlist field '{field_name}' is not an observation field")
    parts = SigmaString(value, escape=False).s
    pattern = modifiers.normalise_pattern(parts, lower=True)
    node: Node = conditions.Text(field_name, (pattern,)) if pattern else conditions.Const(False)
    return _Allow(field_name, value, conditions.to_predicate(node))


class _KindRules:
    """The rules that apply to one record kind, and their anchor index."""

    def __init__(self, entries: Sequence[tuple[CompiledRule, _Plan]]) -> None:
        self.rules = tuple((rule, plan.predicate) for rule, plan in entries)
        self.index = index.RuleIndex([plan.anchors for _, plan in entries])
        columns: set[str] | None = set()
        for _, plan in entries:
            columns = None if columns is None or plan.columns is None else columns | plan.columns
        # Only the columns some rule reads are lower-cased per record (None: all).
        self.columns = None if columns is None else tuple(sorted(columns))


class Engine:
    """A set of compiled rules, indexed by record kind, plus per-rule allowlists.

    ``exceptions`` maps a rule id to (field, value) pairs; a detection whose record matches
    any pair of its rule is suppressed. Fields are observation column names
    (``process_path``), values use wildcards (``c:\\tools\\admin\\*``).
    ``unused_exceptions`` lists rule ids with an allowlist but no loaded rule.
    """

    def __init__(self, rules: Iterable[CompiledRule], exceptions: Exceptions | None = None) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        entries: dict[str, list[tuple[CompiledRule, _Plan]]] = defaultdict(list)
        for rule in self.rules:
            for kind, plan in rule._by_kind.items():
                entries[kind].append((rule, plan))
        self._kinds = {kind: _KindRules(e) for kind, e in entries.items()}

        ids = {rule.rule_id for rule in self.rules}
        self._allow: dict[str, tuple[_Allow, ...]] = {}
        unused = []
        for rule_id, pairs in (exceptions or {}).items():
            compiled = tuple(_compile_allow(f, v) for f, v in pairs)
            if rule_id in ids:
                self._allow[rule_id] = compiled
            else:  # kept visible: a rule was removed or renamed under its allowlist
                unused.append(rule_id)
        self.unused_exceptions = tuple(unused)

    def columns(self, kind: str) -> tuple[str, ...] | None:
        """The columns the rules read for ``kind`` (None: all, for keyword searches)."""
        rules = self._kinds.get(kind)
        return () if rules is None else rules.columns

    def evaluate(
        self, records: Iterable[Record], *, include_suppressed: bool = False
    ) -> list[Detection]:
        """Every (rule, record) match in ``records``, in record order then rule order."""
        found: list[Detection] = []
        kinds, allow = self._kinds, self._allow
        for position_in_batch, record in enumerate(records):
            kind = kinds.get(record.get("kind"))
            if kind is None:
                continue
            low = conditions.prepare(record, kind.columns)
            rules = kind.rules
            for position in kind.index.candidates(low):
                rule, predicate = rules[position]
                if not predicate(low, record):
                    continue
                hit = self._allowed(allow.get(rule.rule_id, ()), record)
                if hit is None:
                    found.append(Detection(rule, position_in_batch, record))
                elif include_suppressed:
                    suppressed_by = (hit.field, hit.value)
                    found.append(Detection(rule, position_in_batch, record, suppressed_by))
        return found

    @staticmethod
    def _allowed(entries: Sequence[_Allow], record: Record) -> _Allow | None:
        for entry in entries:
            if entry.predicate(conditions.prepare(record, (entry.field,)), record):
                return entry
        return None


def compile_rules(texts: Iterable[str]) -> tuple[list[CompiledRule], list[tuple[str, Exception]]]:
    """Compile many rules; refusals are returned with their text, never raised."""
    compiled: list[CompiledRule] = []
    refused: list[tuple[str, Exception]] = []
    for text in texts:
        try:
            compiled.append(compile_rule(text))
        except (InvalidRule, UnsupportedRule) as exc:
            refused.append((text, exc))
    return compiled, refused
