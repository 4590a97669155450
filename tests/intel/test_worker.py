"""A sweep on real Celery workers (PostgreSQL + Redis): the planted hits exactly, across
several chunks; SIGKILL the worker mid-sweep, start another, resume: the same hits, none
duplicated.

The worker is a `celery worker` subprocess (Stopclock's app, `tests/intel/worker_app.py`) on
the test database, consuming a queue of its own (no other worker on the same Redis can take
these tasks).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from intel.models import Hit, Sweep, SweepChunk
from intel.services import sweep_launch, sweep_resume
from tenancy.context import tenant_context
from tests.intel.telemetry import add_planted_iocs, expected_hits, load_world

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_queue():
    if connection.vendor != "postgresql":
        pytest.skip("the real-worker sweep runs on PostgreSQL")
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        pytest.skip("needs CELERY_BROKER_URL=redis://…")
    import redis

    client = redis.Redis.from_url(broker)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable")
    from config.celery import app

    queue = f"intel-test-{uuid.uuid4().hex[:10]}"
    saved = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    yield queue
    app.conf.task_always_eager, app.conf.task_default_queue = saved
    client.delete(queue)
    for tag, payload in client.hgetall("unacked").items():  # what the killed worker held
        if queue.encode() in payload:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


def start_worker(queue: str, log: Path) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "STOPCLOCK_TESTING": "0",
        "STOPCLOCK_SWEEP_CHUNK_PAUSE": "0.4",  # slow enough to be killed mid-sweep
        "LOG_LEVEL": "WARNING",
        "STOPCLOCK_TEST_QUEUE": queue,
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.intel.worker_app",
        "worker",
        "-Q",
        queue,
        "-c",
        "1",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "-l",
        "WARNING",
    ]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sweep_survives_a_killed_worker_with_the_same_hits(tenant_a, redis_queue, tmp_path):
    with tenant_context(tenant_a):
        world = load_world(endpoints=40, per_endpoint=40)
        add_planted_iocs(world.scenario)
        expected = expected_hits(world.scenario)
        sweep = sweep_launch(name="worker test", chunk_endpoints=4)  # dispatched on commit
        assert sweep.chunks_total == 10

    def state():
        with tenant_context(tenant_a):
            return Sweep.objects.values("status", "chunks_done").get(pk=sweep.pk)

    log = tmp_path / "worker.log"
    first = start_worker(redis_queue, log)
    try:
        wait_for(lambda: state()["chunks_done"] >= 3, 180, "three chunks on the first worker")
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the machine dies: no warm shutdown
        first.wait(10)
    killed_at = state()
    assert killed_at["status"] == "running" and 3 <= killed_at["chunks_done"] < 10, killed_at

    second = start_worker(redis_queue, log)
    try:
        with tenant_context(tenant_a):
            # The dead worker's message is invisible to Redis consumers until its visibility
            # timeout; the operator's Resume (or the watchdog) re-enqueues what is not done.
            assert sweep_resume(sweep=Sweep.objects.get(pk=sweep.pk)) >= 1
        wait_for(lambda: state()["status"] != "running", 240, "the sweep to finish")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(20)

    with tenant_context(tenant_a):
        sweep.refresh_from_db()
        hits = list(Hit.objects.filter(sweep=sweep).values_list("ioc_key", "endpoint__hostname"))
        chunks_with_hits = SweepChunk.objects.filter(sweep=sweep, hits__gt=0).count()
        statuses = set(SweepChunk.objects.filter(sweep=sweep).values_list("status", flat=True))
    assert sweep.status == "succeeded", log.read_text()[-3000:]
    assert len(hits) == len(set(hits)), "a hit was stored twice"
    assert set(hits) == expected
    assert sweep.hits_count == len(expected) and sweep.chunks_done == 10
    assert statuses == {"done"} and chunks_with_hits >= 2
