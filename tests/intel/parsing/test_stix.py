"""STIX 2.1 bundles and TAXII objects: what becomes an IOC, and what is reported skipped."""

import json
from datetime import UTC, datetime

import pytest

from intel.parsing import (
    InvalidFeed,
    iter_stix_objects,
    parse_stix_bundle,
    parse_stix_objects,
)

SHA256 = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
TLP_AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
TLP_RED_V1 = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"


def indicator(pattern: str, number: int = 1, /, **fields) -> dict:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{number:012d}",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        **fields,
    }


def bundle(*objects: dict) -> dict:
    return {
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": list(objects),
    }


def iocs(result) -> list[tuple[str, str]]:
    return [(c.type, c.value) for c in result.candidates]


def reasons(result) -> list[str]:
    return [s.reason for s in result.skipped]


def parse_pattern(pattern: str):
    return parse_stix_bundle(bundle(indicator(pattern)))


# --- the feed as a whole ---


def test_malformed_json_is_an_invalid_feed_naming_the_position():
    with pytest.raises(InvalidFeed, match=r"malformed JSON at line 2, column 1"):
        parse_stix_bundle('{"type": "bundle",\n}')


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[]", "a JSON object, not a list"),
        ('{"type": "indicator"}', "not a STIX bundle"),
        ('"bundle"', "not a string"),
        ('{"type": "bundle", "objects": {}}', "'objects' must be a list"),
    ],
)
def test_json_that_is_not_a_bundle_is_an_invalid_feed(document, message):
    with pytest.raises(InvalidFeed, match=message):
        parse_stix_bundle(document)


def test_bytes_with_a_byte_order_mark_are_accepted():
    data = b"\xef\xbb\xbf" + json.dumps(bundle(indicator(f"[file:hashes.MD5 = '{MD5}']"))).encode()
    assert iocs(parse_stix_bundle(data)) == [("md5", MD5)]


def test_bundle_with_10000_bad_patterns_reports_each_one():
    objects = [indicator(f"[file:hashes.MD5 = '{n:032x}'", n) for n in range(10_000)]
    result = parse_stix_bundle(json.dumps(bundle(*objects)))
    assert result.candidates == []
    assert len(result.skipped) == 10_000
    assert len({s.ref for s in result.skipped}) == 10_000
    assert all(r.startswith("pattern does not parse: 1:") for r in reasons(result))


def test_objects_that_are_not_stix_objects_are_reported():
    result = parse_stix_objects([42, {"id": "x"}, indicator(f"[file:hashes.MD5 = '{MD5}']")])
    assert [(s.ref, s.reason) for s in result.skipped] == [
        ("objects[0]", "not a STIX object but a number"),
        ("objects[1]", "has no type"),
    ]
    assert len(result.candidates) == 1


def test_a_bundle_without_indicators_says_what_it_had():
    result = parse_stix_bundle(bundle({"type": "ipv4-addr", "value": "192.0.2.1"}))
    assert reasons(result) == ["contains no indicator objects (found: 1 ipv4-addr)"]


def test_taxii_envelopes_and_plain_lists_are_objects_too():
    ind = indicator(f"[file:hashes.MD5 = '{MD5}']")
    assert list(iter_stix_objects({"objects": [ind], "more": False})) == [ind]
    assert list(iter_stix_objects([ind])) == [ind]
    assert list(iter_stix_objects(ind)) == [ind]
    assert iocs(parse_stix_objects(iter_stix_objects({"objects": [ind]}))) == [("md5", MD5)]
    with pytest.raises(InvalidFeed):
        list(iter_stix_objects("nope"))


def test_only_the_latest_version_of_an_indicator_counts():
    old = indicator(f"[file:hashes.MD5 = '{MD5}']", modified="2024-01-01T00:00:00Z")
    new = indicator(f"[file:hashes.'SHA-256' = '{SHA256}']", modified="2024-02-01T00:00:00Z")
    result = parse_stix_objects([new, old])
    assert iocs(result) == [("sha256", SHA256)]
    assert reasons(result) == ["superseded by the version modified 2024-02-01T00:00:00Z"]


