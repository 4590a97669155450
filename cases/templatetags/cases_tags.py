"""Template helpers of the cases pages: `{% load cases_tags %}`."""

from __future__ import annotations

from django import template

from cases import sla

register = template.Library()

_LABELS = dict(sla.SLA_STATES)


@register.filter
def sla_state(case) -> str:
    """The case's overall SLA state now (from its derived fields; no query)."""
    return sla.state_of(case)


@register.filter
def sla_label(state: str) -> str:
    return _LABELS.get(state, state)


@register.filter
def seconds(span) -> int:
    """A timedelta as whole seconds (for data-clock-target / data-clock-paused)."""
    return int(span.total_seconds()) if span is not None else 0
