r"""Skip the rules a record cannot match, without changing any result.

A rule's *anchors* are keys of which every matching record must carry at least one:

* ``segment`` keys pin the last path segment of a name / path column exactly:
  ``Image|endswith: '\cmd.exe'`` and ``OriginalFileName: 'Cmd.Exe'`` both say the record's
  value ends in the segment ``cmd.exe``. Looked up in a dict.
* ``substring`` keys are literals a column must contain: ``CommandLine|contains:
  'downloadstring'`` (and the longest literal of any wildcard pattern). All substring keys
  of one column are searched in one pass with an RE2 set (a DFA over literals: linear in
  the value, whatever the number of rules).

For one record the engine runs the rules whose anchors it carries plus the rules with
none. Anchors must only ever claim *necessary* conditions: an anchor that is merely likely
would silently lose detections.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import re2

from .conditions import And, Node, Or, Text
from .modifiers import STAR

Anchor = tuple[str, str, str]  # (SEGMENT | SUBSTRING, column, lower-case value)
SEGMENT = "segment"
SUBSTRING = "substring"

# Names and paths: their last segment is nearly unique per program.
SEGMENT_COLUMNS = frozenset(
    {
        "process_path",
        "process_name",
        "parent_path",
        "parent_name",
        "original_file_name",
        "file_path",
        "file_name",
        "registry_key",
        "target_path",
        "item_name",
        "dns_query",
        "remote_hostname",
        "md5",
        "sha1",
        "sha256",
        "imphash",
    }
)
# A handful of values each: an anchor here would select a large share of all records.
WEAK_COLUMNS = frozenset(
    {"action", "autorun_type", "integrity_level", "direction", "protocol", "connection_state"}
)
MIN_SUBSTRING = 3  # shorter literals hit nearly every command line

_SET_OPTIONS = re2.Options()
_SET_OPTIONS.log_errors = False
_SET_OPTIONS.max_mem = 64 << 20


def last_segment(value: str) -> str:
    r"""What follows the last backslash: ``c:\windows\cmd.exe`` -> ``cmd.exe``."""
    return value[value.rfind("\\") + 1 :]


def anchors(node: Node) -> frozenset[Anchor] | None:
    """Keys one of which every record matching ``node`` carries, or None if unknown."""
    if isinstance(node, Text):
        if node.column is None or node.cased or node.column in WEAK_COLUMNS:
            return None
        keys = set()
        for pattern in node.patterns:
            key = _pattern_anchor(node.column, pattern)
            if key is None:
                return None
            keys.add(key)
        return frozenset(keys)
    if isinstance(node, Or):  # every branch must be anchored
        union: set[Anchor] = set()
        for child in node.children:
            sub = anchors(child)
            if sub is None:
                return None
            union |= sub
        return frozenset(union)
    if isinstance(node, And):  # any branch's anchors will do: take the most selective
        options = [a for a in map(anchors, node.children) if a is not None]
        return min(options, key=_price, default=None)
    return None  # NOT, regexes, numbers...: no necessary literal


def _pattern_anchor(column: str, pattern: tuple[Any, ...]) -> Anchor | None:
    starred_head = pattern[0] is STAR
    if column in SEGMENT_COLUMNS and isinstance(pattern[-1], str):
        literal = pattern[-1]
        if len(pattern) == 1:  # exact value
            return (SEGMENT, column, last_segment(literal))
        if len(pattern) == 2 and starred_head and "\\" in literal:  # endswith '\name'
            return (SEGMENT, column, last_segment(literal))
    literals = [p for p in pattern if isinstance(p, str)]
    longest = max(literals, key=len, default="")
    if len(longest) < MIN_SUBSTRING:
        return None
    return (SUBSTRING, column, longest)


def _price(keys: frozenset[Anchor]) -> float:
    """Expected share of records an anchor set lets through (relative, lower is better)."""
    return sum(1.0 if kind == SEGMENT else 2.0 + 10.0 / len(value) for kind, _, value in keys)


class _LiteralSet:
    """All substring anchors of one column, searched in a single RE2 pass."""

    def __init__(self, literals: Sequence[str]) -> None:
        self.literals = tuple(literals)
        self._set = re2.Set.SearchSet(_SET_OPTIONS)
        for literal in self.literals:
            self._set.Add(re2.escape(literal))
        self._set.Compile()
        # RE2 reports a DFA out of memory as "no match"; prove once that each literal is
        # found, so a too-small budget fails here (the caller then runs these rules on
        # every record) instead of silently losing detections.
        for i, literal in enumerate(self.literals):
            if i not in (self._set.Match(literal) or ()):
                raise RuntimeError(f"RE2 literal set failed to find '{literal}'")

    def found(self, text: str) -> Sequence[int]:
        try:
            return self._set.Match(text) or ()
        except UnicodeEncodeError:  # a lone surrogate from JSON: fall back to `in`
            return [i for i, literal in enumerate(self.literals) if literal in text]


class RuleIndex:
    """The anchors of one record kind's rules, indexed by rule position."""

    def __init__(self, anchor_sets: Sequence[frozenset[Anchor] | None]) -> None:
        segments: dict[tuple[str, str], list[int]] = defaultdict(list)
        substrings: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        always: set[int] = set()
        for position, keys in enumerate(anchor_sets):
            if keys is None:
                always.add(position)
                continue
            for kind, column, value in keys:
                if kind == SEGMENT:
                    segments[(column, value)].append(position)
                else:
                    substrings[column][value].append(position)
        self.segments = dict(segments)
        self.segment_columns = tuple(sorted({column for column, _ in segments}))
        self.substrings: dict[str, tuple[_LiteralSet, tuple[tuple[int, ...], ...]]] = {}
        for column, by_literal in substrings.items():
            positions = tuple(tuple(p) for p in by_literal.values())
            try:
                self.substrings[column] = (_LiteralSet(list(by_literal)), positions)
            except (RuntimeError, re2.error, UnicodeEncodeError):  # no index: run them always
                always.update(p for group in positions for p in group)
        self.always = tuple(sorted(always))

    def candidates(self, low: Mapping[str, Any]) -> Sequence[int]:
        """Positions of the rules that may match the prepared record, in rule order."""
        hits: set[int] = set()
        for column in self.segment_columns:
            value = low.get(column)
            if value is not None:
                found = self.segments.get((column, last_segment(_text(value))))
                if found:
                    hits.update(found)
        for column, (literals, positions) in self.substrings.items():
            value = low.get(column)
            if value is not None:
                for i in literals.found(_text(value)):
                    hits.update(positions[i])
        if not hits:
            return self.always
        hits.update(self.always)
        return sorted(hits)


def _text(value: Any) -> str:
    return value if type(value) is str else str(value).lower()
