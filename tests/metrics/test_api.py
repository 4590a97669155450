"""The metrics API: figures, spans CSV, SLA targets, regulatory flags and notifications, the
breach register, reports. Auditors read everything and every write answers them 403."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import stat
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from metrics.clocks import DEFINITIONS_VERSION, percentile
from metrics.models import RegulatoryFlag, Report, SlaTarget
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import AuditEvent
from tests.cases.factories import make_case
from tests.fixtures.metrics import EXPECTED, EXPECTED_OPEN_BREACHES

pytestmark = pytest.mark.django_db

MTTR = "/api/v1/metrics/mttr/"


@pytest.fixture
def lead_api(tenant_a, api_client):
    return api_client(tenant_a, roles.LEAD)


@pytest.fixture
def auditor_api(tenant_a, api_client):
    return api_client(tenant_a, roles.AUDITOR)


def _rows(body):
    return {(row["phase"], row["clock"]): row for row in body["figures"]["rows"]}


def test_mttr_returns_every_hand_computed_figure(metrics_story, auditor_api):
    response = auditor_api.get(MTTR, {"period": "2026-10"})
    assert response.status_code == 200
    body = response.json()
    assert body["definitions_version"] == DEFINITIONS_VERSION
    assert body["period"]["label"] == "October 2026"
    assert body["period"]["previous_label"] == "September 2026"
    rows = _rows(body)
    for key, expected in EXPECTED.items():
        assert {name: rows[key][name] for name in expected} == expected, key
    in_progress = sorted((b["case_number"], b["clock"]) for b in body["breaches_in_progress"])
    assert in_progress == sorted(
        (metrics_story.number(letter), clock) for letter, clock in EXPECTED_OPEN_BREACHES
    )
    assert body["data_quality"]["excluded"] == 2
    assert body["summary"].startswith("In October 2026, 9 cases reached remediation")
    assert body["trend"]["granularity"] == "day" and body["trend"]["points"]
    dwell = {row["phase"]: row for row in body["dwell"]}
    assert dwell["initial_infection"]["current"]["median_seconds"] == 5400.0


def test_mttr_filters_and_errors(metrics_story, lead_api):
    body = lead_api.get(
        MTTR, {"period": "2026-10", "phase": "persistence", "severity": "critical"}
    ).json()
    assert {row["phase"] for row in body["figures"]["rows"]} == {"persistence"}
    assert body["filters"]["phases"] == ["persistence"]
    for params, field in (
        ({"period": "someday"}, "period"),
        ({"from": "2026-10-01"}, "to"),
        ({"from": "2026-10-05", "to": "2026-10-01"}, "to"),
        ({"granularity": "hour"}, "granularity"),
        ({"phase": "exfiltration"}, "phase"),
        ({"assignee": "999999"}, "assignee"),
    ):
        response = lead_api.get(MTTR, params)
        assert response.status_code == 400, params
        assert field in response.json()["error"]["fields"], params


def test_spans_csv_lets_an_auditor_recompute_the_figures(metrics_story, auditor_api):
    response = auditor_api.get("/api/v1/metrics/spans/", {"period": "2026-10"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    remediate = [
        float(r["raw_seconds"])
        for r in rows
        if r["phase"] == "initial_infection" and r["clock"] == "remediate" and r["status"] == "ok"
    ]
    figures = _rows(auditor_api.get(MTTR, {"period": "2026-10"}).json())
    row = figures[("initial_infection", "remediate")]
    assert row["count"] == len(remediate)
    assert row["median_seconds"] == round(percentile(remediate, 0.5), 6)
    met = [
        r
        for r in rows
        if r["phase"] == "initial_infection" and r["clock"] == "remediate" and r["met"] == "yes"
    ]
    assert row["compliance_pct"] == round(100 * len(met) / len(remediate), 6)
    paused = next(
        r for r in rows if r["case_number"] == metrics_story.number("C") and r["clock"] == "contain"
    )
    assert (paused["raw_seconds"], paused["paused_seconds"], paused["sla_seconds"]) == (
        "36000.000000",
        "14400.000000",
        "21600.000000",
    )
    assert {r["status"] for r in rows} == {"ok", "missing", "negative"}


# --- SLA targets ------------------------------------------------------------------------------


def test_sla_targets_history_in_force_and_rules(tenant_a, lead_api, api_client):
    url = "/api/v1/metrics/sla-targets/"
    response = lead_api.post(
        url,
        {
            "phase": "persistence",
            "severity": "high",
            "clock": "contain",
            "target_seconds": 6 * 3600,
            "reason": "new contract",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    in_force = lead_api.get(url + "in-force/").json()
    row = next(
        r
        for r in in_force
        if (r["phase"], r["severity"], r["clock"]) == ("persistence", "high", "contain")
    )
    assert row == {
        "phase": "persistence",
        "severity": "high",
        "clock": "contain",
        "target_seconds": 21600,
        "is_default": False,
    }
    assert len(in_force) == 3 * 5 * 4
    past = lead_api.post(
        url,
        {
            "phase": "persistence",
            "severity": "high",
            "clock": "contain",
            "target_seconds": 60,
            "effective_from": "2020-01-01T00:00:00Z",
        },
        format="json",
    )
    assert past.status_code == 400 and "effective_from" in past.json()["error"]["fields"]
    typo = lead_api.post(
        url,
        {
            "phase": "persistence",
            "severity": "high",
            "clock": "contain",
            "target_seconds": 60,
            "target_minutes": 1,
        },
        format="json",
    )
    assert typo.status_code == 400 and "target_minutes" in typo.json()["error"]["fields"]
    no_sla = lead_api.post(
        url,
        {"phase": "persistence", "severity": "high", "clock": "close", "target_seconds": 60},
        format="json",
    )
    assert no_sla.status_code == 400
    in_force_id = response.json()["id"]
    assert lead_api.delete(f"{url}{in_force_id}/").status_code == 409
    future = lead_api.post(
        url,
        {
            "phase": "persistence",
            "severity": "high",
            "clock": "triage",
            "target_seconds": 600,
            "effective_from": (timezone.now() + dt.timedelta(days=1)).isoformat(),
        },
        format="json",
    ).json()
    assert lead_api.delete(f"{url}{future['id']}/").status_code == 204
    analyst = api_client(tenant_a, roles.ANALYST)
    assert (
        analyst.post(
            url,
            {"phase": "persistence", "severity": "high", "clock": "triage", "target_seconds": 60},
            format="json",
        ).status_code
        == 403
    )
    with tenant_context(tenant_a):
        actions = list(
            AuditEvent.objects.filter(action__startswith="sla_target.").values_list(
                "action", flat=True
            )
        )
    assert sorted(actions) == ["sla_target.cancel", "sla_target.set", "sla_target.set"]


def test_target_change_re_judges_open_cases(tenant_a, lead_api, django_capture_on_commit_callbacks):
    """cases.sla_refresh runs after the change (the cases app re-derives its SLA fields)."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        lead_api.post(
            "/api/v1/metrics/sla-targets/",
            {"phase": "persistence", "severity": "low", "clock": "triage", "target_seconds": 60},
            format="json",
        )
    assert callbacks  # the refresh was queued on commit


