"""Properties of the parsers, for any input: they return a result or raise InvalidFeed.

Nothing a feed contains may crash an import with another exception: a bad object, row or
line is a Skipped entry, and only a feed unusable as a whole is InvalidFeed.
"""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intel.parsing import (
    IOC_TYPES,
    InvalidFeed,
    ParseResult,
    parse_csv,
    parse_misp,
    parse_stix_bundle,
    parse_stix_objects,
    parse_text,
)

PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
pattern_words = st.sampled_from(
    [
        "[",
        "]",
        "(",
        ")",
        " AND ",
        " OR ",
        " FOLLOWEDBY ",
        " NOT ",
        " = ",
        " != ",
        " IN ",
        " LIKE ",
        " MATCHES ",
        " ISSUBSET ",
        " WITHIN 5 SECONDS",
        " REPEATS 2 TIMES",
        " > ",
        "file:hashes.MD5",
        "file:hashes.'SHA-256'",
        "ipv4-addr:value",
        "domain-name:value",
        "url:value",
        "file:name",
        "process:command_line",
        "windows-registry-key:key",
        "x:y",
        "'d41d8cd98f00b204e9800998ecf8427e'",
        "'198.51.100.7'",
        "'10.1.2.3/8'",
        "'evil.example'",
        "'%.exe'",
        "'(a)\\\\1'",
        "42",
        "true",
        "h'ff'",
        "('a', 'b')",
        ",",
    ]
)
patterns = st.one_of(st.text(max_size=60), st.lists(pattern_words, max_size=14).map("".join))
indicators = st.fixed_dictionaries(
    {"type": st.just("indicator"), "pattern": patterns},
    optional={
        "id": st.text(max_size=12),
        "pattern_type": st.sampled_from(["stix", "yara", "sigma", 5]),
        "valid_from": st.one_of(st.text(max_size=25), st.just("2024-01-01T00:00:00Z")),
        "valid_until": st.one_of(st.text(max_size=25), st.integers()),
        "confidence": json_values,
        "labels": json_values,
        "revoked": json_values,
        "kill_chain_phases": json_values,
        "external_references": json_values,
        "object_marking_refs": json_values,
        "indicator_types": json_values,
    },
)
stix_objects = st.lists(
    st.one_of(indicators, json_values, st.fixed_dictionaries({"type": st.text(max_size=15)})),
    max_size=5,
)
misp_attributes = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(
            st.sampled_from(
                [
                    "md5",
                    "ip-dst",
                    "ip-dst|port",
                    "domain|ip",
                    "filename|sha256",
                    "regkey|value",
                    "yara",
                    "stix2-pattern",
                    "malware-sample",
                ]
            ),
            st.text(max_size=10),
        ),
        "value": st.one_of(st.text(max_size=40), patterns, json_values),
        "to_ids": st.one_of(st.booleans(), st.sampled_from(["0", "1"]), json_values),
        "deleted": json_values,
        "Tag": st.lists(st.fixed_dictionaries({"name": st.text(max_size=30)}), max_size=3),
        "object_relation": st.text(max_size=12),
        "uuid": json_values,
        "comment": json_values,
    },
)
misp_events = st.fixed_dictionaries(
    {"Attribute": st.lists(misp_attributes, max_size=4)},
    optional={
        "info": json_values,
        "threat_level_id": json_values,
        "Tag": json_values,
        "Object": st.lists(
            st.fixed_dictionaries(
                {"name": st.text(max_size=10), "Attribute": st.lists(misp_attributes, max_size=3)}
            ),
            max_size=2,
        ),
    },
)


def parses_or_refuses(parse, data) -> None:
    try:
        result = parse(data)
    except InvalidFeed as exc:
        assert exc.message
        return
    assert isinstance(result, ParseResult)
    for candidate in result.candidates:
        assert candidate.type in IOC_TYPES
    for skipped in result.skipped:
        assert skipped.ref and skipped.reason


@PROPERTY_SETTINGS
@given(text=st.one_of(st.text(), st.binary().map(bytes)))
def test_text_lists_never_raise_but_invalid_feed(text):
    parses_or_refuses(parse_text, text)


@PROPERTY_SETTINGS
@given(
    text=st.one_of(
        st.text(),
        st.lists(st.lists(st.text(max_size=20), max_size=4), max_size=5).map(
            lambda rows: "value,type,tags\n" + "\n".join(",".join(row) for row in rows)
        ),
    )
)
def test_csv_never_raises_but_invalid_feed(text):
    parses_or_refuses(lambda data: parse_csv(data, {"value": "value", "type": "type"}), text)


@PROPERTY_SETTINGS
@given(data=st.one_of(st.text(), json_values.map(json.dumps), st.binary()))
def test_stix_bundles_of_arbitrary_text_never_raise_but_invalid_feed(data):
    parses_or_refuses(parse_stix_bundle, data)


@PROPERTY_SETTINGS
@given(objects=stix_objects)
def test_stix_bundles_of_odd_objects_never_raise_but_invalid_feed(objects):
    parses_or_refuses(parse_stix_bundle, json.dumps({"type": "bundle", "objects": objects}))
    parses_or_refuses(parse_stix_objects, objects)


@PROPERTY_SETTINGS
@given(
    data=st.one_of(
        st.text(),
        json_values.map(json.dumps),
        misp_events.map(lambda event: {"Event": event}),
        st.lists(misp_events.map(lambda event: {"Event": event}), max_size=2).map(
            lambda events: {"response": events}
        ),
    )
)
def test_misp_never_raises_but_invalid_feed(data):
    parses_or_refuses(parse_misp, data)
