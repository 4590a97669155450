"""Properties of normalisation, for any input: total (only InvalidIOC) and idempotent.

Each type gets arbitrary text plus a strategy that produces mostly valid, oddly spelled
values, so the idempotence check runs on values that actually normalise.
"""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains, urls

from intel.parsing import IOC_TYPES, InvalidIOC, detect_type, normalize, normalize_ioc

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def spelled(chars: str, *, min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(alphabet=chars, min_size=min_size, max_size=max_size)


HEX = string.hexdigits
PATH_CHARS = "abcXYZ019_-. \\/:*?%$~é"
labels = spelled(string.ascii_letters + string.digits + "-_äößéЖ", max_size=12)

TYPED_VALUES: dict[str, st.SearchStrategy[str]] = {
    "md5": spelled(HEX + " ", min_size=30, max_size=34),
    "sha1": spelled(HEX + " ", min_size=38, max_size=42),
    "sha256": spelled(HEX + " ", min_size=62, max_size=66),
    "ipv4": st.one_of(
        st.ip_addresses(v=4).map(str), st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}")
    ),
    "ipv6": st.ip_addresses(v=6).map(lambda a: f"[{a.exploded.upper()}]"),
    "cidr": st.tuples(st.ip_addresses(), st.integers(0, 128)).map(lambda t: f"{t[0]}/{t[1]}"),
    "domain": st.one_of(
        domains(),
        st.lists(labels, min_size=2, max_size=4).map(".".join),
        domains().map(lambda d: d.upper().replace(".", "[.]", 1) + "."),
    ),
    "url": st.one_of(
        urls(),
        st.tuples(urls(), spelled("/%aZ é?#&=+:@[]", max_size=12)).map("".join),
        urls().map(lambda u: u.upper().replace("HTTP", "hxxp", 1)),
    ),
    "file_name": spelled(PATH_CHARS),
    "file_path": st.one_of(
        spelled(PATH_CHARS),
        st.tuples(
            st.sampled_from(["C:\\", "\\\\?\\c:/", "\\\\srv\\", "%TEMP%/", "/", "*"]),
            spelled(PATH_CHARS),
        ).map("".join),
    ),
    "registry_key": st.tuples(
        st.sampled_from(["HKEY_LOCAL_MACHINE\\", "HKCU\\", "\\REGISTRY\\USER\\", "*\\", ""]),
        spelled(PATH_CHARS),
    ).map("".join),
    "cmdline": st.one_of(
        st.text(max_size=40),
        spelled("re:(?i)ab.*+?|\\d[]{}^$-", max_size=20).map(lambda p: "re:" + p),
    ),
    "header_bytes": spelled(HEX + " :-x", max_size=40),
    "yara": st.one_of(
        st.text(max_size=60),
        st.sampled_from(
            [
                'rule a { strings: $s = "x" condition: $s }',
                'import "pe"\nrule b { condition: pe.is_pe }',
                'import "console"\nrule c { condition: true }',
                "rule d { condition: filename matches /evil/ }",
            ]
        ),
    ),
}


def values_for(ioc_type: str) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=80), TYPED_VALUES[ioc_type])


@PROPERTY_SETTINGS
@given(data=st.data(), ioc_type=st.sampled_from(IOC_TYPES))
def test_normalize_is_total_and_idempotent(data, ioc_type):
    value = data.draw(values_for(ioc_type))
    try:
        once = normalize(ioc_type, value)
    except InvalidIOC as exc:
        assert exc.message and exc.field == "value"
        return
    assert normalize(ioc_type, once) == once


@PROPERTY_SETTINGS
@given(data=st.data(), ioc_type=st.sampled_from(IOC_TYPES))
def test_normalize_ioc_is_idempotent_in_type_and_value(data, ioc_type):
    value = data.draw(values_for(ioc_type))
    try:
        kind, once = normalize_ioc(ioc_type, value)
    except InvalidIOC:
        return
    assert normalize_ioc(kind, once) == (kind, once)


@PROPERTY_SETTINGS
@given(value=st.one_of(st.text(max_size=80), *TYPED_VALUES.values()))
def test_detect_type_never_raises_and_detected_values_stay_detectable(value):
    kind = detect_type(value)
    assert kind is None or kind in IOC_TYPES
    if kind is None:
        return
    try:
        normalized_kind, normalized = normalize_ioc(kind, value)
    except InvalidIOC:
        return
    assert normalize_ioc(normalized_kind, normalized) == (normalized_kind, normalized)
