"""Markdown for analysts' text (case descriptions, notes), rendered safely.

Two walls, so one bug does not become stored XSS:
1. Python-Markdown runs with its raw-HTML block and inline processors removed, so any HTML an
   analyst (or an attacker quoting a phishing mail) types is shown as text, never as markup.
2. The HTML it produces goes through nh3 (ammonia) with a short allowlist of tags and
   attributes; links keep only http, https and mailto URLs (no `javascript:`, no `data:`)
   and always get `rel="noopener noreferrer nofollow"`. Images are not allowed: a note must
   not make the analyst's browser fetch anything.

    from tenancy.markdown import render_markdown
    render_markdown("**isolated** host `ws-042`")  # SafeString, ready for a template

Templates use the filter: `{% load stopclock %}{{ note.body|markdown }}`.
"""

from __future__ import annotations

import threading

import markdown as _markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Longer text is cut before rendering: a note is not a place for a 10 MB log dump (attach
# it as evidence), and rendering time must stay bounded.
MAX_SOURCE_CHARS = 200_000

_local = threading.local()


def _renderer() -> _markdown.Markdown:
    """One Markdown instance per thread (instances are not thread-safe), raw HTML disabled."""
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        renderer = _markdown.Markdown(
            extensions=["fenced_code", "tables", "sane_lists", "nl2br"],
            output_format="html",
        )
        # Raw HTML in the source becomes escaped text instead of markup.
        renderer.preprocessors.deregister("html_block")
        renderer.inlinePatterns.deregister("html")
        _local.renderer = renderer
    return renderer


def sanitise_html(html: str) -> str:
    """Keep only the allowlisted tags, attributes and URL schemes."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str | None) -> SafeString:
    """Markdown source to sanitised HTML, marked safe for templates."""
    if not text:
        return mark_safe("")
    renderer = _renderer()
    renderer.reset()
    html = renderer.convert(str(text)[:MAX_SOURCE_CHARS])
    return mark_safe(sanitise_html(html))
