"""Attacks on the tenant wall: every route, the ids to throw at it, and what must not change.

`tests/hardening/test_tenant_wall*.py` drive it. Tenant A (its admin, browser and API, and
its agent) attacks tenant B of the hardening world (`tests/hardening/world.py`) with:

- B's real ids (of the model the route looks up), B's real UUIDs, ids guessed around B's
  (B's id ± k, the next id B will get) and random UUIDs, in every path parameter of every
  URL pattern the resolver knows, under A's prefix and under B's;
- B's ids in every query parameter and body field that names a row (`ID_FIELDS`), in every
  operation of the OpenAPI schema, with A's own id in the path and with B's.

A request naming B's row must be answered exactly as one naming a row that does not exist
(a "ghost" id no table holds): same status, so B's rows' existence is not disclosed. No
response may carry B's marker string, and afterwards B's rows (and its users and tenant
row) must be exactly as before and no row of A may point at a row of B.

Which model a route looks up is learnt, not declared: the ghost request runs with a spy on
`QuerySet.get`, which records the model whose `.get(pk=ghost)` the view called.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models, transaction
from django.db.models import query
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tenancy import roles
from tenancy.context import tenant_context, unscoped
from tenancy.models import Membership, Tenant, TenantOwnedModel

from .world import MARK_B, Side, World, leaks, tenant_owned_models

USER = "auth.User"
OWN = "own"  # the operation's own model (e.g. `ids` of /alerts/bulk-triage/)
GHOST = 2_000_000_000  # an id no table holds (and still a 32-bit integer)
SEARCH = MARK_B[:-2]  # searched for; an echo of it is not B's marker

# Query and body fields that name a row, by name: the model whose ids they take.
ID_FIELDS: dict[str, str] = {
    "alerts": "cases.Alert",
    "assignee": USER,
    "author": USER,
    "batch": "endpoints.TelemetryBatch",
    "bulk": "cases.BulkAction",
    "case": "cases.Case",
    "endpoint": "endpoints.Endpoint",
    "endpoints": "endpoints.Endpoint",
    "evidence_id": "cases.Evidence",
    "flag": "metrics.RegulatoryFlag",
    "ids": OWN,
    "into": "cases.Case",
    "ioc": "intel.IOC",
    "iocs": "intel.IOC",
    "merged_into": "cases.Case",
    "object_id": "endpoints.Endpoint",
    "rule": "endpoints.DetectionRule",
    "source": "intel.Source",
    "sweep": "intel.Sweep",
    "user": USER,
    "watchers": USER,
    "webhook": "cases.Webhook",
}
# Integer fields that are counts, sizes or settings, not rows. An integer field in neither
# list fails `test_every_integer_field_of_the_schema_is_classified`: say which it is.
NOT_ID_FIELDS = frozenset(
    {
        "attempt",
        "cache_seconds",
        "confidence",
        "days",
        "default_confidence",
        "detections",
        "engines",
        "file_size",
        "limit",
        "local_port",
        "logon_type",
        "malicious_threshold",
        "max_endpoints",
        "offset",
        "order",
        "page",
        "page_size",
        "pid",
        "poll_interval_minutes",
        "ppid",
        "rate_limit_per_minute",
        "records_approx",
        "remote_port",
        "subjects_approx",
        "target_seconds",
        "timeout_seconds",
        "window_minutes",
    }
)
# JSON lists of row ids on tenant-owned models (no foreign key guards them).
ID_LISTS: dict[tuple[str, str], str] = {
    ("cases.BulkAction", "endpoint_ids"): "endpoints.Endpoint",
    ("intel.ImportJob", "new_ioc_ids"): "intel.IOC",
    ("intel.SweepChunk", "endpoint_ids"): "endpoints.Endpoint",
}
# Foreign keys to users on tenant-owned rows that may name someone who is not a member
# of the row's tenant, with the reason. (Every other one must name a member.)
USER_FK_EXEMPT: dict[str, str] = {}

WRITE_METHODS = ("post", "put", "patch", "delete")


# --- the routes ------------------------------------------------------------------------------
_PARAM = re.compile(
    r"<(?:(?P<conv>[^>:]+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>(?:[^()\\]|\\.)*\)"
)


@dataclass(frozen=True)
class Route:
    route: str  # as the resolver spells it: "api/v1/^alerts/(?P<pk>[^/.]+)/$"
    name: str
    callback: Any = field(compare=False, repr=False)

    @property
    def params(self) -> tuple[str, ...]:
        names = (m.group("name") or m.group("rname") for m in _PARAM.finditer(self.route))
        return tuple(name for name in names if name != "tenant_slug")

    @property
    def kind(self) -> str:
        if self.route.startswith("t/"):
            return "page"
        if self.route.startswith("api/v1/agent/"):
            return "agent"
        if self.route.startswith("api/v1/"):
            return "api"
        return "other"

    @property
    def label(self) -> str:
        return f"/{self.route} ({self.name or 'unnamed'})"

    def path(self, tenant_slug: str = "", value: object = None) -> str:
        def fill(match: re.Match) -> str:
            name = match.group("name") or match.group("rname")
            return tenant_slug if name == "tenant_slug" else str(value)

        text = _PARAM.sub(fill, self.route)
        return "/" + text.replace("^", "").replace("$", "").replace("\\", "")


def routes() -> list[Route]:
    """Every URL pattern of the project, following includes (namespaced names)."""

    def walk(resolver, prefix: str, namespace: str) -> Iterator[Route]:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                yield from walk(entry, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}{entry.name}" if entry.name else ""
                yield Route(prefix + str(entry.pattern), name, entry.callback)

    return list(walk(get_resolver(), "", ""))


# --- what a view looked up -------------------------------------------------------------------
@contextlib.contextmanager
def lookups() -> Iterator[list[tuple[str, str]]]:
    """Record (model label, value) of every `QuerySet.get(pk=...)` made inside the block."""
    seen: list[tuple[str, str]] = []
    original = query.QuerySet.get

    def get(self, *args, **kwargs):
        for key, value in kwargs.items():
            if key in ("pk", "id", "pk__exact", "id__exact"):
                seen.append((self.model._meta.concrete_model._meta.label, str(value)))
        return original(self, *args, **kwargs)

    query.QuerySet.get = get
    try:
        yield seen
    finally:
        query.QuerySet.get = original


# --- what must not change --------------------------------------------------------------------
Snapshot = dict[str, dict[Any, tuple]]


def snapshot(side: Side) -> Snapshot:
    """Every row of the side's tenant (and its tenant row and users), column by column."""
    rows: Snapshot = {}
    with tenant_context(side.tenant):
        for model in tenant_owned_models():
            names = [f.attname for f in model._meta.concrete_fields]
            rows[model._meta.label] = {
                row[0]: row for row in model.objects.order_by("pk").values_list("pk", *names)
            }
    user_ids = [user.pk for user in side.users.values()]
    user_model = get_user_model()
    user_fields = [f.attname for f in user_model._meta.concrete_fields if f.name != "last_login"]
    rows[USER] = {
        row[0]: row for row in user_model.objects.filter(pk__in=user_ids).values_list(*user_fields)
    }
    rows["tenancy.Tenant"] = {
        row[0]: row
        for row in Tenant.objects.filter(pk=side.tenant.pk).values_list(
            *[f.attname for f in Tenant._meta.concrete_fields]
        )
    }
    return rows


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    problems = []
    for label, old in before.items():
        new = after.get(label, {})
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        changed = sorted(pk for pk in set(old) & set(new) if old[pk] != new[pk])
        if added:
            problems.append(f"{label}: rows {added[:5]} appeared in B")
        if removed:
            problems.append(f"{label}: B's rows {removed[:5]} disappeared")
        for pk in changed[:3]:
            diff = [
                f"{i}: {a!r} -> {b!r}"
                for i, (a, b) in enumerate(zip(old[pk], new[pk], strict=True))
                if a != b
            ]
            problems.append(f"{label}: B's row {pk} changed ({'; '.join(diff)[:300]})")
    return problems


