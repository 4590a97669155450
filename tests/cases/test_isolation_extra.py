"""Isolation beyond what the harness walks: GET actions, filters and body references that
name another tenant's objects, and RLS alone on PostgreSQL."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.models import Case, CustodyEvent, Note
from cases.services import alert_ingest, evidence_upload, grouping_rules_ensure
from tenancy import roles
from tenancy.context import tenant_context
from tests.cases.factories import alert_input, make_alert, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign(tenant_b):
    with tenant_context(tenant_b):
        case = make_case(title="bravo secret")
        alert = make_alert(title="bravo alert")
        evidence = evidence_upload(case=case, upload=SimpleUploadedFile("s.txt", b"secret"))
    return {"case": case, "alert": alert, "evidence": evidence}


def test_get_actions_on_another_tenants_objects_are_404(tenant_a, api_client, foreign, tenant_b):
    client = api_client(tenant_a, roles.ADMIN)
    for url in (
        f"/api/v1/cases/{foreign['case'].pk}/timeline/",
        f"/api/v1/evidence/{foreign['evidence'].pk}/download/",
    ):
        response = client.get(url)
        assert response.status_code == 404 and b"secret" not in response.content
    with tenant_context(tenant_b):
        assert not CustodyEvent.objects.filter(action="download").exists()


def test_references_in_bodies_and_filters_do_not_cross(tenant_a, api_client, foreign):
    client = api_client(tenant_a, roles.ADMIN)
    with tenant_context(tenant_a):
        mine = make_case()
    attempts = [
        ("/api/v1/notes/", {"case": foreign["case"].pk, "body": "x"}, "case"),
        ("/api/v1/tasks/", {"case": foreign["case"].pk, "title": "x"}, "case"),
        (
            "/api/v1/cases/",
            {
                "title": "x",
                "severity": "low",
                "phase": "persistence",
                "alerts": [foreign["alert"].pk],
            },
            "alerts",
        ),
        (f"/api/v1/cases/{mine.pk}/split/", {"alerts": [foreign["alert"].pk]}, "alerts"),
        (
            "/api/v1/alerts/bulk-triage/",
            {"ids": [foreign["alert"].pk], "action": "acknowledge"},
            "alerts",
        ),
        (
            f"/api/v1/cases/{mine.pk}/link/",
            {"object_type": "cases.case", "object_id": str(foreign["case"].pk)},
            "object_id",
        ),
    ]
    for url, body, field in attempts:
        response = client.post(url, body, format="json")
        assert response.status_code == 400, (url, response.status_code)
        assert field in response.json()["error"]["fields"], (url, response.json())
    for url, params in (
        ("/api/v1/notes/", {"case": foreign["case"].pk}),
        ("/api/v1/alerts/", {"case": foreign["case"].pk}),
        ("/api/v1/cases/", {"merged_into": foreign["case"].pk}),
    ):
        assert client.get(url, params).status_code == 400, url
    with tenant_context(tenant_a):
        assert not Note.objects.exists()


def test_the_foreign_prefix_of_case_pages_is_404(tenant_a, tenant_b, web_client, foreign):
    client = web_client(tenant_a, roles.ADMIN)
    for path in ("alerts/", "cases/", f"cases/{foreign['case'].pk}/"):
        assert client.get(f"/t/{tenant_b.slug}/{path}").status_code == 404


def test_grouping_never_joins_another_tenants_case(tenant_a, tenant_b):
    with tenant_context(tenant_b):
        alert_ingest(alerts=[alert_input(severity="high", ioc_key="sha256:shared")])
    with tenant_context(tenant_a):
        grouping_rules_ensure()
        result = alert_ingest(alerts=[alert_input(severity="low", ioc_key="sha256:shared")])
        assert result.cases_joined == [] and result.alerts[0].case is None


@pytest.mark.postgres
def test_rls_alone_hides_another_tenants_cases(
    tenant_a, tenant_b, api_client, monkeypatch, is_postgres
):
    if not is_postgres:
        pytest.skip("Row-Level Security exists on PostgreSQL only")
    from tenancy.managers import TenantManager

    with tenant_context(tenant_a):
        make_case(title="alpha case")
    with tenant_context(tenant_b):
        make_case(title="bravo case")
    client = api_client(tenant_a, roles.ADMIN)
    monkeypatch.setattr(
        TenantManager, "get_queryset", lambda self: super(TenantManager, self).get_queryset()
    )
    titles = {row["title"] for row in client.get("/api/v1/cases/").json()["results"]}
    assert titles == {"alpha case"}
    with tenant_context(tenant_a):
        assert Case.objects.count() == 1
