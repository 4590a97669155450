"""CSV import through a column mapping."""

import re
from datetime import UTC, datetime

import pytest

from intel.parsing import CsvMapping, InvalidFeed, parse_csv

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
FULL_MAPPING = {
    "value": "Indicator",
    "type": "Kind",
    "confidence": "Confidence",
    "severity": "Severity",
    "tlp": "TLP",
    "tags": "Tags",
    "valid_until": "Expires",
    "description": "Notes",
}


def test_every_mapped_column_reaches_the_candidate():
    text = (
        "Indicator,Kind,Confidence,Severity,TLP,Tags,Expires,Notes\n"
        f'{MD5.upper()},md5,80,High,TLP:AMBER,"Emotet; loader,Dropper",2025-12-31,first stage\n'
    )
    (candidate,) = parse_csv(text, FULL_MAPPING).candidates
    assert (candidate.type, candidate.value, candidate.original_value) == ("md5", MD5, MD5.upper())
    assert candidate.confidence == 80
    assert candidate.severity == "high"
    assert candidate.tlp == "amber"
    assert candidate.tags == ["emotet", "loader", "dropper"]
    # A bare date is the whole day: valid until the next midnight.
    assert candidate.valid_until == datetime(2026, 1, 1, tzinfo=UTC)
    assert candidate.description == "first stage"


def test_types_are_detected_when_there_is_no_type_column_and_defanged_values_refanged():
    text = "value\nhxxp://evil[.]example/gate.php\n198.51.100.7\nevil[.]example\n"
    result = parse_csv(text, CsvMapping(value="value"))
    assert [(c.type, c.value) for c in result.candidates] == [
        ("url", "http://evil.example/gate.php"),
        ("ipv4", "198.51.100.7"),
        ("domain", "evil.example"),
    ]


def test_type_aliases_and_a_default_type_are_understood():
    text = "value,type\n198.51.100.0/24,IP\nevil.example,hostname\n" + f"{MD5},hash\n"
    result = parse_csv(text, {"value": "value", "type": "type"})
    assert [(c.type, c.value) for c in result.candidates] == [
        ("cidr", "198.51.100.0/24"),
        ("domain", "evil.example"),
        ("md5", MD5),
    ]
    commands = parse_csv("cmd\nrundll32 javascript:\n", {"value": "cmd", "default_type": "cmdline"})
    assert [(c.type, c.value) for c in commands.candidates] == [("cmdline", "rundll32 javascript:")]


def test_row_errors_are_skipped_with_their_spreadsheet_row_number():
    text = (
        "Indicator,Kind,Confidence,Severity,TLP,Tags,Expires,Notes\n"
        f"{MD5},md5,,,,,,\n"
        f"{MD5[:-1]},md5,,,,,,\n"
        ",domain,,,,,,\n"
        "evil.example,domain,high,,,,,\n"
        "evil.example,domain,,,purple,,,\n"
        "evil.example,nope,,,,,,\n"
        "10.1.2.3/8,cidr,,,,,,\n"
        "just words,,,,,,,\n"
        "evil.example,domain,,,,,someday,\n"
        "evil.example,domain,,urgent,,,,\n"
        "\n"
        '"multi\nline",domain,,,,,,\n'
        "\n"
    )
    result = parse_csv(text, FULL_MAPPING)
    assert len(result.candidates) == 1
    assert [(s.ref, s.reason.split(",")[0]) for s in result.skipped] == [
        ("row 3", "md5 must be 32 hex characters"),
        ("row 4", "value is empty"),
        ("row 5", "confidence must be a whole number from 0 to 100"),
        ("row 6", "tlp must be one of clear"),
        ("row 7", "unknown IOC type 'nope'; expected one of md5"),
        ("row 8", "cidr '10.1.2.3/8' has host bits set: the network is 10.0.0.0/8"),
        ("row 9", "cannot tell what kind of IOC 'just words' is; give its type"),
        ("row 10", "valid_until must be an ISO 8601 timestamp"),
        ("row 11", "severity must be one of info"),
        ("row 13", "domain 'multi\\nline': label 'multi\\nline' may only contain letters"),
    ]


def test_semicolon_delimited_bytes_with_a_bom_are_read():
    data = "\ufeffvalue;tags\nevil.example;a,b\n".encode()
    (candidate,) = parse_csv(data, {"value": "value", "tags": "tags"}).candidates
    assert candidate.value == "evil.example"
    assert candidate.tags == ["a", "b"]


def test_header_names_match_case_and_space_insensitively():
    result = parse_csv(" Value , Type \nevil.example,domain\n", {"value": "VALUE", "type": "type"})
    assert [c.value for c in result.candidates] == ["evil.example"]


@pytest.mark.parametrize(
    ("text", "mapping", "message"),
    [
        ("", {"value": "value"}, "a header row naming the columns is required"),
        ("\n\n", {"value": "value"}, "a header row naming the columns is required"),
        ("ioc,kind\nx,y\n", {"value": "value"}, "column 'value' (mapped to value) is not in"),
        ("value,type\n", {"value": "value", "type": "kind"}, "column 'kind' (mapped to type)"),
        ("value,value\n", {"value": "value"}, "appears more than once"),
        ("value\n", {"value": "value", "colour": "c"}, "unknown mapping keys: colour"),
        ("value\n", {"type": "t"}, "must name the column holding the value"),
        (b"\xff\xfe", {"value": "value"}, "not UTF-8"),
    ],
)
def test_unusable_files_and_mappings_are_invalid_feeds(text, mapping, message):
    with pytest.raises(InvalidFeed, match=re.escape(message)):
        parse_csv(text, mapping)


def test_a_field_larger_than_the_csv_limit_is_an_invalid_feed():
    with pytest.raises(InvalidFeed, match="malformed CSV"):
        parse_csv('value\n"' + "a" * 200_000 + '"\n', {"value": "value"})