def _tenant_of(label: str, pks: list[Any]) -> dict[Any, int]:
    model = _model(label)
    return dict(model.objects.filter(pk__in=pks).values_list("pk", "tenant_id"))


def _model(label: str) -> type[models.Model]:
    from django.apps import apps

    return apps.get_model(label)


def cross_tenant_references() -> list[str]:
    """Rows of one tenant that point at a row (or a user) of another: foreign keys, generic
    case links and JSON id lists. Empty when the wall held."""
    from django.db import connection

    problems: list[str] = []
    with unscoped("tenant-wall test: look for rows that point across tenants"):
        with connection.cursor() as cursor:
            cursor.execute(_references_sql())
            found: dict[str, list] = {}
            for what, pk in cursor.fetchall():
                found.setdefault(what, []).append(pk)
        problems += [f"{what}: rows {pks} point into another tenant" for what, pks in found.items()]
        problems += _case_link_problems()
        for (label, name), target in ID_LISTS.items():
            for pk, tenant_id, ids in _model(label).objects.values_list("pk", "tenant_id", name):
                ids = [i for i in (ids or []) if isinstance(i, int)]
                if not ids:
                    continue
                owners = _tenant_of(target, ids)
                foreign = [i for i in ids if owners.get(i, tenant_id) != tenant_id]
                if foreign:
                    problems.append(f"{label}.{name} of row {pk} names {target} {foreign[:5]}")
    return problems


