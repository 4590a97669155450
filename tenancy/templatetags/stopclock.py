"""Template filters every app uses: `{% load stopclock %}`.

{{ note.body|markdown }}            sanitised Markdown (tenancy.markdown)
{{ span|duration }}                 "12 min", "3.5 h" (metrics.summary.format_duration)
{{ value|isoformat }}               ISO 8601 for <time datetime> and data-clock-since
{{ payload|pretty_json }}           indented JSON, for a <pre>
"""

from __future__ import annotations

import datetime as dt
import json

from django import template
from django.utils.safestring import SafeString

from metrics.summary import format_duration
from tenancy.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str | None) -> SafeString:
    return render_markdown(text)


@register.filter
def duration(value: dt.timedelta | float | int | None) -> str:
    """A duration as people say it; an em dash when unknown."""
    if value is None or value == "":
        return "—"
    try:
        return format_duration(value)
    except (TypeError, ValueError):
        return "—"


@register.filter
def isoformat(value: dt.datetime | None) -> str:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else ""


@register.filter
def pretty_json(value) -> str:
    """Indented JSON (escaped by the template as usual)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
