"""Template helpers of the metrics app: `{% load metrics_tags %}`.

{% case_regulatory_panel case %}   the case page's regulatory panel (deadlines counting
                                   down, notifications), from metrics.selectors
{% case_href case_id %}            the case page's URL, or "" when the cases pages are
                                   not installed
{{ key|phase_label }}, {{ key|clock_label }}, {{ seconds|duration_or_dash }}
"""

from __future__ import annotations

from django import template

from metrics import selectors
from metrics.clocks import CLOCKS_BY_KEY, PHASES_BY_KEY
from metrics.regulatory import REGIMES
from metrics.targets import SEVERITIES_BY_KEY
from tenancy import roles
from tenancy.context import current_tenant

register = template.Library()


@register.filter
def phase_label(key: str) -> str:
    phase = PHASES_BY_KEY.get(key)
    return phase.label if phase else key


@register.filter
def clock_label(key: str) -> str:
    clock = CLOCKS_BY_KEY.get(key)
    return clock.label if clock else key


@register.filter
def severity_label(key: str) -> str:
    severity = SEVERITIES_BY_KEY.get(key)
    return severity.label if severity else key


@register.filter
def regime_label(key: str) -> str:
    regime = REGIMES.get(key)
    return regime.label if regime else key


@register.simple_tag
def case_href(case_id) -> str:
    return selectors.case_url(case_id) or ""


@register.inclusion_tag("metrics/_case_regulatory.html", takes_context=True)
def case_regulatory_panel(context, case):
    """The regulatory panel for a case page: `{% case_regulatory_panel case %}`."""
    request = context.get("request")
    role = getattr(request, "role", None)
    return {
        "regulatory": selectors.case_regulatory(case),
        "tenant": current_tenant(),
        "can_write": role in (roles.WRITERS - {roles.AUDITOR, roles.INTEGRATION}),
    }