# --- patterns ---


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("file:hashes.'SHA-256'", SHA256.upper(), ("sha256", SHA256)),
        ("file:hashes.SHA256", SHA256, ("sha256", SHA256)),
        ("file:hashes.'SHA256'", SHA256, ("sha256", SHA256)),
        ("file:hashes.MD5", MD5, ("md5", MD5)),
        (
            "file:hashes.'SHA-1'",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ),
        ("ipv4-addr:value", "198.51.100.7", ("ipv4", "198.51.100.7")),
        ("ipv4-addr:value", "198.51.100.0/24", ("cidr", "198.51.100.0/24")),
        ("ipv6-addr:value", "2001:DB8::1", ("ipv6", "2001:db8::1")),
        ("ipv6-addr:value", "::ffff:198.51.100.7", ("ipv4", "198.51.100.7")),
        ("domain-name:value", "Evil.Example", ("domain", "evil.example")),
        ("url:value", "HTTP://evil.example:80/x", ("url", "http://evil.example/x")),
        ("file:name", "Invoice.PDF.exe", ("file_name", "invoice.pdf.exe")),
        (
            "windows-registry-key:key",
            "HKEY_CURRENT_USER\\\\Software\\\\Evil",
            ("registry_key", "hkcu\\software\\evil"),
        ),
        ("process:command_line", "Powershell -Enc", ("cmdline", "powershell -enc")),
    ],
)
def test_equality_comparisons_become_iocs(path, value, expected):
    result = parse_pattern(f"[{path} = '{value}']")
    assert iocs(result) == [expected]
    assert result.skipped == []


def test_or_and_in_give_one_ioc_per_value():
    result = parse_pattern(
        f"[file:hashes.MD5 = '{MD5}' OR ipv4-addr:value IN ('198.51.100.1', '198.51.100.2')]"
        " OR [domain-name:value = 'evil.example']"
    )
    assert iocs(result) == [
        ("md5", MD5),
        ("ipv4", "198.51.100.1"),
        ("ipv4", "198.51.100.2"),
        ("domain", "evil.example"),
    ]
    assert {c.external_id for c in result.candidates} == {
        "indicator--00000000-0000-4000-8000-000000000001"
    }


def test_thousands_of_ored_values_are_not_a_recursion_problem():
    values = " OR ".join(f"file:hashes.MD5 = '{n:032x}'" for n in range(3000))
    result = parse_pattern(f"[{values}]")
    assert len(result.candidates) == 3000
    assert result.skipped == []


