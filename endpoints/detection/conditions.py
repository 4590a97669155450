"""From pySigma's condition tree to a Python predicate over one observation record.

Three steps, kept apart so each is small and testable:

1. `translate` walks pySigma's parsed condition (AND / OR / NOT over field = value leaves)
   and resolves every field through the logsource's `LogsourceMap`, producing a tiny IR.
   Anything the engine cannot honour raises `UnsupportedRule` here, before a predicate
   exists, so a rule is never half applied.
2. `simplify` folds constants, flattens nested AND / OR and merges the leaves of an OR that
   test the same column, so ``Image|endswith: [30 values]`` becomes one test.
3. `to_predicate` turns the IR into closures ``pred(low, raw) -> bool``. ``low`` is the
   record with empty values dropped and text lower-cased once per record (Sigma matches
   case-insensitively); ``raw`` is the record as sent, for ``cased`` and ``re``.

Absent values: a key that is missing, ``None`` or ``''`` all count as "no value". Agents
and database rows disagree on how to spell "nothing"; Sigma's ``null``, ``''`` and
``exists: false`` all match it, and no other test does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
)

from endpoints.observation_fields import HASH_LENGTHS

from . import modifiers
from .errors import UnsupportedRule
from .fieldmap import FieldSpec, Guard, LogsourceMap, column_type, registry_key_patterns
from .modifiers import STAR, Pattern

Record = Mapping[str, Any]
Predicate = Callable[[Record, Record], bool]

# Column types whose stored values are normalised to lower case by the ingestion.
_LOWERCASE_TYPES = frozenset({"lstr", "ip", "hex32", "hex40", "hex64", "hexbytes"})
_NUMERIC_TYPES = frozenset({"int"})


# -- IR ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Const:
    value: bool
    why: str = ""


@dataclass(frozen=True)
class Text:
    """Wildcard patterns on a column (None: any text value of the record, a keyword)."""

    column: str | None
    patterns: tuple[Pattern, ...]
    cased: bool = False


@dataclass(frozen=True)
class Number:
    column: str
    values: frozenset[int | float]


@dataclass(frozen=True)
class Regex:
    column: str | None
    source: str
    ignorecase: bool
    multiline: bool
    dotall: bool


@dataclass(frozen=True)
class Cidr:
    column: str
    networks: tuple[modifiers.IPNetwork, ...]


@dataclass(frozen=True)
class Compare:
    column: str
    op: CompareOperators
    number: int | float


@dataclass(frozen=True)
class Present:
    column: str


@dataclass(frozen=True)
class FieldRef:
    """Compare two columns of the same record (the ``fieldref`` modifier)."""

    column: str
    other: str
    starts: bool
    ends: bool


Node = And | Or | Not | Const | Text | Number | Regex | Cidr | Compare | Present | FieldRef


# -- 1. translate ------------------------------------------------------------------------------

_HASH_COLUMNS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "imphash": "imphash"}


def translate(item: Any, logsource: LogsourceMap) -> Node:
    """pySigma condition item -> IR, resolving fields through ``logsource``."""
    if isinstance(item, ConditionAND):
        return And(tuple(translate(a, logsource) for a in item.args))
    if isinstance(item, ConditionOR):
        return Or(tuple(translate(a, logsource) for a in item.args))
    if isinstance(item, ConditionNOT):
        return Not(translate(item.args[0], logsource))
    if isinstance(item, ConditionFieldEqualsValueExpression):
        return _field_value(item.field, logsource.field(item.field), item.value, logsource)
    if isinstance(item, ConditionValueExpression):
        return _keyword(item.value)
    raise UnsupportedRule(f"condition element {type(item).__name__} is not supported")


def _absent(column: str) -> Node:
    return Not(Present(column))


def _patterns(value: SigmaString, *, lower: bool) -> Pattern:
    return modifiers.normalise_pattern(value.s, lower=lower)


def _field_value(name: str, spec: FieldSpec, value: SigmaType, logsource: LogsourceMap) -> Node:
    if isinstance(value, SigmaExpansion):  # windash / base64offset alternatives: OR
        return Or(tuple(_field_value(name, spec, v, logsource) for v in value.values))
    if spec.constant is not None:
        return _constant_field(name, spec.constant, value, logsource)
    if spec.hashes:
        return _hashes(name, value)
    column = spec.column
    assert column is not None
    ctype = column_type(column)

    if isinstance(value, SigmaNull):
        return _absent(column)
    if isinstance(value, SigmaExists):
        return Present(column) if value.exists else _absent(column)
    if isinstance(value, SigmaTimestampPart):
        raise UnsupportedRule("time-part modifiers (minute, hour, day...) are not supported")
    if spec.translate is not None and (
        isinstance(value, SigmaCasedString)
        or not isinstance(value, SigmaString | SigmaNumber | SigmaBool)
    ):  # a regex or a range would be tested against our vocabulary, not the rule's
        raise UnsupportedRule(f"field '{name}' takes plain values only")
    if isinstance(value, SigmaCasedString):
        return _cased(name, column, ctype, value)
    if isinstance(value, SigmaString | SigmaNumber | SigmaBool):
        return _plain(name, spec, column, ctype, value)
    if isinstance(value, SigmaRegularExpression):
        return _regex(column, ctype, value)
    if isinstance(value, SigmaCIDRExpression):
        if ctype != "ip":
            raise UnsupportedRule(f"cidr modifier on field '{name}', which is not an IP address")
        return Cidr(column, (value.network,))
    if isinstance(value, SigmaCompareExpression):
        if ctype not in _NUMERIC_TYPES:
            raise UnsupportedRule(f"numeric comparison on field '{name}', which is not a number")
        return Compare(column, value.op, value.number.number)
    if isinstance(value, SigmaFieldReference):
        other = logsource.field(value.field)
        if other.column is None:
            raise UnsupportedRule(f"fieldref to virtual field '{value.field}' is not supported")
        return FieldRef(column, other.column, value.starts_with, value.ends_with)
    raise UnsupportedRule(f"value type {type(value).__name__} on field '{name}' is not supported")


def _plain(
    name: str,
    spec: FieldSpec,
    column: str,
    ctype: str,
    value: SigmaString | SigmaNumber | SigmaBool,
) -> Node:
    """An ordinary value: wildcard text, or a number on a numeric column."""
    if isinstance(value, SigmaNumber) and ctype in _NUMERIC_TYPES and spec.translate is None:
        return Number(column, frozenset({value.number}))
    if isinstance(value, SigmaString):
        pattern = _patterns(value, lower=True)
    else:
        pattern = (str(value.number) if isinstance(value, SigmaNumber) else str(value).lower(),)
    if not pattern:
        return _absent(column)  # Sigma's '' is "no value"
    if spec.translate is not None:
        if len(pattern) != 1 or not isinstance(pattern[0], str):
            raise UnsupportedRule(f"field '{name}' takes plain values only, not wildcards")
        pattern = (spec.translate(pattern[0]),)
    if ctype in _NUMERIC_TYPES and len(pattern) == 1:
        number = modifiers.as_number(pattern[0])
        if number is not None:
            return Number(column, frozenset({number}))
    if column == "registry_key":
        return Text(column, tuple(registry_key_patterns(pattern)))
    return Text(column, (pattern,))


def _cased(name: str, column: str, ctype: str, value: SigmaCasedString) -> Node:
    pattern = _patterns(value, lower=False)
    if not pattern:
        return _absent(column)
    if ctype in _LOWERCASE_TYPES:
        if any(isinstance(p, str) and p != p.lower() for p in pattern):
            raise UnsupportedRule(
                f"cased value on field '{name}' can never match: it is stored lower-case"
            )
        return Text(column, (pattern,))  # lower-case both ways: the same test
    return Text(column, (pattern,), cased=True)


def _regex(column: str | None, ctype: str | None, value: SigmaRegularExpression) -> Regex:
    if not isinstance(value.regexp, SigmaString):  # pySigma keeps `|re: 5` as an int
        raise UnsupportedRule("the re modifier takes a text pattern, not a number")
    if value.regexp.contains_placeholder():
        raise UnsupportedRule("placeholders (%name%, the expand modifier) are not supported")
    flags = value.flags
    # A column stored lower-case has lost the case a case-sensitive regex would test;
    # Windows paths and names are case-insensitive anyway, so match them that way.
    return Regex(
        column,
        str(value.regexp),
        ignorecase=SigmaRegularExpressionFlag.IGNORECASE in flags or ctype in _LOWERCASE_TYPES,
        multiline=SigmaRegularExpressionFlag.MULTILINE in flags,
        dotall=SigmaRegularExpressionFlag.DOTALL in flags,
    )


def _constant_field(
    name: str, constant: int | str, value: SigmaType, logsource: LogsourceMap
) -> Node:
    """A virtual field (``EventID``, ``Provider_Name``) whose value is fixed for the logsource.

    The test is decided now. Another value is not an error: those events are simply not
    collected, so the leaf is false; if that leaves the whole rule unable to match,
    `compile_rule` refuses it.
    """
    if isinstance(value, SigmaNumber):
        matched = modifiers.as_number(constant) == value.number
    elif isinstance(value, SigmaString):
        pattern = _patterns(value, lower=True)
        matched = bool(pattern) and modifiers.any_pattern([pattern])(str(constant).lower())
    else:
        raise UnsupportedRule(f"field '{name}' takes plain values only")
    if matched:
        return Const(True)
    return Const(False, f"{name} {value} is not collected for logsource {logsource.label}")


def _hashes(name: str, value: SigmaType) -> Node:
    """Sysmon's ``Hashes`` field: ``ALGO=hex`` pairs, each tested on its own column."""
    if not isinstance(value, SigmaString):
        raise UnsupportedRule(f"field '{name}' takes ALGO=hex values only")
    parts = list(_patterns(value, lower=True))
    while parts and parts[0] is STAR:  # contains / endswith around a pair: the pair is
        parts.pop(0)  # a whole value of its own column
    while parts and parts[-1] is STAR:
        parts.pop()
    if len(parts) != 1 or not isinstance(parts[0], str):
        raise UnsupportedRule(f"field '{name}' value '{value}' must be ALGO=hex pairs")
    tests: list[Node] = []
    for pair in parts[0].split(","):
        algo, _, digest = pair.strip().partition("=")
        column = _HASH_COLUMNS.get(algo)
        if column is None:
            raise UnsupportedRule(f"hash algorithm '{algo}' in field '{name}' is not collected")
        if len(digest) != HASH_LENGTHS[column_type(column)] or not _is_hex(digest):
            raise UnsupportedRule(f"partial or malformed {algo} digest '{digest}' in '{name}'")
        tests.append(Text(column, ((digest,),)))
    return And(tuple(tests))


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _keyword(value: SigmaType) -> Node:
    """A field-less value: a full-text search, found anywhere in any text value.

    Backends turn keywords into full-text term searches over the whole event, so a keyword
    is matched as if it were written with ``contains``.
    """
    if isinstance(value, SigmaExpansion):
        return Or(tuple(_keyword(v) for v in value.values))
    if isinstance(value, SigmaString | SigmaNumber):
        cased = isinstance(value, SigmaCasedString)
        if isinstance(value, SigmaString):
            pattern = _patterns(value, lower=not cased)
        else:
            pattern = (str(value.number),)
        if not pattern:
            raise UnsupportedRule("empty keyword value")
        return Text(
            None, (modifiers.normalise_pattern((STAR, *pattern, STAR), lower=False),), cased
        )
    if isinstance(value, SigmaRegularExpression):
        return _regex(None, None, value)
    raise UnsupportedRule(f"keyword value of type {type(value).__name__} is not supported")


