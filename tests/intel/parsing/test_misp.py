"""MISP events: to_ids, attribute types, composites, objects, tags and threat level."""

import json

import pytest

from intel.parsing import InvalidFeed, parse_misp

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"


def attribute(kind: str, value: str, *, to_ids=True, **fields) -> dict:
    return {
        "type": kind,
        "value": value,
        "to_ids": to_ids,
        "category": "Network activity",
        **fields,
    }


def event(*attributes: dict, **fields) -> dict:
    return {
        "Event": {
            "info": "Emotet wave",
            "threat_level_id": "1",
            "Attribute": list(attributes),
            **fields,
        }
    }


def iocs(result) -> list[tuple[str, str]]:
    return [(c.type, c.value) for c in result.candidates]


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("md5", MD5.upper(), [("md5", MD5)]),
        ("sha256", SHA256, [("sha256", SHA256)]),
        ("ip-dst", "198.51.100.7", [("ipv4", "198.51.100.7")]),
        ("ip-src", "2001:db8::1", [("ipv6", "2001:db8::1")]),
        ("ip-dst", "198.51.100.0/24", [("cidr", "198.51.100.0/24")]),
        ("ip-dst|port", "198.51.100.7|443", [("ipv4", "198.51.100.7")]),
        ("domain", "Evil.Example", [("domain", "evil.example")]),
        ("hostname", "c2.evil.example", [("domain", "c2.evil.example")]),
        (
            "domain|ip",
            "evil.example|198.51.100.7",
            [("domain", "evil.example"), ("ipv4", "198.51.100.7")],
        ),
        ("url", "http://evil.example/gate.php", [("url", "http://evil.example/gate.php")]),
        ("filename", "Invoice.exe", [("file_name", "invoice.exe")]),
        (
            "filename",
            "C:\\Users\\Public\\Invoice.exe",
            [("file_path", "c:\\users\\public\\invoice.exe")],
        ),
        ("filename|sha256", f"invoice.exe|{SHA256}", [("sha256", SHA256)]),
        ("malware-sample", f"invoice.zip|{MD5}", [("md5", MD5)]),
        ("regkey", "HKLM\\Software\\Run\\evil", [("registry_key", "hklm\\software\\run\\evil")]),
        (
            "regkey|value",
            "HKCU\\Software\\Run\\evil|C:\\evil.exe",
            [("registry_key", "hkcu\\software\\run\\evil")],
        ),
        (
            "yara",
            'rule r { strings: $a = "x" condition: $a }',
            [("yara", 'rule r { strings: $a = "x" condition: $a }')],
        ),
        ("stix2-pattern", f"[file:hashes.MD5 = '{MD5}']", [("md5", MD5)]),
    ],
)
def test_attribute_types_map_onto_ioc_types(kind, value, expected):
    result = parse_misp(event(attribute(kind, value)))
    assert iocs(result) == expected
    assert result.skipped == []


def test_composite_values_keep_the_other_part_in_the_description():
    result = parse_misp(event(attribute("filename|md5", f"invoice.exe|{MD5}", comment="dropper")))
    assert result.candidates[0].description == "dropper; filename: invoice.exe"


def test_hostnames_match_exactly_and_domains_match_subdomains():
    hostname, domain = attribute("hostname", "a.evil.example"), attribute("domain", "evil.example")
    result = parse_misp(event(hostname, domain))
    assert [c.domain_exact for c in result.candidates] == [True, False]


def test_to_ids_false_deleted_and_unknown_types_are_skipped_with_reasons():
    result = parse_misp(
        event(
            attribute("ip-dst", "198.51.100.7", to_ids=False, uuid="u-1"),
            attribute("ip-dst", "198.51.100.8", to_ids="0"),
            attribute("ip-dst", "198.51.100.9", deleted=True),
            attribute("ssdeep", "3:abc:def"),
            attribute("md5", "not a hash"),
            attribute("md5", MD5, to_ids="1"),
            "not an attribute",
        )
    )
    assert iocs(result) == [("md5", MD5)]
    assert [(s.ref, s.reason) for s in result.skipped] == [
        ("Event.Attribute[0] u-1", "to_ids is false"),
        ("Event.Attribute[1]", "to_ids is false"),
        ("Event.Attribute[2]", "deleted"),
        ("Event.Attribute[3]", "MISP attribute type 'ssdeep' is not supported"),
        (
            "Event.Attribute[4]",
            "md5 must be 32 hex characters; 'n' at position 1 is not a hex digit",
        ),
        ("Event.Attribute[6]", "not a MISP attribute"),
    ]


def test_object_attributes_count_and_relations_refine_generic_types():
    process = {
        "name": "process",
        "Attribute": [
            attribute("text", "powershell -nop -w hidden", object_relation="command-line"),
            attribute("text", "just a note", object_relation="comment"),
        ],
    }
    file_object = {"name": "file", "Attribute": [attribute("sha256", SHA256)]}
    result = parse_misp(event(Object=[process, file_object]))
    assert iocs(result) == [("cmdline", "powershell -nop -w hidden"), ("sha256", SHA256)]
    assert [(s.ref, s.reason) for s in result.skipped] == [
        ("Event.Object[0].Attribute[1]", "MISP attribute type 'text' is not supported")
    ]


def test_tags_give_tlp_techniques_tags_and_the_threat_level_gives_severity():
    tagged = attribute(
        "md5",
        MD5,
        uuid="5f0c2b1e-0000-4000-8000-000000000001",
        Tag=[
            {"name": "tlp:red"},
            {"name": 'misp-galaxy:mitre-attack-pattern="PowerShell - T1059.001"'},
            {"name": 'misp-galaxy:malpedia="Emotet"'},
        ],
    )
    result = parse_misp(
        event(
            tagged,
            attribute("domain", "evil.example"),
            Tag=[
                {"name": "tlp:amber"},
                {"name": 'misp-galaxy:threat-actor="TA542"'},
                {"name": "Phishing"},
                {"name": "tlp:ex:chr"},
            ],
        )
    )
    first, second = result.candidates
    assert first.tlp == "red"  # the attribute's own marking wins over the event's
    assert second.tlp == "amber"
    assert first.attack_techniques == ["T1059.001"]
    assert first.tags == ["malware:emotet", "threat-actor:ta542", "phishing", "tlp:ex:chr"]
    assert first.severity == second.severity == "high"
    assert first.external_id == "5f0c2b1e-0000-4000-8000-000000000001"
    assert second.description == "Emotet wave"


@pytest.mark.parametrize(("level", "severity"), [("2", "medium"), (3, "low"), ("4", None)])
def test_threat_levels(level, severity):
    result = parse_misp(event(attribute("md5", MD5), threat_level_id=level))
    assert result.candidates[0].severity == severity


def test_rest_search_responses_with_several_events_are_accepted():
    document = {"response": [event(attribute("md5", MD5)), event(attribute("md5", "x"))]}
    result = parse_misp(json.dumps(document))
    assert iocs(result) == [("md5", MD5)]
    assert result.skipped[0].ref == "Event[1].Attribute[0]"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "malformed JSON"),
        ("[]", "no MISP event"),
        ('{"type": "bundle", "objects": []}', "not a MISP event"),
        ("[1, 2]", "not a MISP event"),
        ('{"response": []}', "no MISP event"),
    ],
)
def test_documents_that_are_not_misp_are_invalid_feeds(document, message):
    with pytest.raises(InvalidFeed, match=message):
        parse_misp(document)
