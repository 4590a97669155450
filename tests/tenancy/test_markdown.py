"""Markdown rendering: formatting survives, nothing executable or fetching does."""

import pytest
from django.template import Context, Template

from tenancy.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, render_markdown


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("**bold** and `code`", "<strong>bold</strong> and <code>code</code>"),
        ("> quoted\n\n- a\n- b", "<blockquote>"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "<table>"),
        ("```\n<b>x</b>\n```", "&lt;b&gt;x&lt;/b&gt;"),
    ],
)
def test_markdown_formats(source, expected):
    assert expected in render_markdown(source)


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "![pixel](https://tracker.example/p.gif)",
        '<div onclick="x()">hi</div>',
        "<iframe src=//evil></iframe>",
        '[x](https://e.example "t" onmouseover="x()")',
    ],
)
def test_no_raw_html_or_dangerous_url_survives(source):
    """Parse what comes out: only allowlisted elements and attributes, only safe URLs
    (raw HTML in the source is shown as text, which is harmless)."""
    elements = _elements(str(render_markdown(source)))
    for tag, attrs in elements:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}, (tag, name)
            if name == "href":
                assert value.split(":", 1)[0].lower() in ("http", "https", "mailto"), value


def _elements(html: str) -> list[tuple[str, list]]:
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(html)
    return found


def test_links_are_kept_but_cannot_open_a_door():
    html = str(render_markdown("[runbook](https://wiki.example/runbook)"))
    assert 'href="https://wiki.example/runbook"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_the_template_filter_is_safe_and_empty_is_empty():
    template = Template("{% load stopclock %}[{{ body|markdown }}][{{ none|markdown }}]")
    out = template.render(Context({"body": "*hi* <b>x</b>", "none": None}))
    assert out == "[<p><em>hi</em> &lt;b&gt;x&lt;/b&gt;</p>][]"


def test_duration_filter_uses_the_one_format():
    import datetime as dt

    template = Template("{% load stopclock %}{{ a|duration }}|{{ b|duration }}|{{ c|duration }}")
    out = template.render(Context({"a": dt.timedelta(minutes=90), "b": 42, "c": None}))
    assert out == "1.5 h|42 s|—"
