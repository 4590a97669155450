"""RE2-backed regular expressions: linear time, clear refusals."""

import time

import pytest

from intel.parsing import safe_regex


def test_patterns_compile_and_search():
    regex = safe_regex.compile(r"powershell(\.exe)?\s+-enc")
    assert regex.search("powershell.exe  -enc AAA")
    assert not regex.search("POWERSHELL -enc")
    assert safe_regex.compile("powershell", case_sensitive=False).search("POWERSHELL")


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        (r"(?=abc)", "look-around"),
        (r"(?<!abc)d", "look-around"),
        (r"(a)\1", "back-references"),
        (r"(?P<x>a)(?P=x)", "back-references"),
        (r"(?>a+)b", "atomic groups"),
        (r"a++", "possessive repeats"),
    ],
)
def test_backtracking_constructs_are_refused_naming_the_construct(pattern, construct):
    with pytest.raises(safe_regex.UnsafeRegex, match=f"RE2 does not support {construct}"):
        safe_regex.compile(pattern)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(unclosed", "invalid regular expression: missing \\)"),
        ("a" * 5000, "too long"),
        ("a\x00b", "NUL"),
        (r"\pL{1000}", "too large to run in bounded memory"),
    ],
)
def test_invalid_or_oversized_patterns_are_refused(pattern, message):
    with pytest.raises(safe_regex.UnsafeRegex, match=message):
        safe_regex.compile(pattern)


def test_a_classic_redos_pattern_runs_in_linear_time():
    regex = safe_regex.compile(r"(a+)+$")
    started = time.perf_counter()
    assert regex.search("a" * 50_000 + "!") is None
    # A backtracking engine needs hours for this input; RE2 needs milliseconds.
    assert time.perf_counter() - started < 5