_PART = "SELECT * FROM (SELECT '{what}' AS what, t.{pk} AS pk FROM {table} t {join} LIMIT 5) q{n}"
_FOREIGN_ROW = "JOIN {target} r ON r.{key} = t.{column} WHERE r.tenant_id <> t.tenant_id"
_FOREIGN_USER = (
    "WHERE t.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {members} m "
    "WHERE m.tenant_id = t.tenant_id AND m.user_id = t.{column})"
)


@functools.cache
def _references_sql() -> str:
    """One statement over every foreign key of every tenant-owned table: the rows whose
    target belongs to another tenant (or, for a user, is no member of the row's tenant).
    Every name in it comes from the models."""
    from django.db import connection

    quote = connection.ops.quote_name
    parts = []
    for model in tenant_owned_models():
        for f in model._meta.concrete_fields:
            if not f.is_relation or f.name == "tenant" or f.related_model is None:
                continue
            what, column = f"{model._meta.label}.{f.name}", quote(f.column)
            if issubclass(f.related_model, TenantOwnedModel):
                join = _FOREIGN_ROW.format(
                    target=quote(f.related_model._meta.db_table),
                    key=quote(f.target_field.column),
                    column=column,
                )
            elif f.related_model is get_user_model() and what not in USER_FK_EXEMPT:
                join = _FOREIGN_USER.format(members=quote(Membership._meta.db_table), column=column)
            else:
                continue
            parts.append(
                _PART.format(
                    what=what,
                    pk=quote(model._meta.pk.column),
                    table=quote(model._meta.db_table),
                    join=join,
                    n=len(parts),
                )
            )
    return " UNION ALL ".join(parts)


def _case_link_problems() -> list[str]:
    from cases.models import CaseLink

    problems = []
    for pk, tenant_id, type_id, object_id in CaseLink.objects.values_list(
        "pk", "tenant_id", "content_type_id", "object_id"
    ):
        target = ContentType.objects.get_for_id(type_id).model_class()
        if target is None or not issubclass(target, TenantOwnedModel):
            continue
        owner = target.objects.filter(pk=object_id).values_list("tenant_id", flat=True).first()
        if owner is not None and owner != tenant_id:
            problems.append(f"cases.CaseLink {pk} links a {target._meta.label} of another tenant")
    return problems


