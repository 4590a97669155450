"""Intel pages: IOCs (list, filter, add with warnings, expire), imports with progress,
sources with health, sweeps (launch with targeting, live progress, results), hits,
reputation look-up, allowlist, ad-hoc search — constant queries, strict CSP."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from intel.models import IOC, ImportJob, Sweep
from intel.services import source_create
from tenancy import roles
from tenancy.context import tenant_context
from tests.intel.factories import make_endpoint, make_ioc, observe, row_adder
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db

SHA = "f" * 64
_n = itertools.count(1)


def test_ioc_pages_list_filter_add_and_expire(tenant_a, web_client):
    client = web_client(tenant_a, roles.ANALYST)
    page = client.get(client.url("intel/iocs/"))
    assert page.status_code == 200 and b"No IOCs match" in page.content
    response = client.post(
        client.url("intel/iocs/new/"),
        {
            "type": "ipv4",
            "value": "8.8.8.8",
            "severity": "high",
            "tlp": "amber",
        },
    )
    assert response.status_code == 302
    detail = client.get(response["Location"])
    assert b"public-dns-resolvers" in detail.content and b"suppressed" in detail.content
    with tenant_context(tenant_a):
        ioc = IOC.objects.get()
    client.post(client.url(f"intel/iocs/{ioc.pk}/expire/"))
    with tenant_context(tenant_a):
        ioc.refresh_from_db()
        assert not ioc.is_active
    assert b"8.8.8.8" in client.get(client.url("intel/iocs/?state=expired")).content
    assert b"8.8.8.8" not in client.get(client.url("intel/iocs/?state=active")).content
    assert b"8.8.8.8" not in client.get(client.url("intel/iocs/?type=md5")).content


def test_add_form_explains_a_bad_value_and_the_live_check_shows_warnings(tenant_a, web_client):
    client = web_client(tenant_a, roles.ANALYST)
    response = client.post(
        client.url("intel/iocs/new/"),
        {"type": "sha256", "value": "abc", "severity": "medium", "tlp": "amber"},
    )
    assert response.status_code == 200
    assert b"sha256 must be 64 hex characters, got 3" in response.content
    check = client.post(client.url("intel/iocs/check/"), {"type": "domain", "value": "Dns.Google"})
    assert b"dns.google" in check.content and b"public-dns-resolvers" in check.content


def test_import_page_queues_a_job_and_shows_its_progress(
    tenant_a, web_client, django_capture_on_commit_callbacks
):
    client = web_client(tenant_a, roles.ANALYST)
    upload = SimpleUploadedFile("list.txt", b"evil-cdn.net\nnot a value\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(client.url("intel/imports/new/"), {"file": upload})
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert b"<progress" in page.content and b"1 added" in page.content
    assert b"line 2" in page.content
    with tenant_context(tenant_a):
        job = ImportJob.objects.get()
    partial = client.get(client.url(f"intel/imports/{job.pk}/progress/"))
    assert b'data-status="succeeded"' in partial.content and b"hx-trigger" not in partial.content


def test_malformed_upload_is_refused_with_the_reason(tenant_a, web_client):
    client = web_client(tenant_a, roles.ANALYST)
    upload = SimpleUploadedFile("feed.json", b'{"type": "bundle", "objects": [')
    response = client.post(client.url("intel/imports/new/"), {"file": upload, "format": "stix"})
    assert response.status_code == 400 and b"malformed JSON" in response.content


def test_sweep_launch_with_targeting_progress_and_results(
    tenant_a, web_client, django_capture_on_commit_callbacks
):
    client = web_client(tenant_a, roles.ANALYST)
    with tenant_context(tenant_a):
        observe(make_endpoint("fin-01", groups=["Finance"]), [{"sha256": SHA}])
        observe(make_endpoint("eng-01", groups=["Engineering"]), [{"sha256": SHA}])
        make_ioc("sha256", SHA)
    form = client.get(client.url("intel/sweeps/new/"))
    assert b"Finance" in form.content  # the targeting choices are offered
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            client.url("intel/sweeps/new/"),
            {"selection": "all", "groups": "Finance", "privileged": "unknown"},
        )
    assert response.status_code == 302
    detail = client.get(response["Location"])
    assert b"fin-01" in detail.content and b"eng-01" not in detail.content
    with tenant_context(tenant_a):
        sweep = Sweep.objects.get()
    partial = client.get(client.url(f"intel/sweeps/{sweep.pk}/progress/"))
    assert b'data-status="succeeded"' in partial.content and b'value="100"' in partial.content
    assert b"fin-01" in client.get(client.url(f"intel/hits/?sweep={sweep.pk}")).content


def test_sweep_form_reports_bad_input(tenant_a, web_client):
    client = web_client(tenant_a, roles.ANALYST)
    response = client.post(
        client.url("intel/sweeps/new/"),
        {"selection": "adhoc", "adhoc_values": "what is this", "privileged": "unknown"},
    )
    assert response.status_code == 400 and b"line 1" in response.content


def test_sources_reputation_allowlist_and_search_pages(tenant_a, web_client):
    lead = web_client(tenant_a, roles.LEAD)
    with tenant_context(tenant_a):
        source_create(name="partner")
        observe(make_endpoint("ws-s"), [{"sha256": SHA, "process_name": "x.exe"}])
    assert b"partner" in lead.get(lead.url("intel/sources/")).content
    page = lead.get(lead.url("intel/reputation/"), {"hash": SHA})
    assert b"unknown" in page.content
    response = lead.post(
        lead.url("intel/allowlist/"),
        {"type": "domain", "value": "corp.example", "reason": "our domain"},
    )
    assert response.status_code == 302
    assert b"corp.example" in lead.get(lead.url("intel/allowlist/")).content
    found = lead.get(lead.url("intel/search/"), {"q": SHA})
    assert b"ws-s" in found.content and b"sha256" in found.content


def test_auditors_read_but_cannot_change(tenant_a, web_client):
    client = web_client(tenant_a, roles.AUDITOR)
    with tenant_context(tenant_a):
        ioc = make_ioc("md5", "e" * 32)
    assert client.get(client.url(f"intel/iocs/{ioc.pk}/")).status_code == 200
    assert client.post(client.url(f"intel/iocs/{ioc.pk}/expire/")).status_code == 403
    assert client.get(client.url("intel/iocs/new/")).status_code == 403
    assert client.post(client.url("intel/allowlist/"), {"type": "md5"}).status_code == 403


@pytest.mark.parametrize("kind", ["iocs", "sources", "imports", "sweeps", "hits"])
def test_list_pages_use_a_constant_number_of_queries(tenant_a, web_client, kind):
    client = web_client(tenant_a, roles.ANALYST)
    url = client.url(f"intel/{kind}/")
    assert_constant_queries(row_adder(tenant_a, kind), lambda: client.get(url))


def test_templates_obey_the_strict_csp():
    folder = Path(__file__).resolve().parents[2] / "templates" / "intel"
    for template in folder.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\sstyle=|<style|<script(?![^>]*\ssrc=)", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name


def test_dashboard_panel_shows_intel_at_a_glance(tenant_a, rf, member):
    from django.template.loader import render_to_string

    from intel.selectors import dashboard_panel

    user = member(tenant_a, roles.ANALYST)
    request = rf.get("/")
    request.tenant, request.user = tenant_a, user
    with tenant_context(tenant_a):
        make_ioc("md5", "a" * 32)
        make_ioc("ipv4", "8.8.8.8")  # suppressed: not counted as active
        panel = dashboard_panel(request)
        html = render_to_string(panel["template"], {"panel": panel, "tenant": tenant_a})
    assert panel["active_iocs"] == 1
    assert 'data-testid="intel-panel"' in html and "all healthy" in html
