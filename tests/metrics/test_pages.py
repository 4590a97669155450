"""Browser pages: the metrics dashboard (period and filter controls, htmx, constant
queries), SLA targets, reports, regulatory deadlines, the breach register, and the panel on
the tenant dashboard. Auditors read everything and change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from metrics.models import RegulatoryFlag, RegulatoryNotification, Report, SlaTarget
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import AuditEvent
from tests.cases.factories import make_case
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(tenant_a, web_client):
    return web_client(tenant_a, roles.LEAD)


@pytest.fixture
def auditor(tenant_a, web_client):
    return web_client(tenant_a, roles.AUDITOR)


def test_dashboard_shows_breaches_in_progress_first_then_the_figures(metrics_story, lead):
    response = lead.get(lead.url("metrics/"), {"period": "2026-10"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index('data-testid="breaches-in-progress"') < html.index('data-testid="kpi-')
    assert metrics_story.number("G") in html
    assert "October 2026" in html and "September 2026" in html
    assert 'data-testid="kpi-initial_infection-remediate"' in html
    assert "<svg" in html and "style=" not in html and "<script>" not in html
    assert "In October 2026, 9 cases reached remediation" in html


def test_dashboard_htmx_sends_only_the_body(metrics_story, lead):
    response = lead.get(
        lead.url("metrics/"), {"from": "2026-10-01", "to": "2026-10-31"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'data-testid="figures-table"' in html
    assert "1 Oct 2026 to 31 Oct 2026" in html


def test_dashboard_filters_and_bad_input(metrics_story, lead):
    response = lead.get(lead.url("metrics/"), {"period": "2026-10", "tag": "ransomware"})
    assert response.status_code == 200
    rows = {(r["phase"], r["clock"]): r for r in response.context["figures"]["rows"]}
    assert rows[("initial_infection", "remediate")]["count"] == 1
    response = lead.get(lead.url("metrics/"), {"period": "someday"})
    assert response.status_code == 200  # falls back to the default period, says why
    assert "period" in response.context["form"].errors


def test_dashboard_queries_do_not_grow_with_cases(metrics_story, lead, tenant_a):
    from tests.fixtures.metrics import _case, at

    def add(n):
        with tenant_context(tenant_a):
            for i in range(n):
                seq = 100 + add.count + i
                _case(
                    tenant_a,
                    seq,
                    f"x{seq}",
                    "persistence",
                    "high",
                    at(3, 8),
                    {"triaged_at": dt.timedelta(minutes=9), "closed_at": dt.timedelta(hours=2)},
                    resolution="benign",
                )
        add.count += n

    add.count = 0

    def request():
        return lead.get(lead.url("metrics/"), {"period": "2026-10"})

    request()  # warm the per-tenant target cache
    count = assert_constant_queries(add, request)
    # PostgreSQL adds a savepoint around each aggregation (work_mem); the first read after
    # a write brings the span projection up to date (about ten statements, whatever the
    # number of cases changed), every later read probes its queue once.
    assert count <= 34


def test_tenant_dashboard_panel_lists_breaches_in_progress(metrics_story, lead):
    response = lead.get(lead.url(""))
    html = response.content.decode()
    assert 'data-testid="metrics-panel"' in html
    assert metrics_story.number("G") in html and "in progress" in html


def test_lead_changes_a_target_auditor_cannot(tenant_a, lead, auditor):
    page = lead.get(lead.url("metrics/targets/"))
    assert page.status_code == 200 and 'data-testid="targets-grid"' in page.content.decode()
    response = lead.post(
        lead.url("metrics/targets/"),
        {
            "phase": "persistence",
            "severity": "critical",
            "clock": "contain",
            "minutes": "120",
            "reason": "tighter for critical",
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        row = SlaTarget.objects.get()
        assert row.target_seconds == 7200
        assert AuditEvent.objects.filter(action="sla_target.set").count() == 1
    past = lead.post(
        lead.url("metrics/targets/"),
        {
            "phase": "persistence",
            "severity": "critical",
            "clock": "contain",
            "minutes": "60",
            "effective_from": "2020-01-01 00:00",
        },
    )
    assert past.status_code == 200 and "past" in past.content.decode()
    assert auditor.post(lead.url("metrics/targets/"), {"phase": "persistence"}).status_code == 403
    with tenant_context(tenant_a):
        assert SlaTarget.objects.count() == 1


def test_future_target_change_can_be_withdrawn_not_one_in_force(tenant_a, lead, in_tenant):
    from metrics.services import sla_target_set

    with in_tenant(tenant_a):
        future = sla_target_set(
            phase="persistence",
            severity="low",
            clock="triage",
            target=dt.timedelta(minutes=5),
            effective_from=timezone.now() + dt.timedelta(days=3),
        )
        current = sla_target_set(
            phase="persistence", severity="low", clock="scope", target=dt.timedelta(minutes=50)
        )
    lead.post(lead.url(f"metrics/targets/{future.pk}/cancel/"))
    lead.post(lead.url(f"metrics/targets/{current.pk}/cancel/"))
    with in_tenant(tenant_a):
        assert list(SlaTarget.objects.values_list("pk", flat=True)) == [current.pk]


def test_report_flow_in_the_browser(
    metrics_story, lead, auditor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(lead.url("metrics/reports/"), {"period": "2026-10", "paper": "letter"})
    assert response.status_code == 302
    with tenant_context(metrics_story.tenant):
        report = Report.objects.get()
    assert report.status == "succeeded" and report.paper == "letter"
    detail = auditor.get(auditor.url(f"metrics/reports/{report.pk}/"))
    assert report.sha256 in detail.content.decode()
    listing = auditor.get(auditor.url("metrics/reports/")).content.decode()
    assert "October 2026" in listing and "Generate" not in listing
    download = auditor.get(auditor.url(f"metrics/reports/{report.pk}/download/"))
    assert download.status_code == 200 and download.content.startswith(b"%PDF")
    assert download["X-Content-SHA256"] == report.sha256
    forbidden = auditor.post(auditor.url("metrics/reports/"), {"period": "2026-10"})
    assert forbidden.status_code == 403


def test_case_regulatory_page_flags_and_records_notifications(tenant_a, lead, auditor):
    with tenant_context(tenant_a):
        case = make_case()
    url = lead.url(f"metrics/regulatory/cases/{case.pk}/")
    aware = (timezone.now() - dt.timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M")
    response = lead.post(
        url,
        {
            "action": "flag",
            "flag-regime": "nis2",
            "flag-notifiable": "on",
            "flag-aware_at": aware,
            "flag-facts": "ransomware on a file server",
        },
    )
    assert response.status_code == 302
    page = lead.get(url).content.decode()
    assert "Early warning" in page and "overdue" in page and "data-countdown-until" in page
    with tenant_context(tenant_a):
        flag = RegulatoryFlag.objects.get()
    sent = (timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = lead.post(
        url,
        {
            "action": "notify",
            "notify-flag": flag.pk,
            "notify-deadline": "incident_notification",
            "notify-sent_at": sent,
            "notify-recipient": "CERT-FR",
            "notify-reference": "CERTFR-2026-123",
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        assert RegulatoryNotification.objects.get().recipient == "CERT-FR"
    assert "CERTFR-2026-123" in lead.get(lead.url("metrics/regulatory/")).content.decode()
    assert auditor.post(url, {"action": "flag", "flag-regime": "gdpr"}).status_code == 403


def test_breach_register_page_and_csv(tenant_a, lead, in_tenant):
    from metrics.services import regulatory_flag_create

    with in_tenant(tenant_a):
        regulatory_flag_create(
            case=make_case(),
            regime="gdpr",
            notifiable=False,
            aware_at=timezone.now(),
            facts="laptop lost, encrypted",
            not_notified_reason="full-disk encryption",
        )
    page = lead.get(lead.url("metrics/breach-register/")).content.decode()
    assert "laptop lost, encrypted" in page and "not notifiable" in page
    csv_response = lead.get(lead.url("metrics/breach-register.csv"))
    text = csv_response.content.decode()
    assert text.splitlines()[0].startswith("case_number,case_title,aware_at")
    assert "full-disk encryption" in text


def test_spans_csv_from_the_dashboard(metrics_story, lead):
    response = lead.get(lead.url("metrics/spans.csv"), {"period": "2026-10"})
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == (
        "case_number,phase,severity,clock,status,detected_at,milestone_at,raw_seconds,"
        "paused_seconds,sla_seconds,target_seconds,met"
    )
    assert any(
        line.startswith(f"{metrics_story.number('I')},") and ",negative," in line for line in lines
    )