def guard_node(guard: Guard) -> Node:
    """The implicit condition a kind puts on records (e.g. ``action`` is ``start``)."""
    values = sorted(v for v in guard.values if v is not None)
    node: Node = Text(guard.column, tuple((v,) for v in values)) if values else Const(False)
    if None in guard.values:
        node = Or((_absent(guard.column), node))
    return node


# -- 2. simplify -------------------------------------------------------------------------------


def simplify(node: Node) -> Node:
    """Fold constants, flatten AND / OR, merge OR-ed leaves on the same column."""
    if isinstance(node, Not):
        child = simplify(node.child)
        if isinstance(child, Const):
            return Const(not child.value, child.why)
        if isinstance(child, Not):
            return child.child
        return Not(child)
    if isinstance(node, And | Or):
        return _simplify_junction(node)
    return node


def _simplify_junction(node: And | Or) -> Node:
    kind = type(node)
    absorbing = isinstance(node, Or)  # True absorbs an OR, False absorbs an AND
    children: list[Node] = []
    reasons: list[str] = []
    for child in (simplify(c) for c in node.children):
        if isinstance(child, Const):
            if child.value is absorbing:
                return child
            reasons.append(child.why)
            continue
        children.extend(child.children if isinstance(child, kind) else [child])
    if isinstance(node, Or):
        children = _merge_leaves(children)
    if not children:
        return Const(not absorbing, "; ".join(r for r in reasons if r))
    # Pure predicates: evaluation order is free, so run the cheap tests first and let
    # short-circuiting skip the command-line searches on most records.
    children.sort(key=cost)
    return children[0] if len(children) == 1 else kind(tuple(children))


