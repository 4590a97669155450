"""Redis fails while the API takes requests: reads keep working, every write that enqueues
a task is answered (2xx, promptly) and its task runs once Redis is back — nothing lost.

The stack is the production one: gunicorn (DEBUG off), a Celery worker and beat, on the
pytest database (shared PostgreSQL) and a private `redis-server` that is the broker (db 0)
and the cache (db 1). The faults:

- **killed** (SIGKILL, then started again empty, as a Redis without persistence comes
  back): the writes commit their work and an outbox row; beat's drain (or the on-demand
  drain a process requests when it reaches the broker again) sends them;
- **frozen** (SIGSTOP: the kernel still accepts connections, nobody answers): a request
  must not hang on the broker or the cache. Socket timeouts bound the first wait, the
  outbox's and the cache's breakers make the following requests fast; after SIGCONT
  `manage.py outbox_drain` sends what was kept (the operator's path: no beat here);
- **killed while holding a message**: what the broker had accepted is gone with it; the
  telemetry watchdog sends the stranded batch's processing again.
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import requests
from django.utils import timezone

from cases.models import Alert, BulkAction, ResponseAction
from endpoints.agent_client import encode_batch
from endpoints.models import TelemetryBatch
from intel.models import IOC, ImportJob, Sweep
from metrics.models import Report
from tenancy import roles
from tenancy.context import tenant_context, unscoped
from tenancy.models import OutboxMessage
from tests.fixtures.endpoints import records
from tests.fixtures.faults import (
    ROOT,
    app_env,
    shared_database_url,
    start_beat,
    start_gunicorn,
    start_worker,
    wait_for,
)
from tests.intel.factories import make_ioc

pytestmark = [
    pytest.mark.heavy,
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


@dataclass
class Office:
    """A tenant with a lead's API token, three enrolled agents and two IOCs."""

    tenant: object
    key: str
    agents: list  # enrolled APIClients (.endpoint, .token)
    sent: dict  # agent index -> next event number


@pytest.fixture
def office(tenant_a, api_client, enrol_agent) -> Office:
    lead = api_client(tenant_a, roles.LEAD)
    agents = [enrol_agent(tenant_a) for _ in range(3)]
    with tenant_context(tenant_a):
        make_ioc("domain", "c2.badguys-example.net")
        make_ioc("sha256", "a" * 64)
    return Office(tenant_a, lead.key, agents, {})


