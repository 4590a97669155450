"""SSRF: every URL a tenant can make the servers call — webhook URLs, TAXII API roots,
reputation-provider base URLs — refuses loopback, link-local, private and other non-public
addresses, in every spelling, through every door (service, API, browser form), at the
moment it is saved *and* at the moment it is used; redirects are never followed; an
address the tenant's admin allowlisted (`tenant.settings["tenancy"]["outbound_allowlist"]`)
is the only way in, and only for that tenant.

`tests/tenancy/test_outbound.py` tests the guard (`tenancy.outbound`) as a unit; this file
tests the product's doors to it. `SURFACES` must name every URL column of tenant data: a
new one fails `test_every_url_column_is_a_known_surface` until it is guarded and listed.
"""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models

from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import TenantOwnedModel

from .hostile import browser, changed, state_digest

# Names the offline resolver maps (tests/fixtures/hardening.py `offline_network`).
DNS = {
    "localhost": ["127.0.0.1", "::1"],  # as /etc/hosts answers
    "internal.corp.example": ["10.20.30.40"],
    "metadata.google.internal": ["169.254.169.254"],
    "rebind.example": ["93.184.215.14", "127.0.0.1"],  # one public, one loopback answer
    "v6-private.example": ["fd12:3456::1"],
}

HOSTILE_URLS = [
    # loopback, every spelling the OS accepts
    "https://127.0.0.1/",
    "https://127.1/",
    "https://2130706433/",
    "https://0x7f000001/",
    "https://0177.0.0.1/",
    "https://localhost/",
    "https://LOCALHOST./",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[0:0:0:0:0:ffff:7f00:1]/",
    "https://0.0.0.0/",
    "https://[::]/",
    # link-local and cloud metadata
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://[fe80::1]/",
    # private ranges, shared (CGNAT), unique-local IPv6
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.1.1:8443/",
    "https://100.64.0.1/",
    "https://[fd00::1]/",
    "https://internal.corp.example/",
    "https://v6-private.example/",
    # a name with one public and one private answer
    "https://rebind.example/",
    # other ports and schemes of the same hosts
    "http://127.0.0.1:6379/",
    "http://127.0.0.1:5432/",
    "gopher://127.0.0.1:6379/_INFO",
    "file:///etc/passwd",
    "https://user:pass@hooks.example/",
]

# Every URL column of tenant data -> how a tenant sets it (service, API operation, role).
SURFACES = {
    "cases.Webhook.url": "webhook",
    "intel.Source.url": "taxii",
    "intel.ReputationProvider.base_url": "provider",
}


def _url_columns() -> set[str]:
    found = set()
    for model in apps.get_models():
        if not issubclass(model, TenantOwnedModel):
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, models.URLField) or (
                isinstance(field, models.CharField) and "url" in field.name.lower()
            ):
                found.add(f"{model._meta.label}.{field.name}")
    return found


def test_every_url_column_is_a_known_surface():
    assert _url_columns() == set(SURFACES)


# --- saving a hostile URL ----------------------------------------------------------------------
def _save(surface: str, url: str, *, name: str):
    from cases.services import webhook_create
    from intel.services import source_create
    from intel.services.reputation import provider_save

    if surface == "webhook":
        return webhook_create(name=name, url=url, events=["case.created"])[0]
    if surface == "taxii":
        return source_create(name=name, kind="taxii", url=url, collection_id="c1")
    return provider_save(name=name, base_url=url, api_key="k")


@pytest.mark.parametrize("surface", sorted(set(SURFACES.values())))
def test_the_services_refuse_every_hostile_url(world, offline_network, surface):
    offline_network.dns.update(DNS)
    accepted = []
    with tenant_context(world.a.tenant):
        for index, url in enumerate(HOSTILE_URLS):
            try:
                _save(surface, url, name=f"hostile {index}")
            except ValidationError as exc:
                assert {"url", "base_url"} & set(exc.message_dict), exc.message_dict
            else:
                accepted.append(url)
    assert accepted == []
    assert offline_network.sent == []


API = {
    "webhook": ("/api/v1/webhooks/", roles.ADMIN, "url", {"events": ["case.created"]}),
    "taxii": ("/api/v1/sources/", roles.LEAD, "url", {"kind": "taxii", "collection_id": "c"}),
    "provider": ("/api/v1/reputation-providers/", roles.ADMIN, "base_url", {"api_key": "k"}),
}


