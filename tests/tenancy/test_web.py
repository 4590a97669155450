import subprocess
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenancy import roles
from tenancy.context import tenant_context
from tenancy.services import audit_record


def test_healthz_reports_database_and_broker(db, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert "broker" in body


def test_security_headers_on_every_page(db, client):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_request_id_is_kept_or_made(db, client):
    assert (
        client.get("/healthz", HTTP_X_REQUEST_ID="abc-12345678")["X-Request-ID"] == "abc-12345678"
    )
    made = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"]
    assert len(made) == 32 and made.isalnum()


def test_unknown_api_url_gets_the_json_error_format(db, client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not found.", "fields": {}}
    }


def test_anonymous_api_call_is_401_json(db, client):
    response = client.get("/api/v1/audit/")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_schema_and_docs_are_served(db, client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/audit/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_dashboard_and_audit_keep_constant_queries(tenant_a, web_client):
    client = web_client(tenant_a, roles.ADMIN)
    counts = []
    for extra in (1, 40):
        with tenant_context(tenant_a):
            for i in range(extra):
                audit_record("test.event", None, {"i": [None, i]})
        with CaptureQueriesContext(connection) as queries:
            assert client.get(client.url("audit/")).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_production_mode_refuses_to_start_without_secret_and_hosts(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "0", "STOPCLOCK_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:6379/0"])
def test_check_deploy_is_clean_in_production_settings(tmp_path, broker):
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "-production-secret-key-that-is-long-enough-0123456789",
        "ALLOWED_HOSTS": "stopclock.example",
        "CELERY_BROKER_URL": broker,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "STOPCLOCK_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
