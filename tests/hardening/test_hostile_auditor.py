"""An auditor trying every write: every API write operation of the schema and every browser
route under /t/<slug>/ that answers POST. Auditors read everything and change nothing
(DESIGN.md section 3), so each attempt must be refused and leave every table as it was.

Both lists are computed (the OpenAPI document, the URL resolver), so a new endpoint or form
is tried here the day it appears.
"""

from __future__ import annotations

import inspect
import json

from tenancy import roles

from .hostile import api_operations, browser, changed, page_objects, state_digest, tenant_routes

# Browser routes an auditor may POST to, each with the reason.
AUDITOR_MAY_POST = {
    "cases:saved-filter-save": "a saved filter is the auditor's own view preference, not "
    "tenant data (DESIGN: auditors read everything; saving how they read is part of reading)",
    "cases:saved-filter-delete": "deletes only the auditor's own saved filter (see above)",
}


REFUSAL_CODES = ("permission_denied", "not_authenticated", "authentication_failed")


def test_every_api_write_operation_refuses_the_auditor(world, client):
    auth = {"HTTP_AUTHORIZATION": world.a.auth(roles.AUDITOR)}
    before = state_digest()
    problems, tried = [], 0
    for operation in api_operations():
        if not operation.is_write:
            continue
        tried += 1
        response = client.generic(
            operation.method.upper(),
            operation.url(world.a),
            json.dumps({}),
            content_type="application/json",
            **auth,
        )
        # agent routes take only agent credentials: a user token is not authenticated there
        expected = 401 if operation.is_agent else 403
        if response.status_code != expected or _code(response) not in REFUSAL_CODES:
            problems.append(f"{operation.label}: {response.status_code} {response.content[:150]!r}")
    assert tried > 60
    assert not problems, "auditor not refused:\n" + "\n".join(problems)
    assert changed(before, state_digest()) == []


def test_every_browser_form_refuses_the_auditor(world):
    """POST to every route: refused (403, or 404/405), or a page that never reads a POST
    and answers it as it answers GET. Either way no table changes."""
    client = browser(world.a, roles.AUDITOR)
    objects = page_objects(world.a)
    before = state_digest()
    problems, refused = [], 0
    for route in tenant_routes():
        if route.name in AUDITOR_MAY_POST:
            continue
        url = route.url(world.a.tenant.slug, objects.get(route.name))
        response = client.post(url, FORM)
        if response.status_code in (403, 404, 405):
            refused += 1
            continue
        if reads_post(route.view):
            problems.append(f"{route.name}: POST {url} answered {response.status_code}")
        elif client.get(url).status_code != response.status_code:
            problems.append(f"{route.name}: POST {url} is not answered like GET")
    assert not problems, "an auditor's POST got through:\n" + "\n".join(problems)
    assert refused > 40
    assert changed(before, state_digest()) == []


# What a form might send: every action/op name the views switch on, and a name.
FORM = {"action": "note", "op": "approve", "name": "auditor was here", "body": "x"}


def reads_post(view) -> bool:
    """Whether a view function looks at the request body or method (its own source)."""
    source = inspect.getsource(inspect.unwrap(view))
    return any(word in source for word in ("request.POST", "request.FILES", "request.method"))


def _code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