def cost(node: Node) -> float:
    """A rough relative price of evaluating ``node`` once (for ordering only)."""
    if isinstance(node, And | Or):
        return sum(cost(c) for c in node.children)
    if isinstance(node, Not):
        return cost(node.child)
    if isinstance(node, Text):
        price = 0.0
        for pattern in node.patterns:
            if len(pattern) == 3 and pattern[0] is STAR and pattern[-1] is STAR:
                price += 0.3  # one substring search
            elif len(pattern) > 2:
                price += 2.0  # a segment-by-segment glob
        price = 1.0 + price
        return price * 10 if node.column is None else price
    if isinstance(node, Regex):
        return 30.0 if node.column is None else 8.0
    if isinstance(node, Const):
        return 0.0
    return 1.0


def _merge_leaves(children: list[Node]) -> list[Node]:
    """Merge OR-ed Text / Number / Cidr leaves on the same column into one leaf each."""
    merged: dict[tuple[Any, ...], Node] = {}
    out: list[Node] = []
    for child in children:
        if isinstance(child, Text):
            key: tuple[Any, ...] = ("text", child.column, child.cased)
        elif isinstance(child, Number | Cidr):
            key = (type(child).__name__, child.column)
        else:
            out.append(child)
            continue
        previous = merged.get(key)
        if previous is None:
            merged[key] = child
            out.append(child)
            continue
        if isinstance(previous, Text) and isinstance(child, Text):
            patterns = tuple(dict.fromkeys(previous.patterns + child.patterns))
            combined: Node = Text(child.column, patterns, child.cased)
        elif isinstance(previous, Number) and isinstance(child, Number):
            combined = Number(child.column, previous.values | child.values)
        else:
            assert isinstance(previous, Cidr) and isinstance(child, Cidr)
            combined = Cidr(child.column, previous.networks + child.networks)
        merged[key] = combined
        out[out.index(previous)] = combined
    return out


