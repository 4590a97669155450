"""The shared field rules every parser applies to confidence, severity, TLP and the rest."""

from datetime import UTC, datetime

import pytest

from intel.parsing import InvalidIOC, IOCCandidate
from intel.parsing.types import (
    clean_text,
    normalize_tag,
    parse_confidence,
    parse_severity,
    parse_technique,
    parse_timestamp,
    parse_tlp,
    phase_for_kill_chain,
    quote_value,
    strictest_tlp,
)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), (" 80 ", 80), (0, 0), (100.0, 100)]
)
def test_confidence_is_a_whole_number_from_0_to_100(value, expected):
    assert parse_confidence(value) == expected


@pytest.mark.parametrize("value", [101, -1, "high", True, 50.5, "1e2"])
def test_bad_confidence_is_refused_on_its_field(value):
    with pytest.raises(InvalidIOC) as caught:
        parse_confidence(value)
    assert caught.value.field == "confidence"


def test_severity_and_tlp_accept_common_spellings():
    assert parse_severity("High") == "high"
    assert parse_severity("Informational") == "info"
    assert parse_tlp("TLP:AMBER+STRICT") == "amber+strict"
    assert parse_tlp("white") == "clear"
    with pytest.raises(InvalidIOC, match="severity must be one of"):
        parse_severity("urgent")
    with pytest.raises(InvalidIOC, match="tlp must be one of"):
        parse_tlp("tlp:ex:chr")
    assert strictest_tlp(["green", None, "red", "amber"]) == "red"
    assert strictest_tlp([None]) is None


def test_techniques_phases_and_tags():
    assert parse_technique(" t1059.001 ") == "T1059.001"
    with pytest.raises(InvalidIOC, match=r"T1059 or T1059\.001"):
        parse_technique("CAPEC-66")
    assert phase_for_kill_chain(["Lateral Movement", "execution"]) == "lateral_movement"
    assert phase_for_kill_chain(["weaponization"]) is None
    assert normalize_tag("  Malware:  Emotet ") == "malware: emotet"


def test_timestamps_are_aware_utc_and_a_bare_date_ends_at_the_next_midnight():
    assert parse_timestamp("2024-05-01T12:00:00+02:00", field="t") == datetime(
        2024, 5, 1, 10, tzinfo=UTC
    )
    assert parse_timestamp("2024-05-01T12:00:00", field="t") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_timestamp("2024-05-01", field="t") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_timestamp("2024-05-01", field="t", end_of_day=True) == datetime(
        2024, 5, 2, tzinfo=UTC
    )
    with pytest.raises(InvalidIOC, match="valid_until must be an ISO 8601 timestamp"):
        parse_timestamp("9999-12-31", field="valid_until", end_of_day=True)


def test_free_text_is_safe_to_store_and_quoted_values_are_short():
    assert clean_text("a\x00b\ud800c") == "ab?c"
    assert quote_value("c:\\temp") == "'c:\\temp'"
    assert quote_value("x" * 500).endswith("…")
    assert quote_value("a\nb") == "'a\\nb'"


def test_candidates_do_not_share_their_lists():
    tags = ["a", "a", "b"]
    first = IOCCandidate(type="md5", value="x", original_value="x", tags=tags)
    second = IOCCandidate(type="md5", value="y", original_value="y", tags=tags)
    first.tags.append("c")
    assert first.tags == ["a", "b", "c"]
    assert second.tags == ["a", "b"]
