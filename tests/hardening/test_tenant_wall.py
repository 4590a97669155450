"""Tenant A attacks tenant B through every URL pattern and every API operation.

- Every URL pattern of the resolver (browser pages under /t/<slug>/, the API, the agent
  API, the rest): B's ids of the model the route looks up, guessed ids and UUIDs in the
  path, with every method; B's ids in page forms; every page under B's prefix.
- Every operation of the OpenAPI schema: B's ids in the path, in every query parameter
  and body field that names a row, with A's own id in the path too.

Each answer must be the one an id nobody has gets, carry nothing of B, and leave B's rows
as they were with no row of A pointing into B. See `tests/hardening/wall.py`.
Ordinary runs try one of B's ids per route; `STOPCLOCK_HEAVY=1` tries several, more
guesses, HEAD and OPTIONS, every form verb, and every role on the API.
"""

from __future__ import annotations

import logging
import time
from unittest.mock import ANY

import pytest

from tenancy import roles
from tests.conftest import HEAVY

from . import wall


@pytest.fixture
def quiet(caplog, monkeypatch):
    """No log noise from thousands of refused requests, and no API rate limit (the wall is
    under test here, not the throttle: a 429 would hide the answer)."""
    from tenancy.throttling import TokenRateThrottle

    caplog.set_level(logging.CRITICAL, logger="django.request")
    caplog.set_level(logging.CRITICAL, logger="stopclock")
    monkeypatch.setattr(TokenRateThrottle, "allow_request", lambda self, request, view: True)


def test_every_url_pattern_keeps_b_out(world, offline_network, quiet):
    attacker = wall.Attacker(world, heavy=HEAVY)
    started = time.monotonic()
    routes = wall.routes()
    for route in routes:
        attacker.attack_route(route)
    print(f"{len(routes)} routes, {attacker.summary()}, {time.monotonic() - started:.1f}s")
    assert len(routes) >= 200
    assert attacker.problems == [], "\n".join(attacker.problems)
    unknown = [label for label, model in attacker.route_models.items() if model == "?"]
    assert unknown == [], "routes whose look-up the walk could not see (B's ids untried)"


def test_every_api_operation_keeps_b_out(world, offline_network, quiet):
    from .fuzzing import schema_document

    schema = wall.Schema(schema_document())
    attacker = wall.Attacker(world, heavy=HEAVY)
    started = time.monotonic()
    operations = schema.operations()
    for op in operations:
        attacker.attack_operation(schema, op)
    print(f"{len(operations)} operations, {attacker.summary()}, {time.monotonic() - started:.1f}s")
    assert len(operations) >= 150
    assert attacker.problems == [], "\n".join(attacker.problems)


@pytest.mark.heavy
def test_every_api_operation_keeps_b_out_for_every_other_role(world, offline_network, quiet):
    """The same walk with the lead's, analyst's, auditor's and integration's tokens: a role
    that is refused must be refused the same way for B's ids as for ids nobody has."""
    from .fuzzing import schema_document

    schema = wall.Schema(schema_document())
    problems = []
    for role in (roles.LEAD, roles.ANALYST, roles.AUDITOR, roles.INTEGRATION):
        attacker = wall.Attacker(world, role=role)
        for op in schema.operations():
            attacker.attack_operation(schema, op)
        print(f"{role}: {attacker.summary()}")
        problems += [f"[{role}] {problem}" for problem in attacker.problems]
    assert problems == [], "\n".join(problems)


def test_every_integer_field_of_the_schema_is_classified(db):
    """A query or body field of integer type either names a row (and the walk fills it with
    B's ids: `wall.ID_FIELDS`) or is a count or setting (`wall.NOT_ID_FIELDS`)."""
    from .fuzzing import schema_document

    fields = wall.Schema(schema_document()).integer_fields()
    assert len(fields) > 30
    unknown = {n: sorted(ops)[:3] for n, ops in fields.items() if n not in wall.ID_FIELDS}
    unknown = {n: ops for n, ops in unknown.items() if n not in wall.NOT_ID_FIELDS}
    assert unknown == {}, "add each to wall.ID_FIELDS (with its model) or wall.NOT_ID_FIELDS"


def test_every_json_list_of_ids_is_checked_for_foreign_rows():
    """Ids kept in a JSON list have no foreign key to keep them in their tenant: each such
    field is named in `wall.ID_LISTS`, so the walks check it too."""
    from django.db import models

    from .world import tenant_owned_models

    lists = {
        (model._meta.label, f.name)
        for model in tenant_owned_models()
        for f in model._meta.concrete_fields
        if isinstance(f, models.JSONField) and f.name.endswith("_ids")
    }
    assert lists == set(wall.ID_LISTS)


@pytest.mark.parametrize(
    ("path", "param"),
    [("/api/v1/tokens/", "user"), ("/api/v1/notes/", "author"), ("/api/v1/tasks/", "assignee")],
)
def test_filtering_by_another_tenants_user_is_answered_as_an_unknown_user(
    path, param, tenant_a, tenant_b, member, api_client
):
    """Found by the operation walk: these filters drew their choices from every user of
    every tenant, so `?user=<B's user>` was a 200 and `?user=<nobody>` a 400, telling A
    which user ids exist next door. Now both are the same 400."""
    client = api_client(tenant_a, roles.ADMIN)
    own, outsider = member(tenant_a, roles.ANALYST), member(tenant_b, roles.ANALYST)
    answers = {
        who: client.get(path, {param: user_id})
        for who, user_id in (("own", own.pk), ("B's", outsider.pk), ("nobody's", 2_000_000_000))
    }
    assert answers["own"].status_code == 200
    assert answers["B's"].status_code == answers["nobody's"].status_code == 400
    assert answers["B's"].json()["error"]["fields"] == {param: ANY}


def test_the_checks_catch_planted_leaks(tenant_a, tenant_b, member):
    """The wall's checks are not vacuous: rows planted across the wall (by the door the
    application never opens for a request) are all reported."""
    from cases.models import CaseLink, Note
    from cases.services import case_link, note_create
    from tenancy.context import tenant_context, unscoped
    from tests.cases.factories import make_case, make_endpoint

    outsider = member(tenant_b, "analyst")
    with tenant_context(tenant_b):
        case_b, endpoint_b = make_case(), make_endpoint()
    with tenant_context(tenant_a):
        case_a = make_case()
        note = note_create(case=case_a, body="mine")
        link = case_link(case=case_a, obj=make_endpoint(), relation="affected")
    assert wall.cross_tenant_references() == []
    with unscoped("test: plant rows across the wall"):
        Note.objects.filter(pk=note.pk).update(case=case_b)
        CaseLink.objects.filter(pk=link.pk).update(object_id=str(endpoint_b.pk))
        type(case_a).objects.filter(pk=case_a.pk).update(assignee=outsider)
    found = "\n".join(wall.cross_tenant_references())
    assert "cases.Note.case" in found
    assert "cases.CaseLink" in found
    assert "cases.Case.assignee" in found

    before = {"cases.Case": {1: (1, "a")}, "cases.Note": {2: (2, "b")}}
    after = {"cases.Case": {1: (1, "changed")}, "cases.Note": {3: (3, "c")}}
    assert len(wall.changes(before, after)) == 3  # changed, appeared, disappeared