# --- the attacker ----------------------------------------------------------------------------
@dataclass
class Attacker:
    """Tenant A's credentials against tenant B's rows; collects every problem it sees."""

    world: World
    heavy: bool = False
    role: str = roles.ADMIN
    problems: list[str] = field(default_factory=list)
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    route_models: dict[str, str] = field(default_factory=dict)
    rnd: random.Random = field(default_factory=lambda: random.Random(20261128))
    through: bool = False  # a write in this round was accepted
    checks: int = 0

    def __post_init__(self) -> None:
        a = self.world.a
        self.browser = Client(raise_request_exception=False)
        self.browser.force_login(a.users[self.role if self.role in a.users else roles.ADMIN])
        self.api = Client(raise_request_exception=False, HTTP_AUTHORIZATION=a.auth(self.role))
        self.agent = Client(raise_request_exception=False, HTTP_AUTHORIZATION=a.auth(roles.AGENT))
        self.before = snapshot(self.world.b)
        self.b_uuids = _uuids(self.world.b)
        self.b_users = sorted(user.pk for user in self.world.b.users.values())
        self.a_users = sorted(user.pk for user in self.world.a.users.values())

    # -- ids ---------------------------------------------------------------------------------
    def b_ids(self, label: str | None) -> list[int]:
        if label == USER:
            return self.b_users
        return list(self.world.b.ids.get(label or "", []))

    def a_ids(self, label: str | None) -> list[int]:
        if label == USER:
            return self.a_users
        return list(self.world.a.ids.get(label or "", []))

    def candidates(self, label: str | None, *, numeric_only: bool = False) -> list[object]:
        """B's ids of the model, ids guessed around them, UUIDs (B's and random)."""
        b_all = self.b_ids(label)
        real = sorted({*b_all[:4], *b_all[-2:]}) if self.heavy else b_all[:1]
        if self.heavy:
            around = {pk + step for pk in real for step in (-1, 1)}
        else:  # the next id B will get
            around = {max(b_all) + 1} if b_all else set()
        guessed = sorted(around - set(self.a_ids(label)) - set(self.b_ids(label)))
        guessed = [pk for pk in guessed if pk > 0]
        if numeric_only:
            return [*real, *guessed, *([str(2**63), "0"] if self.heavy else [])]
        uuids = [str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))]
        if self.heavy:  # (an <int:> route cannot even match these)
            uuids += [str(u) for u in self.b_uuids] + ["0", str(2**63), "-1"]
        return [*real, *guessed, *uuids]

    # -- requests ----------------------------------------------------------------------------
    def client(self, kind: str) -> Client:
        return {"page": self.browser, "agent": self.agent}.get(kind, self.api)

    def send(
        self,
        kind: str,
        method: str,
        path: str,
        body: Any = None,
        query: Any = None,
        headers: dict[str, str] | None = None,
    ):
        """One request, rolled back if it broke the transaction (a 5xx)."""
        client = self.client(kind)
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
        self.requests += 1
        with transaction.atomic():
            if method in ("get", "head"):
                response = getattr(client, method)(path, query or {}, **extra)
            elif kind == "page":
                response = getattr(client, method)(path, body or {}, **extra)
            elif _has_file(body):
                response = client.generic(method.upper(), path, **_multipart(body), **extra)
            else:
                response = client.generic(
                    method.upper(),
                    path,
                    json.dumps(body if body is not None else {}),
                    content_type="application/json",
                    **extra,
                )
            if response.status_code >= 500:
                transaction.set_rollback(True)
        if method not in ("get", "head", "options") and response.status_code < 400:
            self.through = True  # a write was accepted (a refused one wrote nothing)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response

    def inspect(self, what: str, response) -> None:
        """No 5xx, and nothing of B in the body or the headers."""
        if response.status_code >= 500:
            self.problems.append(f"{what}: {response.status_code} {_body(response)[:200]!r}")
        if leaks(_body(response)) or leaks(str(dict(response.headers))):
            self.problems.append(f"{what}: {response.status_code}, the body carries B's marker")

    def check_rows(self, what: str) -> None:
        """B's rows as they were, and no row of A pointing into B."""
        self.checks += 1
        for problem in changes(self.before, snapshot(self.world.b)):
            self.problems.append(f"{what}: {problem}")
        for problem in cross_tenant_references():
            self.problems.append(f"{what}: {problem}")

    @contextlib.contextmanager
    def round(self, what: str) -> Iterator[None]:
        """A group of requests whose writes are checked, then rolled back (the next group
        starts from the same world). Ordinary runs skip the check when every write was
        refused (4xx); heavy runs always check."""
        self.through = False
        with transaction.atomic():
            yield
            if self.through or self.heavy:
                self.check_rows(what)
            transaction.set_rollback(True)

    # -- the attacks -------------------------------------------------------------------------
    def methods(self, route: Route) -> tuple[str, ...]:
        if route.kind == "other":
            return ("get",)
        if self.heavy:
            return ("get", "head", "options", *WRITE_METHODS)
        if route.kind == "page":
            return ("get", "post")
        return ("get", *WRITE_METHODS)

    def attack_route(self, route: Route) -> None:
        """Every method, with B's ids and guessed ones in the path (and, for pages, in the
        form); then the same under B's prefix."""
        a, b = self.world.a.tenant, self.world.b.tenant
        methods = self.methods(route)
        with self.round(route.label):
            if route.params:
                self._ids_in_path(route, a.slug, methods)
            else:
                for method in methods:
                    query = {"q": SEARCH, "search": SEARCH} if method == "get" else None
                    response = self.send(route.kind, method, route.path(a.slug), query=query)
                    self.inspect(f"{method.upper()} {route.path(a.slug)}", response)
                if route.kind == "page":
                    self._ids_in_form(route, route.path(a.slug))
            if route.kind == "page":
                self._foreign_prefix(route, b.slug, methods)

    def _ids_in_path(self, route: Route, slug: str, methods: tuple[str, ...]) -> None:
        ghost_path = route.path(slug, GHOST)
        ghost: dict[str, int] = {}
        with lookups() as seen:
            for method in methods:
                response = self.send(route.kind, method, ghost_path)
                ghost[method] = response.status_code
                self.inspect(f"{method.upper()} {ghost_path}", response)
        looked_up = sorted({label for label, value in seen if value == str(GHOST)})
        label = looked_up[0] if len(looked_up) == 1 else None
        self.route_models[route.label] = label or "?"
        if route.kind != "other" and ghost.get("get") not in (404, 405):
            self.problems.append(f"GET {ghost_path} (an id nobody has) answered {ghost['get']}")
        numeric = "<int:" in route.route
        first = self.b_ids(label)[:1]
        for value in self._values(label, numeric_only=numeric):
            path = route.path(slug, value)
            for method in methods:
                if ghost[method] == 405 and not (self.heavy and value in first):
                    continue  # refused before any look-up, whatever the id
                if method in ("head", "options") and value not in first:
                    continue  # HEAD is GET; OPTIONS describes the route
                response = self.send(route.kind, method, path)
                what = f"{method.upper()} {path} ({label or 'unknown model'} of B or guessed)"
                self.inspect(what, response)
                self._compare(what, ghost[method], response)
        if route.kind == "page" and ghost.get("post") != 405 and self.b_ids(label):
            self._ids_in_form(route, route.path(slug, self.b_ids(label)[0]), ghost_path)

    def _ids_in_form(self, route: Route, path: str, ghost_path: str | None = None) -> None:
        """A form naming B's rows in every field that names a row (and, in heavy runs,
        with every verb the app's views know) is answered as one naming ids nobody has."""
        own = _page_model(route)
        verbs = [None, *(view_verbs(route.callback) if self.heavy else [])]
        for verb in verbs:
            extra = {"action": verb, "op": verb, "reason": "wall test"} if verb else {}
            ghost_form = {**self.form(own, ghost=True), **extra}
            with transaction.atomic():
                ghost = self.send("page", "post", ghost_path or path, ghost_form)
                transaction.set_rollback(True)
            response = self.send("page", "post", path, {**self.form(own), **extra})
            what = f"POST {path} with B's ids in the form (action {verb!r})"
            self.inspect(what, response)
            self._compare(what, ghost.status_code, response)

    def form(self, own: str | None, *, ghost: bool = False) -> dict[str, Any]:
        form: dict[str, Any] = {}
        for name, label in ID_FIELDS.items():
            label = own if label == OWN else label
            ids = self.b_ids(label)[:2]
            if label and ids:
                form[name] = [GHOST] * len(ids) if ghost else ids
        return form

    def _compare(self, what: str, ghost_status: int, response) -> None:
        if response.status_code not in (ghost_status, 404):
            self.problems.append(
                f"{what} answered {response.status_code}, an id nobody has {ghost_status}: "
                f"B's row exists, says the difference"
            )

    def _values(self, label: str | None, *, numeric_only: bool = False) -> list[object]:
        if label is not None:
            return self.candidates(label, numeric_only=numeric_only)
        # The view looked up nothing we saw: B's ids of every model, minus any of A's.
        every_a = {pk for ids in self.world.a.ids.values() for pk in ids} | set(self.a_users)
        every_b = sorted({pk for ids in self.world.b.ids.values() for pk in ids} - every_a)
        guessed = self.candidates(None, numeric_only=numeric_only)
        return [*(every_b if self.heavy else every_b[:3]), *guessed]

    def _foreign_prefix(self, route: Route, slug: str, methods: tuple[str, ...]) -> None:
        """A's session under B's prefix (A is no member there): 404 for everything."""
        values = [GHOST]
        if route.params:
            label = self.route_models.get(route.label)
            values = self.b_ids(label if label != "?" else None)[:1] or [GHOST]
        for value in values:
            path = route.path(slug, value)
            for method in methods:
                response = self.send("page", method, path)
                self.inspect(f"{method.upper()} {path}", response)
                if response.status_code != 404:
                    self.problems.append(
                        f"{method.upper()} {path} under B's prefix answered "
                        f"{response.status_code}, not 404"
                    )

    def attack_operation(self, schema: Schema, op: Operation) -> None:
        """One API operation: B's ids in the path, the query and the body, each answered
        exactly as an id nobody has; A's own id in the path with B's ids in the body."""
        headers = None
        if op.path.rstrip("/").endswith("/agent/enrol"):
            headers = {"Authorization": f"Enrolment {self.world.a.enrolment_secret}"}
        own = [_model_of(op.path)]

        def b_ids(label: str, many: bool) -> Any:
            ids = self.b_ids(own[0] if label == OWN else label)[:2] or [GHOST]
            return ids if many else ids[0]

        def ghost_ids(label: str, many: bool) -> Any:
            return [GHOST] if many else GHOST

        def call(path: str, ids, *, keep: bool):
            body = schema.body(op, ids)
            query = schema.query(op, ids) if op.method == "get" else None
            if keep:
                response = self.send(op.kind, op.method, path, body, query, headers)
            else:  # a baseline: whatever it wrote is undone at once
                with transaction.atomic():
                    response = self.send(op.kind, op.method, path, body, query, headers)
                    transaction.set_rollback(True)
            self.inspect(f"{op.label} {path}", response)
            return response

        with self.round(op.label):
            path = op.path
            if "{" in op.path:
                ghost_path = _fill(op.path, GHOST)
                with lookups() as seen:
                    ghost = call(ghost_path, b_ids, keep=False)
                looked_up = sorted({label for label, value in seen if value == str(GHOST)})
                own[0] = looked_up[0] if len(looked_up) == 1 else own[0]
                b_path = _fill(op.path, (self.b_ids(own[0]) or [GHOST])[0])
                self._same_answer(op, b_path, ghost, call(b_path, b_ids, keep=False))
                a_ids = self.a_ids(own[0])
                names_rows = _text(schema.body(op, b_ids)) != _text(schema.body(op, ghost_ids))
                if op.method == "get":
                    names_rows |= schema.query(op, b_ids) != schema.query(op, ghost_ids)
                if op.method == "delete" or not a_ids or not names_rows:
                    return  # nothing but the path names a row: done above
                path = _fill(op.path, a_ids[0])
            baseline = call(path, ghost_ids, keep=False)
            self._same_answer(op, f"{path} with B's ids", baseline, call(path, b_ids, keep=True))

    def _same_answer(self, op: Operation, what: str, ghost, attempt) -> None:
        """B's ids must be answered as ids nobody has: the same status, the same fields in
        error, the same (empty) count of results."""
        if attempt.status_code != ghost.status_code and attempt.status_code != 404:
            self.problems.append(
                f"{op.label} {what}: answered {attempt.status_code} where an id nobody has "
                f"gets {ghost.status_code}: {_body(attempt)[:300]!r}"
            )
            return
        if attempt.status_code != ghost.status_code:
            return
        mine, theirs = _json(attempt), _json(ghost)
        if attempt.status_code >= 400:
            fields = [sorted((b.get("error") or {}).get("fields") or {}) for b in (mine, theirs)]
            if fields[0] != fields[1]:
                self.problems.append(
                    f"{op.label} {what}: errors name {fields[0]}, for ids nobody has {fields[1]}"
                )
        elif op.method == "get" and mine.get("count") != theirs.get("count"):
            self.problems.append(
                f"{op.label} {what}: {mine.get('count')} results, for ids nobody has "
                f"{theirs.get('count')}"
            )

    def summary(self) -> str:
        statuses = dict(sorted(self.statuses.items()))
        return f"{self.requests} requests, statuses {statuses}, {self.checks} checks of B's rows"


