"""Done when (issue 6), end to end on PostgreSQL with a real Celery worker and the simulated
agents over HTTP against a live server:

the attack scenario raises a case → an analyst requests isolation of its first endpoint →
a lead approves → the simulated agent verifies, isolates and reports → `contained_at` is
stamped → a bulk kill reaches every endpoint running the implant (a Celery group in the
worker) → a patch and a credential reset complete → the case is remediated and closed →
its timeline shows every step, in order.

PostgreSQL and Redis only (the worker is another process: it shares the database, the
broker and — for the agents' doorbells — the cache). Skipped otherwise.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
import requests
from django.db import connection

from cases.actions.selectors import remediation_state
from cases.models import Alert, BulkAction, Case, ResponseAction
from endpoints.models import Endpoint, Observation
from endpoints.services import enrolment_secret_reveal
from endpoints.simulation import FleetSimulator, HttpTransport
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.services import api_token_create
from tests.endpoints.test_scenario_worker import _redis_reachable, worker  # noqa: F401

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def shared_cache(monkeypatch, settings):
    """The web (this process) and the worker share one Redis cache: the agents' doorbells
    rung by the worker (bulk chunks) must be heard by the live server's polls."""
    if connection.vendor != "postgresql":
        pytest.skip("a real worker shares the database: PostgreSQL only")
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://") or not _redis_reachable(broker):
        pytest.skip("a real worker needs Redis (CELERY_BROKER_URL=redis://…)")
    url = broker.rsplit("/", 1)[0] + "/3"
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CACHE_URL", url)
    monkeypatch.setenv("CACHE_KEY_PREFIX", prefix)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        }
    }
    return url


@pytest.fixture
def stack(shared_cache, worker, live_server):  # noqa: F811 - the imported fixture
    return live_server