# -- 3. predicates -----------------------------------------------------------------------------


def prepare(record: Record, columns: Iterable[str] | None = None) -> dict[str, Any]:
    """The record as the matchers read it: no empty values, text lower-cased once."""
    items = record.items() if columns is None else ((c, record.get(c)) for c in columns)
    low: dict[str, Any] = {}
    for key, value in items:
        if value is None or value == "":
            continue
        low[key] = value.lower() if type(value) is str else value
    return low


def columns_of(node: Node) -> set[str] | None:
    """Columns a predicate reads (None: all of them, for keyword searches)."""
    if isinstance(node, And | Or):
        found: set[str] = set()
        for child in node.children:
            sub = columns_of(child)
            if sub is None:
                return None
            found |= sub
        return found
    if isinstance(node, Not):
        return columns_of(node.child)
    if isinstance(node, Const):
        return set()
    if isinstance(node, FieldRef):
        return {node.column, node.other}
    column = node.column
    return None if column is None else {column}


def to_predicate(node: Node) -> Predicate:
    """IR -> closure. The IR must be simplified (no nested Const)."""
    builder = _BUILDERS[type(node)]
    return builder(node)


def _and(node: And) -> Predicate:
    preds = tuple(to_predicate(c) for c in node.children)
    if len(preds) == 2:
        a, b = preds
        return lambda low, raw: a(low, raw) and b(low, raw)

    def pred(low: Record, raw: Record) -> bool:
        for p in preds:  # noqa: SIM110 - hot path, a loop is ~2x any()
            if not p(low, raw):
                return False
        return True

    return pred