# --- regulatory -------------------------------------------------------------------------------


def test_regulatory_flags_deadlines_and_notifications(tenant_a, lead_api):
    with tenant_context(tenant_a):
        case = make_case()
    aware = timezone.now() - dt.timedelta(hours=80)
    response = lead_api.post(
        "/api/v1/regulatory-flags/",
        {
            "case": case.pk,
            "regime": "gdpr",
            "aware_at": aware.isoformat(),
            "facts": "HR database exfiltrated",
            "data_categories": "payroll",
            "subjects_approx": 1200,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    flag = response.json()
    (deadline,) = flag["deadlines"]
    assert deadline["key"] == "authority_notification" and deadline["state"] == "overdue"
    assert deadline["remaining_seconds"] < 0
    sent = aware + dt.timedelta(hours=75)
    note = lead_api.post(
        "/api/v1/regulatory-notifications/",
        {
            "flag": flag["id"],
            "deadline": "authority_notification",
            "sent_at": sent.isoformat(),
            "recipient": "ICO",
            "reference": "ICO-44",
        },
        format="json",
    )
    assert note.status_code == 201, note.content
    again = lead_api.get(f"/api/v1/regulatory-flags/{flag['id']}/").json()
    assert again["deadlines"][0]["state"] == "missed"
    assert again["notifications"][0]["reference"] == "ICO-44"
    wrong = lead_api.post(
        "/api/v1/regulatory-notifications/",
        {
            "flag": flag["id"],
            "deadline": "form_8k",
            "sent_at": sent.isoformat(),
            "recipient": "SEC",
        },
        format="json",
    )
    assert wrong.status_code == 400 and "deadline" in wrong.json()["error"]["fields"]
    duplicate = lead_api.post(
        "/api/v1/regulatory-flags/",
        {"case": case.pk, "regime": "gdpr", "aware_at": aware.isoformat()},
        format="json",
    )
    assert duplicate.status_code == 409
    patched = lead_api.patch(
        f"/api/v1/regulatory-flags/{flag['id']}/",
        {"remedial_action": "credentials reset"},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["remedial_action"] == "credentials reset"
    sec = lead_api.post(
        "/api/v1/regulatory-flags/", {"case": case.pk, "regime": "sec"}, format="json"
    )
    assert sec.status_code == 400 and "determined_at" in sec.json()["error"]["fields"]


def test_breach_register_lists_every_personal_data_breach(tenant_a, lead_api, in_tenant):
    from metrics.services import regulatory_flag_create

    with in_tenant(tenant_a):
        regulatory_flag_create(
            case=make_case(), regime="gdpr", aware_at=timezone.now(), facts="mailbox compromised"
        )
        regulatory_flag_create(
            case=make_case(),
            regime="gdpr",
            notifiable=False,
            aware_at=timezone.now(),
            not_notified_reason="encrypted",
        )
        regulatory_flag_create(case=make_case(), regime="nis2", aware_at=timezone.now())
    body = lead_api.get("/api/v1/breach-register/").json()
    assert body["count"] == 2
    assert {row["state"] for row in body["results"]} == {"pending", "not_notifiable"}
    text = lead_api.get("/api/v1/breach-register/csv/").content.decode()
    assert len(text.splitlines()) == 3 and "mailbox compromised" in text


# --- reports ----------------------------------------------------------------------------------


def test_report_create_list_download_and_immutability(
    metrics_story, lead_api, auditor_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = lead_api.post(
            "/api/v1/reports/", {"period": "2026-10", "paper": "a4"}, format="json"
        )
    assert response.status_code == 202, response.content
    report_id = response.json()["id"]
    detail = auditor_api.get(f"/api/v1/reports/{report_id}/").json()
    assert detail["status"] == "succeeded" and detail["progress"] == 100
    assert detail["pdf_variant"] == "pdf/a-3b" and len(detail["sha256"]) == 64
    assert detail["figures"]["summary"].startswith("In October 2026")
    listing = auditor_api.get("/api/v1/reports/").json()
    assert [r["id"] for r in listing["results"]] == [report_id]
    download = auditor_api.get(detail["download_url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download["X-Content-SHA256"] == detail["sha256"]
    with tenant_context(metrics_story.tenant):
        report = Report.objects.get(pk=report_id)
        actions = set(AuditEvent.objects.values_list("action", flat=True))
        generated = AuditEvent.objects.get(action="report.generate")
    assert {"report.request", "report.generate", "report.download"} <= actions
    assert generated.changes["sha256"] == [None, detail["sha256"]]
    path = Path(settings.MEDIA_ROOT) / report.file_path
    assert report.file_path == f"reports/{metrics_story.tenant.pk}/{report.uid.hex}.pdf"
    assert not os.stat(path).st_mode & stat.S_IWUSR  # stored read-only
    # Tampering is caught at download, never served.
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"tampered")
    assert auditor_api.get(detail["download_url"]).status_code == 500


def test_a_report_is_written_once(metrics_story, in_tenant):
    from metrics.services import _write_once

    target = Path(settings.MEDIA_ROOT) / "reports" / "once.pdf"
    _write_once(target, b"first")
    with pytest.raises(FileExistsError):
        _write_once(target, b"second")
    assert target.read_bytes() == b"first"


def test_other_tenants_report_cannot_be_downloaded(
    metrics_story, tenant_b, api_client, web_client, in_tenant
):
    from metrics.periods import parse_period
    from metrics.services import report_generate, report_request

    with in_tenant(metrics_story.tenant):
        report = report_request(period=parse_period({"period": "2026-10"}))
        report_generate(report_id=report.pk)
    other = api_client(tenant_b, roles.ADMIN)
    response = other.get(f"/api/v1/reports/{report.pk}/download/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    browser = web_client(tenant_b, roles.ADMIN, "bravo-browser")
    assert browser.get(browser.url(f"metrics/reports/{report.pk}/download/")).status_code == 404


def test_auditor_cannot_write_anything(metrics_story, auditor_api, in_tenant):
    from metrics.services import regulatory_flag_create, regulatory_notification_record

    with in_tenant(metrics_story.tenant):
        flag = regulatory_flag_create(
            case=metrics_story.cases["A"], regime="gdpr", aware_at=timezone.now()
        )
        note = regulatory_notification_record(
            flag=flag, deadline="authority_notification", sent_at=timezone.now(), recipient="CNIL"
        )
        target = SlaTarget.objects.get()
    writes = [
        ("post", "/api/v1/reports/", {"period": "2026-10"}),
        (
            "post",
            "/api/v1/metrics/sla-targets/",
            {"phase": "persistence", "severity": "low", "clock": "triage", "target_seconds": 60},
        ),
        ("delete", f"/api/v1/metrics/sla-targets/{target.pk}/", None),
        (
            "post",
            "/api/v1/regulatory-flags/",
            {"case": metrics_story.cases["B"].pk, "regime": "nis2"},
        ),
        ("patch", f"/api/v1/regulatory-flags/{flag.pk}/", {"facts": "x"}),
        (
            "post",
            "/api/v1/regulatory-notifications/",
            {"flag": flag.pk, "deadline": "x", "sent_at": "2026-10-01T00:00:00Z", "recipient": "x"},
        ),
        ("patch", f"/api/v1/regulatory-notifications/{note.pk}/", {"recipient": "y"}),
    ]
    for method, url, payload in writes:
        call = getattr(auditor_api, method)
        response = call(url, payload, format="json") if payload is not None else call(url)
        assert response.status_code == 403, (method, url, response.status_code)
    with in_tenant(metrics_story.tenant):
        assert Report.objects.count() == 0
        assert RegulatoryFlag.objects.get().facts == ""
    reads = [
        "/api/v1/reports/",
        "/api/v1/metrics/sla-targets/",
        "/api/v1/regulatory-flags/",
        "/api/v1/regulatory-notifications/",
        "/api/v1/breach-register/",
        "/api/v1/metrics/sla-targets/in-force/",
        MTTR,
    ]
    for url in reads:
        assert auditor_api.get(url).status_code == 200, url


def test_schema_lists_the_metrics_api(lead_api):
    schema = lead_api.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in (
        "/api/v1/metrics/mttr/",
        "/api/v1/metrics/spans/",
        "/api/v1/reports/",
        "/api/v1/reports/{id}/download/",
        "/api/v1/metrics/sla-targets/",
        "/api/v1/regulatory-flags/",
        "/api/v1/breach-register/",
    ):
        assert path in schema, path
