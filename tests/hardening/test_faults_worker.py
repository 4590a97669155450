"""A Celery worker killed with SIGKILL mid-sweep and mid-import: a worker started again
finishes the job by itself (nobody presses Resume), with no duplicate and no count twice.

The worker and its broker are private (tests/fixtures/faults.py): a `redis-server` of the
test's own and a worker with a 5 s Redis visibility timeout. That timeout is the mechanism
under test — a message taken by a worker that dies unacknowledged is handed out again once
it expires (production keeps kombu's hour; the intel watchdog re-enqueues stale chunks and
imports sooner) — shortened so the test waits seconds. The kill is the whole process group
(the pool child too), so the database sees its connection drop mid-transaction.

The test process publishes to the private Redis itself (its Celery app is pointed there,
eager mode off) and reads the results in the pytest database.
"""

from __future__ import annotations

import pytest

from intel.models import IOC, Hit, ImportJob, Sweep, SweepChunk
from intel.services import import_create, sweep_launch
from tenancy.context import tenant_context
from tests.fixtures.faults import app_env, shared_database_url, start_worker, wait_for
from tests.intel.telemetry import add_planted_iocs, expected_hits, load_world

pytestmark = [
    pytest.mark.heavy,
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

VISIBILITY_TIMEOUT = "5"


@pytest.fixture
def broker(private_redis):
    """This process's Celery app publishes to the private Redis, for real (not eagerly)."""
    from kombu import pools

    from config.celery import app

    saved = (app.conf.get("broker_write_url"), app.conf.task_always_eager)

    def repoint(url: str | None, eager: bool) -> None:
        # The write URL: CELERY_BROKER_URL in the environment outranks `broker_url`.
        # kombu keeps its connection and producer pools in process-wide registries keyed
        # by URL: closing only the app's pool would leave a closed pool registered for the
        # next test that publishes to the same broker ("Acquire on closed pool").
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_write_url, app.conf.task_always_eager = url, eager

    repoint(private_redis.url(0), False)
    yield private_redis
    repoint(*saved)


def worker_env(fault_stack, redis_server, **knobs: str) -> dict[str, str]:
    from django.conf import settings

    return app_env(
        fault_stack.var_dir,
        database_url=shared_database_url(),
        broker_url=redis_server.url(0),
        FAULTS_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT,
        STOPCLOCK_MEDIA_ROOT=str(settings.MEDIA_ROOT),  # the uploads this process stored
        **knobs,
    )


def test_worker_killed_mid_sweep_restarts_and_finishes_with_the_same_hits(
    postgres_only, tenant_a, fault_stack, broker
):
    env = worker_env(fault_stack, broker, STOPCLOCK_SWEEP_CHUNK_PAUSE="0.4")
    with tenant_context(tenant_a):
        world = load_world(endpoints=40, per_endpoint=40)
        add_planted_iocs(world.scenario)
        expected = expected_hits(world.scenario)
        sweep = sweep_launch(name="killed worker", chunk_endpoints=4)  # sent on commit
        assert sweep.chunks_total == 10

    def state() -> dict:
        with tenant_context(tenant_a):
            return Sweep.objects.values("status", "chunks_done", "hits_count").get(pk=sweep.pk)

    first = start_worker(env, fault_stack.var_dir / "worker-1.log")
    fault_stack.add(first)
    wait_for(lambda: state()["chunks_done"] >= 3, 90, f"three chunks\n{first.tail()}")
    first.kill()
    at_kill = state()
    assert at_kill["status"] == "running" and 3 <= at_kill["chunks_done"] < 10, at_kill

    second = fault_stack.add(start_worker(env, fault_stack.var_dir / "worker-2.log"))
    done = wait_for(
        lambda: (s := state())["status"] != "running" and s,
        120,
        "the sweep to finish on the restarted worker",
        interval=0.5,
    )

    assert done["status"] == "succeeded", second.tail()
    with tenant_context(tenant_a):
        hits = list(Hit.objects.filter(sweep=sweep).values_list("ioc_key", "endpoint__hostname"))
        chunks = list(SweepChunk.objects.filter(sweep=sweep).values_list("status", flat=True))
    assert len(hits) == len(set(hits)), "a hit was stored twice"
    assert set(hits) == expected
    assert done["hits_count"] == len(expected) and done["chunks_done"] == 10  # counted once
    assert chunks == ["done"] * 10


def test_worker_killed_mid_import_restarts_and_resumes_at_its_cursor(
    postgres_only, tenant_a, fault_stack, broker
):
    total = 4000
    env = worker_env(fault_stack, broker, FAULTS_IMPORT_BATCH="200", FAULTS_IMPORT_PAUSE="0.25")
    feed = "\n".join(f"host-{i}.killed-import-example.net" for i in range(total)).encode()
    with tenant_context(tenant_a):
        job = import_create(data=feed, format="text", source_name="kill test")  # sent on commit

    def state() -> dict:
        with tenant_context(tenant_a):
            return ImportJob.objects.values("status", "cursor", "added", "attempts").get(pk=job.pk)

    first = fault_stack.add(start_worker(env, fault_stack.var_dir / "worker-1.log"))
    wait_for(lambda: state()["cursor"] >= 800, 90, f"four batches written\n{first.tail()}")
    first.kill()  # most likely inside a batch's transaction (the pause is in it)
    at_kill = state()
    assert at_kill["status"] == "running" and 800 <= at_kill["cursor"] < total, at_kill

    second = fault_stack.add(start_worker(env, fault_stack.var_dir / "worker-2.log"))
    done = wait_for(
        lambda: (s := state())["status"] != "running" and s,
        120,
        "the import to finish on the restarted worker",
        interval=0.5,
    )

    assert done["status"] == "succeeded", second.tail()
    assert done["cursor"] == total and done["added"] == total  # no batch counted twice
    assert done["attempts"] >= 2  # it did run again
    with tenant_context(tenant_a):
        values = list(
            IOC.objects.filter(value__endswith=".killed-import-example.net").values_list(
                "value", flat=True
            )
        )
    assert len(values) == len(set(values)) == total