def test_the_api_refuses_every_hostile_url_on_create_and_update(world, client, offline_network):
    offline_network.dns.update(DNS)
    rows = {"webhook": world.a.objects["webhook"].pk, "taxii": world.a.objects["source"].pk}
    before = state_digest()
    problems = []
    for surface, (path, role, field, extra) in API.items():
        auth = {"HTTP_AUTHORIZATION": world.a.auth(role)}
        for index, url in enumerate(HOSTILE_URLS):
            body = {"name": f"hostile {index}", field: url, **extra}
            attempts = [("POST", path)]
            if surface in rows:
                attempts.append(("PATCH", f"{path}{rows[surface]}/"))
            for method, target in attempts:
                response = client.generic(
                    method, target, json.dumps(body), content_type="application/json", **auth
                )
                fields = response.json().get("error", {}).get("fields", {})
                if response.status_code != 400 or field not in fields:
                    problems.append(f"{method} {target} {url}: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert changed(before, state_digest()) == []
    assert offline_network.sent == []


def test_the_browser_forms_refuse_hostile_urls(world, offline_network):
    offline_network.dns.update(DNS)
    admin = browser(world.a, roles.ADMIN)
    base = f"/t/{world.a.tenant.slug}"
    hook, source = world.a.objects["webhook"].pk, world.a.objects["source"].pk
    before = state_digest()
    for index, url in enumerate(HOSTILE_URLS[:24]):  # http(s) ones: the forms' own shape
        webhook = {"name": f"h{index}", "url": url, "events": ["case.created"]}
        feed = {"name": f"f{index}", "kind": "taxii", "url": url, "collection_id": "c"}
        feed.update(default_severity="medium", default_tlp="amber")
        for target, data in (
            (f"{base}/settings/webhooks/", webhook),
            (f"{base}/settings/webhooks/{hook}/", {**webhook, "action": "update"}),
            (f"{base}/intel/sources/new/", feed),
            (f"{base}/intel/sources/{source}/edit/", feed),
        ):
            response = admin.post(target, data)  # the form again, with the refusal
            assert response.status_code == 200, (target, url, response.status_code)
    assert changed(before, state_digest()) == []


def test_an_allowlisted_address_is_accepted_for_that_tenant_only(world, offline_network):
    offline_network.dns.update(DNS)
    internal = "https://internal.corp.example/hook"
    allow = {"tenancy": {"outbound_allowlist": ["10.20.0.0/16"]}}
    world.a.tenant.settings = allow
    world.a.tenant.save(update_fields=["settings"])
    with tenant_context(world.a.tenant):
        for surface in sorted(set(SURFACES.values())):
            _save(surface, internal, name=f"allowed {surface}")
        with pytest.raises(ValidationError):  # the allowlist names 10.20/16, nothing more
            _save("webhook", "https://10.0.0.1/", name="still refused")
    with tenant_context(world.b.tenant), pytest.raises(ValidationError):
        _save("webhook", internal, name="not allowlisted in B")


def test_no_api_operation_lets_a_tenant_edit_its_own_allowlist():
    """Only the platform's operator sets the allowlist: no request body of the API has a
    `settings` or allowlist field a tenant admin could send."""
    from .fuzzing import schema_document

    text = json.dumps(schema_document()["components"]["schemas"]).lower()
    assert "outbound_allowlist" not in text and '"settings"' not in text


# --- using a URL whose name now resolves inside ------------------------------------------------
def test_a_taxii_poll_to_a_name_that_turned_private_sends_nothing(world, offline_network):
    from intel.services import source_create
    from tests.intel.test_taxii import poll

    with tenant_context(world.a.tenant):
        source = source_create(
            name="feed", kind="taxii", url="https://feed.example/", collection_id="c"
        )
    offline_network.dns["feed.example"] = ["169.254.169.254"]  # DNS changed after saving
    job = poll(world.a.tenant, source)
    assert job.status == "failed" and "refused" in job.error
    assert offline_network.sent == []


def test_a_provider_whose_name_turned_private_is_not_called(world, offline_network):
    from intel.providers import HttpProvider, ProviderUnavailable
    from intel.services.reputation import provider_save

    with tenant_context(world.a.tenant):
        row = provider_save(name="vt", base_url="https://vt.example/api/v3", api_key="k")
        offline_network.dns["vt.example"] = ["10.0.0.7"]
        with pytest.raises(ProviderUnavailable, match="non-public"):
            HttpProvider(row).lookup("a" * 64)
    assert offline_network.sent == []


# --- redirects to an internal address ------------------------------------------------------------
@pytest.fixture
def redirector():
    """A server on loopback (allowlisted in the tests that use it) answering every request
    with a redirect to the cloud metadata address; `.seen` records what reached it."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _redirect(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append(f"{self.command} {self.path}")
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _redirect

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    server.seen, server.url = seen, f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()


def _allow_loopback(tenant):
    tenant.settings = {"tenancy": {"outbound_allowlist": ["127.0.0.1"]}}
    tenant.save(update_fields=["settings"])


def test_a_taxii_server_redirecting_inside_is_not_followed(world, redirector):
    from intel.services import source_create
    from tests.intel.test_taxii import poll

    _allow_loopback(world.a.tenant)
    with tenant_context(world.a.tenant):
        source = source_create(name="feed", kind="taxii", url=redirector.url, collection_id="c")
    job = poll(world.a.tenant, source)
    assert job.status == "failed" and "redirect" in job.error
    assert len(redirector.seen) == 1


def test_a_provider_redirecting_inside_is_not_followed(world, redirector):
    from intel.providers import HttpProvider, ProviderUnavailable
    from intel.services.reputation import provider_save

    _allow_loopback(world.a.tenant)
    with tenant_context(world.a.tenant):
        row = provider_save(name="vt", base_url=redirector.url, api_key="k")
        with pytest.raises(ProviderUnavailable, match=r"(?i)redirect"):
            HttpProvider(row).lookup("b" * 64)
    assert len(redirector.seen) == 1


def test_a_webhook_receiver_redirecting_inside_is_not_followed(world, redirector):
    from cases.models import WebhookDelivery
    from cases.services import webhook_create, webhook_deliver, webhook_ping

    _allow_loopback(world.a.tenant)
    with tenant_context(world.a.tenant):
        hook = webhook_create(name="r", url=redirector.url + "/hook", events=["case.created"])[0]
        delivery = webhook_ping(webhook=hook)
        webhook_deliver(delivery_uid=str(delivery.uid))
        delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.status != "succeeded" and "redirects are not followed" in delivery.error
    assert redirector.seen == ["POST /hook"]
