"""/api/v1/tasks/, notes/, evidence/, grouping-rules/, webhooks/, webhook-deliveries/."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.models import CustodyEvent, Evidence, GroupingRule, Task
from cases.services import note_create
from tenancy import roles
from tenancy.context import tenant_context
from tests.cases.factories import make_case
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(tenant_a, api_client):
    return api_client(tenant_a, roles.ANALYST)


@pytest.fixture
def case(tenant_a):
    with tenant_context(tenant_a):
        return make_case()


def test_tasks_list_add_and_complete(client, case, tenant_a):
    listed = client.get("/api/v1/tasks/", {"case": case.pk}).json()
    assert listed["count"] == 6
    created = client.post(
        "/api/v1/tasks/",
        {"case": case.pk, "title": "Call the user", "assignee": client.user.pk},
        format="json",
    )
    assert created.status_code == 201, created.json()
    task_id = created.json()["id"]
    done = client.patch(f"/api/v1/tasks/{task_id}/", {"done": True}, format="json").json()
    assert done["done"] and done["done_by"] == client.user.pk
    assert client.get("/api/v1/tasks/", {"case": case.pk, "done": "true"}).json()["count"] == 1
    bad = client.patch(f"/api/v1/tasks/{task_id}/", {"case": 1}, format="json")
    assert bad.status_code == 400 and "case" in bad.json()["error"]["fields"]
    assert client.delete(f"/api/v1/tasks/{task_id}/").status_code == 405


def test_notes_only_the_author_edits(client, case, tenant_a, api_client):
    created = client.post("/api/v1/notes/", {"case": case.pk, "body": "*first*"}, format="json")
    assert created.status_code == 201
    note_id = created.json()["id"]
    other = api_client(tenant_a, roles.ANALYST, "someone-else")
    assert other.patch(f"/api/v1/notes/{note_id}/", {"body": "x"}, format="json").status_code == 403
    edited = client.patch(f"/api/v1/notes/{note_id}/", {"body": "*second*"}, format="json")
    assert edited.json()["body"] == "*second*"


def test_the_note_list_keeps_constant_queries(client, case, tenant_a, member):
    def add(n):
        with tenant_context(tenant_a):
            for _ in range(n):
                note_create(case=case, body="x")

    client.get("/api/v1/me/")
    assert_constant_queries(add, lambda: client.get("/api/v1/notes/"))


def _upload(client, case, content=b"MZ\x90\x00 evil", name="dropper.exe", **extra):
    file = SimpleUploadedFile(name, content, content_type="text/html")
    return client.post(
        "/api/v1/evidence/", {"case": case.pk, "file": file, **extra}, format="multipart"
    )


def test_evidence_is_fingerprinted_and_stored_under_the_tenant(client, case, tenant_a):
    content = b"<html><script>alert(1)</script></html>"
    response = _upload(
        client, case, content, name="../../etc/passwd\x00.html", description="phishing page"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["content_type"] == "text/html"  # detected from the bytes
    assert "/" not in body["original_name"] and ".." not in body["original_name"]
    assert [c["action"] for c in body["custody"]] == ["upload"]
    with tenant_context(tenant_a):
        stored = Evidence.objects.get().file.name
    assert stored == f"evidence/{tenant_a.pk}/{case.pk}/{body['uid'].replace('-', '')}"


def test_evidence_downloads_as_an_attachment_never_inline(client, case, tenant_a):
    content = b"<html><script>alert(1)</script></html>"
    evidence_id = _upload(client, case, content, name="page.html").json()["id"]
    response = client.get(f"/api/v1/evidence/{evidence_id}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="page.html"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    with tenant_context(tenant_a):
        actions = list(CustodyEvent.objects.order_by("at").values_list("action", "user_id"))
    assert actions == [("upload", client.user.pk), ("download", client.user.pk)]


def test_evidence_over_the_limit_is_413_and_stores_nothing(client, case, tenant_a):
    tenant_a.settings = {"cases": {"evidence_max_bytes": 2048}}
    tenant_a.save()
    response = _upload(client, case, b"x" * 4096)
    assert response.status_code == 413
    with tenant_context(tenant_a):
        assert not Evidence.objects.exists()


def test_a_100_mb_upload_is_refused_before_it_is_read(client, case, tenant_a):
    response = _upload(client, case, b"\0" * (100 * 1024 * 1024), name="disk.img")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    with tenant_context(tenant_a):
        assert not Evidence.objects.exists()


def test_an_empty_file_is_refused(client, case):
    response = _upload(client, case, b"")
    assert response.status_code == 400 and "file" in response.json()["error"]["fields"]


def test_evidence_cannot_be_changed_or_deleted(client, case):
    evidence_id = _upload(client, case).json()["id"]
    for method in ("patch", "put", "delete"):
        assert getattr(client, method)(f"/api/v1/evidence/{evidence_id}/").status_code == 405


def test_grouping_rules_read_by_all_written_by_leads(tenant_a, api_client):
    analyst = api_client(tenant_a, roles.ANALYST)
    rules = analyst.get("/api/v1/grouping-rules/").json()
    assert len(rules) == 4
    body = {"name": "every sweep hit", "action": "open_case", "source": "ioc_sweep", "order": 5}
    assert analyst.post("/api/v1/grouping-rules/", body, format="json").status_code == 403
    lead = api_client(tenant_a, roles.LEAD)
    created = lead.post("/api/v1/grouping-rules/", body, format="json")
    assert created.status_code == 201, created.json()
    bad = lead.post("/api/v1/grouping-rules/", {**body, "action": "join_case"}, format="json")
    assert bad.status_code == 400 and "join_on" in bad.json()["error"]["fields"]
    rule_id = created.json()["id"]
    assert (
        lead.patch(
            f"/api/v1/grouping-rules/{rule_id}/", {"is_enabled": False}, format="json"
        ).json()["is_enabled"]
        is False
    )
    assert lead.delete(f"/api/v1/grouping-rules/{rule_id}/").status_code == 204
    with tenant_context(tenant_a):
        assert GroupingRule.objects.count() == 4


def test_webhooks_are_for_admins_and_show_the_secret_once(tenant_a, api_client):
    tenant_a.settings = {"tenancy": {"outbound_allowlist": ["127.0.0.1"]}}
    tenant_a.save()
    analyst = api_client(tenant_a, roles.ANALYST)
    assert analyst.get("/api/v1/webhooks/").status_code == 403
    admin = api_client(tenant_a, roles.ADMIN)
    body = {"name": "soar", "url": "http://127.0.0.1:9/hook", "events": ["case.created"]}
    created = admin.post("/api/v1/webhooks/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["secret"].startswith("whsec_")
    hook_id = created.json()["id"]
    assert "secret" not in admin.get(f"/api/v1/webhooks/{hook_id}/").json()
    rotated = admin.post(f"/api/v1/webhooks/{hook_id}/rotate-secret/").json()["secret"]
    assert rotated != created.json()["secret"]
    bad = admin.post("/api/v1/webhooks/", {**body, "url": "http://10.9.9.9/"}, format="json")
    assert bad.status_code == 400 and "url" in bad.json()["error"]["fields"]
    assert admin.get(f"/api/v1/webhooks/{hook_id}/deliveries/").json()["count"] == 0
    assert admin.get("/api/v1/webhook-deliveries/").status_code == 200


def test_task_list_keeps_constant_queries(client, tenant_a):
    def add(n):
        with tenant_context(tenant_a):
            for _ in range(n):
                make_case()

    client.get("/api/v1/me/")
    assert_constant_queries(add, lambda: client.get("/api/v1/tasks/"))
    with tenant_context(tenant_a):
        assert Task.objects.count() > 25
