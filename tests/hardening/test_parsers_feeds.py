"""Property tests of the feed parsers: an IOC survives every format, STIX patterns and CSV
files read the same however they are spelled.

tests/intel/parsing/ already proves the parsers total (a result or `InvalidFeed`, for any
input) and normalisation idempotent. These add what those do not:

- Round trips: a normalised value written into a text list, a CSV file, a STIX indicator
  (its pattern's string literal escaped) and a MISP attribute is read back as exactly that
  value and type, in every format that can carry its type.
- STIX patterns: an OR of comparisons yields each value once, in order, whether the ORs
  sit inside one observation or between observations; quoting survives any text.
- CSV: the delimiter (`,` `;` tab `|`), a byte-order mark, CRLF line ends and quoting of
  delimiters, quotes and newlines inside cells change nothing.
- Refanging: a defanged spelling (`hxxp`, `[.]`, `(.)`) reads as the plain value.

Ordinary runs use a fixed seed and a modest budget; `STOPCLOCK_HEAVY=1` explores ten
times as many examples with a random seed.
"""

from __future__ import annotations

import csv
import io
import json

from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from intel.parsing import (
    IOC_TYPES,
    InvalidIOC,
    detect_type,
    extract_pattern,
    normalize_as,
    normalize_ioc,
    parse_csv,
    parse_misp,
    parse_stix_bundle,
    parse_text,
)
from tests.conftest import HEAVY
from tests.intel.parsing.test_normalize_properties import TYPED_VALUES

