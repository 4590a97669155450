"""Hash reputation: the local store filled from feeds, telemetry checked as it arrives (a
malicious hash opens a case), and external providers behind a cache, a rate limit and a
timeout — tested against a local fake HTTP server, off by default."""

from __future__ import annotations

import pytest

from cases.models import Alert, Case
from endpoints.processing import process_batch
from intel.models import Reputation, ReputationProvider
from intel.providers import HttpProvider, ProviderUnavailable
from intel.services import (
    ReputationInput,
    import_create,
    import_run,
    reputation_lookup,
    reputation_record_many,
)
from tenancy import roles
from tenancy.context import tenant_context
from tests.intel.factories import make_batch, make_endpoint, observe

pytestmark = pytest.mark.django_db

BAD = "ed02457b5c41d964dbd2f2a609d63fe1bb7528dbe55e1abf5b52c249cd735797"
GOOD = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
UNKNOWN = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"


def arrive(tenant, endpoint, rows):
    """Telemetry arriving: a pending batch processed like the worker does it."""
    with tenant_context(tenant):
        batch = make_batch(endpoint)
        batch.status = "pending"
        batch.save(update_fields=["status"])
        observe(endpoint, rows, batch=batch)
        return process_batch(batch_id=batch.pk)


def test_feed_hashes_fill_the_store_and_a_malicious_hash_in_telemetry_opens_a_case(tenant_a):
    with tenant_context(tenant_a):
        import_run(
            job=import_create(
                data=f"{BAD}\n".encode(), format="text", source_name="vendor", enqueue=False
            )
        )
        assert Reputation.objects.get(hash=BAD).verdict == "malicious"
        endpoint = make_endpoint("ws-7")
    arrive(
        tenant_a,
        endpoint,
        [
            {
                "kind": "process",
                "sha256": BAD,
                "process_name": "dropper.exe",
                "process_path": r"c:\users\bo\downloads\dropper.exe",
            },
            {"kind": "process", "sha256": GOOD, "process_name": "notepad.exe"},
            {"kind": "file", "sha256": BAD, "file_path": r"c:\temp\copy.exe"},  # files: not checked
        ],
    )
    with tenant_context(tenant_a):
        alert = Alert.objects.get(source="hash_reputation")
        assert alert.ioc_key == f"sha256:{BAD}" and alert.endpoint_id == endpoint.pk
        assert "dropper.exe" in alert.title and alert.case_id is not None
        assert Case.objects.count() == 1


def test_autorun_and_driver_hashes_are_checked_too(tenant_a):
    with tenant_context(tenant_a):
        reputation_record_many([ReputationInput("sha256", BAD, "malicious", 50, 70, "feed")])
        endpoint = make_endpoint("srv-1")
    arrive(
        tenant_a,
        endpoint,
        [
            {
                "kind": "autorun",
                "autorun_type": "service",
                "item_name": "evilsvc",
                "sha256": BAD,
                "target_path": r"c:\windows\evilsvc.exe",
                "action": "create",
            },
        ],
    )
    with tenant_context(tenant_a):
        alert = Alert.objects.get(source="hash_reputation")
        assert (alert.severity, alert.phase) == ("critical", "persistence")


def test_external_providers_are_off_by_default(tenant_a, vt_api):
    vt_api.responder["known"][UNKNOWN] = (40, 70)
    with tenant_context(tenant_a):
        verdict = reputation_lookup(UNKNOWN)
    assert verdict.verdict == "unknown" and vt_api.requests == []


def provider(tenant, url, **fields):
    with tenant_context(tenant):
        return ReputationProvider.objects.create(
            name="fake-vt", base_url=url, api_key="k3y", enabled=True, **fields
        )


