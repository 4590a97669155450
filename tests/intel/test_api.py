"""The intel API's contract: field names others rely on, filters, roles, constant queries."""

from __future__ import annotations

import itertools

import pytest

from tenancy import roles
from tenancy.context import tenant_context
from tests.intel.factories import make_endpoint, make_ioc, observe, row_adder
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db

_n = itertools.count(1)
SHA = "a" * 64


def test_ioc_fields_and_filters(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    response = client.post(
        "/api/v1/iocs/",
        {
            "type": "domain",
            "value": "Evil-CDN.net.",
            "confidence": 80,
            "severity": "high",
            "tlp": "red",
            "tags": ["APT X"],
            "source": "partner feed",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    for name in (
        "id",
        "type",
        "value",
        "source",
        "confidence",
        "severity",
        "tlp",
        "valid_from",
        "valid_until",
        "tags",
    ):
        assert name in body
    assert (body["type"], body["value"], body["source"], body["tags"]) == (
        "domain",
        "evil-cdn.net",
        "partner feed",
        ["apt x"],
    )
    again = client.post("/api/v1/iocs/", {"type": "domain", "value": "evil-cdn.net"}, format="json")
    assert again.status_code == 200 and again.json()["created"] is False
    assert sorted(again.json()["sources"]) == ["Analysts", "partner feed"]
    client.post("/api/v1/iocs/", {"type": "md5", "value": "b" * 32}, format="json")
    assert client.get("/api/v1/iocs/", {"type": "md5"}).json()["count"] == 1
    assert client.get("/api/v1/iocs/", {"search": "cdn"}).json()["count"] == 1
    assert client.get("/api/v1/iocs/", {"tag": "apt x"}).json()["count"] == 1


@pytest.mark.parametrize(
    ("kind", "value", "field", "text"),
    [
        ("sha256", "a" * 63, "value", "sha256 must be 64 hex characters, got 63"),
        ("cidr", "10.0.0.1/8", "value", "has host bits set"),
        ("cidr", "10.0.0.0/33", "value", "is not a network"),
        ("cmdline", "re:(a+)+\\1", "value", "RE2 does not support"),
    ],
)
def test_bad_values_are_clear_400s(tenant_a, api_client, kind, value, field, text):
    client = api_client(tenant_a, roles.ANALYST)
    response = client.post("/api/v1/iocs/", {"type": kind, "value": value}, format="json")
    assert response.status_code == 400
    assert text in response.json()["error"]["fields"][field]


def test_check_shows_warnings_before_adding(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    body = client.post("/api/v1/iocs/check/", {"type": "ipv4", "value": "8.8.8.8"}).json()
    assert body["warnings"][0]["list"] == "public-dns-resolvers" and body["exists"] is None
    created = client.post("/api/v1/iocs/", {"type": "ipv4", "value": "8.8.8.8"}).json()
    assert created["suppressed"] is True and created["warnings"]
    forced = client.post(f"/api/v1/iocs/{created['id']}/suppression/", {"suppressed": False})
    assert forced.json()["suppressed"] is False


def test_expire_and_auditors_cannot_write(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    ioc = client.post("/api/v1/iocs/", {"type": "md5", "value": "c" * 32}).json()
    expired = client.post(f"/api/v1/iocs/{ioc['id']}/expire/").json()
    assert expired["active"] is False and expired["valid_until"]
    auditor = api_client(tenant_a, roles.AUDITOR)
    assert auditor.get("/api/v1/iocs/").status_code == 200
    assert auditor.post("/api/v1/iocs/", {"type": "md5", "value": "d" * 32}).status_code == 403
    assert auditor.post("/api/v1/sweeps/", {"selection": "all"}).status_code == 403


def test_sweep_api_contract(tenant_a, api_client, django_capture_on_commit_callbacks):
    client = api_client(tenant_a, roles.ANALYST)
    with tenant_context(tenant_a):
        endpoint = make_endpoint("ws-api")
        observe(endpoint, [{"sha256": SHA}])
        make_ioc("sha256", SHA)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/sweeps/", {"selection": "all", "os_family": "windows"}, format="json"
        )
    assert response.status_code == 201
    sweep_id = response.json()["id"]
    sweep = client.get(f"/api/v1/sweeps/{sweep_id}/").json()
    assert sweep["status"] in {"queued", "running", "succeeded", "failed", "cancelled"}
    assert (
        sweep["status"],
        sweep["progress"],
        sweep["endpoints_scanned"],
        sweep["hits_count"],
    ) == ("succeeded", 100, 1, 1)
    hits = client.get("/api/v1/hits/", {"sweep": sweep_id}).json()
    assert hits["count"] == 1
    assert hits["results"][0]["hostname"] == "ws-api"
    assert hits["results"][0]["ioc_key"] == f"sha256:{SHA}"
    assert client.post(f"/api/v1/sweeps/{sweep_id}/cancel/").status_code == 409


def test_sweep_launch_validation(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    response = client.post("/api/v1/sweeps/", {"selection": "tag"}, format="json")
    assert response.status_code == 400 and "tag" in response.json()["error"]["fields"]
    response = client.post(
        "/api/v1/sweeps/", {"selection": "iocs", "iocs": [999999]}, format="json"
    )
    assert response.status_code == 400


def test_adhoc_search_finds_the_value_anywhere(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    with tenant_context(tenant_a):
        for host in ("a1", "a2"):
            observe(
                make_endpoint(host),
                [
                    {"sha256": SHA, "process_name": "x.exe"},
                    {"kind": "dns", "dns_query": "api.evil-cdn.net"},
                    {"command_line": "rundll32 evil.dll,Start"},
                ],
            )
        observe(make_endpoint("a3"), [{"kind": "dns", "dns_query": "evil-cdn.network"}])
    for query, hosts, kind in [
        (SHA.upper(), {"a1", "a2"}, "sha256"),
        ("evil-cdn.net", {"a1", "a2"}, "domain"),
        ("X.EXE", {"a1", "a2"}, "file_name"),
        ("evil.dll,start", {"a1", "a2"}, None),
    ]:
        body = client.get("/api/v1/intel-search/", {"q": query}).json()
        assert {row["hostname"] for row in body["endpoints"]} == hosts, query
        assert body["type"] == kind


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("/api/v1/iocs/", "iocs"),
        ("/api/v1/sources/", "sources"),
        ("/api/v1/imports/", "imports"),
        ("/api/v1/allowlist/", "allowlist"),
        ("/api/v1/sweeps/", "sweeps"),
        ("/api/v1/hits/", "hits"),
    ],
)
def test_list_endpoints_use_a_constant_number_of_queries(tenant_a, api_client, url, kind):
    client = api_client(tenant_a, roles.ADMIN)
    client.get(url)  # the token's first use records last_used_at (one UPDATE, once)
    assert_constant_queries(row_adder(tenant_a, kind), lambda: client.get(url))


def test_schema_documents_the_intel_api(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in (
        "/api/v1/iocs/",
        "/api/v1/sweeps/",
        "/api/v1/hits/",
        "/api/v1/sources/",
        "/api/v1/imports/",
        "/api/v1/intel-search/",
    ):
        assert path in schema