def test_like_and_matches_map_where_they_mean_something():
    result = parse_pattern(
        "[file:name LIKE '%\\\\AppData\\\\Roaming\\\\%.exe']"
        " OR [file:name LIKE 'invoice_%.exe']"
        " OR [process:command_line LIKE '%-EncodedCommand%']"
        " OR [process:command_line LIKE 'cmd.exe /c %']"
        " OR [process:command_line MATCHES '(?i)powershell.+-enc']"
        " OR [ipv4-addr:value ISSUBSET '198.51.100.0/24']"
    )
    assert iocs(result) == [
        ("file_path", "*\\appdata\\roaming\\*.exe"),
        ("file_name", "invoice?*.exe"),
        ("cmdline", "-encodedcommand"),
        ("cmdline", "re:(?s)^cmd\\.exe\\ /c\\ .*$"),
        ("cmdline", "re:(?i)powershell.+-enc"),
        ("cidr", "198.51.100.0/24"),
    ]
    assert result.skipped == []


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("[domain-name:value LIKE '%.evil.example']", "LIKE has no IOC equivalent for domain"),
        ("[file:name MATCHES '^a.*']", "MATCHES has no IOC equivalent for file:name"),
        ("[file:name NOT = 'a.exe']", "negated comparison"),
        ("[file:name != 'a.exe']", "operator != is not supported"),
        ("[file:size > 10]", "file:size is not an object path we match on"),
        ("[file:hashes.'SHA-512' = 'ab']", "hash algorithm 'SHA-512' is not supported"),
        ("[network-traffic:dst_port = 443]", "not an object path we match on"),
        ("[file:name = 42]", "not a string"),
        ("[process:command_line MATCHES '(a)\\\\1']", "back-references"),
        ("[ipv4-addr:value = '10.1.2.3/8']", "host bits set"),
        (
            "[domain-name:value = 'a.example' AND domain-name:value = 'b.example']",
            "comparisons joined by AND are not one IOC",
        ),
        (
            "[domain-name:value = 'a.example'] AND [url:value = 'http://b.example/']",
            "observations joined by AND must all be seen",
        ),
        (
            "[domain-name:value = 'a.example'] FOLLOWEDBY [url:value = 'http://b.example/']",
            "FOLLOWEDBY",
        ),
        ("[ipv4-addr:value = '198.51.100.1'] WITHIN 300 SECONDS", "qualifier WITHIN 300 SECONDS"),
        ("[ipv4-addr:value = '198.51.100.1'] REPEATS 5 TIMES", "qualifier REPEATS 5 TIMES"),
        (
            "[ipv4-addr:value = '198.51.100.1'] START t'2024-01-01T00:00:00Z' "
            "STOP t'2024-02-01T00:00:00Z'",
            "qualifier START",
        ),
        ("(" * 2000 + "[file:name = 'x']" + ")" * 2000, "nested too deeply"),
    ],
)
def test_what_cannot_be_one_value_is_skipped_with_its_reason(pattern, reason):
    result = parse_pattern(pattern)
    assert result.candidates == []
    assert len(result.skipped) == 1
    assert reason in result.skipped[0].reason
    assert result.skipped[0].ref == "indicator--00000000-0000-4000-8000-000000000001"


def test_a_hash_anchors_its_observation_and_the_narrowing_conditions_are_reported():
    result = parse_pattern(
        f"[file:hashes.MD5 = '{MD5}' AND file:hashes.'SHA-256' = '{SHA256}'"
        " AND file:name = 'a.exe' AND file:size > 10]"
    )
    assert iocs(result) == [("md5", MD5), ("sha256", SHA256)]
    assert reasons(result) == [
        "file:name = 'a.exe': not imported; it narrows the file hash in the same observation, "
        "which was imported",
        "file:size > 10: not imported; it narrows the file hash in the same observation, "
        "which was imported",
    ]


def test_good_and_bad_alternatives_of_one_pattern_are_both_accounted_for():
    result = parse_pattern(
        "[domain-name:value = 'evil.example'] OR [file:name NOT = 'x']"
        " OR ([url:value = 'http://a.example/'] FOLLOWEDBY [url:value = 'http://b.example/'])"
    )
    assert iocs(result) == [("domain", "evil.example")]
    assert len(result.skipped) == 2


# --- indicator metadata and context ---


def test_indicator_fields_map_onto_the_candidate():
    ind = indicator(
        f"[file:hashes.MD5 = '{MD5}']",
        name="Dropper",
        description="First stage dropper",
        valid_from="2024-03-01T10:00:00.000Z",
        valid_until="2024-06-01T00:00:00+02:00",
        revoked=True,
        confidence=85,
        labels=["Malicious-Activity", "Dropper"],
        kill_chain_phases=[
            {"kill_chain_name": "mitre-attack", "phase_name": "execution"},
            {"kill_chain_name": "mitre-attack", "phase_name": "persistence"},
        ],
        external_references=[
            {"source_name": "mitre-attack", "external_id": "T1059.001"},
            {"source_name": "capec", "external_id": "CAPEC-1"},
        ],
        object_marking_refs=[TLP_AMBER_STRICT],
    )
    (candidate,) = parse_stix_bundle(bundle(ind)).candidates
    assert candidate.valid_from == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert candidate.valid_until == datetime(2024, 5, 31, 22, tzinfo=UTC)
    assert candidate.revoked is True
    assert candidate.confidence == 85
    assert candidate.tags == ["malicious-activity", "dropper"]
    assert candidate.phase == "persistence"  # the furthest phase wins
    assert candidate.attack_techniques == ["T1059.001"]
    assert candidate.tlp == "amber+strict"
    assert candidate.description == "First stage dropper"
    assert candidate.original_value == MD5


