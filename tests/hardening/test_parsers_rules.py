"""Property tests of the rule uploads: YARA rule sets and Sigma rules.

YARA:
- Any text compiles to a rule set or is refused with `InvalidIOC` (never another error).
- The module allowlist cannot be smuggled past: sources are built from top-level imports
  (allowed and forbidden modules, with any whitespace or comments between `import` and the
  module name), comments, strings and regexps that merely *contain* import text, includes
  and rules. A source is accepted exactly when its real imports are all allowed and it has
  no include, and then it imports exactly those modules.

Sigma:
- Any YAML document (a rule skeleton with arbitrary detection, logsource and metadata, or
  anything at all) compiles or is refused with `InvalidRule`/`UnsupportedRule`.
"""

from __future__ import annotations

import uuid

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from endpoints.detection.engine import compile_rule
from endpoints.detection.errors import RuleError
from intel.parsing import InvalidIOC, compile_yara
from intel.parsing.yara_rules import ALLOWED_MODULES
from tests.conftest import HEAVY

PROPERTIES = settings(
    max_examples=400 if HEAVY else 80,
    deadline=None,
    database=None,
    derandomize=not HEAVY,
    suppress_health_check=[HealthCheck.too_slow],
)
FORBIDDEN_MODULES = ("console", "tests", "cuckoo", "magic", "evil")
BETWEEN = [" ", "  ", "\t", "\n", " /* note */ ", "/**/", " // note\n", "\n/* a\nb */\n"]


@st.composite
def yara_sources(draw) -> tuple[str, list[str], bool]:
    """(source, the modules it really imports, whether it has an include)."""
    imports: list[str] = []
    include = False
    pieces: list[str] = []
    for n in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["import", "comment", "string", "regexp", "rule", "include"]))
        module = draw(st.sampled_from(sorted(ALLOWED_MODULES) + list(FORBIDDEN_MODULES)))
        if kind == "import":
            imports.append(module)
            pieces.append(f'import{draw(st.sampled_from(BETWEEN))}"{module}"')
        elif kind == "comment":
            pieces.append(
                draw(st.sampled_from([f'// import "{module}"\n', f'/* import "{module}" */']))
            )
        elif kind == "string":
            pieces.append(f'rule s{n} {{ strings: $a = "import \\"{module}\\"" condition: $a }}')
        elif kind == "regexp":
            pieces.append(f'rule x{n} {{ strings: $a = /import "{module}"/ condition: $a }}')
        elif kind == "rule":
            pieces.append(f"rule r{n} {{ condition: true }}")
        else:
            include = True
            pieces.append('include "/etc/passwd"')
    source = draw(st.sampled_from(["\n", " ", "\r\n"])).join(pieces)
    return source, imports, include


@PROPERTIES
@given(source=yara_sources())
def test_a_yara_source_is_accepted_exactly_when_its_real_imports_are_allowed(source):
    text, imports, include = source
    forbidden = [m for m in imports if m not in ALLOWED_MODULES]
    has_rule = "rule " in text
    try:
        compiled = compile_yara(text)
    except InvalidIOC as exc:
        note(f"refused: {exc.message}")
        assert forbidden or include or not has_rule, f"an allowed source was refused: {text!r}"
        return
    assert not forbidden, f"forbidden module {forbidden} accepted in {text!r}"
    assert not include
    assert compiled.imports == tuple(dict.fromkeys(imports))


@PROPERTIES
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.lists(
            st.sampled_from(
                ["rule", "a", "{", "}", "condition:", "strings:", "$a", "=", '"x"', "/x/",
                 "true", "and", "import", '"pe"', "pe.is_pe", "//", "/*", "*/", "\n", "\\",
                 "{ 4D 5A }", "[2-4]", "#a", "@a[1]", "meta:", "k", "uint16(0)", "0x5A4D"]
            ),
            max_size=30,
        ).map(" ".join),
    )
)  # fmt: skip
def test_any_yara_text_compiles_or_is_refused_with_a_reason(text):
    try:
        compiled = compile_yara(text)
    except InvalidIOC as exc:
        assert exc.message and exc.field == "value"
        return
    assert compiled.rule_names
    assert set(compiled.imports) <= ALLOWED_MODULES


yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["*", "?", "%admins%", "re:(a+)+", "\\", "|", "1.2.3.0/24", "C:\\x\\*.exe"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELD_NAMES = ["Image", "CommandLine", "ParentImage", "User", "Hashes", "TargetFilename",
               "DestinationIp", "DestinationPort", "QueryName", "TargetObject", "x"]  # fmt: skip
MODIFIERS = ["", "|contains", "|startswith", "|endswith", "|re", "|all", "|cidr", "|base64", "|gt",
             "|windash", "|contains|all", "|expand", "|exists", "|cased", "|bogus"]  # fmt: skip
selection_values = st.one_of(
    st.text(max_size=20), st.lists(st.text(max_size=10), min_size=1, max_size=3), st.integers()
)
selections = st.dictionaries(
    st.tuples(st.sampled_from(FIELD_NAMES), st.sampled_from(MODIFIERS)).map("".join),
    st.integers(0, 9).flatmap(lambda roll: yaml_values if roll == 5 else selection_values),
    min_size=1,
    max_size=3,
)
conditions = st.one_of(
    st.sampled_from(["sel", "sel and not flt", "1 of sel*", "all of them", "sel | count() > 5",
                     "sel and", "nosuch", "not sel", "(sel or flt) and sel"]),
    st.text(max_size=20),
)  # fmt: skip
logsources = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "category": st.sampled_from(
                [
                    "process_creation",
                    "network_connection",
                    "registry_set",
                    "file_event",
                    "dns_query",
                    "x",
                ]
            ),
            "product": st.sampled_from(["windows", "linux", "macos", "y"]),
            "service": st.sampled_from(["sysmon", "security", "z"]),
        },
    ),
    yaml_values,
)


def mostly(valid: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """Valid nine times in ten: a rule reaches the compiler's deeper parts often."""
    return st.integers(0, 9).flatmap(lambda roll: odd if roll == 5 else valid)


rule_ids = st.integers(0, 2**128 - 1).map(lambda n: str(uuid.UUID(int=n)))
logsources = mostly(
    st.fixed_dictionaries(
        {"product": st.just("windows"),
         "category": st.sampled_from(["process_creation", "network_connection",
                                      "registry_set", "file_event", "dns_query"])},
    ),
    logsources,
)  # fmt: skip


@st.composite
def sigma_documents(draw) -> str:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.text(max_size=200))
    detection = {"sel": draw(selections), "condition": draw(conditions)}
    if draw(st.booleans()):
        detection["flt"] = draw(mostly(selections, yaml_values))
    document = {
        "title": draw(mostly(st.text(min_size=1, max_size=30), yaml_values)),
        "id": draw(mostly(rule_ids, yaml_values)),
        "status": draw(mostly(st.sampled_from(["test", "stable", "experimental"]), yaml_values)),
        "logsource": draw(logsources),
        "detection": draw(mostly(st.just(detection), yaml_values)),
        "level": draw(mostly(st.sampled_from(["low", "medium", "high", "critical"]), yaml_values)),
        "tags": draw(
            mostly(
                st.lists(st.sampled_from(["attack.t1059", "attack.persistence", "attack.g0007"])),
                yaml_values,
            )
        ),
    }
    for key in draw(st.lists(st.sampled_from(list(document)), max_size=1)):
        document.pop(key, None)
    return yaml.safe_dump(document, allow_unicode=True)


@PROPERTIES
@given(text=sigma_documents())
def test_any_sigma_document_compiles_or_is_refused_with_a_reason(text):
    try:
        compiled = compile_rule(text)
    except RuleError as exc:
        assert str(exc)
        return
    assert compiled.rule_id and compiled.source == text


@pytest.mark.parametrize(
    "source",
    [
        'import /* a comment */ "console"\nrule a { condition: true }',
        'import // a comment\n"console"\nrule a { condition: console.log("x") }',
        'import\n/* a\ncomment */\n"tests"\nrule a { condition: true }',
    ],
)
def test_a_comment_between_import_and_the_module_does_not_hide_it(source):
    """Found by the import property: the check matched `import "name"` with whitespace only
    between, while YARA's lexer also skips comments there, so `import /**/ "console"` was
    compiled with the console module the allowlist refuses."""
    with pytest.raises(InvalidIOC, match="is not allowed"):
        compile_yara(source)


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", [1]), ("id", 5), ("id", {"a": 1}), ("condition", [1]), ("condition", None)],
)
def test_a_sigma_rule_with_a_field_of_the_wrong_type_is_a_400(field, value, tenant_a, api_client):
    """Found by the Sigma property: pySigma trusts `id` to be text (a list failed inside
    it with AttributeError) and the engine trusted each condition to be text (TypeError):
    both were a 500 on upload."""
    detection = {"sel": {"Image": "x"}, "condition": "sel"}
    document = {
        "title": "typed",
        "id": "3f6c8b1e-1111-4222-8333-444455556666",
        "logsource": {"category": "process_creation", "product": "windows"},
        "detection": detection,
    }
    if field == "condition":
        detection["condition"] = value
    else:
        document[field] = value
    client = api_client(tenant_a, "admin")
    response = client.post(
        "/api/v1/detection-rules/", {"yaml": yaml.safe_dump(document)}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "yaml" in response.json()["error"]["fields"]
