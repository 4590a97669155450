"""Property tests of Markdown rendering (case descriptions, notes): whatever an analyst or
an attacker quoting a phishing mail types, the HTML that comes out

- holds only elements Markdown itself makes (raw HTML in the source is shown as text, even
  an allowlisted `<b>`: no raw HTML survives),
- holds only allowlisted attributes (no `on*=` handler, no `style`, no `src`),
- links only to http, https and mailto (or a relative address): no `javascript:`,
  `vbscript:` or `data:` however it is spelled (case, entities, whitespace, control
  characters, reference links, autolinks),
- and contains no `<script`, `<iframe`, `<img` or `<svg` anywhere.

The source is built from hostile fragments, Markdown syntax and arbitrary text.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tenancy.markdown import ALLOWED_ATTRIBUTES, render_markdown
from tests.conftest import HEAVY

PROPERTIES = settings(
    max_examples=1500 if HEAVY else 150,
    deadline=None,
    database=None,
    derandomize=not HEAVY,
    suppress_health_check=[HealthCheck.too_slow],
)
# What Python-Markdown (fenced_code, tables, sane_lists, nl2br) produces; the allowlist's
# other tags (b, i, kbd, abbr, sub, sup, del, s) could only come from raw HTML.
MARKDOWN_TAGS = {
    "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
    "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
SAFE_SCHEMES = {"http", "https", "mailto"}
HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<iframe src=//evil.example></iframe>",
    "<b onclick=alert(1)>bold</b>",
    "<i>i</i>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="https://ok.example" onmouseover="alert(1)">x</a>',
    "<style>*{color:red}</style>",
    "<!-- comment --><p>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<form action=javascript:alert(1)><input autofocus onfocus=alert(1)>",
    "<base href=//evil.example/>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<object data=javascript:alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](  javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](\x01javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    '[x](https://ok.example "t" onmouseover="alert(1)")',
    '[x](https://ok.example/"onmouseover="alert(1))',
    "<javascript:alert(1)>",
    "<https://ok.example/path>",
    "<mailto:a@ok.example>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    '[ref][r]\n\n[r]: <javascript:alert(1)> "t"',
    "![pixel](https://tracker.example/p.gif)",
    "![x](javascript:alert(1))",
    "[![i](x)](javascript:alert(1))",
    "`<script>`",
    "```\n<script>alert(1)</script>\n```",
    "&lt;script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "\\<script>",
    "<scr<script>ipt>alert(1)</script>",
    "<<script>script>",
    '<a href="&#x6A;avascript:alert(1)">x</a>',
]
SYNTAX = ["**", "*", "_", "`", "```", "\n", "\n\n", "> ", "- ", "1. ", "# ", "[", "]", "(",
          ")", "<", ">", '"', "'", "&", "\\", "  \n", "| a | b |\n|---|:-:|\n| "]  # fmt: skip

# What reaches the renderer came from the database: UTF-8 text (the API refuses a lone
# surrogate with a 400 before anything is stored).
UTF8 = st.characters(codec="utf-8")
MARKUP = "\\`*_[]()<>#+-.!|&~=:\r\n"

sources = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.sampled_from(SYNTAX), st.text(UTF8, max_size=12)),
    max_size=12,
).map("".join)


class Elements(HTMLParser):
    """Every element of the output, with its attributes, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))

    handle_startendtag = handle_starttag


def scheme(url: str) -> str | None:
    """The scheme a browser would see (the URL standard: entities decoded, leading and
    trailing controls and spaces stripped, tabs and newlines removed anywhere, case
    folded); None for a relative address."""
    text = re.sub(r"^[\x00-\x20]+|[\x00-\x20]+$", "", html.unescape(url))
    text = re.sub(r"[\t\n\r]", "", text).lower()
    match = re.match(r"([a-z][a-z0-9+.\-]*):", text)
    return match.group(1) if match else None


@PROPERTIES
@given(source=sources)
def test_rendered_markdown_holds_no_raw_html_no_handler_and_no_dangerous_link(source):
    output = str(render_markdown(source))
    note(f"rendered: {output!r}")
    parser = Elements()
    parser.feed(output)
    parser.close()
    for tag, attrs in parser.found:
        assert tag in MARKDOWN_TAGS, f"<{tag}> survived"
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
        for name, value in attrs:
            assert name in allowed, f"<{tag} {name}=> survived"
            if name == "href":
                assert scheme(value or "") in SAFE_SCHEMES | {None}, f"link to {value!r}"
    lowered = output.lower()
    for raw in ("<script", "<iframe", "<img", "<svg", "<style", "<object", "<base", "<meta"):
        assert raw not in lowered


@PROPERTIES
@given(
    text=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cc",), exclude_characters=MARKUP),
        max_size=60,
    )
)
def test_plain_text_reads_as_itself(text):
    """Text with no Markdown in it comes out as the same text (escaped, not lost)."""
    output = str(render_markdown(text))
    parser = Elements()
    parser.feed(output)
    assert [tag for tag, _ in parser.found] in ([], ["p"])
    visible = html.unescape(re.sub(r"<[^>]+>", "", output))
    assert " ".join(visible.split()) == " ".join(text.split())