def _page_model(route: Route) -> str | None:
    """The model a parameterless page's `ids` name, from its URL name ("cases:alert-bulk"
    works on alerts)."""
    word = route.name.rsplit(":", 1)[-1].split("-", 1)[0]
    for model in tenant_owned_models():
        if model._meta.model_name == word:
            return model._meta.label
    return None


_VERB = re.compile(r"\b(?:action|op)\s*(?:==|in)\s*([^\n:]+)")


@functools.cache
def _module_verbs(module_name: str) -> tuple[str, ...]:
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(module_name))
    verbs = {verb for match in _VERB.findall(source) for verb in re.findall(r'"([a-z_]+)"', match)}
    return tuple(sorted(verbs))


def view_verbs(callback) -> tuple[str, ...]:
    """The `action`/`op` values a view's module tests for (`action == "promote"`)."""
    return _module_verbs(callback.__module__)


def _uuids(side: Side) -> list[uuid.UUID]:
    found = []
    with tenant_context(side.tenant):
        for model in tenant_owned_models():
            for f in model._meta.concrete_fields:
                if isinstance(f, models.UUIDField):
                    found += list(model.objects.values_list(f.name, flat=True)[:3])
    return found


def _fill(path: str, value: object) -> str:
    return re.sub(r"\{[^}]+\}", str(value), path)


