"""/api/v1/cases/: fields, filters, ETag / If-Match, workflow actions, bulk, roles."""

import datetime as dt

import pytest
from django.utils import timezone

from cases.models import Case, CaseLink, TimelineEntry
from cases.services import acting_at, case_transition, case_update, note_create
from tenancy import roles
from tenancy.context import tenant_context
from tests.cases.factories import make_alert, make_case, make_endpoint
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db
CASE_FIELDS = {
    "id",
    "number",
    "title",
    "description",
    "severity",
    "tlp",
    "phase",
    "status",
    "assignee",
    "tags",
    "detected_at",
    "triaged_at",
    "scoped_at",
    "contained_at",
    "remediated_at",
    "closed_at",
}


@pytest.fixture
def client(tenant_a, api_client):
    return api_client(tenant_a, roles.ANALYST)


@pytest.fixture
def case(tenant_a):
    with tenant_context(tenant_a):
        return make_case(title="Macro dropper", tags=["phishing"])


def test_a_case_has_the_names_others_rely_on(client, case):
    response = client.get(f"/api/v1/cases/{case.pk}/")
    assert response.status_code == 200
    assert set(response.json()) >= CASE_FIELDS
    assert response.json()["tags"] == ["phishing"]
    assert response["ETag"] == '"1"'


