"""The tenant-isolation harness.

Every API resource and browser page that shows tenant data registers here, one line each,
in `tests/isolation/registry_<app>.py`:

    api("case", factory=make_case)                       # router basename, object factory
    api("action", factory=make_action, actions=["approve", "cancel"])
    page("cases:case-detail", factory=make_case)          # browser URL taking pk=

A factory takes no arguments and creates one object in the tenant in context (the harness
enters tenant A, then tenant B). The harness then proves, for every registration, that A's
credentials never see B's object: it is absent from A's list, and reading, changing,
deleting it or calling its actions answer 404 with nothing of B in the body; B's row is
unchanged afterwards. `test_every_route_is_registered` fails when a new route is neither
registered nor exempted with a reason.

The `check_*` functions return a list of violations (strings) instead of asserting, so a
test can point the harness at a deliberately leaking view and expect it to be caught.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db.models import Model
from django.forms.models import model_to_dict
from django.urls import NoReverseMatch, reverse

from tenancy.context import tenant_context


@dataclass
class ApiResource:
    basename: str
    factory: Callable[[], Model]
    actions: list[str] = field(default_factory=list)  # POST {detail}/{action}/
    list_params: dict[str, str] = field(default_factory=dict)
    writable: bool = True
    url_kwarg: str = "pk"
    lookup: Callable[[Model], Any] = lambda obj: obj.pk

    @property
    def id(self) -> str:
        return f"api:{self.basename}"


@dataclass
class Page:
    url_name: str
    factory: Callable[[], Model]
    methods: tuple[str, ...] = ("get", "post")
    url_kwarg: str = "pk"
    lookup: Callable[[Model], Any] = lambda obj: obj.pk

    @property
    def id(self) -> str:
        return f"page:{self.url_name}"


API: list[ApiResource] = []
PAGES: list[Page] = []
# Routes that take an object id but need no registration, each with the reason.
EXEMPT: dict[str, str] = {}


def api(basename: str, factory: Callable[[], Model], **options: Any) -> None:
    API.append(ApiResource(basename, factory, **options))


def page(url_name: str, factory: Callable[[], Model], **options: Any) -> None:
    PAGES.append(Page(url_name, factory, **options))


def exempt(route: str, reason: str) -> None:
    EXEMPT[route] = reason


def load_registry() -> None:
    """Import every tests/isolation/registry_<app>.py once (a module another test imported
    already is not registered twice: imports are cached)."""
    for path in sorted(Path(__file__).parent.glob("registry_*.py")):
        importlib.import_module(f"tests.isolation.{path.stem}")


# --- the checks --------------------------------------------------------------------------
def _fingerprint(obj: Model) -> dict[str, Any]:
    with tenant_context(obj.tenant):  # many-to-many values are queries too
        fresh = type(obj)._default_manager.filter(pk=obj.pk).first()
        if fresh is None:
            return {"__deleted__": True}
        return {k: str(v) for k, v in model_to_dict(fresh).items()}


def _ids_in(body: Any) -> set[str]:
    """Every `id`-like value in a JSON body (lists, pages, nested objects)."""
    found: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            if key in {"id", "pk", "uuid"} and isinstance(value, int | str):
                found.add(str(value))
            found |= _ids_in(value)
    elif isinstance(body, list):
        for item in body:
            found |= _ids_in(item)
    return found


def _is_not_found(response) -> bool:
    if response.status_code != 404:
        return False
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return False
    return body.get("error", {}).get("code") == "not_found"


def check_api(
    resource: ApiResource, client_a, obj_b: Model, obj_a: Model | None = None
) -> list[str]:
    """What A's client can see or do to B's object through one API resource."""
    problems: list[str] = []
    b_key = str(resource.lookup(obj_b))
    before = _fingerprint(obj_b)
    list_url = reverse(f"{resource.basename}-list")
    response = client_a.get(list_url, {"page_size": 500, **resource.list_params})
    if response.status_code != 200:
        problems.append(f"{resource.id}: list answered {response.status_code}")
    else:
        ids = _ids_in(response.json())
        if obj_a is not None and str(resource.lookup(obj_a)) not in ids:
            problems.append(f"{resource.id}: list does not show A's own object (bad factory?)")
        if b_key in ids:
            problems.append(f"{resource.id}: list leaked B's object {b_key}")
    detail = reverse(f"{resource.basename}-detail", kwargs={resource.url_kwarg: b_key})
    attempts = [("get", detail, None)]
    if resource.writable:
        attempts += [("patch", detail, {}), ("put", detail, {}), ("delete", detail, None)]
    for action in resource.actions:
        attempts.append(("post", f"{detail}{action}/", {}))
    for method, url, payload in attempts:
        kwargs = {"format": "json"} if payload is not None else {}
        response = (
            getattr(client_a, method)(url, payload, **kwargs)
            if payload is not None
            else getattr(client_a, method)(url)
        )
        if response.status_code == 405:
            continue
        if not _is_not_found(response):
            problems.append(
                f"{resource.id}: {method.upper()} {url} as A answered {response.status_code}, "
                "not a JSON 404"
            )
    if _fingerprint(obj_b) != before:
        problems.append(f"{resource.id}: B's object changed after A's requests")
    return problems


def check_page(registration: Page, client_a, tenant_a, obj_b: Model) -> list[str]:
    """A's browser session asking for B's object under A's own tenant prefix."""
    problems: list[str] = []
    before = _fingerprint(obj_b)
    try:
        url = reverse(
            registration.url_name,
            kwargs={
                "tenant_slug": tenant_a.slug,
                registration.url_kwarg: registration.lookup(obj_b),
            },
        )
    except NoReverseMatch as exc:
        return [f"{registration.id}: cannot reverse ({exc})"]
    for method in registration.methods:
        response = getattr(client_a, method)(url)
        if response.status_code not in (404, 405):
            problems.append(
                f"{registration.id}: {method.upper()} {url} answered {response.status_code}"
            )
    if _fingerprint(obj_b) != before:
        problems.append(f"{registration.id}: B's object changed after A's requests")
    return problems


def check_foreign_prefix(client_a, tenant_b) -> list[str]:
    """A's user asking for pages under B's prefix (not a member there): always 404."""
    problems = []
    for path in ("", "audit/"):
        response = client_a.get(f"/t/{tenant_b.slug}/{path}")
        if response.status_code != 404:
            problems.append(f"/t/{tenant_b.slug}/{path} answered {response.status_code}")
    return problems