def _text(body: Any) -> str:
    return json.dumps(body, default=str, sort_keys=True)


def _json(response) -> dict[str, Any]:
    try:
        body = json.loads(_body(response) or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _model_of(path: str) -> str | None:
    """The model of the view behind a schema path (its queryset's), if it has one."""
    from django.urls import Resolver404, resolve

    try:
        match = resolve(_fill(path, 1))
    except Resolver404:
        return None
    view = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    queryset = getattr(view, "queryset", None)
    return queryset.model._meta.label if queryset is not None else None


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def _has_file(body: Any) -> bool:
    return isinstance(body, dict) and any(isinstance(v, SimpleUploadedFile) for v in body.values())


def _multipart(body: dict) -> dict:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    return {
        "data": encode_multipart(BOUNDARY, body),
        "content_type": MULTIPART_CONTENT,
    }


# --- the API schema --------------------------------------------------------------------------
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Operation:
    method: str
    path: str  # as the schema spells it: /api/v1/cases/{id}/link/
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def kind(self) -> str:
        return "agent" if self.path.startswith("/api/v1/agent/") else "api"


class Schema:
    """The OpenAPI document, and requests built from it with B's ids in every id field."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.components = document.get("components", {}).get("schemas", {})

    def operations(self) -> list[Operation]:
        return [
            Operation(method, path, spec)
            for path, item in sorted(self.document["paths"].items())
            for method, spec in item.items()
            if method in HTTP_METHODS
        ]

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        for key in ("allOf", "oneOf", "anyOf"):
            options = [self.resolve(s) for s in schema.get(key, [])]
            options = [s for s in options if s.get("type") != "null" and s.get("enum") != [None]]
            if options and not schema.get("type"):
                return {**options[0], **{k: v for k, v in schema.items() if k != key}}
        return schema

    def integer_fields(self) -> dict[str, set[str]]:
        """Query and body fields of integer (or integer list) type: name -> operations."""
        found: dict[str, set[str]] = {}
        for op in self.operations():
            for param in op.spec.get("parameters", []):
                if param.get("in") == "query" and self._is_integer(param.get("schema", {})):
                    found.setdefault(param["name"], set()).add(op.label)
            schema = self.request_schema(op)[0]
            for name, prop in (schema or {}).get("properties", {}).items():
                if self._is_integer(prop):
                    found.setdefault(name, set()).add(op.label)
        return found

    def _is_integer(self, schema: dict[str, Any]) -> bool:
        schema = self.resolve(schema)
        if schema.get("type") == "array":
            schema = self.resolve(schema.get("items", {}))
        return schema.get("type") == "integer"

    def request_schema(self, op: Operation) -> tuple[dict[str, Any] | None, bool]:
        """The body's object schema, and whether the body is a list of such objects."""
        content = op.spec.get("requestBody", {}).get("content", {})
        for media in ("application/json", "multipart/form-data"):
            if media in content:
                schema = self.resolve(content[media]["schema"])
                if schema.get("type") == "array":
                    return self.resolve(schema.get("items", {})), True
                return schema, False
        return None, False

    def example(self, schema: dict[str, Any], depth: int = 0) -> Any:
        """A small value the schema accepts (required fields only, for objects)."""
        schema = self.resolve(schema)
        if "enum" in schema:
            values = [v for v in schema["enum"] if v not in (None, "")]
            return values[0] if values else ""
        kind, fmt = schema.get("type"), schema.get("format")
        if kind == "string":
            if fmt == "binary":
                return SimpleUploadedFile("wall.txt", b"wall test")
            text = {
                "date-time": "2025-01-01T00:00:00Z",
                "date": "2025-01-01",
                "uri": "https://8.8.8.8/wall",
                "email": "wall@example.org",
                "ipv4": "192.0.2.1",
                "uuid": str(uuid.UUID(int=1)),
            }.get(fmt, "wall test")
            return text.ljust(schema.get("minLength", 0), "x")[: schema.get("maxLength", 10**6)]
        if kind in ("integer", "number"):
            return max(1, schema.get("minimum", 1))
        if kind == "boolean":
            return False
        if kind == "array":
            minimum = schema.get("minItems", 0)
            return [self.example(schema.get("items", {}), depth + 1) for _ in range(minimum)]
        if kind == "object" or "properties" in schema:
            if depth > 3:
                return {}
            return {
                name: self.example(prop, depth + 1)
                for name, prop in schema.get("properties", {}).items()
                if name in schema.get("required", []) and not self.resolve(prop).get("readOnly")
            }
        return "wall test"

    def body(self, op: Operation, ids: Callable[[str, bool], Any]) -> Any:
        """A request body for the operation, with `ids(label, many)` in every field that
        names a row."""
        schema, is_list = self.request_schema(op)
        if schema is None:
            return None
        body = self.example(schema)
        for name, prop in schema.get("properties", {}).items():
            prop = self.resolve(prop)
            if name not in ID_FIELDS or prop.get("readOnly"):
                continue
            if name == "object_id":  # a generic link: "app.model" and the id as text
                body[name] = str(ids(ID_FIELDS[name], False))
                body.setdefault("object_type", ID_FIELDS[name].lower())
            elif self._is_integer(prop):
                body[name] = ids(ID_FIELDS[name], prop.get("type") == "array")
        return [body] if is_list else body

    def query(self, op: Operation, ids: Callable[[str, bool], Any]) -> dict[str, Any]:
        """Every query parameter naming a row set to B's id; free-text ones to B's marker
        (less its last letters, so an echo of the query is not B's data)."""
        query: dict[str, Any] = {}
        for param in op.spec.get("parameters", []):
            if param.get("in") != "query":
                continue
            name, schema = param["name"], self.resolve(param.get("schema", {}))
            if name in ID_FIELDS and self._is_integer(schema):
                query[name] = ids(ID_FIELDS[name], False)
            elif (
                schema.get("type") == "string" and "enum" not in schema and not schema.get("format")
            ):
                query[name] = SEARCH
        return query
