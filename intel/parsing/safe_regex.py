"""Regular expressions from feeds and analysts, compiled with RE2: linear time, bounded memory.

A backtracking engine (Python's `re`) can be made to run for hours by one crafted pattern on
one long command line (ReDoS), and IOC patterns come from outside. RE2 guarantees matching
time linear in the input and refuses the constructs that would need backtracking
(look-around, back-references, atomic groups, possessive repeats) instead of running them
slowly; we turn its terse errors into messages that say what to change.
"""

from __future__ import annotations

import functools
import re
from typing import Protocol

import re2

MAX_PATTERN_LENGTH = 4096
# RE2's budget for the compiled program and its DFA cache; a pattern that needs more is
# refused at compile time rather than slowing every match down.
MAX_MEMORY = 8 << 20

# What people write out of habit from PCRE, and what to say about it.
_UNSUPPORTED = (
    (re.compile(r"\(\?<?[=!]"), "look-around assertions ((?=...), (?!...), (?<=...), (?<!...))"),
    (re.compile(r"\(\?>"), "atomic groups ((?>...))"),
    (re.compile(r"\\[1-9]|\\k<|\(\?P="), "back-references (\\1, \\k<name>, (?P=name))"),
    (re.compile(r"(?<!\\)[*+?}]\+"), "possessive repeats (a++, a*+)"),
    (re.compile(r"\\[AZz]?G|\(\?[Rr0-9]|\(\?C"), "recursion, callouts or \\G"),
)


class UnsafeRegex(ValueError):
    """The pattern is not accepted: RE2 cannot compile it, or it is too large."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class CompiledRegex(Protocol):
    """What callers may rely on from a compiled pattern (the `re2` object has more)."""

    pattern: str

    def search(self, text: str) -> object | None: ...


def compile(pattern: str, *, case_sensitive: bool = True) -> CompiledRegex:
    """Compile with RE2 or raise `UnsafeRegex` with a reason an analyst can act on."""
    if not isinstance(pattern, str):
        raise UnsafeRegex("regular expression must be text")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UnsafeRegex(
            f"regular expression is too long ({len(pattern)} characters, "
            f"at most {MAX_PATTERN_LENGTH})"
        )
    if "\x00" in pattern:
        raise UnsafeRegex("regular expression contains a NUL character")
    return _compile(pattern, case_sensitive)


@functools.lru_cache(maxsize=2048)
def _compile(pattern: str, case_sensitive: bool) -> CompiledRegex:
    # Matchers compile the same IOC patterns over and over; RE2 objects are immutable and
    # thread-safe, so sharing them is free.
    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise print every refusal to stderr
    options.max_mem = MAX_MEMORY
    options.case_sensitive = case_sensitive
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise UnsafeRegex(_explain(pattern, exc)) from None
    except (TypeError, ValueError, UnicodeError) as exc:
        raise UnsafeRegex(f"regular expression cannot be compiled: {exc}") from None


def _explain(pattern: str, exc: Exception) -> str:
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    for construct, label in _UNSUPPORTED:
        if construct.search(pattern):
            return (
                f"RE2 does not support {label}; rewrite the pattern without them "
                f"(RE2 said: {detail})"
            )
    if "too large" in detail or "too big" in detail:
        return f"regular expression is too large to run in bounded memory ({detail})"
    return f"invalid regular expression: {detail}"
