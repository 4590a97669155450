"""CSRF on every state-changing browser form, and why the API needs none.

- Every browser route under /t/<slug>/ and /accounts/ (walked from the URL resolver), sent a
  POST by a signed-in admin's browser with no CSRF token — the request a hostile page would
  make the admin's browser send — is refused by the CSRF check before its view runs, and no
  table changes. The same POST with the token (form field, or the `X-CSRFToken` header htmx
  sends) is not refused by it, so the test measures the token and nothing else.
- No route is `csrf_exempt` except the API's, which is authenticated by the
  `Authorization` header only: a browser's session cookie opens none of its write
  operations (every one, from the OpenAPI schema).
- Every `<form method="post">` in the templates carries `{% csrf_token %}`, and the page
  body hands htmx the token for its hx-post requests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings
from django.test import Client

from tenancy import roles

from .hostile import (
    all_routes,
    api_operations,
    browser,
    changed,
    page_objects,
    state_digest,
    tenant_routes,
)

FORM = {"action": "note", "op": "approve", "name": "forged", "body": "forged"}
CSRF_FAILED = b"CSRF verification failed"


def _browser_urls(world) -> list[tuple[str, str]]:
    objects = page_objects(world.a)
    urls = [
        (route.name, route.url(world.a.tenant.slug, objects.get(route.name)))
        for route in tenant_routes()
    ]
    urls += [
        (name, "/" + pattern)
        for pattern, name, _ in all_routes()
        if pattern.startswith("accounts/") or pattern == ""
    ]
    return urls


def test_every_browser_post_without_a_token_is_refused(world):
    forged = browser(world.a, roles.ADMIN, enforce_csrf_checks=True)
    before = state_digest()
    problems = []
    urls = _browser_urls(world)
    for name, url in urls:
        response = forged.post(url, FORM)
        if response.status_code != 403 or CSRF_FAILED not in response.content:
            problems.append(f"{name}: POST {url} without a token answered {response.status_code}")
    assert len(urls) > 90
    assert not problems, "\n".join(problems)
    assert changed(before, state_digest()) == []


def test_the_same_posts_with_the_token_pass_the_csrf_check(world):
    client = browser(world.a, roles.ADMIN, enforce_csrf_checks=True)
    client.get(f"/t/{world.a.tenant.slug}/")  # the page sets the CSRF cookie
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    problems = []
    for index, (name, url) in enumerate(_browser_urls(world)):
        if name == "logout":
            continue  # would end the session the rest of the loop uses
        if index % 2:  # half as a form field, half as htmx sends it
            response = client.post(url, FORM, HTTP_X_CSRFTOKEN=token)
        else:
            response = client.post(url, {**FORM, "csrfmiddlewaretoken": token})
        if CSRF_FAILED in response.content:
            problems.append(f"{name}: POST {url} refused by CSRF despite the token")
    assert not problems, "\n".join(problems)


def test_a_token_from_another_session_is_refused(world):
    """A token is bound to the browser's cookie: the attacker's own token does not help."""
    attacker = Client()
    attacker.get("/accounts/login/")
    stolen = attacker.cookies[settings.CSRF_COOKIE_NAME].value
    victim = browser(world.a, roles.ADMIN, enforce_csrf_checks=True)
    victim.get(f"/t/{world.a.tenant.slug}/")
    url = f"/t/{world.a.tenant.slug}/cases/new/"
    response = victim.post(url, {"title": "forged", "csrfmiddlewaretoken": stolen})
    assert response.status_code == 403 and CSRF_FAILED in response.content


def test_only_api_routes_are_csrf_exempt():
    exempt = [
        pattern
        for pattern, _name, entry in all_routes()
        if getattr(entry.callback, "csrf_exempt", False)
        and not pattern.startswith(("api/v1/", "api/schema/", "api/docs/"))
    ]
    assert exempt == []


def test_a_browser_session_opens_no_api_write(world):
    """The API is CSRF-exempt because it ignores cookies: a signed-in browser sending a
    forged request to any write operation is not authenticated there."""
    session = browser(world.a, roles.ADMIN)
    problems = []
    for operation in api_operations():
        if not operation.is_write:
            continue
        response = session.generic(
            operation.method.upper(),
            operation.url(world.a),
            json.dumps({}),
            content_type="application/json",
        )
        if response.status_code != 401:
            problems.append(f"{operation.label}: {response.status_code}")
    assert not problems, "a session cookie reached the API:\n" + "\n".join(problems)


FORM_TAG = re.compile(r"<form\b[^>]*>.*?</form>", re.IGNORECASE | re.DOTALL)
POST_METHOD = re.compile(r"""method\s*=\s*["']?post""", re.IGNORECASE)


def test_every_post_form_in_the_templates_carries_the_token():
    templates = list(Path(settings.BASE_DIR, "templates").rglob("*.html"))
    missing, forms = [], 0
    for path in templates:
        for form in FORM_TAG.findall(path.read_text()):
            opening = form.split(">", 1)[0]
            if not POST_METHOD.search(opening):
                continue
            forms += 1
            if "{% csrf_token %}" not in form:
                missing.append(f"{path.relative_to(settings.BASE_DIR)}: {opening[:120]}>")
    assert forms > 30
    assert missing == []


def test_htmx_requests_carry_the_token():
    base = Path(settings.BASE_DIR, "templates", "base.html").read_text()
    body = re.search(r"<body\b[^>]*>", base).group(0)
    assert """hx-headers='{"X-CSRFToken": "{{ csrf_token }}"}'""" in body
