"""The agent API: enrolment, heartbeats, telemetry batches, and every way a batch is refused."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from endpoints.models import Endpoint, Observation, TelemetryBatch
from endpoints.services import enrolment_secret_reveal, enrolment_secret_rotate
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import AuditEvent
from tests.fixtures.endpoints import ndjson, records

pytestmark = pytest.mark.django_db

FACTS = {
    "hostname": "WS-FIN-0042",
    "fqdn": "ws-fin-0042.acme.example",
    "os_family": "windows",
    "os_version": "Windows 11 Enterprise 23H2",
    "domain": "acme.example",
    "ip_addresses": ["10.10.32.42"],
    "mac_addresses": ["f8:bc:12:aa:bb:cc"],
    "agent_version": "4.2.1",
    "user_groups": ["Domain Users", "Finance"],
    "tags": ["site:hq", "dept:finance"],
    "privileged_admin_logons": False,
}


def _secret(tenant):
    with tenant_context(tenant):
        return enrolment_secret_reveal()


def _enrol(secret, agent_id="7f0e1c2a-0000-4000-8000-000000000042", **facts):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Enrolment {secret}")
    return client.post(
        "/api/v1/agent/enrol/", {"agent_id": agent_id, **FACTS, **facts}, format="json"
    )


def _counts(tenant):
    with tenant_context(tenant):
        return Observation.objects.count(), TelemetryBatch.objects.count()


# -- enrolment -------------------------------------------------------------------------------


def test_enrolment_returns_a_token_that_authenticates_the_agent(tenant_a):
    response = _enrol(_secret(tenant_a))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True and body["token"].startswith("sca_")
    with tenant_context(tenant_a):
        endpoint = Endpoint.objects.get(pk=body["endpoint_id"])
        assert endpoint.hostname == "ws-fin-0042"
        assert sorted(endpoint.user_groups.values_list("name", flat=True)) == [
            "Domain Users",
            "Finance",
        ]
        assert endpoint.token_hash and body["token"] not in endpoint.token_hash
        assert AuditEvent.objects.filter(action="endpoint.enrol").count() == 1
    agent = APIClient()
    agent.credentials(HTTP_AUTHORIZATION=f"Agent {body['token']}")
    assert agent.post("/api/v1/agent/heartbeat/", {}, format="json").status_code == 200


def test_re_enrolment_keeps_the_endpoint_and_replaces_its_token(tenant_a):
    secret = _secret(tenant_a)
    first = _enrol(secret).json()
    second = _enrol(secret, os_version="Windows 11 Enterprise 24H2")
    assert second.status_code == 200
    assert second.json()["endpoint_id"] == first["endpoint_id"]
    assert second.json()["created"] is False
    old = APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Agent {first['token']}")
    response = old.post("/api/v1/agent/heartbeat/", {}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_wrong_or_rotated_secret_cannot_enrol(tenant_a):
    old = _secret(tenant_a)
    assert _enrol("sce_not-the-secret").status_code == 401
    with tenant_context(tenant_a):
        new = enrolment_secret_rotate()
    assert new != old
    assert _enrol(old).status_code == 401
    assert _enrol(new).status_code == 201


def test_enrolment_facts_are_validated(tenant_a):
    response = _enrol(_secret(tenant_a), os_family="solaris", ip_addresses=["10.0.0.999"])
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"os_family", "ip_addresses"}


def test_a_secret_enrols_into_its_own_tenant_only(tenant_a, tenant_b):
    """The same agent id in two tenants is two endpoints; B's is untouched by A's agent."""
    agent_id = "shared-agent-id-0001"
    _enrol(_secret(tenant_b), agent_id=agent_id, hostname="bravo-host")
    response = _enrol(_secret(tenant_a), agent_id=agent_id, hostname="alpha-host")
    assert response.status_code == 201
    with tenant_context(tenant_b):
        assert list(Endpoint.objects.values_list("hostname", flat=True)) == ["bravo-host"]
    with tenant_context(tenant_a):
        assert list(Endpoint.objects.values_list("hostname", flat=True)) == ["alpha-host"]


# -- heartbeats ------------------------------------------------------------------------------


def test_heartbeat_touches_last_seen_and_records_changed_facts(tenant_a, enrol_agent):
    agent = enrol_agent(tenant_a, hostname="ws-1")
    with tenant_context(tenant_a):
        Endpoint.objects.filter(pk=agent.endpoint.pk).update(last_seen_at=None)
        before = AuditEvent.objects.count()
    response = agent.post("/api/v1/agent/heartbeat/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["isolation_state"] == "none"
    with tenant_context(tenant_a):
        assert Endpoint.objects.get(pk=agent.endpoint.pk).last_seen_at is not None
        assert AuditEvent.objects.count() == before  # nothing changed: nothing audited
    response = agent.post(
        "/api/v1/agent/heartbeat/", {"agent_version": "4.3.0", "tags": ["site:lon"]}, format="json"
    )
    assert response.status_code == 200
    with tenant_context(tenant_a):
        endpoint = Endpoint.objects.get(pk=agent.endpoint.pk)
        assert endpoint.agent_version == "4.3.0"
        assert list(endpoint.tags.values_list("name", flat=True)) == ["site:lon"]
        event = AuditEvent.objects.filter(action="endpoint.facts").get()
        assert event.actor_kind == "agent"
        assert set(event.changes) == {"agent_version", "tags"}


# -- telemetry -------------------------------------------------------------------------------


def test_a_json_batch_is_stored_and_queued(
    tenant_a, enrol_agent, post_batch, django_capture_on_commit_callbacks
):
    agent = enrol_agent(tenant_a)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_batch(agent, records(5, sha256="AB" * 32, remote_ip="10.0.0.7"))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body == {"batch_id": body["batch_id"], "records": 5, "accepted": 5, "duplicates": 0}
    assert len(callbacks) == 1  # one processing task per batch
    with tenant_context(tenant_a):
        rows = list(Observation.objects.order_by("event_id"))
        assert len(rows) == 5
        assert rows[0].sha256 == "ab" * 32  # normalised
        assert rows[0].process_path == r"c:\windows\system32\notepad.exe"
        assert rows[0].command_line == "notepad.exe"
        assert rows[0].batch_id == body["batch_id"]
        batch = TelemetryBatch.objects.get(pk=body["batch_id"])
        assert batch.status == TelemetryBatch.PROCESSED  # the eager task ran


def test_gzip_ndjson_is_accepted(tenant_a, enrol_agent, post_batch):
    agent = enrol_agent(tenant_a)
    response = post_batch(agent, records(50), compress=True, as_ndjson=True)
    assert response.status_code == 202
    assert response.json()["accepted"] == 50


def test_a_resent_batch_inserts_nothing_twice(tenant_a, enrol_agent, post_batch):
    agent = enrol_agent(tenant_a)
    rows = records(20)
    assert post_batch(agent, rows).json()["accepted"] == 20
    again = post_batch(agent, rows + records(2, start=100)).json()
    assert (again["accepted"], again["duplicates"]) == (2, 20)
    assert _counts(tenant_a)[0] == 22


def test_the_same_event_id_on_two_endpoints_is_two_observations(tenant_a, enrol_agent, post_batch):
    one, two = enrol_agent(tenant_a), enrol_agent(tenant_a)
    assert post_batch(one, records(3)).json()["accepted"] == 3
    assert post_batch(two, records(3)).json()["accepted"] == 3


def _refused(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sha256", "abc123", "exactly 64 hex digits"),
        ("sha256", "zz" * 32, "hex digits"),
        ("md5", 12345, "hex string"),
        ("pid", "1234", "integer"),
        ("remote_port", 70000, "between 0 and 65535"),
        ("remote_ip", "10.0.0.300", "IPv4 or IPv6"),
        ("observed_at", "2025-03-01T12:00:00", "time zone"),
        ("started_at", "yesterday", "ISO 8601"),
        ("process_name", ["cmd.exe"], "string"),
        ("favourite_colour", "blue", "unknown field"),
        ("kind", "telepathy", "one of"),
        ("autorun_type", "cron_job", "one of"),
        ("command_line", "x" * 9000, "at most 8192"),
        ("command_line", "cmd\x00.exe", "NUL"),
    ],
)
def test_a_batch_with_one_invalid_record_is_refused_whole(
    tenant_a, enrol_agent, post_batch, field, value, message
):
    agent = enrol_agent(tenant_a)
    rows = records(30)
    rows[17][field] = value
    error = _refused(post_batch(agent, rows), 400, "invalid")
    assert list(error["fields"]) == [f"records[17].{field}"]
    assert message in error["fields"][f"records[17].{field}"]
    assert f"records[17].{field}" in error["message"]
    assert _counts(tenant_a) == (0, 0)


def test_timestamps_in_the_future_are_refused(tenant_a, enrol_agent, post_batch):
    agent = enrol_agent(tenant_a)
    later = timezone.now() + dt.timedelta(hours=2)
    error = _refused(post_batch(agent, records(2, when=later)), 400, "invalid")
    assert "future" in error["fields"]["records[0].observed_at"]
    assert _counts(tenant_a) == (0, 0)


def test_missing_envelope_fields_are_named(tenant_a, enrol_agent, post_batch):
    agent = enrol_agent(tenant_a)
    rows = records(2)
    del rows[1]["event_id"], rows[1]["observed_at"]
    error = _refused(post_batch(agent, rows), 400, "invalid")
    assert set(error["fields"]) == {"records[1].event_id", "records[1].observed_at"}


def test_duplicate_event_ids_in_one_batch_are_refused(tenant_a, enrol_agent, post_batch):
    agent = enrol_agent(tenant_a)
    rows = records(5)
    rows[3]["event_id"] = rows[1]["event_id"]
    error = _refused(post_batch(agent, rows), 400, "invalid")
    assert error["fields"] == {"records[3].event_id": "repeats the event id of records[1]"}
    assert _counts(tenant_a) == (0, 0)


def test_truncated_gzip_is_refused(tenant_a, enrol_agent, post_batch):
    agent = enrol_agent(tenant_a)
    body = gzip.compress(ndjson(records(200)))[:-40]
    response = post_batch(agent, None, body=body, as_ndjson=True, HTTP_CONTENT_ENCODING="gzip")
    error = _refused(response, 400, "invalid")
    assert "truncated" in error["fields"]["body"] or "gzip" in error["fields"]["body"]
    assert _counts(tenant_a) == (0, 0)


def test_a_gzip_bomb_is_refused_with_413(tenant_a, enrol_agent, post_batch, settings):
    settings.TELEMETRY_MAX_DECOMPRESSED_BYTES = 1024 * 1024
    agent = enrol_agent(tenant_a)
    body = gzip.compress(b" " * (20 * 1024 * 1024))  # 20 KiB on the wire, 20 MiB inflated
    assert len(body) < 100_000
    response = post_batch(agent, None, body=body, HTTP_CONTENT_ENCODING="gzip")
    assert "decompressed" in _refused(response, 413, "too_large")["message"]
    assert _counts(tenant_a) == (0, 0)


def test_a_body_over_the_size_limit_is_refused_with_413(
    tenant_a, enrol_agent, post_batch, settings
):
    agent = enrol_agent(tenant_a)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    filler = "x" * 8000
    rows, size = [], 0
    while size <= limit + 10 * 1024 * 1024:  # 10 MB over the limit
        rows.append({"kind": "file", "event_id": f"e{len(rows)}", "command_line": filler})
        size += len(filler) + 40
    body = json.dumps(rows).encode()
    _refused(post_batch(agent, None, body=body), 413, "too_large")
    assert _counts(tenant_a) == (0, 0)


def test_too_many_records_are_refused_with_413(tenant_a, enrol_agent, post_batch, settings):
    settings.TELEMETRY_MAX_RECORDS = 10
    agent = enrol_agent(tenant_a)
    assert (
        "at most 10 records"
        in _refused(post_batch(agent, records(11)), 413, "too_large")["message"]
    )
    assert post_batch(agent, records(10)).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b'{"kind": "process"}', "body"),
        (b"[]", "records"),
        (b'["a string"]', "records[0]"),
    ],
)
def test_unreadable_bodies_are_refused(tenant_a, enrol_agent, post_batch, body, field):
    agent = enrol_agent(tenant_a)
    assert field in _refused(post_batch(agent, None, body=body), 400, "invalid")["fields"]


def test_ndjson_names_the_bad_line(tenant_a, enrol_agent, post_batch):
    agent = enrol_agent(tenant_a)
    body = ndjson(records(3)) + b"\n{broken"
    error = _refused(post_batch(agent, None, body=body, as_ndjson=True), 400, "invalid")
    assert list(error["fields"]) == ["records[3]"]


def test_unsupported_encodings_are_refused_with_415(tenant_a, enrol_agent, post_batch):
    agent = enrol_agent(tenant_a)
    rows = json.dumps(records(1)).encode()
    _refused(
        post_batch(agent, None, body=rows, HTTP_CONTENT_ENCODING="br"),
        415,
        "unsupported_media_type",
    )
    response = agent.generic("POST", "/api/v1/agent/telemetry/", rows, content_type="text/csv")
    _refused(response, 415, "unsupported_media_type")


def test_an_unknown_agent_token_is_refused(tenant_a, post_batch):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Agent sca_00000000_unknown")
    _refused(post_batch(client, records(2)), 401, "authentication_failed")
    _refused(post_batch(APIClient(), records(2)), 401, "not_authenticated")
    assert _counts(tenant_a) == (0, 0)


def test_agent_routes_refuse_api_tokens(tenant_a, api_client, post_batch):
    client = api_client(tenant_a, roles.ADMIN)
    assert post_batch(client, records(1)).status_code == 401
    assert client.post("/api/v1/agent/heartbeat/", {}, format="json").status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/endpoints/",
        "/api/v1/observations/",
        "/api/v1/me/",
        "/api/v1/detection-rules/",
        "/api/v1/stacking/",
        "/api/v1/audit/",
    ],
)
def test_an_agent_token_opens_nothing_but_the_agent_api(tenant_a, enrol_agent, url):
    agent = enrol_agent(tenant_a)
    assert agent.get(url).status_code == 401


def test_agents_of_one_tenant_write_only_their_own_endpoint(
    tenant_a, tenant_b, enrol_agent, post_batch
):
    a, b = enrol_agent(tenant_a), enrol_agent(tenant_b)
    assert post_batch(a, records(4)).json()["accepted"] == 4
    assert post_batch(b, records(4)).json()["accepted"] == 4  # same event ids, other tenant
    with tenant_context(tenant_a):
        assert set(Observation.objects.values_list("endpoint_id", flat=True)) == {a.endpoint.pk}
    with tenant_context(tenant_b):
        assert set(Observation.objects.values_list("endpoint_id", flat=True)) == {b.endpoint.pk}
