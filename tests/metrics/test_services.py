"""Metrics services: target history (and the function cases asks for targets), regulatory
flags and notifications, reports that fail, and the case page's regulatory panel."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from metrics import selectors, services
from metrics.models import Report
from metrics.periods import parse_period
from tenancy.context import tenant_context
from tenancy.errors import Conflict
from tenancy.models import AuditEvent
from tests.cases.factories import make_case

pytestmark = pytest.mark.django_db


def test_targets_for_is_a_drop_in_for_cases_sla(tenant_a):
    """With no change made, metrics answers what cases.sla answers from the defaults."""
    from cases.sla import targets_for as cases_targets_for

    with tenant_context(tenant_a):
        case = make_case(severity="critical", phase="persistence")
        assert selectors.targets_for(case.phase, case.severity, case.detected_at) == (
            cases_targets_for(case)
        )


def test_a_leads_target_judges_the_cases_detected_after_it(tenant_a):
    """cases.sla asks metrics: a changed target drives the live clocks of later cases."""
    from cases import sla

    with tenant_context(tenant_a):
        earlier = make_case(severity="high", phase="persistence")
        services.sla_target_set(
            phase="persistence", severity="high", clock="triage", target=dt.timedelta(minutes=5)
        )
        later = make_case(severity="high", phase="persistence")
        later.detected_at = timezone.now() + dt.timedelta(seconds=1)
        assert sla.targets_for(earlier)["triage"] == dt.timedelta(minutes=15)
        assert sla.targets_for(later)["triage"] == dt.timedelta(minutes=5)
        triage = next(s for s in sla.clock_states(later) if s.key == "triage")
        assert triage.deadline == later.detected_at + dt.timedelta(minutes=5)


def test_targets_for_follows_the_history(tenant_a):
    with tenant_context(tenant_a):
        soon = timezone.now() + dt.timedelta(hours=1)
        services.sla_target_set(
            phase="persistence",
            severity="critical",
            clock="contain",
            target=dt.timedelta(hours=2),
            effective_from=soon,
        )
        services.sla_target_set(
            phase="persistence",
            severity="critical",
            clock="remediate",
            target=None,
            effective_from=soon,
        )
        before = selectors.targets_for("persistence", "critical", timezone.now())
        after = selectors.targets_for("persistence", "critical", soon + dt.timedelta(minutes=1))
    assert before["contain"] == dt.timedelta(hours=4) and "remediate" in before
    assert after["contain"] == dt.timedelta(hours=2)
    assert "remediate" not in after  # no target from then on: measured, not judged


def test_target_cache_is_per_tenant_and_forgotten_on_change(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        services.sla_target_set(
            phase="persistence", severity="low", clock="triage", target=dt.timedelta(minutes=5)
        )
        a = selectors.targets_for("persistence", "low", timezone.now())["triage"]
    with tenant_context(tenant_b):
        b = selectors.targets_for("persistence", "low", timezone.now())["triage"]
    assert (a, b) == (dt.timedelta(minutes=5), dt.timedelta(minutes=15))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"phase": "exfiltration"}, "phase"),
        ({"severity": "urgent"}, "severity"),
        ({"clock": "close"}, "clock"),
        ({"target": dt.timedelta(days=400)}, "target"),
        ({"target": dt.timedelta(seconds=1.5)}, "target"),
        ({"effective_from": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "effective_from"),
    ],
)
def test_sla_target_validation(tenant_a, kwargs, field):
    values = {
        "phase": "persistence",
        "severity": "low",
        "clock": "triage",
        "target": dt.timedelta(minutes=10),
        **kwargs,
    }
    with tenant_context(tenant_a), pytest.raises(ValidationError) as caught:
        services.sla_target_set(**values)
    assert field in caught.value.message_dict


def test_two_changes_at_one_instant_conflict(tenant_a):
    at = timezone.now() + dt.timedelta(days=1)
    values = {
        "phase": "persistence",
        "severity": "low",
        "clock": "triage",
        "target": dt.timedelta(minutes=10),
        "effective_from": at,
    }
    with tenant_context(tenant_a):
        services.sla_target_set(**values)
        with pytest.raises(Conflict):
            services.sla_target_set(**values)


def test_regulatory_rules(tenant_a):
    now = timezone.now()
    with tenant_context(tenant_a):
        case = make_case()
        with pytest.raises(ValidationError) as caught:
            services.regulatory_flag_create(
                case=case, regime="gdpr", notifiable=False, aware_at=now
            )
        assert "not_notified_reason" in caught.value.message_dict
        with pytest.raises(ValidationError):
            services.regulatory_flag_create(
                case=case, regime="dora", aware_at=now + dt.timedelta(days=1)
            )
        with pytest.raises(ValidationError):
            services.regulatory_flag_create(case=case, regime="fisma", aware_at=now)
        dora = services.regulatory_flag_create(
            case=case, regime="dora", aware_at=now, classified_at=now
        )
        statuses = {s.key: s for s in selectors.flag_deadlines(dora, now)}
        assert statuses["initial_notification"].due_at == now + dt.timedelta(hours=4)
        assert statuses["intermediate_report"].due_at is None  # waits for the initial one
        note = services.regulatory_notification_record(
            flag=dora, deadline="initial_notification", sent_at=now, recipient="ECB"
        )
        services.regulatory_notification_update(notification=note, reference="ECB-7")
        with pytest.raises(ValidationError):
            services.regulatory_notification_update(notification=note, deadline="x")
        undocumented = services.regulatory_flag_create(
            case=case, regime="gdpr", notifiable=False, aware_at=now, not_notified_reason="x"
        )
        with pytest.raises(Conflict):
            services.regulatory_notification_record(
                flag=undocumented, deadline="authority_notification", sent_at=now, recipient="x"
            )
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "regulatory_flag.create",
        "regulatory_notification.record",
        "regulatory_notification.update",
    } <= actions


def test_a_failing_render_marks_the_report_failed(tenant_a, monkeypatch):
    from metrics import pdf

    def broken(*args, **kwargs):
        raise RuntimeError("font cache unavailable")

    monkeypatch.setattr(pdf, "render_report", broken)
    with tenant_context(tenant_a):
        report = services.report_request(period=parse_period({"period": "2026-10"}))
        report = services.report_generate(report_id=report.pk)
        assert report.status == Report.Status.FAILED and "font cache" in report.error
        assert AuditEvent.objects.filter(action="report.fail").exists()
        again = services.report_generate(report_id=report.pk)  # a retried task does nothing
    assert again.status == Report.Status.FAILED


def test_case_page_panel_renders_deadlines_counting_down(tenant_a, member):
    from tenancy import roles

    user = member(tenant_a, roles.ANALYST)
    with tenant_context(tenant_a):
        case = make_case()
        services.regulatory_flag_create(
            case=case, regime="nis2", aware_at=timezone.now() - dt.timedelta(hours=2)
        )
        request = RequestFactory().get("/")
        request.user, request.role, request.tenant = user, roles.ANALYST, tenant_a
        html = Template("{% load metrics_tags %}{% case_regulatory_panel case %}").render(
            Context({"case": case, "request": request})
        )
        include = Template('{% include "metrics/_case_regulatory.html" %}').render(
            Context({"regulatory": selectors.case_regulatory(case), "tenant": tenant_a})
        )
    for text in (html, include):
        assert 'data-testid="case-regulatory"' in text
        assert "Early warning" in text and "data-countdown-until" in text
        assert "Final report" in text and "Starts when" in text


def test_case_links_never_bind_view_querysets_to_a_tenant():
    """A first `reverse()` inside a tenant context (a worker rendering a report, a test)
    imports every view module; their class-level querysets must stay deferred, not be
    filtered by that tenant for the life of the process. A fresh process proves it."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import django; django.setup()\n"
        "from tenancy.models import Tenant\n"
        "from tenancy.context import tenant_context\n"
        "from metrics import selectors\n"
        "with tenant_context(Tenant(pk=987654, slug='x')):\n"
        "    selectors.case_url(1)\n"
        "from metrics.api.views import ReportViewSet\n"
        "print(ReportViewSet.queryset._tenant_deferred)\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    assert result.stdout.strip().splitlines()[-1] == "True", result.stderr[-2000:]
