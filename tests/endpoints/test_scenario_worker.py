"""Done when: the simulator plays the intrusion against a running server, a real Celery
worker processes the batches, and alerts in all three phases open at least one case.

PostgreSQL and Redis only: the worker is another process, so it needs a database and a
broker it can share with this one (SQLite's in-memory test database and the eager test
setting cannot be shared). Skipped otherwise.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from endpoints.models import TelemetryBatch
from tenancy.context import tenant_context

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]
ROOT = Path(__file__).resolve().parents[2]


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture
def worker():
    """A `celery -A config worker` on the test database, consuming a queue of its own."""
    if connection.vendor != "postgresql":
        pytest.skip("a real worker shares the database: PostgreSQL only")
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://") or not _redis_reachable(broker):
        pytest.skip("a real worker needs Redis (CELERY_BROKER_URL=redis://…)")
    from config.celery import app

    db = connection.settings_dict
    user = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    database_url = (
        f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    queue = f"test-scenario-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
    }
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"{queue}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    eager, default_queue = app.conf.task_always_eager, app.conf.task_default_queue
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        yield process
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = eager, default_queue
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)


def test_the_simulated_intrusion_becomes_alerts_and_a_case(tenant_a, live_server, worker):
    out = io.StringIO()
    args = f"--tenant {tenant_a.slug} --url {live_server.url} --endpoints 4 --records 40"
    call_command("simulate_agents", *args.split(), "--scenario", "intrusion", stdout=out)
    assert "intrusion played" in out.getvalue()
    alert_model, case_model = apps.get_model("cases", "Alert"), apps.get_model("cases", "Case")
    deadline = time.monotonic() + 120
    while True:
        with tenant_context(tenant_a):
            pending = TelemetryBatch.objects.filter(status=TelemetryBatch.PENDING).count()
            phases = set(
                alert_model.objects.filter(source="detection_rule").values_list("phase", flat=True)
            )
            cases = case_model.objects.count()
        if not pending and len(phases) == 3 and cases:
            break
        assert worker.poll() is None, "the worker died"
        assert time.monotonic() < deadline, (pending, phases, cases)
        time.sleep(1)
    assert phases == {"initial_infection", "persistence", "lateral_movement"}
    with tenant_context(tenant_a):
        assert TelemetryBatch.objects.filter(detections__gt=0).exists()
        case = case_model.objects.order_by("id").first()
        assert case.alerts.filter(source="detection_rule").exists()
