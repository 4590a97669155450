"""Matching one field value against Sigma values, after pySigma has applied the modifiers.

pySigma turns ``contains`` / ``startswith`` / ``endswith`` into wildcards, ``windash`` and
``base64offset`` into lists of alternatives, ``re`` / ``cidr`` / ``gt`` into typed values.
What is left for us is to test a value quickly and in bounded time:

* wildcard patterns (``*``, ``?``) never go through a backtracking regex: the common
  shapes become ``==`` / ``startswith`` / ``endswith`` / ``in`` on the whole OR-list at
  once, and the rest use a left-to-right segment search (linear per segment);
* ``re`` values run on Google RE2, which guarantees linear time; a regex RE2 cannot
  compile (look-around, back-reference) makes the rule unsupported rather than fall back
  to Python's backtracking engine on attacker-controlled command lines.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

import re2
from sigma.types import CompareOperators, SpecialChars

from .errors import UnsupportedRule

Part = str | SpecialChars
Pattern = tuple[Part, ...]
TextTest = Callable[[str], bool]

STAR = SpecialChars.WILDCARD_MULTI
ONE = SpecialChars.WILDCARD_SINGLE


def normalise_pattern(parts: Iterable[Any], *, lower: bool) -> Pattern:
    """Literal parts merged and optionally lower-cased, runs of ``*`` collapsed."""
    out: list[Part] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            text = part.lower() if lower else part
            if out and isinstance(out[-1], str):
                out[-1] += text
            else:
                out.append(text)
        elif part is STAR and out and out[-1] is STAR:
            continue
        elif isinstance(part, SpecialChars):
            out.append(part)
        else:  # a Placeholder left by the `expand` modifier
            raise UnsupportedRule("placeholders (%name%, the expand modifier) are not supported")
    return tuple(out)


class _Segment:
    """A fixed-length run of literals and ``?`` between two ``*``."""

    __slots__ = ("length", "regex", "text")

    def __init__(self, parts: Sequence[Part]) -> None:
        self.length = sum(len(p) if isinstance(p, str) else 1 for p in parts)
        if all(isinstance(p, str) for p in parts):
            self.text: str = "".join(parts)  # type: ignore[arg-type]
            self.regex: re.Pattern[str] | None = None
        else:
            # Only literals and `.`: a fixed-length pattern, no quantifier to backtrack on.
            source = "".join(re.escape(p) if isinstance(p, str) else "." for p in parts)
            self.text = ""
            self.regex = re.compile(source, re.DOTALL)

    def match_at(self, value: str, pos: int) -> bool:
        if self.regex is None:
            return value.startswith(self.text, pos)
        return self.regex.match(value, pos) is not None

    def find(self, value: str, start: int, end: int) -> int:
        if self.regex is None:
            return value.find(self.text, start, end)
        found = self.regex.search(value, start, end)
        return -1 if found is None else found.start()


class Glob:
    """A general wildcard pattern, matched without backtracking.

    The first segment is anchored at the start and the last at the end (unless the pattern
    begins / ends with ``*``); middle segments are found left-most in order, which is
    enough for ``*`` because any later placement would only leave less room for the rest.
    """

    __slots__ = ("exact", "head", "middle", "tail")

    def __init__(self, pattern: Pattern) -> None:
        segments: list[list[Part]] = [[]]
        for part in pattern:
            if part is STAR:
                segments.append([])
            else:
                segments[-1].append(part)
        self.exact = len(segments) == 1
        self.head = _Segment(segments[0]) if segments[0] else None
        self.tail = _Segment(segments[-1]) if len(segments) > 1 and segments[-1] else None
        self.middle = tuple(_Segment(s) for s in segments[1:-1] if s)

    def __call__(self, value: str) -> bool:
        if self.exact:
            if self.head is None:
                return value == ""
            return len(value) == self.head.length and self.head.match_at(value, 0)
        start, end = 0, len(value)
        if self.head is not None:
            if not self.head.match_at(value, 0):
                return False
            start = self.head.length
        if self.tail is not None:
            tail_at = end - self.tail.length
            if tail_at < start or not self.tail.match_at(value, tail_at):
                return False
            end = tail_at
        for segment in self.middle:
            found = segment.find(value, start, end)
            if found < 0:
                return False
            start = found + segment.length
        return True


def _literal(parts: Sequence[Part]) -> str | None:
    return parts[0] if len(parts) == 1 and isinstance(parts[0], str) else None


def _first_true(tests: Sequence[TextTest]) -> TextTest:
    if len(tests) == 1:
        return tests[0]

    def test(value: str) -> bool:
        for t in tests:  # noqa: SIM110 - hot path, a loop is ~2x any()
            if t(value):
                return True
        return False

    return test


def any_pattern(patterns: Iterable[Pattern]) -> TextTest:
    """One test for an OR-list of wildcard patterns, grouped by shape.

    Rules list dozens of ``Image|endswith`` values; one ``str.endswith(tuple)`` call is far
    cheaper than dozens of closures. Patterns must already be normalised.
    """
    exact: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    inner: list[str] = []
    globs: list[TextTest] = []
    for pattern in patterns:
        if all(p is STAR for p in pattern):  # `*`: any (present) value
            return lambda value: True
        star_first, star_last = pattern[0] is STAR, pattern[-1] is STAR
        core = pattern[int(star_first) : len(pattern) - int(star_last)]
        literal = _literal(core)
        if literal is None:
            globs.append(Glob(pattern))
        elif star_first and star_last:
            inner.append(literal)
        elif star_first:
            suffixes.append(literal)
        elif star_last:
            prefixes.append(literal)
        else:
            exact.add(literal)

    tests: list[TextTest] = []
    if exact:
        tests.append(frozenset(exact).__contains__)
    if prefixes:
        tests.append(_method_any(str.startswith, tuple(prefixes)))
    if suffixes:
        tests.append(_method_any(str.endswith, tuple(suffixes)))
    if inner:
        tests.append(_contains_any(tuple(inner)))
    tests.extend(globs)
    if not tests:
        return lambda value: False
    return _first_true(tests)


def _method_any(
    method: Callable[[str, tuple[str, ...]], bool], options: tuple[str, ...]
) -> TextTest:
    return lambda value: method(value, options)


def _contains_any(needles: tuple[str, ...]) -> TextTest:
    if len(needles) == 1:
        needle = needles[0]
        return lambda value: needle in value

    def test(value: str) -> bool:
        for needle in needles:  # noqa: SIM110 - hot path, a loop is ~2x any()
            if needle in value:
                return True
        return False

    return test


# -- regular expressions ---------------------------------------------------------------------

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # refusals are reported to the caller, not to stderr
_RE2_OPTIONS.max_mem = 8 << 20  # bound the compiled automaton of a hostile pattern


def compile_regex(source: str, *, ignorecase: bool, multiline: bool, dotall: bool) -> Any:
    """Compile with RE2 (linear time) or refuse the rule with RE2's reason."""
    flags = "".join(f for f, on in (("i", ignorecase), ("m", multiline), ("s", dotall)) if on)
    try:
        return re2.compile(f"(?{flags}){source}" if flags else source, _RE2_OPTIONS)
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise UnsupportedRule(
            f"regular expression '{source}' uses a feature the linear-time RE2 engine "
            f"does not run, such as look-around or back-references ({message})"
        ) from exc


