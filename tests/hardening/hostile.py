"""What the hostile-input matrix (`tests/hardening/test_hostile_*.py`) enumerates.

"Every" is computed, never listed by hand, so a new endpoint, page, form or field is in the
matrix the day it is added:

- `api_operations()`: every operation of the OpenAPI document `/api/schema/` serves;
- `tenant_routes()`: every browser URL under `/t/<slug>/`, walked from the URL resolver;
- `page_objects()`: for each browser route that takes a `pk`, a row of the world of the
  model that page shows (learnt from the isolation registry's factory for that page,
  `tests/isolation/registry_*.py`), the world's text-rich one where there is one;
- `agent_action()`: an action addressed to the world's own agent, for the agent routes;
- `state_digest()`: a digest of every row of every table, to prove a refused request
  changed nothing (not only that it answered with a refusal).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.apps import apps
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tenancy.context import tenant_context, unscoped
from tests.isolation import harness

from .fuzzing import AGENT_PREFIX, model_of, schema_document
from .world import Side

WRITE_METHODS = ("post", "put", "patch", "delete")
MISSING_ID = 987_654_321  # an id no table holds


@dataclass(frozen=True)
class Operation:
    method: str  # lower case
    path: str  # as the schema names it: /api/v1/cases/{id}/
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def is_agent(self) -> bool:
        return self.path.startswith(AGENT_PREFIX)

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def media_types(self) -> list[str]:
        return list(self.spec.get("requestBody", {}).get("content", {}))

    @property
    def query_parameters(self) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p.get("in") == "query"]

    def url(self, side: Side | None = None) -> str:
        """The path with `{id}` filled by a row of `side` of the right model (or a missing id);
        an agent route's action is one addressed to `side`'s own agent (`agent_action`)."""
        ident: Any = MISSING_ID
        model = model_of(self.path)
        if side is not None and self.is_agent and "agent_action" in side.objects:
            ident = side.objects["agent_action"].pk
        elif side is not None and model is not None and side.ids.get(model._meta.label):
            ident = side.ids[model._meta.label][0]
        return re.sub(r"\{[^}]+\}", str(ident), self.path)


def api_operations() -> list[Operation]:
    """Every operation of the API, in schema order."""
    found = []
    for path, methods in schema_document()["paths"].items():
        for method, spec in methods.items():
            if method in ("get", "head", "options", *WRITE_METHODS):
                found.append(Operation(method, path, spec))
    assert len(found) > 100, "the schema lost its operations"
    return found


def agent_action(side: Side):
    """A response action for `side`'s enrolled agent (stored in `side.objects`), so the agent
    routes taking an action id reach their body instead of answering 404."""
    from cases.actions.services import action_request

    if "agent_action" not in side.objects:
        with tenant_context(side.tenant):
            side.objects["agent_action"] = action_request(
                type="kill_process",
                endpoint=side.endpoint_id,
                parameters={"pid": 4100, "sha256": "a" * 64},
                reason="hostile-input matrix",
            )
    return side.objects["agent_action"]


# --- browser routes ------------------------------------------------------------------------
TENANT_PREFIX = "t/<slug:tenant_slug>/"


@dataclass(frozen=True)
class Route:
    name: str  # namespaced url name, e.g. "cases:case-detail"
    pattern: str  # "t/<slug:tenant_slug>/cases/<int:pk>/"
    view: Any

    @property
    def takes_pk(self) -> bool:
        return "<int:pk>" in self.pattern

    def url(self, tenant_slug: str, pk: int | None = None) -> str:
        kwargs: dict[str, Any] = {"tenant_slug": tenant_slug}
        if self.takes_pk:
            kwargs["pk"] = pk if pk is not None else MISSING_ID
        return reverse(self.name, kwargs=kwargs)


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            space = namespace
            if entry.namespace:
                space = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), space)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), (namespace + entry.name if entry.name else ""), entry


def all_routes() -> list[tuple[str, str, URLPattern]]:
    """(pattern, name, URLPattern) of every URL the project serves."""
    return list(_walk(get_resolver().url_patterns))


def tenant_routes() -> list[Route]:
    """Every browser page and form endpoint under /t/<slug>/."""
    routes = [
        Route(name, pattern, entry.callback)
        for pattern, name, entry in all_routes()
        if pattern.startswith(TENANT_PREFIX)
    ]
    assert all(route.name for route in routes), "a tenant route has no name"
    assert len(routes) > 60, "the URL map lost its pages"
    return routes


@cache
def page_models() -> dict[str, str]:
    """url name -> label of the model its `pk` names, learnt by running each page's
    isolation-registry factory once in a throwaway tenant (rolled back)."""
    harness.load_registry()
    from tests.factories import TenantFactory

    found: dict[str, str] = {"token-revoke": "tenancy.ApiToken"}  # exempt there, by reason
    made: dict[Any, str] = {}
    with transaction.atomic():
        with tenant_context(TenantFactory(slug="hostile-probe")):
            for registration in harness.PAGES:
                if registration.url_kwarg != "pk":
                    continue
                if registration.factory not in made:
                    made[registration.factory] = registration.factory()._meta.label
                found[registration.url_name] = made[registration.factory]
        transaction.set_rollback(True)
    return found


def page_objects(side: Side) -> dict[str, int]:
    """url name -> the pk of a row of `side` that the page taking `pk` shows: the world's
    text-rich object of that model when it has one (the case with notes and evidence…)."""
    rich = {obj._meta.label: obj.pk for obj in side.objects.values() if hasattr(obj, "_meta")}
    found = {}
    for name, label in page_models().items():
        if label in rich:
            found[name] = rich[label]
        elif side.ids.get(label):
            found[name] = side.ids[label][0]
    return found


def browser(side: Side, role: str, **options) -> Client:
    client = Client(**options)
    client.force_login(side.users[role])
    return client


# --- proving nothing changed ---------------------------------------------------------------
# Columns a read may touch (bookkeeping, not data): who used a token when.
VOLATILE = {
    "tenancy.ApiToken": {"last_used_at"},
    "endpoints.Endpoint": {"last_seen_at"},
    "auth.User": {"last_login"},
}
# Tables that are not tenant data: a signed-in browser's session, a user's last login; the
# span projection and its queue, which any read of the figures brings up to date with
# writes made before it (derived from the case rows, never changed by a request itself).
NOT_DATA = {"sessions.Session", "metrics.CaseSpan", "metrics.SpanBacklog"}


def state_digest() -> dict[str, str]:
    """model label -> digest of all its rows (every tenant), for before/after comparisons."""
    digests = {}
    with unscoped("test: prove a refused request changed nothing in any tenant"):
        for model in apps.get_models():
            if not model._meta.managed or model._meta.proxy or model._meta.label in NOT_DATA:
                continue
            label = model._meta.label
            skip = VOLATILE.get(label, set())
            columns = [f.attname for f in model._meta.concrete_fields if f.name not in skip]
            rows = model._default_manager.order_by("pk").values_list(*columns)
            digest = hashlib.sha256(repr(list(rows)).encode()).hexdigest()
            digests[label] = digest
    return digests


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(label for label in after if before.get(label) != after[label])
