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


@register.filter
def action_what(action) -> str:
    """What a response action acts on, in a few words ("sha256 0f3a… pid 4242")."""
    from cases.actions.registry import ACTION_TYPES

    spec = ACTION_TYPES.get(getattr(action, "type", ""))
    return spec.describe(action.parameters) if spec else ""


@register.filter
def action_spec(action_type: str):
    """The registry entry of an action type (label, destructive, milestone, executor)."""
    from cases.actions.registry import ACTION_TYPES

    return ACTION_TYPES.get(action_type)