def _or(node: Or) -> Predicate:
    preds = tuple(to_predicate(c) for c in node.children)
    if len(preds) == 2:
        a, b = preds
        return lambda low, raw: a(low, raw) or b(low, raw)

    def pred(low: Record, raw: Record) -> bool:
        for p in preds:  # noqa: SIM110 - hot path, a loop is ~2x any()
            if p(low, raw):
                return True
        return False

    return pred


def _not(node: Not) -> Predicate:
    inner = to_predicate(node.child)
    return lambda low, raw: not inner(low, raw)


def _const(node: Const) -> Predicate:
    value = node.value
    return lambda low, raw: value


def _text(node: Text) -> Predicate:
    test = modifiers.any_pattern(node.patterns)
    column = node.column
    if column is None:
        return _keyword_predicate(test, node.cased)
    if node.cased:

        def cased(low: Record, raw: Record) -> bool:
            value = raw.get(column)
            return value is not None and value != "" and test(str(value))

        return cased

    def pred(low: Record, raw: Record) -> bool:
        value = low.get(column)
        if value is None:
            return False
        if type(value) is not str:
            value = str(value).lower()
        return test(value)

    return pred


def _keyword_predicate(test: modifiers.TextTest, cased: bool) -> Predicate:
    def pred(low: Record, raw: Record) -> bool:
        for value in (raw if cased else low).values():  # noqa: SIM110 - hot path, a loop is ~2x any()
            if type(value) is str and test(value):
                return True
        return False

    return pred


def _number(node: Number) -> Predicate:
    column, values = node.column, node.values

    def pred(low: Record, raw: Record) -> bool:
        value = low.get(column)
        if value is None:
            return False
        if type(value) is not int:
            value = modifiers.as_number(value)
        return value in values

    return pred


def _regex_predicate(node: Regex) -> Predicate:
    search = modifiers.regex_search(
        modifiers.compile_regex(
            node.source, ignorecase=node.ignorecase, multiline=node.multiline, dotall=node.dotall
        )
    )
    column = node.column
    if column is None:

        def keyword(low: Record, raw: Record) -> bool:
            for value in raw.values():  # noqa: SIM110 - hot path, a loop is ~2x any()
                if type(value) is str and value and search(value):
                    return True
            return False

        return keyword

    def pred(low: Record, raw: Record) -> bool:
        if column not in low:
            return False
        value = raw[column]
        return search(value if type(value) is str else str(value))

    return pred


def _value_test(column: str, test: Callable[[Any], bool]) -> Predicate:
    def pred(low: Record, raw: Record) -> bool:
        value = low.get(column)
        return value is not None and test(value)

    return pred


def _cidr(node: Cidr) -> Predicate:
    return _value_test(node.column, modifiers.in_networks(node.networks))


def _compare(node: Compare) -> Predicate:
    return _value_test(node.column, modifiers.compare(node.op, node.number))


def _present(node: Present) -> Predicate:
    column = node.column
    return lambda low, raw: column in low


def _field_ref(node: FieldRef) -> Predicate:
    column, other, starts, ends = node.column, node.other, node.starts, node.ends

    def pred(low: Record, raw: Record) -> bool:
        value, ref = low.get(column), low.get(other)
        if value is None or ref is None:
            return False
        value, ref = str(value).lower(), str(ref).lower()
        # pySigma marks `startswith` as starts (value begins with the other field), etc.
        if starts and ends:
            return ref in value
        if starts:
            return value.startswith(ref)
        if ends:
            return value.endswith(ref)
        return value == ref

    return pred


_BUILDERS: dict[type, Callable[[Any], Predicate]] = {
    And: _and,
    Or: _or,
    Not: _not,
    Const: _const,
    Text: _text,
    Number: _number,
    Regex: _regex_predicate,
    Cidr: _cidr,
    Compare: _compare,
    Present: _present,
    FieldRef: _field_ref,
}