class Client:
    """requests with a timeout, recording how long each call took."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.session = url, requests.Session()
        self.session.headers["Authorization"] = f"Token {key}"
        self.timings: list[tuple[str, float, int]] = []

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        started = time.monotonic()
        try:
            response = self.session.request(method, f"{self.url}{path}", **kwargs)
        except requests.Timeout:
            raise AssertionError(f"{method} {path} did not answer in 30 s") from None
        self.timings.append((f"{method} {path}", time.monotonic() - started, response.status_code))
        return response

    def telemetry(self, office: Office, index: int) -> requests.Response:
        start = office.sent.get(index, 0)
        office.sent[index] = start + 5
        data, headers = encode_batch(records(5, start=start))
        token = office.agents[index].token
        return self.call(
            "POST",
            "/api/v1/agent/telemetry/",
            data=data,
            headers={**headers, "Authorization": f"Agent {token}"},
        )


def last_month() -> str:
    first = timezone.now().date().replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def enqueueing_writes(client: Client, office: Office, tag: str) -> dict[str, requests.Response]:
    """One of each API write whose work a worker finishes (plus an alert, a plain write)."""
    ids = [agent.endpoint.pk for agent in office.agents]
    iocs = "\n".join(f"{tag}-{i}.badguys-example.net" for i in range(20)).encode()
    return {
        "telemetry 1": client.telemetry(office, 1),
        "telemetry 2": client.telemetry(office, 2),
        "alert": client.call(
            "POST",
            "/api/v1/alerts/",
            json={
                "title": f"Office spawned a shell ({tag})",
                "severity": "medium",
                "source": "api",
                "phase": "initial_infection",
                "observed_at": timezone.now().isoformat(),
                "external_id": f"siem-{tag}",
            },
        ),
        "report": client.call("POST", "/api/v1/reports/", json={"period": last_month()}),
        "import": client.call(
            "POST",
            "/api/v1/imports/",
            files={"file": (f"{tag}.txt", iocs)},
            data={"format": "text"},
        ),
        "sweep": client.call("POST", "/api/v1/sweeps/", json={"selection": "all"}),
        "bulk": client.call(
            "POST",
            "/api/v1/bulk-actions/",
            json={"type": "release_isolation", "endpoints": ids, "reason": tag},
        ),
    }


def reads(client: Client) -> list[int]:
    paths = ["/api/v1/cases/", "/api/v1/endpoints/", "/api/v1/iocs/", "/api/v1/me/"]
    return [client.call("GET", path).status_code for path in paths]


def outbox_rows() -> int:
    with unscoped("test: count the outbox of every tenant"):
        return OutboxMessage.objects.count()


def everything_done(office: Office, answers: dict[str, requests.Response]) -> dict | None:
    """The work behind every write, finished (or what is still waiting, for the message)."""
    with tenant_context(office.tenant):
        waiting = {
            "outbox": outbox_rows(),
            "batches": TelemetryBatch.objects.filter(status=TelemetryBatch.PENDING).count(),
            "report": Report.objects.filter(pk=answers["report"].json()["id"])
            .exclude(status=Report.Status.SUCCEEDED)
            .count(),
            "import": ImportJob.objects.filter(pk=answers["import"].json()["id"])
            .exclude(status="succeeded")
            .count(),
            "sweep": Sweep.objects.filter(pk=answers["sweep"].json()["id"])
            .exclude(status="succeeded")
            .count(),
            "bulk": BulkAction.objects.filter(pk=answers["bulk"].json()["id"], launched__lt=3)
            .exclude(status=BulkAction.Status.FINISHED)
            .count(),
        }
    return None if any(waiting.values()) else waiting


def assert_done_once(office: Office, answers: dict[str, requests.Response], tag: str) -> None:
    with tenant_context(office.tenant):
        report = Report.objects.get(pk=answers["report"].json()["id"])
        assert report.status == Report.Status.SUCCEEDED and report.sha256
        job = ImportJob.objects.get(pk=answers["import"].json()["id"])
        assert (job.status, job.added) == ("succeeded", 20)
        assert IOC.objects.filter(value__startswith=f"{tag}-").count() == 20
        bulk = BulkAction.objects.get(pk=answers["bulk"].json()["id"])
        children = list(ResponseAction.objects.filter(bulk=bulk).values_list("endpoint_id"))
        assert len(children) == len(set(children)) == 3, "a bulk chunk created twice"
        assert Alert.objects.filter(external_id=f"siem-{tag}").count() == 1
        assert not TelemetryBatch.objects.filter(status=TelemetryBatch.PENDING).exists()


def stack_env(fault_stack, redis_server):
    return app_env(
        fault_stack.var_dir,
        database_url=shared_database_url(),
        broker_url=redis_server.url(0),
        CACHE_KEY_PREFIX=f"faults-{redis_server.port}",
    )


def test_killed_redis_reads_work_writes_are_kept_and_run_when_it_returns(
    postgres_only, office, fault_stack, private_redis
):
    env = stack_env(fault_stack, private_redis)
    web, url = start_gunicorn(env, fault_stack.var_dir / "gunicorn.log")
    fault_stack.add(web)
    fault_stack.add(start_worker(env, fault_stack.var_dir / "worker.log"))
    fault_stack.add(start_beat(env, fault_stack.var_dir / "beat.log", fault_stack.var_dir))
    client = Client(url, office.key)

    assert client.telemetry(office, 0).status_code == 202
    with tenant_context(office.tenant):
        pending = TelemetryBatch.objects.filter(status=TelemetryBatch.PENDING)
        wait_for(lambda: not pending.exists(), 60, "the worker to process a batch")

    private_redis.kill()
    killed_at = time.monotonic()
    assert reads(client) == [200, 200, 200, 200]
    health = client.call("GET", "/healthz")
    assert health.status_code == 200 and health.json()["broker"] == "error"
    answers = enqueueing_writes(client, office, "killed")
    codes = {name: answer.status_code for name, answer in answers.items()}
    assert codes == {
        "telemetry 1": 202,
        "telemetry 2": 202,
        "alert": 201,
        "report": 202,
        "import": 202,
        "sweep": 201,
        "bulk": 201,
    }, {name: answer.text[:300] for name, answer in answers.items()}
    assert reads(client) == [200, 200, 200, 200]
    slowest = max(client.timings, key=lambda timing: timing[1])
    assert slowest[1] < 3, f"{slowest} while Redis was down"
    kept = outbox_rows()
    assert kept >= 6, "every task-enqueueing write keeps its message in the outbox"

    time.sleep(max(0.0, 5 - (time.monotonic() - killed_at)))
    private_redis.start()  # empty: whatever it held before the kill is gone
    # Nothing more is asked of the API: beat's drain must send what the outbox kept.
    wait_for(
        lambda: everything_done(office, answers),
        150,
        "the kept tasks to run after Redis returned",
        interval=1,
    )
    assert_done_once(office, answers, "killed")
    assert client.telemetry(office, 0).status_code == 202  # and the fast path is back
    assert reads(client) == [200, 200, 200, 200]


def test_frozen_redis_never_hangs_a_request_and_the_outbox_drain_command_sends_the_rest(
    postgres_only, office, fault_stack, private_redis
):
    env = stack_env(fault_stack, private_redis)
    web, url = start_gunicorn(env, fault_stack.var_dir / "gunicorn.log", workers=1)
    fault_stack.add(web)
    fault_stack.add(start_worker(env, fault_stack.var_dir / "worker.log"))
    client = Client(url, office.key)
    assert reads(client) == [200, 200, 200, 200]  # the worker process has its connections

    private_redis.freeze()
    try:
        client.timings.clear()
        statuses = reads(client)
        answers = enqueueing_writes(client, office, "frozen")
        statuses += reads(client) + [answer.status_code for answer in answers.values()]
        statuses += reads(client)
        timings = [seconds for _, seconds, _ in client.timings]
        kept = outbox_rows()
    finally:
        private_redis.thaw()
    assert set(statuses) <= {200, 201, 202}, client.timings
    assert max(timings) < 10, client.timings  # socket timeouts: nobody waits for ever
    assert statistics.median(timings) < 1, client.timings  # breakers: most do not wait
    assert kept >= 6

    drained = subprocess.run(
        [sys.executable, "manage.py", "outbox_drain", "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drained.returncode == 0, drained.stderr[-2000:]
    assert f"sent {kept} message(s)" in drained.stdout, (drained.stdout, drained.stderr[-2000:])
    wait_for(lambda: everything_done(office, answers), 120, "the drained tasks", interval=1)
    assert_done_once(office, answers, "frozen")


def test_a_batch_whose_message_a_restarted_redis_lost_is_processed_after_the_watchdog(
    postgres_only, office, fault_stack, private_redis
):
    """The outbox cannot help once the broker had the message: a Redis without persistence
    that restarts loses its queue. The telemetry watchdog (beat, every 5 minutes, for
    batches pending over 10) enqueues such batches again; here it is called with no delay."""
    import redis

    env = stack_env(fault_stack, private_redis)
    web, url = start_gunicorn(env, fault_stack.var_dir / "gunicorn.log", workers=1)
    fault_stack.add(web)
    client = Client(url, office.key)
    answer = client.telemetry(office, 0)
    assert answer.status_code == 202
    batch_id = answer.json()["batch_id"]
    assert outbox_rows() == 0  # sent: the outbox's part is done
    assert redis.Redis(port=private_redis.port).llen("celery") == 1  # waiting for a worker

    private_redis.kill()
    private_redis.start()  # empty
    fault_stack.add(start_worker(env, fault_stack.var_dir / "worker.log"))
    time.sleep(3)
    with tenant_context(office.tenant):
        batch = TelemetryBatch.objects.filter(pk=batch_id)
        assert batch.get().status == TelemetryBatch.PENDING  # lost with Redis's memory

    command = [sys.executable, "-m", "celery", "-A", "config", "call"]
    called = subprocess.run(
        [*command, "endpoints.telemetry_watchdog", "--kwargs", '{"older_than_seconds": 0}'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert called.returncode == 0, called.stderr[-2000:]
    with tenant_context(office.tenant):
        wait_for(
            lambda: batch.get().status != TelemetryBatch.PENDING,
            60,
            "the watchdog's message to be processed",
        )
        assert batch.get().status == TelemetryBatch.PROCESSED