def test_open_a_case_with_alerts(client, tenant_a):
    with tenant_context(tenant_a):
        alert = make_alert(observed_at=timezone.now() - dt.timedelta(hours=1))
    body = {
        "title": "Two hosts beaconing",
        "severity": "high",
        "phase": "lateral_movement",
        "tlp": "amber+strict",
        "tags": ["C2"],
        "alerts": [alert.pk],
        "assignee": client.user.pk,
    }
    response = client.post("/api/v1/cases/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["number"].startswith("CASE-") and data["tags"] == ["c2"]
    assert data["detected_at"] == alert.observed_at.isoformat().replace("+00:00", "Z")
    assert data["assignee"] == client.user.pk and data["tlp"] == "amber+strict"
    assert response["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"severity": "urgent"}, "severity"),
        ({"tlp": "purple"}, "tlp"),
        ({"phase": "recon"}, "phase"),
        ({"status": "closed"}, "status"),
        ({"number": "CASE-1"}, "number"),
        ({"triaged_at": "2026-01-01T00:00:00Z"}, "triaged_at"),
        ({"assignee": 999999}, "assignee"),
        ({"tags": ["no,commas"]}, "tags"),
    ],
)
def test_bad_updates_are_400_and_change_nothing(client, case, tenant_a, body, field):
    response = client.patch(f"/api/v1/cases/{case.pk}/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    with tenant_context(tenant_a):
        fresh = Case.objects.get(pk=case.pk)
    assert (fresh.version, fresh.title, fresh.status) == (1, "Macro dropper", "new")


def test_if_match_protects_a_colleagues_change(client, case, tenant_a):
    etag = client.get(f"/api/v1/cases/{case.pk}/")["ETag"]
    ok = client.patch(
        f"/api/v1/cases/{case.pk}/",
        {"title": "Macro dropper (finance)"},
        format="json",
        HTTP_IF_MATCH=etag,
    )
    assert ok.status_code == 200 and ok["ETag"] == '"2"'
    stale = client.patch(
        f"/api/v1/cases/{case.pk}/", {"severity": "low"}, format="json", HTTP_IF_MATCH=etag
    )
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"
    with tenant_context(tenant_a):
        fresh = Case.objects.get(pk=case.pk)
    assert (fresh.severity, fresh.version) == ("high", 2)
    stale_action = client.post(
        f"/api/v1/cases/{case.pk}/transition/",
        {"status": "triage"},
        format="json",
        HTTP_IF_MATCH=etag,
    )
    assert stale_action.status_code == 412
    bad = client.patch(
        f"/api/v1/cases/{case.pk}/", {"title": "x"}, format="json", HTTP_IF_MATCH="yesterday"
    )
    assert bad.status_code == 400 and "If-Match" in bad.json()["error"]["fields"]


def test_if_none_match_answers_304(client, case):
    etag = client.get(f"/api/v1/cases/{case.pk}/")["ETag"]
    assert client.get(f"/api/v1/cases/{case.pk}/", HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_put_replaces_every_writable_field(client, case):
    body = {
        "title": "T",
        "description": "",
        "severity": "low",
        "tlp": "green",
        "phase": "persistence",
        "assignee": None,
        "watchers": [],
        "tags": [],
    }
    response = client.put(f"/api/v1/cases/{case.pk}/", body, format="json")
    assert response.status_code == 200 and response.json()["tags"] == []
    partial = client.put(f"/api/v1/cases/{case.pk}/", {"title": "only"}, format="json")
    assert partial.status_code == 400 and "severity" in partial.json()["error"]["fields"]


def test_work_a_case_to_closure_over_the_api(client, case, tenant_a):
    url = f"/api/v1/cases/{case.pk}/"
    assert client.post(url + "transition/", {"status": "triage"}, format="json").json()[
        "triaged_at"
    ]
    assert client.post(url + "scope-done/").json()["status"] == "investigating"
    paused = client.post(url + "pause/", {"reason": "customer asleep"}, format="json").json()
    assert paused["paused"] and paused["sla_state"] == "paused"
    assert not client.post(url + "resume/").json()["paused"]
    client.post(url + "transition/", {"status": "contained"}, format="json")
    early = client.post(
        url + "transition/", {"status": "closed", "resolution": "true_positive"}, format="json"
    )
    assert early.status_code == 409
    client.post(url + "transition/", {"status": "remediated"}, format="json")
    closed = client.post(
        url + "transition/", {"status": "closed", "resolution": "true_positive"}, format="json"
    )
    assert closed.json()["closed_at"] and closed.json()["resolution"] == "true_positive"
    reopened = client.post(url + "reopen/", {"reason": "came back"}, format="json").json()
    assert reopened["status"] == "investigating" and reopened["remediated_at"] is None
    timeline = client.get(url + "timeline/").json()
    kinds = [row["kind"] for row in timeline["results"]]
    assert kinds[0] == "created" and "reopen" in kinds and "pause" in kinds
    assert timeline["count"] == len(kinds)


def test_only_leads_correct_milestones(tenant_a, api_client, case):
    with tenant_context(tenant_a):
        case_transition(case=case, status="triage")
    url = f"/api/v1/cases/{case.pk}/correct-milestone/"
    value = (case.detected_at + dt.timedelta(minutes=3)).isoformat()
    body = {"milestone": "triaged_at", "value": value, "reason": "acknowledged by phone"}
    analyst = api_client(tenant_a, roles.ANALYST)
    assert analyst.post(url, body, format="json").status_code == 403
    lead = api_client(tenant_a, roles.LEAD)
    no_reason = lead.post(url, {**body, "reason": ""}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["fields"]
    done = lead.post(url, body, format="json")
    assert done.status_code == 200, done.json()
    assert done.json()["triaged_at"].startswith(value[:19])


def test_assign_merge_split_link(client, tenant_a):
    with tenant_context(tenant_a):
        endpoint = make_endpoint()
        a, b = make_case(), make_case()
        alerts = [make_alert(endpoint=endpoint) for _ in range(2)]
    from cases.services import alert_promote

    with tenant_context(tenant_a):
        alert_promote(alerts=alerts, case=a)
    assert (
        client.post(
            f"/api/v1/cases/{a.pk}/assign/", {"assignee": client.user.pk}, format="json"
        ).json()["assignee"]
        == client.user.pk
    )
    split = client.post(f"/api/v1/cases/{a.pk}/split/", {"alerts": [alerts[0].pk]}, format="json")
    assert split.status_code == 201 and split.json()["status"] == "triage"
    link = client.post(
        f"/api/v1/cases/{b.pk}/link/",
        {
            "object_type": "endpoints.endpoint",
            "object_id": str(endpoint.pk),
            "relation": "affected",
        },
        format="json",
    )
    assert link.status_code == 201 and link.json()["object_repr"] == endpoint.hostname
    refused = client.post(
        f"/api/v1/cases/{b.pk}/link/",
        {"object_type": "tenancy.apitoken", "object_id": "1"},
        format="json",
    )
    assert refused.status_code == 400 and "object_type" in refused.json()["error"]["fields"]
    merged = client.post(f"/api/v1/cases/{b.pk}/merge/", {"into": a.pk}, format="json")
    assert merged.status_code == 200 and merged.json()["id"] == a.pk
    with tenant_context(tenant_a):
        assert CaseLink.objects.get().case_id == a.pk
        assert Case.objects.get(pk=b.pk).merged_into_id == a.pk


def test_merging_into_another_tenants_case_is_refused(client, case, tenant_b):
    with tenant_context(tenant_b):
        foreign = make_case()
    response = client.post(f"/api/v1/cases/{case.pk}/merge/", {"into": foreign.pk}, format="json")
    assert response.status_code == 400 and "into" in response.json()["error"]["fields"]


def test_bulk_update(client, tenant_a):
    with tenant_context(tenant_a):
        cases = [make_case() for _ in range(3)]
    ids = [c.pk for c in cases]
    response = client.post(
        "/api/v1/cases/bulk/",
        {
            "ids": ids,
            "assignee": client.user.pk,
            "status": "closed",
            "resolution": "false_positive",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert {(row["status"], row["assignee"]) for row in response.json()} == {
        ("closed", client.user.pk)
    }
    missing = client.post(
        "/api/v1/cases/bulk/", {"ids": [*ids, 999999], "assignee": None}, format="json"
    )
    assert missing.status_code == 400
    nothing = client.post("/api/v1/cases/bulk/", {"ids": ids}, format="json")
    assert nothing.status_code == 400


def test_list_filters(client, tenant_a, member):
    other = member(tenant_a, roles.ANALYST, "bob")
    now = timezone.now()
    with tenant_context(tenant_a):
        with acting_at(now - dt.timedelta(hours=5)):
            late = make_case(severity="critical", phase="persistence", title="old breach")
        mine = make_case(severity="low", assignee=client.user, tags=["vip"])
        bobs = make_case(severity="medium", assignee=other)
        closed = case_transition(case=make_case(), status="closed", resolution="benign")

    def ids(**params):
        response = client.get("/api/v1/cases/", params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids(status="closed") == {closed.pk}
    assert ids(status="open") == {late.pk, mine.pk, bobs.pk}
    assert ids(severity=["critical", "low"]) == {late.pk, mine.pk}
    assert ids(phase="persistence") == {late.pk}
    assert ids(assignee="me") == {mine.pk}
    assert ids(assignee="bob") == {bobs.pk} == ids(assignee=str(other.pk))
    assert ids(assignee="none") == {late.pk, closed.pk}
    assert ids(tag="VIP") == {mine.pk}
    assert ids(sla_state="breached") == {late.pk}
    assert ids(search="old bre") == {late.pk}
    assert ids(search=late.number) == {late.pk}
    ordered = client.get("/api/v1/cases/", {"ordering": "-severity"}).json()["results"]
    assert ordered[0]["id"] == late.pk
    bad = client.get("/api/v1/cases/", {"sla_state": "on_fire"})
    assert bad.status_code == 400 and "sla_state" in bad.json()["error"]["fields"]


def test_the_case_list_keeps_constant_queries(client, tenant_a):
    def add(n):
        with tenant_context(tenant_a):
            for i in range(n):
                case = make_case(tags=[f"t{i}", "shared"], assignee=client.user)
                case_update(case=case, watchers=[client.user])

    client.get("/api/v1/me/")
    assert_constant_queries(add, lambda: client.get("/api/v1/cases/"))


def test_the_timeline_keeps_constant_queries(client, case, tenant_a):
    def add(n):
        with tenant_context(tenant_a):
            for i in range(n):
                note_create(case=case, body=f"note {i}")

    client.get("/api/v1/me/")
    assert_constant_queries(add, lambda: client.get(f"/api/v1/cases/{case.pk}/timeline/"))


def test_cases_are_never_deleted(client, case):
    assert client.delete(f"/api/v1/cases/{case.pk}/").status_code == 405


def test_auditors_and_integrations(tenant_a, api_client, case):
    auditor = api_client(tenant_a, roles.AUDITOR)
    assert auditor.get(f"/api/v1/cases/{case.pk}/timeline/").status_code == 200
    for method, url, body in (
        ("patch", f"/api/v1/cases/{case.pk}/", {"title": "x"}),
        ("post", f"/api/v1/cases/{case.pk}/transition/", {"status": "triage"}),
        ("post", "/api/v1/cases/", {"title": "x", "severity": "low", "phase": "persistence"}),
    ):
        assert getattr(auditor, method)(url, body, format="json").status_code == 403
    integration = api_client(tenant_a, roles.INTEGRATION)
    response = integration.post(
        f"/api/v1/cases/{case.pk}/transition/", {"status": "triage"}, format="json"
    )
    assert response.status_code == 200


def test_the_schema_describes_the_cases_api(db, client):
    schema = client.get("/api/schema/").content.decode()
    for path in (
        "/api/v1/cases/{id}/transition/",
        "/api/v1/alerts/bulk/",
        "/api/v1/cases/{id}/timeline/",
        "/api/v1/evidence/{id}/download/",
        "/api/v1/webhooks/{id}/deliveries/",
        "/api/v1/grouping-rules/",
        "/api/v1/cases/bulk/",
        "/api/v1/cases/{id}/correct-milestone/",
    ):
        assert path in schema, path
    assert "If-Match" in schema and "sla_state" in schema


def test_timeline_rows_are_ordered_oldest_first(client, case, tenant_a):
    with tenant_context(tenant_a):
        note_create(case=case, body="later")
        count = TimelineEntry.objects.filter(case=case).count()
    rows = client.get(f"/api/v1/cases/{case.pk}/timeline/").json()["results"]
    assert len(rows) == count and rows[-1]["summary"] == "Note: later"


def test_pages_cover_every_case_once_in_order(client, tenant_a):
    """The deferred-join paginator: deep pages, same order, no overlap, no gap."""
    now = timezone.now()
    with tenant_context(tenant_a):
        for i in range(23):
            with acting_at(now - dt.timedelta(minutes=i % 5)):  # ties on detected_at
                make_case(title=f"c{i}")
    seen = []
    for number in (1, 2, 3):
        body = client.get("/api/v1/cases/", {"page": number, "page_size": 10}).json()
        seen += [(row["detected_at"], row["id"]) for row in body["results"]]
    assert len(seen) == 23 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    assert client.get("/api/v1/cases/", {"page": 4, "page_size": 10}).status_code == 404
