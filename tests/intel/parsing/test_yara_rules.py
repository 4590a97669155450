"""YARA: compile errors with their line, includes and unsafe modules refused, scanning."""

import pytest

from intel.parsing import InvalidIOC, compile_yara, scan_bytes, validate_yara
from intel.parsing.yara_rules import ALLOWED_MODULES

RULE = """
rule evil_marker : demo
{
    strings:
        $a = "EVIL-MARKER"
    condition:
        $a
}
"""


def test_a_valid_rule_compiles_and_scans():
    compiled = compile_yara(RULE)
    assert compiled.rule_names == ("evil_marker",)
    assert compiled.source == RULE.strip()
    assert scan_bytes(compiled, b"xx EVIL-MARKER xx") == ["evil_marker"]
    assert scan_bytes(compiled, b"benign") == []


def test_a_syntax_error_names_its_line():
    source = "rule broken\n{\n    condition: true and\n}\n"
    with pytest.raises(InvalidIOC) as caught:
        validate_yara(source)
    assert caught.value.field == "value"
    assert caught.value.message.startswith("line 4: syntax error")
    with pytest.raises(InvalidIOC, match=r'^line 3: undefined identifier "nope"$'):
        validate_yara("rule a\n{\n    condition: nope\n}")


def test_include_directives_are_refused():
    with pytest.raises(InvalidIOC, match=r"^line 1: include directives are not allowed"):
        validate_yara('include "/etc/passwd"\nrule a { condition: true }')


@pytest.mark.parametrize("module", ["console", "tests", "cuckoo", "magic"])
def test_modules_outside_the_allowed_list_are_refused_with_their_line(module):
    source = f'import "pe"\n\nimport "{module}"\nrule a {{ condition: true }}'
    with pytest.raises(InvalidIOC, match=rf'^line 3: module "{module}" is not allowed'):
        validate_yara(source)


@pytest.mark.parametrize("module", sorted(ALLOWED_MODULES))
def test_allowed_modules_compile(module):
    assert compile_yara(f'import "{module}"\nrule a {{ condition: true }}').imports == (module,)


def test_imports_hidden_in_comments_strings_and_regexps_are_not_imports():
    source = r"""
    // import "console"
    /* import "console"
       still a comment */
    rule a {
        strings:
            $import = "import \"console\""
            $re = /import "console"/
        condition: $import or $re or #import > 0
    }
    """
    assert compile_yara(source).imports == ()


def test_an_import_after_a_rule_on_the_same_line_is_still_seen():
    with pytest.raises(InvalidIOC, match='module "console" is not allowed'):
        validate_yara('rule a { condition: true } import "console"')


def test_external_variables_are_defined_and_passed_at_scan_time():
    compiled = compile_yara("rule named { condition: filename matches /\\.hta$/ }")
    assert scan_bytes(compiled, b"", externals={"filename": "invoice.hta"}) == ["named"]
    assert scan_bytes(compiled, b"", externals={"filename": "invoice.pdf"}) == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("   \n", "yara rule is empty"),
        ("// only a comment", "no rule"),
        ("rule a { condition: true }\x00", "NUL"),
        ("rule a { condition: true }\nrule a { condition: true }", "duplicated identifier"),
    ],
)
def test_unusable_sources_are_refused(source, message):
    with pytest.raises(InvalidIOC, match=message):
        validate_yara(source)
