"""Security headers on every response, production transport settings, and throttling.

`tests/tenancy/test_web.py` checks the headers of the login page and that
`manage.py check --deploy` is clean in production settings; here:

- every page the URL resolver knows (browser pages, htmx partials, account pages, the API,
  its docs, error pages) carries the CSP — no `unsafe-inline`/`unsafe-eval`, `frame-ancestors
  'none'`, `object-src 'none'` — plus `X-Frame-Options: DENY`, `nosniff` and the referrer
  policy;
- the real production settings (`DEBUG=0`, read in a fresh process as a deployment would)
  send HSTS with subdomains and preload, redirect plain HTTP to HTTPS, and mark the session
  and CSRF cookies Secure, HttpOnly (session) and SameSite;
- the API throttles per token: past the rate a token gets 429 with `Retry-After` in the
  error format, while another token of the same user, from the same address, carries on;
  agents are throttled the same way. (Failed browser logins: tests/tenancy/test_auth.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import cache

from tenancy import roles
from tenancy.context import tenant_context
from tenancy.services import api_token_create
from tenancy.throttling import TokenRateThrottle

from .hostile import all_routes, api_operations, browser, page_objects, tenant_routes


def _header_problems(response, *, static: bool = False) -> list[str]:
    problems = []
    csp = response.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part for part in csp.split("; ") if part.strip()}
    if not csp:
        problems.append("no CSP")
    if "unsafe-inline" in csp or "unsafe-eval" in csp:
        problems.append(f"CSP allows inline or eval: {csp}")
    if directives.get("frame-ancestors") != "frame-ancestors 'none'":
        problems.append("CSP frame-ancestors is not 'none'")
    if directives.get("object-src") not in ("object-src 'none'", None) or (
        "object-src" not in directives and "default-src 'none'" not in csp
    ):
        problems.append("CSP object-src is not 'none'")
    if "script-src" not in directives and "default-src" not in directives:
        problems.append("CSP does not restrict scripts")
    # static files leave before the X-Frame-Options middleware; the CSP still forbids framing
    if response.get("X-Frame-Options") != "DENY" and not static:
        problems.append(f"X-Frame-Options {response.get('X-Frame-Options')!r}")
    if response.get("X-Content-Type-Options") != "nosniff":
        problems.append("no nosniff")
    if response.get("Referrer-Policy") not in ("same-origin", "no-referrer", "strict-origin"):
        problems.append(f"Referrer-Policy {response.get('Referrer-Policy')!r}")
    return problems


def test_every_response_carries_the_security_headers(world, client):
    admin = browser(world.a, roles.ADMIN, raise_request_exception=False)
    objects = page_objects(world.a)
    urls = [route.url(world.a.tenant.slug, objects.get(route.name)) for route in tenant_routes()]
    urls += ["/" + p for p, _, _ in all_routes() if "<" not in p and not p.startswith("t/")]
    urls += ["/no/such/page/", f"/t/{world.b.tenant.slug}/", "/static/css/stopclock.css"]
    problems, seen = [], 0
    for url in urls:
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = admin.get(url, **headers)
            seen += 1
            static = url.startswith(settings.STATIC_URL)
            problems += [f"{url}: {p}" for p in _header_problems(response, static=static)]
    auth = {"HTTP_AUTHORIZATION": world.a.auth(roles.ADMIN)}
    for operation in api_operations():
        if operation.method == "get" and not operation.is_agent:
            response = client.get(operation.url(world.a), **auth)
            seen += 1
            problems += [f"{operation.label}: {p}" for p in _header_problems(response)]
    response = client.get("/api/v1/cases/")  # an anonymous refusal too
    problems += [f"anonymous 401: {p}" for p in _header_problems(response)]
    assert seen > 250
    assert not problems, "\n".join(sorted(set(problems)))


# The static files storage is swapped for the plain one (production's manifest needs a
# `collectstatic`, irrelevant to headers and cookies); every other setting is production's.
PRODUCTION_PROBE = r"""
import json, django
django.setup()
from django.test import Client
from django.test.utils import override_settings
from django.conf import settings
storages = {**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
override_settings(STORAGES=storages).enable()
client = Client(HTTP_HOST="stopclock.example")
secure = client.get("/accounts/login/", secure=True)
plain = client.get("/accounts/login/")
csrf = secure.cookies.get(settings.CSRF_COOKIE_NAME)
print(json.dumps({
    "hsts": secure.get("Strict-Transport-Security", ""),
    "csp": secure.get("Content-Security-Policy", ""),
    "plain": [plain.status_code, plain.get("Location", "")],
    "csrf_cookie": {k: csrf[k] for k in ("secure", "samesite", "httponly")} if csrf else None,
    "session": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,
                settings.SESSION_COOKIE_SAMESITE],
    "debug": settings.DEBUG,
}))
"""


def test_production_settings_send_hsts_and_secure_cookies(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "0",
        "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-0123456789-abcdef",
        "ALLOWED_HOSTS": "stopclock.example",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "STOPCLOCK_VAR_DIR": str(tmp_path),
        "STOPCLOCK_TESTING": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["debug"] is False
    hsts = found["hsts"]
    assert "max-age=" in hsts and int(hsts.split("max-age=")[1].split(";")[0]) >= 31536000
    assert "includeSubDomains" in hsts and "preload" in hsts
    assert "unsafe-inline" not in found["csp"] and "frame-ancestors 'none'" in found["csp"]
    assert found["plain"] == [301, "https://stopclock.example/accounts/login/"]
    assert found["csrf_cookie"]["secure"] is True
    assert found["csrf_cookie"]["samesite"] in ("Lax", "Strict")
    assert found["session"] == [True, True, "Lax"]


# --- throttling ----------------------------------------------------------------------------------
@pytest.fixture
def three_a_minute(monkeypatch):
    monkeypatch.setitem(TokenRateThrottle.THROTTLE_RATES, TokenRateThrottle.scope, "3/min")
    cache.clear()
    yield
    cache.clear()


def test_the_api_throttles_per_token_with_429_and_retry_after(world, client, three_a_minute):
    admin = world.a.users[roles.ADMIN]
    with tenant_context(world.a.tenant):
        _, second_key = api_token_create(user=admin, name="second token")
    first = {"HTTP_AUTHORIZATION": world.a.auth(roles.ADMIN), "REMOTE_ADDR": "198.51.100.9"}
    second = {"HTTP_AUTHORIZATION": f"Token {second_key}", "REMOTE_ADDR": "198.51.100.9"}
    for _ in range(3):
        assert client.get("/api/v1/cases/", **first).status_code == 200
    throttled = client.get("/api/v1/cases/", **first)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert 0 < int(throttled["Retry-After"]) <= 60
    # writes count too, and are refused the same way
    post = client.post("/api/v1/cases/", {"title": "x"}, content_type="application/json", **first)
    assert post.status_code == 429
    # the same user and address with another token: not throttled
    assert client.get("/api/v1/cases/", **second).status_code == 200


def test_agents_are_throttled_per_token(world, client, three_a_minute):
    agent = {"HTTP_AUTHORIZATION": world.a.auth(roles.AGENT)}
    body = json.dumps({"hostname": f"{world.a.marker}-ws-001"})
    codes = [
        client.post(
            "/api/v1/agent/heartbeat/", body, content_type="application/json", **agent
        ).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    other = world.b.auth(roles.AGENT)
    response = client.post(
        "/api/v1/agent/heartbeat/", body, content_type="application/json", HTTP_AUTHORIZATION=other
    )
    assert response.status_code == 200


def test_every_token_throttled_operation_documents_429(world):
    """Whatever a new endpoint is, the throttle applies (a default class) and the schema says
    so: every operation callable with a token or an agent token documents 429 — except the
    agents' enrolment, throttled by nothing on purpose (one secret per install, rotated
    rather than throttled: endpoints/api/views.py)."""
    missing = [
        operation.label
        for operation in api_operations()
        if "429" not in operation.spec.get("responses", {})
        and not operation.path.endswith("/agent/enrol/")
    ]
    assert missing == []