def regex_search(compiled: Any) -> Callable[[str], bool]:
    """``compiled.search`` as a boolean test that survives lone surrogates.

    JSON lets an agent send ``"\\ud800"``; RE2 wants UTF-8 and Python refuses to encode a
    lone surrogate, so such text is passed as bytes with the surrogate kept as is.
    """
    search = compiled.search

    def test(text: str) -> bool:
        try:
            return search(text) is not None
        except UnicodeEncodeError:
            return search(text.encode("utf-8", "surrogatepass")) is not None

    return test


# -- IP ranges and numbers -------------------------------------------------------------------

IPNetwork = IPv4Network | IPv6Network


@lru_cache(maxsize=65536)
def _parse_ip(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id (fe80::1%eth0)
    except ValueError:
        return None


def in_networks(networks: tuple[IPNetwork, ...]) -> Callable[[Any], bool]:
    """Test a record's IP (text or ipaddress object) against CIDR ranges."""

    def test(value: Any) -> bool:
        address = value if isinstance(value, IPv4Address | IPv6Address) else _parse_ip(str(value))
        if address is None:
            return False
        for network in networks:  # noqa: SIM110 - hot path, a loop is ~2x any()
            if address in network:
                return True
        return False

    return test


_COMPARE: dict[CompareOperators, Callable[[Any, Any], bool]] = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
    CompareOperators.NEQ: operator.ne,
}


def as_number(value: Any) -> int | float | None:
    """A record value as a number, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return int(str(value), 0) if str(value).lower().startswith("0x") else float(value)
    except (TypeError, ValueError):
        return None


def compare(op: CompareOperators, number: int | float) -> Callable[[Any], bool]:
    """``gt`` / ``gte`` / ``lt`` / ``lte`` against a constant; non-numbers never match."""
    fn = _COMPARE[op]

    def test(value: Any) -> bool:
        n = as_number(value)
        return n is not None and fn(n, number)

    return test