@pytest.mark.parametrize(
    ("phase_name", "phase"),
    [
        ("initial-access", "initial_infection"),
        ("defense-evasion", "initial_infection"),
        ("privilege-escalation", "persistence"),
        ("discovery", "lateral_movement"),
        ("command-and-control", "lateral_movement"),
        ("credential-access", "lateral_movement"),
        ("reconnaissance", None),
    ],
)
def test_kill_chain_phases_map_onto_our_phases(phase_name, phase):
    ind = indicator(
        f"[file:hashes.MD5 = '{MD5}']",
        kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": phase_name}],
    )
    assert parse_stix_bundle(bundle(ind)).candidates[0].phase == phase


def test_tlp_comes_from_markings_and_the_strictest_wins():
    custom = {
        "type": "marking-definition",
        "id": "marking-definition--11111111-1111-4111-8111-111111111111",
        "definition_type": "tlp",
        "definition": {"tlp": "green"},
    }
    ind = indicator(f"[file:hashes.MD5 = '{MD5}']", object_marking_refs=[custom["id"]])
    assert parse_stix_bundle(bundle(custom, ind)).candidates[0].tlp == "green"
    ind["object_marking_refs"].append(TLP_RED_V1)
    assert parse_stix_bundle(bundle(custom, ind)).candidates[0].tlp == "red"


def test_relationships_turn_related_objects_into_tags_and_techniques():
    ind = indicator(f"[file:hashes.MD5 = '{MD5}']")
    malware = {"type": "malware", "id": "malware--1", "name": "Emotet", "is_family": True}
    actor = {"type": "intrusion-set", "id": "intrusion-set--1", "name": "TA542"}
    technique = {
        "type": "attack-pattern",
        "id": "attack-pattern--1",
        "name": "PowerShell",
        "external_references": [{"source_name": "mitre-attack", "external_id": "T1059.001"}],
        "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "execution"}],
    }

    def rel(target: str) -> dict:
        return {
            "type": "relationship",
            "id": f"relationship--{target}",
            "relationship_type": "indicates",
            "source_ref": ind["id"],
            "target_ref": target,
        }

    relationships = [rel(target["id"]) for target in (malware, actor, technique)]
    result = parse_stix_bundle(bundle(*relationships, malware, actor, technique, ind))
    (candidate,) = result.candidates
    assert candidate.tags == ["malware:emotet", "intrusion-set:ta542"]
    assert candidate.attack_techniques == ["T1059.001"]
    assert candidate.phase == "initial_infection"


def test_yara_indicators_become_yara_iocs_and_other_pattern_types_are_skipped():
    rule = 'rule evil { strings: $a = "evil" condition: $a }'
    result = parse_stix_bundle(
        bundle(
            indicator(rule, 1, pattern_type="yara"),
            indicator("rule broken {", 2, pattern_type="yara"),
            indicator("title: x", 3, pattern_type="sigma"),
        )
    )
    assert iocs(result) == [("yara", rule)]
    assert "syntax error" in result.skipped[0].reason
    assert result.skipped[1].reason == "pattern_type 'sigma' is not supported (only stix and yara)"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"confidence": 101}, "confidence must be a whole number from 0 to 100"),
        ({"valid_from": "yesterday"}, "valid_from must be an ISO 8601 timestamp"),
        ({"valid_until": "2023-01-01T00:00:00Z"}, "valid_until is not after valid_from"),
        ({"revoked": "yes"}, "revoked must be true or false"),
        ({"pattern": None}, "has no pattern"),
        ({"indicator_types": ["benign"]}, "indicator_types says benign"),
    ],
)
def test_indicators_with_bad_fields_are_skipped_with_the_field_named(fields, reason):
    result = parse_stix_bundle(bundle(indicator(f"[file:hashes.MD5 = '{MD5}']", **fields)))
    assert result.candidates == []
    assert reason in result.skipped[0].reason