class Api:
    """A person's REST client against the live server."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {key}"

    def call(self, method: str, path: str, body=None, expect=(200, 201)):
        response = self.session.request(method, f"{self.base}/api/v1/{path}", json=body, timeout=60)
        assert response.status_code in expect, (method, path, response.status_code, response.text)
        return response.json()


def _person(tenant, member, role, name, base) -> Api:
    user = member(tenant, role, name)
    with tenant_context(tenant):
        _, key = api_token_create(user=user, name="e2e")
    return Api(base, key)


def _until(what, check, timeout=150, every=1.0, process=None):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if process is not None:
            assert process.poll() is None, "the worker died"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def test_the_intrusion_is_contained_remediated_and_closed_by_response_actions(
    tenant_a,
    member,
    stack,
    worker,  # noqa: F811
):
    base = stack.url
    analyst = _person(tenant_a, member, roles.ANALYST, "e2e-analyst", base)
    lead = _person(tenant_a, member, roles.LEAD, "e2e-lead", base)
    with tenant_context(tenant_a):
        secret = enrolment_secret_reveal()
    simulator = FleetSimulator(HttpTransport(base, secret), endpoints=4, seed=5, threads=4)
    simulator.enrol_all()
    simulator.send_benign(per_endpoint=40)
    simulator.play_intrusion()

    # 1. the worker turns the telemetry into alerts and a case
    def the_case():
        with tenant_context(tenant_a):
            case = Case.objects.filter(alerts__endpoint__isnull=False).order_by("id").first()
            return case if case and Alert.objects.filter(case=case).count() >= 3 else None

    case = _until("a case", the_case, process=worker)
    with tenant_context(tenant_a):
        first = Alert.objects.filter(case=case).order_by("first_seen_at", "id").first().endpoint
    hostnames = {spec.agent_id: spec.hostname.lower() for spec in simulator.fleet}

    # 2. isolation of the first endpoint: requested, approved, carried out → contained
    isolation = analyst.call(
        "POST",
        "actions/",
        {
            "type": "isolate_endpoint",
            "endpoint": first.pk,
            "case": case.pk,
            "reason": "patient zero beacons to its C2",
        },
    )
    assert isolation["status"] == "awaiting_approval"
    assert lead.call("POST", f"actions/{isolation['id']}/approve/")["status"] == "queued"
    assert simulator.run_actions() == 1
    assert analyst.call("GET", f"actions/{isolation['id']}/")["status"] == "succeeded"
    contained = analyst.call("GET", f"cases/{case.pk}/")
    assert contained["contained_at"] and contained["status"] == "contained"
    with tenant_context(tenant_a):
        assert Endpoint.objects.get(pk=first.pk).isolation_state == "isolated"
    machine = next(m for a, m in simulator.machines.items() if hostnames[a] == first.hostname)
    assert machine.isolated

    # 3. the implant, killed on every endpoint where it runs: one approval, a Celery group
    with tenant_context(tenant_a):
        implant = (
            Observation.objects.filter(process_name="svchost32.exe", sha256__isnull=False)
            .values_list("sha256", flat=True)
            .first()
        )
        running = set(
            Observation.objects.filter(
                sha256=implant, kind__in=["process", "process_event"]
            ).values_list("endpoint_id", flat=True)
        )
    bulk = analyst.call(
        "POST",
        "bulk-actions/",
        {
            "type": "kill_process",
            "sha256": implant,
            "case": case.pk,
            "reason": "kill the implant everywhere",
        },
    )
    assert len(running) == 2  # patient zero, and the server it moved to
    assert bulk["status"] == "awaiting_approval" and set(bulk["endpoints"]) == running
    lead.call("POST", f"bulk-actions/{bulk['id']}/approve/")
    _until(
        "the bulk's actions",
        lambda: analyst.call("GET", f"bulk-actions/{bulk['id']}/")["status"] == "running",
        process=worker,
    )

    def killed():
        simulator.run_actions(wait=2)
        return analyst.call("GET", f"bulk-actions/{bulk['id']}/")["status"] == "finished"

    _until("the bulk kill", killed, timeout=60, every=0.2)
    done = analyst.call("GET", f"bulk-actions/{bulk['id']}/")
    assert done["counts"]["succeeded"] == len(running) and done["percent"] == 100
    since = time.time()
    simulator.send_snapshots()  # killed processes are not in the next snapshot
    with tenant_context(tenant_a):
        assert not Observation.objects.filter(
            kind="process", sha256=implant, received_at__gte=_ts(since)
        ).exists()

    # 4. remediation: a patch, and a credential reset that becomes the identity team's task
    patch = analyst.call(
        "POST",
        "actions/",
        {
            "type": "deploy_patch",
            "endpoint": first.pk,
            "case": case.pk,
            "parameters": {"kb": "KB5034441"},
        },
    )
    lead.call("POST", f"actions/{patch['id']}/approve/")
    assert simulator.run_actions() == 1
    assert analyst.call("GET", f"actions/{patch['id']}/")["status"] == "succeeded"
    reset = analyst.call(
        "POST",
        "actions/",
        {"type": "reset_credentials", "case": case.pk, "parameters": {"account": "ACME\\jdoe"}},
    )
    reset = lead.call("POST", f"actions/{reset['id']}/approve/")
    assert reset["status"] == "dispatched" and reset["task"]
    analyst.call("PATCH", f"tasks/{reset['task']}/", {"done": True})
    assert analyst.call("GET", f"actions/{reset['id']}/")["status"] == "succeeded"

    # 5. release isolation: the endpoint's telemetry flows again
    release = analyst.call(
        "POST", "actions/", {"type": "release_isolation", "endpoint": first.pk, "case": case.pk}
    )
    assert release["status"] == "queued"
    assert simulator.run_actions() == 1 and not machine.isolated
    with tenant_context(tenant_a):
        assert Endpoint.objects.get(pk=first.pk).isolation_state == "none"

    # 6. every remediation task done → the case proposes remediated; then it closes
    for task in analyst.call("GET", f"tasks/?case={case.pk}&is_remediation=true&done=false")[
        "results"
    ]:
        analyst.call("PATCH", f"tasks/{task['id']}/", {"done": True})
    with tenant_context(tenant_a):
        assert remediation_state(Case.objects.get(pk=case.pk)).ready
    analyst.call("POST", f"cases/{case.pk}/transition/", {"status": "remediated"})
    closed = analyst.call(
        "POST", f"cases/{case.pk}/transition/", {"status": "closed", "resolution": "true_positive"}
    )
    assert closed["remediated_at"] and closed["closed_at"]

    # 7. the timeline tells it, in order
    rows = analyst.call("GET", f"cases/{case.pk}/timeline/?page_size=500")["results"]
    summaries = [row["summary"] for row in rows]
    expected = [
        "Isolate endpoint on {first} requested by e2e-analyst",
        "Isolate endpoint on {first} awaits a lead's approval",
        "Isolate endpoint on {first} approved by e2e-lead",
        "Isolate endpoint on {first} queued for the agent",
        "Isolate endpoint on {first} picked up by the agent",
        "Isolate endpoint on {first} succeeded",
        "Status ",  # → contained
        "Contained at",
        "Bulk kill process on {n} endpoint(s)",
        "Bulk kill process on {n} endpoint(s) approved by e2e-lead",
        "Bulk kill process on {n} endpoint(s) launched",
        "Bulk kill process on {n} endpoint(s) finished",
        "Deploy patch / package on {first}",
        "Deploy patch / package on {first}",
        "Reset credentials (directory account) on the directory",
        "Reset credentials (directory account) on the directory",
        "Reset credentials (directory account) on the directory",
        "Release isolation on {first}",
        "Status contained → remediated",
        "Remediated at",
        "Status remediated → closed",
    ]
    position = 0
    for step in expected:
        step = step.format(first=first.hostname, n=len(running))
        while position < len(summaries) and not summaries[position].startswith(step):
            position += 1
        assert position < len(summaries), f"missing, or out of order: {step!r}\n" + "\n".join(
            summaries
        )
        position += 1
    with tenant_context(tenant_a):
        assert BulkAction.objects.get().status == "finished"
        assert not ResponseAction.objects.filter(status__in=["queued", "dispatched"]).exists()


def _ts(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)
