"""Every registered API resource and page keeps tenant B's objects away from tenant A."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tenancy import roles
from tenancy.context import tenant_context

from . import harness

harness.load_registry()


@pytest.mark.parametrize("resource", harness.API, ids=lambda r: r.id)
def test_api_resource_hides_other_tenant(resource, tenant_a, tenant_b, api_client):
    client_a = api_client(tenant_a, roles.ADMIN)
    with tenant_context(tenant_a):
        obj_a = resource.factory()
    with tenant_context(tenant_b):
        obj_b = resource.factory()
    assert harness.check_api(resource, client_a, obj_b, obj_a) == []


@pytest.mark.parametrize("registration", harness.PAGES, ids=lambda r: r.id)
def test_page_hides_other_tenant(registration, tenant_a, tenant_b, web_client):
    client_a = web_client(tenant_a, roles.ADMIN)
    with tenant_context(tenant_b):
        obj_b = registration.factory()
    assert harness.check_page(registration, client_a, tenant_a, obj_b) == []


def test_other_tenant_prefix_is_404(tenant_a, tenant_b, web_client):
    client_a = web_client(tenant_a, roles.ADMIN)
    assert harness.check_foreign_prefix(client_a, tenant_b) == []


def _routes(resolver=None, prefix="", namespace=""):
    """(route, qualified name) for every URL pattern, following includes and namespaces."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _routes(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name or ''}"


def _takes_an_id(route: str) -> bool:
    return "<" in route.replace("<slug:tenant_slug>", "") or "(?P<" in route


def test_every_route_is_registered():
    """A route that takes an object id must be in the harness, or exempt with a reason."""
    basenames = [r.basename for r in harness.API]
    pages = {p.url_name for p in harness.PAGES}
    missing = []
    for route, name in _routes():
        if not _takes_an_id(route) or route in harness.EXEMPT:
            continue
        if route.startswith("api/v1/"):
            if any(name.startswith(f"{basename}-") for basename in basenames):
                continue
        elif route.startswith("t/"):
            if name in pages:
                continue
        else:
            continue
        missing.append(f"{route}  (name {name!r})")
    assert missing == [], "routes taking an id, missing from the isolation harness:\n" + "\n".join(
        missing
    )
