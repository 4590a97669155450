"""The pieces the fault tests rely on, checked in-process (fast, any database): the cache's
breaker, the outbox sending tasks no module imported yet, the telemetry watchdog, and the
outbound deadline. The faults themselves, on real services, are the other
test_faults_*.py modules (heavy)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time

import pytest
import urllib3
from django.utils import timezone

from endpoints.models import TelemetryBatch
from endpoints.services import telemetry_ingest, telemetry_requeue_stale
from tenancy import cache as resilient
from tenancy import outbound, outbox
from tenancy.context import tenant_context
from tests.fixtures.endpoints import records
from tests.fixtures.faults import free_port


def test_cache_answers_miss_at_once_while_redis_is_down_then_tries_again(monkeypatch):
    cache = resilient.ResilientRedisCache(
        f"redis://127.0.0.1:{free_port()}/0", {"OPTIONS": {"socket_connect_timeout": 1}}
    )
    monkeypatch.setitem(resilient._state, "down_until", 0.0)
    client, tries = cache._cache, []
    real_get = client.get

    def counting_get(*args, **kwargs):
        tries.append(args)
        return real_get(*args, **kwargs)

    monkeypatch.setattr(client, "get", counting_get)

    assert cache.get("k", "default") == "default"  # connection refused: a miss
    assert cache.get("k", "again") == "again" and len(tries) == 1  # the breaker: not tried
    assert cache.incr("counter") == 1 and cache.set("k", 1) is None
    monkeypatch.setitem(resilient._state, "down_until", time.monotonic() - 1)
    assert cache.get("k", "later") == "later" and len(tries) == 2  # the window passed


def test_outbox_sends_a_task_whose_module_nothing_imported(monkeypatch):
    """`manage.py outbox_drain` runs where no task module was imported: the registry is
    filled on demand instead of every message looking like a broker failure."""
    from config.celery import app

    sent = []
    task = app.tasks["endpoints.telemetry_requeue"]
    monkeypatch.delitem(app.tasks, "endpoints.telemetry_requeue")
    imported = []
    real_import = app.loader.import_default_modules

    def import_default_modules():
        imported.append(True)
        app.tasks.register(task)
        return real_import()

    monkeypatch.setattr(app.loader, "import_default_modules", import_default_modules)
    monkeypatch.setattr(type(task), "apply_async", lambda self, **kw: sent.append(kw))

    outbox.publish("endpoints.telemetry_requeue", {"tenant_id": 1})

    assert imported and sent and sent[0]["kwargs"] == {"tenant_id": 1}


@pytest.mark.django_db
def test_the_telemetry_watchdog_requeues_only_stale_pending_batches(
    tenant_a, enrol_agent, monkeypatch, django_capture_on_commit_callbacks
):
    agent = enrol_agent(tenant_a)
    processed = []
    monkeypatch.setattr(
        "endpoints.processing.process_batch", lambda *, batch_id: processed.append(batch_id)
    )
    with tenant_context(tenant_a):
        old = telemetry_ingest(endpoint=agent.endpoint, records=records(2), enqueue=False)
        new = telemetry_ingest(endpoint=agent.endpoint, records=records(2, start=9), enqueue=False)
        TelemetryBatch.objects.filter(pk=old.batch_id).update(
            received_at=timezone.now() - dt.timedelta(minutes=30)
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert telemetry_requeue_stale() == 1
    assert processed == [old.batch_id]
    assert new.batch_id not in processed


class _Drip:
    """Answers its headers, then one body byte every 0.2 s: no read ever times out."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not self.stop.wait(0.2):
            try:
                conn.sendall(b"x")
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


def test_outbound_cuts_a_server_that_drips_its_answer_at_the_deadline(monkeypatch):
    monkeypatch.setattr(outbound, "DEADLINE_FACTOR", 2)
    server = _Drip()
    started = time.monotonic()
    try:
        with pytest.raises(urllib3.exceptions.ReadTimeoutError, match="within 1 s"):
            outbound.request("GET", server.url, timeout=0.5, allowlist=["127.0.0.1"])
    finally:
        server.close()
    assert time.monotonic() - started < 3