def test_provider_verdict_is_stored_locally_and_cached(tenant_a, vt_api, allow_loopback):
    allow_loopback(tenant_a)
    vt_api.responder["known"][BAD] = (40, 70)
    provider(tenant_a, vt_api.url + "/api/v3")
    with tenant_context(tenant_a):
        verdict = reputation_lookup(BAD)
        assert (verdict.verdict, verdict.ratio, verdict.provider) == (
            "malicious",
            "40/70",
            "fake-vt",
        )
        assert vt_api.requests[0]["headers"]["x-apikey"] == "k3y"
        assert vt_api.requests[0]["path"] == f"/api/v3/files/{BAD}"
        assert Reputation.objects.get(hash=BAD).source == "fake-vt"
        assert reputation_lookup(BAD).verdict == "malicious"
        assert reputation_lookup(UNKNOWN).verdict == "unknown"
        assert reputation_lookup(UNKNOWN).verdict == "unknown"  # the 404 is cached
    assert len(vt_api.requests) == 2


def test_provider_rate_limit_and_timeout(tenant_a, vt_api, allow_loopback):
    allow_loopback(tenant_a)
    row = provider(tenant_a, vt_api.url, rate_limit_per_minute=2, timeout_seconds=1)
    with tenant_context(tenant_a):
        client = HttpProvider(row)
        client.lookup("a" * 64)
        client.lookup("b" * 64)
        with pytest.raises(ProviderUnavailable, match="rate limit of 2"):
            client.lookup("c" * 64)
        row.rate_limit_per_minute = 100
        row.save(update_fields=["rate_limit_per_minute"])
        vt_api.responder["state"]["delay"] = 1.5
        with pytest.raises(ProviderUnavailable, match="timed out after 1 s"):
            HttpProvider(row).lookup("d" * 64)
        assert reputation_lookup("e" * 64).verdict == "unknown"  # the error is recorded
        row.refresh_from_db()
        assert "timed out" in row.last_error
    assert len(vt_api.requests) == 4


def test_unknown_telemetry_hashes_go_to_the_provider_and_can_open_a_case(
    tenant_a, vt_api, allow_loopback, django_capture_on_commit_callbacks
):
    allow_loopback(tenant_a)
    vt_api.responder["known"][UNKNOWN] = (55, 70)
    provider(tenant_a, vt_api.url)
    with tenant_context(tenant_a):
        endpoint = make_endpoint("ws-9")
    with django_capture_on_commit_callbacks(execute=True):
        arrive(tenant_a, endpoint, [{"kind": "driver", "item_name": "rootkit", "sha256": UNKNOWN}])
    with tenant_context(tenant_a):
        assert Alert.objects.get(source="hash_reputation").case_id is not None


def test_api_lookup_and_recording(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    created = client.post(
        "/api/v1/reputation/",
        {"hash": BAD.upper(), "verdict": "malicious", "detections": 3, "engines": 70},
    )
    assert created.status_code == 201 and created.json()["detection_ratio"] == "3/70"
    body = client.get("/api/v1/reputation/lookup/", {"hash": BAD}).json()
    assert (body["verdict"], body["source"]) == ("malicious", "analyst")
    bad = client.get("/api/v1/reputation/lookup/", {"hash": "xyz"})
    assert bad.status_code == 400
    listed = client.get("/api/v1/reputation/", {"verdict": "malicious"}).json()
    assert listed["count"] == 1


def test_admins_configure_providers_through_the_outbound_guard(tenant_a, api_client, vt_api):
    from tenancy.models import AuditEvent

    admin = api_client(tenant_a, roles.ADMIN)
    body = {"name": "vt", "base_url": vt_api.url, "api_key": "secret", "enabled": True}
    refused = admin.post("/api/v1/reputation-providers/", body, format="json")
    assert (
        refused.status_code == 400 and "non-public" in refused.json()["error"]["fields"]["base_url"]
    )
    tenant_a.settings = {"tenancy": {"outbound_allowlist": ["127.0.0.1"]}}
    tenant_a.save(update_fields=["settings"])
    created = admin.post("/api/v1/reputation-providers/", body, format="json")
    assert created.status_code == 201 and "api_key" not in created.json()
    analyst = api_client(tenant_a, roles.ANALYST)
    assert analyst.get("/api/v1/reputation-providers/").status_code == 403
    with tenant_context(tenant_a):
        event = AuditEvent.objects.get(action="reputation_provider.create")
        assert event.changes["api_key"] == ["***", "***"]
