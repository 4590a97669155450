"""YARA rules from feeds and analysts: compiled without includes and with a short module list.

A YARA rule is code that runs on our workers. Two things would let a rule reach beyond the
bytes it is given, and both are refused:

- `include "..."` reads a file on the server at compile time (and echoes parts of it back
  in error messages). yara-python's `includes=False` makes the compiler itself refuse it.
- Modules: `pe`, `elf`, `dotnet`, `math`, `hash`, `string` and `time` only parse the scanned
  data or compute on it, and are allowed. `console` writes to the worker's log (a rule could
  flood it), `tests` is YARA's internal test module, and any module a future YARA build adds
  is refused until someone reviews it. YARA offers no switch for this, so the source is
  tokenised the way YARA's own lexer does it (comments, "text strings" and /regexps/ are
  skipped; in YARA `/` always opens a regexp, division is `\\`) and every `import` is checked.

Rules may use the external variables LOKI/THOR-style rules expect (`filename`, `filepath`,
`extension`, `filetype`, `owner`); they are empty unless the scan passes values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import yara

from .types import InvalidIOC

ALLOWED_MODULES = frozenset({"pe", "elf", "dotnet", "math", "hash", "string", "time"})
MAX_SOURCE_LENGTH = 1 << 20
SCAN_TIMEOUT_SECONDS = 10
EXTERNALS: dict[str, str] = {
    "filename": "",
    "filepath": "",
    "extension": "",
    "filetype": "",
    "owner": "",
}


@dataclass(frozen=True)
class CompiledYara:
    """A validated rule set, ready to scan with; `source` is the normalised text stored."""

    source: str
    rules: yara.Rules
    rule_names: tuple[str, ...]
    imports: tuple[str, ...]
    warnings: tuple[str, ...]


def normalize_source(source: str) -> str:
    """One spelling of a rule set: Unix newlines, no surrounding blank lines."""
    return source.replace("\r\n", "\n").replace("\r", "\n").strip()


def compile_yara(source: str) -> CompiledYara:
    """Compile a rule set, or raise `InvalidIOC` naming the line, as YARA reported it."""
    if not isinstance(source, str):
        raise InvalidIOC("yara rule must be text")
    text = normalize_source(source)
    if not text:
        raise InvalidIOC("yara rule is empty")
    if len(text) > MAX_SOURCE_LENGTH:
        raise InvalidIOC(f"yara rule is too long ({len(text)} characters, at most 1 MiB)")
    if "\x00" in text:
        raise InvalidIOC("yara rule contains a NUL character")
    imports = _check_imports(text)
    try:
        rules = yara.compile(source=text, includes=False, externals=EXTERNALS)
    except yara.SyntaxError as exc:
        raise InvalidIOC(_explain(str(exc))) from None
    except (yara.Error, ValueError, UnicodeError) as exc:
        raise InvalidIOC(f"yara rule does not compile: {exc}") from None
    names = tuple(rule.identifier for rule in rules)
    if not names:
        raise InvalidIOC("yara source contains no rule")
    return CompiledYara(
        source=text,
        rules=rules,
        rule_names=names,
        imports=imports,
        warnings=tuple(getattr(rules, "warnings", ()) or ()),
    )


def validate_yara(source: str) -> str:
    """Check a rule set compiles under our policy; return the normalised source to store."""
    return compile_yara(source).source


def scan_bytes(
    compiled: CompiledYara,
    data: bytes,
    *,
    externals: dict[str, str] | None = None,
    timeout: int = SCAN_TIMEOUT_SECONDS,
) -> list[str]:
    """Names of the rules that match `data`. Raises `TimeoutError` when a scan runs too long."""
    values = {**EXTERNALS, **{k: v for k, v in (externals or {}).items() if k in EXTERNALS}}
    try:
        matches = compiled.rules.match(data=bytes(data), externals=values, timeout=timeout)
    except yara.TimeoutError:
        raise TimeoutError(f"yara scan took longer than {timeout} s") from None
    return [match.rule for match in matches]


def _explain(message: str) -> str:
    # yara-python already says "line N: ..."; only the include refusal needs our reason.
    if "includes are disabled" in message:
        line = message.split(":", 1)[0]
        return f"{line}: include directives are not allowed (a rule must not read server files)"
    return message


_WORD = re.compile(r"[A-Za-z0-9_]+")
_MODULE_NAME = re.compile(r'\s*"((?:[^"\\\n]|\\.)*)"')


def _check_imports(source: str) -> tuple[str, ...]:
    """Every module the source imports, refusing those outside `ALLOWED_MODULES`."""
    imports: list[str] = []
    for line, name in _iter_imports(source):
        if name not in ALLOWED_MODULES:
            allowed = ", ".join(sorted(ALLOWED_MODULES))
            raise InvalidIOC(f'line {line}: module "{name}" is not allowed (allowed: {allowed})')
        imports.append(name)
    return tuple(dict.fromkeys(imports))


def _iter_imports(source: str) -> Iterator[tuple[int, str]]:
    """Yield (line, module) for each `import "module"` outside comments, strings and regexps."""
    i, n, line = 0, len(source), 1
    while i < n:
        ch = source[i]
        if ch == "\n":
            line += 1
            i += 1
        elif source.startswith("//", i):
            i = _find(source, "\n", i)
        elif source.startswith("/*", i):
            end = _find(source, "*/", i + 2) + 2
            line += source.count("\n", i, end)
            i = end
        elif ch in '"/':
            i = _skip_literal(source, i, ch)
        elif ch in "$#@!" or ch == "_" or (ch.isascii() and ch.isalpha()):
            # $a, #a, @a, !a are string identifiers, never the keyword.
            word = _WORD.match(source, i + 1 if ch in "$#@!" else i)
            word_end = word.end() if word else i + 1
            if ch not in "$#@!" and word and word.group() == "import":
                found = _MODULE_NAME.match(source, _skip_blank(source, word_end))
                if found:
                    yield line + source.count("\n", word_end, found.start(1)), found.group(1)
            i = word_end
        else:
            i += 1


def _skip_blank(source: str, i: int) -> int:
    """Index of the next token after whitespace and comments: YARA's lexer skips both
    between `import` and the module name (`import /* x */ "console"` imports console)."""
    while i < len(source):
        if source[i].isspace():
            i += 1
        elif source.startswith("//", i):
            i = _find(source, "\n", i)
        elif source.startswith("/*", i):
            i = _find(source, "*/", i + 2) + 2
        else:
            break
    return i


def _skip_literal(source: str, start: int, quote: str) -> int:
    """Index after a "text string" or /regexp/; an unterminated one ends at the line's end."""
    i = start + 1
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
        elif ch == quote:
            return i + 1
        elif ch == "\n":
            return i
        else:
            i += 1
    return len(source)


def _find(source: str, token: str, start: int) -> int:
    index = source.find(token, start)
    return len(source) if index < 0 else index
