"""Browser pages: they render, keep constant queries, obey roles, and drive the services."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases.models import Alert, Case, Evidence, Note, SavedFilter, Task
from cases.services import acting_at, alert_ingest, case_link, case_update, note_create
from tenancy import roles
from tenancy.context import tenant_context
from tests.cases.factories import alert_input, make_alert, make_case, make_endpoint
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(tenant_a, web_client):
    return web_client(tenant_a, roles.ANALYST)


@pytest.fixture
def case(tenant_a):
    with tenant_context(tenant_a):
        endpoint = make_endpoint()
        result = alert_ingest(alerts=[alert_input(severity="critical", endpoint=endpoint)])
        case = result.cases_created[0]
        case_link(case=case, obj=endpoint, relation="affected")
        note_create(case=case, body="**bold** <script>alert(1)</script>")
        return case


def test_every_page_renders(web, case, tenant_a):
    with tenant_context(tenant_a):
        alert = Alert.objects.first()
    for path in (
        "alerts/",
        f"alerts/{alert.pk}/",
        "cases/",
        "cases/new/",
        f"cases/{case.pk}/",
        f"cases/{case.pk}/edit/",
        "settings/grouping/",
        "",
        "cases/?status=any",
        f"cases/{case.pk}/?timeline=all",
    ):
        response = web.get(web.url(path))
        assert response.status_code == 200, path


def test_the_case_page_shows_clocks_timeline_and_safe_notes(web, case):
    html = web.get(web.url(f"cases/{case.pk}/")).content.decode()
    assert 'data-testid="clock-triage"' in html and "data-clock-since=" in html
    assert 'data-clock-target="900"' in html  # 15 min triage target, in seconds
    assert "<strong>bold</strong>" in html and "<script>alert(1)" not in html
    assert case.number in html and "Trace the process tree" in html
    assert "/endpoints/" in html or "ws-" in html  # the linked endpoint
    assert "style=" not in html and "<style" not in html
    assert "<script>" not in html.replace("<script src=", "")


def test_pages_keep_constant_queries(web, tenant_a):
    endpoint_holder = {}

    def add_alerts(n):
        with tenant_context(tenant_a):
            endpoint = endpoint_holder.setdefault("e", make_endpoint())
            for _ in range(n):
                make_alert(endpoint=endpoint)

    assert_constant_queries(add_alerts, lambda: web.get(web.url("alerts/")))

    def add_cases(n):
        with tenant_context(tenant_a):
            for i in range(n):
                case = make_case(tags=[f"t{i}"], assignee=web.user)
                case_update(case=case, watchers=[web.user])

    assert_constant_queries(add_cases, lambda: web.get(web.url("cases/")))


def test_the_case_page_keeps_constant_queries(web, case, tenant_a):
    def add(n):
        with tenant_context(tenant_a):
            endpoint = make_endpoint()
            for i in range(n):
                note_create(case=case, body=f"note {i}")
                make_alert(endpoint=endpoint)
                case_link(case=case, obj=make_endpoint(), relation="affected")
                from cases.services import alert_promote, evidence_upload

                alert_promote(alerts=[make_alert()], case=case)
                evidence_upload(case=case, upload=SimpleUploadedFile(f"f{i}.txt", b"data"))

    assert_constant_queries(add, lambda: web.get(web.url(f"cases/{case.pk}/")), sizes=(2, 8))


def test_the_dashboard_panel(web, case):
    html = web.get(web.url("")).content.decode()
    assert 'data-testid="cases-panel"' in html and "Open cases" in html


def test_triage_from_the_queue(web, tenant_a):
    with tenant_context(tenant_a):
        a, b, c = make_alert(), make_alert(), make_alert()
    url = web.url(f"alerts/{a.pk}/action/")
    row = web.post(url, {"action": "acknowledge"}, HTTP_HX_REQUEST="true")
    assert row.status_code == 200 and b"Acknowledged" in row.content
    assert row.content.decode().lstrip().startswith("<tr")
    promote = web.post(
        web.url(f"alerts/{b.pk}/action/"), {"action": "promote"}, HTTP_HX_REQUEST="true"
    )
    assert promote.status_code == 204 and "/cases/" in promote["HX-Redirect"]
    dismissed = web.post(
        web.url("alerts/bulk/"), {"action": "dismiss", "ids": [c.pk], "reason": "benign"}
    )
    assert dismissed.status_code == 302
    with tenant_context(tenant_a):
        statuses = dict(Alert.objects.values_list("pk", "status"))
    assert statuses == {a.pk: "acknowledged", b.pk: "promoted", c.pk: "dismissed"}


def test_bulk_promote_into_one_case(web, tenant_a):
    with tenant_context(tenant_a):
        ids = [make_alert().pk for _ in range(3)]
    response = web.post(web.url("alerts/bulk/"), {"action": "promote", "ids": ids})
    assert response.status_code == 302 and "/cases/" in response["Location"]
    with tenant_context(tenant_a):
        assert Case.objects.get().alerts.count() == 3


def test_open_edit_and_work_a_case(web, tenant_a):
    created = web.post(
        web.url("cases/new/"),
        {
            "title": "Phone call from HR",
            "severity": "medium",
            "tlp": "amber",
            "phase": "initial_infection",
            "tags": "vip, phishing",
            "description": "*urgent*",
        },
    )
    assert created.status_code == 302
    with tenant_context(tenant_a):
        case = Case.objects.get()
        assert sorted(case.tags.values_list("name", flat=True)) == ["phishing", "vip"]
    action = web.url(f"cases/{case.pk}/action/")
    web.post(action, {"action": "transition", "status": "triage", "version": case.version})
    web.post(action, {"action": "note", "body": "called the user"})
    web.post(action, {"action": "take"})
    web.post(
        action,
        {
            "action": "evidence",
            "description": "mail",
            "file": SimpleUploadedFile("mail.eml", b"From: x\n\nhello"),
        },
    )
    with tenant_context(tenant_a):
        task = Task.objects.filter(case=case).first()
    toggled = web.post(web.url(f"tasks/{task.pk}/toggle/"), {"done": "1"}, HTTP_HX_REQUEST="true")
    assert toggled.status_code == 200 and b"\xe2\x98\x91" in toggled.content
    with tenant_context(tenant_a):
        case.refresh_from_db()
        assert case.status == "triage" and case.assignee_id == web.user.pk
        assert Note.objects.filter(case=case).exists()
        evidence = Evidence.objects.get(case=case)
    download = web.get(web.url(f"evidence/{evidence.pk}/download/"))
    assert download["Content-Disposition"].startswith("attachment")
    assert download["Content-Type"] == "application/octet-stream"


def test_a_stale_form_is_refused_with_a_message(web, tenant_a):
    with tenant_context(tenant_a):
        case = make_case(title="before")
        case_update(case=case, title="colleague")
    response = web.post(
        web.url(f"cases/{case.pk}/edit/"),
        {
            "title": "mine",
            "severity": "high",
            "tlp": "amber",
            "phase": "initial_infection",
            "version": 1,
        },
        follow=True,
    )
    assert b"changed" in response.content or b"version" in response.content
    with tenant_context(tenant_a):
        assert Case.objects.get(pk=case.pk).title == "colleague"


def test_a_refused_transition_comes_back_as_a_message(web, case):
    response = web.post(
        web.url(f"cases/{case.pk}/action/"),
        {"action": "transition", "status": "closed", "resolution": "true_positive"},
        follow=True,
    )
    assert b"remediated first" in response.content


def test_bulk_assign_and_close_cases(web, tenant_a):
    with tenant_context(tenant_a):
        ids = [make_case().pk for _ in range(3)]
    web.post(web.url("cases/bulk/"), {"action": "assign", "ids": ids, "assignee": web.user.pk})
    web.post(
        web.url("cases/bulk/"), {"action": "close", "ids": ids, "resolution": "false_positive"}
    )
    with tenant_context(tenant_a):
        assert set(Case.objects.values_list("status", "assignee_id")) == {("closed", web.user.pk)}


def test_saved_filters_are_per_user(web, tenant_a, web_client):
    web.post(
        web.url("cases/filters/"),
        {"name": "my breaches", "query": "sla_state=breached&assignee=me"},
    )
    page = web.get(web.url("cases/")).content.decode()
    assert "my breaches" in page and "sla_state=breached&amp;assignee=me" in page
    other = web_client(tenant_a, roles.ANALYST, "other")
    assert "my breaches" not in other.get(other.url("cases/")).content.decode()
    with tenant_context(tenant_a):
        saved = SavedFilter.objects.get()
    assert other.post(other.url(f"cases/filters/{saved.pk}/delete/")).status_code == 404
    web.post(web.url(f"cases/filters/{saved.pk}/delete/"))
    with tenant_context(tenant_a):
        assert not SavedFilter.objects.exists()


def test_the_case_list_filters(web, tenant_a):
    with tenant_context(tenant_a):
        with acting_at(timezone.now() - dt.timedelta(hours=3)):
            make_case(title="breached one")
        make_case(title="fresh one", tags=["vip"])
    breached = web.get(web.url("cases/"), {"sla_state": "breached"}).content.decode()
    assert "breached one" in breached and "fresh one" not in breached
    tagged = web.get(web.url("cases/"), {"tag": "vip"}).content.decode()
    assert "fresh one" in tagged and "breached one" not in tagged
    bad = web.get(web.url("cases/"), {"severity": "urgent"})
    assert bad.status_code == 200 and b"severity" in bad.content


def test_auditors_see_no_write_controls_and_cannot_post(tenant_a, web_client, case):
    auditor = web_client(tenant_a, roles.AUDITOR)
    html = auditor.get(auditor.url(f"cases/{case.pk}/")).content.decode()
    assert 'data-testid="workflow"' not in html and 'data-testid="note-form"' not in html
    queue = auditor.get(auditor.url("alerts/")).content.decode()
    assert 'id="alert-bulk"' not in queue
    for path, data in (
        (f"cases/{case.pk}/action/", {"action": "take"}),
        ("cases/new/", {}),
        ("alerts/bulk/", {"action": "acknowledge"}),
    ):
        assert auditor.post(auditor.url(path), data).status_code == 403
    with tenant_context(tenant_a):
        assert Case.objects.get(pk=case.pk).assignee_id is None


def test_only_leads_correct_milestones_in_the_browser(web, tenant_a, web_client, case):
    value = (case.detected_at + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    data = {
        "action": "correct",
        "milestone": "triaged_at",
        "value": value,
        "reason": "phoned at 09:01",
    }
    web.post(web.url(f"cases/{case.pk}/action/"), data)
    with tenant_context(tenant_a):
        assert Case.objects.get(pk=case.pk).triaged_at is None
    lead = web_client(tenant_a, roles.LEAD)
    assert 'data-testid="correct-form"' in lead.get(lead.url(f"cases/{case.pk}/")).content.decode()
    lead.post(lead.url(f"cases/{case.pk}/action/"), data)
    with tenant_context(tenant_a):
        assert Case.objects.get(pk=case.pk).triaged_at is not None


def test_integration_tokens_have_no_browser(tenant_a, web_client):
    integration = web_client(tenant_a, roles.INTEGRATION)
    assert integration.get(integration.url("cases/")).status_code == 403


def test_grouping_rules_and_webhooks_pages_by_role(tenant_a, web_client):
    analyst = web_client(tenant_a, roles.ANALYST)
    assert analyst.get(analyst.url("settings/grouping/")).status_code == 200
    assert analyst.post(analyst.url("settings/grouping/"), {"name": "x"}).status_code == 403
    assert analyst.get(analyst.url("settings/webhooks/")).status_code == 403
    lead = web_client(tenant_a, roles.LEAD)
    response = lead.post(
        lead.url("settings/grouping/"),
        {
            "name": "sweeps open cases",
            "order": 50,
            "is_enabled": "on",
            "action": "open_case",
            "source": "ioc_sweep",
            "min_severity": "",
            "join_on": "",
        },
    )
    assert response.status_code == 302
    admin = web_client(tenant_a, roles.ADMIN)
    tenant_a.settings = {"tenancy": {"outbound_allowlist": ["127.0.0.1"]}}
    tenant_a.save()
    page = admin.post(
        admin.url("settings/webhooks/"),
        {
            "name": "soar",
            "url": "http://127.0.0.1:9/h",
            "events": ["case.created"],
            "is_active": "on",
        },
    )
    assert page.status_code == 200 and b"whsec_" in page.content