PROPERTIES = settings(
    max_examples=1000 if HEAVY else 100,
    deadline=None,
    database=None,
    derandomize=not HEAVY,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# How each format names a type (None: the format cannot carry it).
STIX_PATTERNS = {
    "md5": "[file:hashes.'MD5' = {v}]",
    "sha1": "[file:hashes.'SHA-1' = {v}]",
    "sha256": "[file:hashes.'SHA-256' = {v}]",
    "ipv4": "[ipv4-addr:value = {v}]",
    "ipv6": "[ipv6-addr:value = {v}]",
    "cidr": "[ipv4-addr:value ISSUBSET {v}]",
    "domain": "[domain-name:value = {v}]",
    "url": "[url:value = {v}]",
    "file_name": "[file:name = {v}]",
    "registry_key": "[windows-registry-key:key = {v}]",
    "cmdline": "[process:command_line = {v}]",
}
MISP_TYPES = {
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "ipv4": "ip-dst",
    "ipv6": "ip-dst",
    "cidr": "ip-dst",
    "domain": "domain",
    "url": "url",
    "file_name": "filename",
    "file_path": "filename",
    "registry_key": "regkey",
    "yara": "yara",
}


def stix_literal(text: str) -> str:
    """A STIX pattern string literal: quotes and backslashes escaped."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def indicator_bundle(pattern: str) -> str:
    return json.dumps(
        {
            "type": "bundle",
            "id": "bundle--1",
            "objects": [
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": "indicator--00000000-0000-4000-8000-000000000001",
                    "pattern": pattern,
                    "pattern_type": "stix",
                    "valid_from": "2024-01-01T00:00:00Z",
                }
            ],
        }
    )


def csv_text(
    rows: list[list[str]], delimiter: str = ",", line_end: str = "\n", quote_all: bool = False
) -> str:
    """Rows as a spreadsheet writes them. (Python's writer leaves a lone CR unquoted when
    lines end in LF alone, which no reader can tell from a line break: quote then.)"""
    if line_end == "\n" and any("\r" in cell for row in rows for cell in row):
        quote_all = True
    out = io.StringIO()
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    csv.writer(out, delimiter=delimiter, lineterminator=line_end, quoting=quoting).writerows(rows)
    return out.getvalue()


def pairs(result) -> list[tuple[str, str]]:
    return [(c.type, c.value) for c in result.candidates]


@st.composite
def normalised(draw, types=IOC_TYPES) -> tuple[str, str]:
    """(type, value) as normalisation leaves it, for a mostly valid value of any type."""
    ioc_type = draw(st.sampled_from(sorted(types)))
    raw = draw(TYPED_VALUES[ioc_type])
    try:
        return normalize_ioc(ioc_type, raw)
    except InvalidIOC:
        assume(False)
        raise


def unpadded(ioc: tuple[str, str]) -> bool:
    """CSV cells and text lines are stripped (spreadsheets pad them): a command-line
    substring whose spaces matter (`"whoami "`) travels in STIX or MISP, not there."""
    return ioc[1] == ioc[1].strip()


@PROPERTIES
@given(ioc=normalised().filter(unpadded))
def test_a_normalised_ioc_reads_back_as_itself_from_a_csv_file(ioc):
    kind, value = ioc
    result = parse_csv(
        csv_text([["value", "type"], [value, kind]]), {"value": "value", "type": "type"}
    )
    assert pairs(result) == [ioc], result.skipped


@PROPERTIES
@given(ioc=normalised(STIX_PATTERNS))
def test_a_normalised_ioc_reads_back_as_itself_from_a_stix_indicator(ioc):
    kind, value = ioc
    result = parse_stix_bundle(indicator_bundle(STIX_PATTERNS[kind].format(v=stix_literal(value))))
    assert pairs(result) == [ioc], result.skipped


@PROPERTIES
@given(ioc=normalised(MISP_TYPES))
def test_a_normalised_ioc_reads_back_as_itself_from_a_misp_attribute(ioc):
    kind, value = ioc
    event = {"Event": {"Attribute": [{"type": MISP_TYPES[kind], "value": value, "to_ids": True}]}}
    assert pairs(parse_misp(json.dumps(event))) == [ioc]


@PROPERTIES
@given(ioc=normalised().filter(unpadded))
def test_a_normalised_ioc_the_text_format_can_tell_reads_back_as_itself(ioc):
    """A text list has no type column: a value whose type detection tells is read back as
    itself (others are reported, never guessed into another type)."""
    kind, value = ioc
    assume("\n" not in value and "\r" not in value and not value.lstrip().startswith("#"))
    assume(" #" not in value and "\t#" not in value)  # the trailing-comment separator
    result = parse_text(value)
    if detect_type(value) == kind:
        assert pairs(result) == [ioc], result.skipped
    else:
        assert all(c.value == value or c.type != kind for c in result.candidates)


@PROPERTIES
@given(
    iocs=st.lists(normalised().filter(unpadded), min_size=1, max_size=6),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    line_end=st.sampled_from(["\n", "\r\n"]),
    quote_all=st.booleans(),
    bom=st.booleans(),
    as_bytes=st.booleans(),
)
def test_a_csv_file_reads_the_same_whatever_its_delimiter_line_ends_and_encoding(
    iocs, delimiter, line_end, quote_all, bom, as_bytes
):
    rows = [["value", "type", "description"]]
    rows += [[value, kind, f'note {i}, "quoted";\n|\t'] for i, (kind, value) in enumerate(iocs)]
    mapping = {"value": "value", "type": "type", "description": "description"}
    plain = parse_csv(csv_text(rows), mapping)
    text = ("\ufeff" if bom else "") + csv_text(rows, delimiter, line_end, quote_all)
    spelled = parse_csv(text.encode() if as_bytes else text, mapping)
    assert pairs(spelled) == pairs(plain) == list(iocs)
    assert [c.description for c in spelled.candidates] == [c.description for c in plain.candidates]


@PROPERTIES
@given(
    values=st.lists(st.text(max_size=30), min_size=1, max_size=5),
    inside=st.booleans(),
)
def test_stix_string_literals_survive_any_text_and_ors_keep_every_value_in_order(values, inside):
    """`[file:name = 'a' OR file:name = 'b']` and `[file:name = 'a'] OR [file:name = 'b']`
    both stand for a and b, whatever the text (quotes, backslashes, newlines, brackets)."""
    comparisons = [f"file:name = {stix_literal(v)}" for v in values]
    pattern = (
        "[" + " OR ".join(comparisons) + "]"
        if inside
        else " OR ".join(f"[{c}]" for c in comparisons)
    )
    found, reasons = extract_pattern(pattern)
    assert reasons == []
    assert [(kind, raw) for kind, raw, _text in found] == [("file_name", v) for v in values]


@PROPERTIES
@given(
    ioc=normalised({"domain", "url", "ipv4"}),
    dot=st.sampled_from(["[.]", "(.)", "."]),
    dots=st.integers(1, 3),
    scheme=st.booleans(),
)
def test_a_defanged_value_reads_as_the_plain_one(ioc, dot, dots, scheme):
    """How reports publish IOCs: `hxxp://evil[.]example`, `198.51.100(.)7`."""
    kind, value = ioc
    spelled = value.replace(".", dot, dots)
    if scheme:
        spelled = spelled.replace("http", "hxxp", 1)
    assume(spelled != value and "#" not in value)
    assume(detect_type(value) == kind)
    note(f"written as {spelled!r}")
    result = parse_text(spelled)
    assert pairs(result) == [ioc], result.skipped


@PROPERTIES
@given(
    data=st.data(),
    vague=st.sampled_from(
        [("address", ["ipv4", "ipv6", "cidr"]), ("file", ["file_name", "file_path"])]
    ),
)
def test_the_vague_types_of_feeds_normalise_idempotently_to_a_precise_one(data, vague):
    """MISP's `ip-dst` and `filename` say "address" and "file": the precise type is read
    from the value's shape, and the result is a fixed point of both the vague and the
    precise type."""
    kind, precise = vague
    raw = data.draw(st.one_of(st.text(max_size=40), *(TYPED_VALUES[t] for t in precise)))
    try:
        ioc_type, value = normalize_as(kind, raw)
    except InvalidIOC:
        return
    assert ioc_type in precise
    assert normalize_as(kind, value) == (ioc_type, value)
    assert normalize_ioc(ioc_type, value) == (ioc_type, value)
