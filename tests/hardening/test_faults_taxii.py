"""A TAXII server that hangs: the poll fails as a recorded, retried feed error in bounded
time, and the worker is free again — whatever way the server hangs.

tests/intel/test_taxii.py already covers a server that answers late (1.5 s against a 1 s
timeout). Hanging is worse, and a read timeout alone does not catch all of it:

- **silent**: the connection is accepted, the request read, and nothing ever comes back
  (the read timeout fires);
- **drip-body**: the headers come at once, then the body one byte every 0.3 s — every
  read gets a byte before its 1 s timeout, so only a deadline on the whole exchange ends it;
- **drip-headers**: the status line and headers themselves arrive a byte at a time.

The server is a raw socket on loopback (the tenant's admin allowlisted 127.0.0.1). The poll
runs the import task eagerly with its retries (one retry here), as the TAXII tests do; an
alarm fails the test, instead of hanging it, if the poll does not come back.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from intel.models import IOC
from intel.tasks import import_run_task
from tenancy.context import tenant_context
from tests.intel.test_taxii import poll, taxii_source

pytestmark = [pytest.mark.heavy, pytest.mark.django_db]

DRIP_SECONDS = 0.3


class HangingServer:
    """Accepts TCP connections on loopback and hangs each one in its own way."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.accepted = 0
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api1/"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            if self.mode == "silent":
                self.stop.wait()
                return
            if self.mode == "drip-body":
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/taxii+json;version=2.1\r\n"
                    b"Content-Length: 1000000\r\n\r\n{"
                )
                drip = itertools.repeat(32)  # spaces: valid JSON so far, never the end
            else:
                drip = itertools.chain(b"HTTP/1.1 200 OK\r\n", itertools.cycle(b"X-Slow: 1\r\n"))
            for byte in drip:
                if self.stop.wait(DRIP_SECONDS):
                    return
                conn.sendall(bytes([byte]))

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.close()


@pytest.fixture
def hanging_server(request) -> Iterator[HangingServer]:
    server = HangingServer(request.param)
    yield server
    server.close()


@contextlib.contextmanager
def alarm(seconds: int, what: str):
    def ring(signum, frame):
        raise AssertionError(f"{what}: still waiting after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("hanging_server", ["silent", "drip-body", "drip-headers"], indirect=True)
def test_a_taxii_server_that_hangs_fails_the_poll_in_bounded_time(
    tenant_a, allow_loopback, monkeypatch, hanging_server
):
    monkeypatch.setattr(import_run_task, "max_retries", 1)  # two attempts
    allow_loopback(tenant_a)
    source = taxii_source(tenant_a, hanging_server.url, timeout_seconds=1)

    started = time.monotonic()
    with alarm(60, f"the poll of a {hanging_server.mode} server"):
        job = poll(tenant_a, source)
    elapsed = time.monotonic() - started

    assert job.status == "failed", job.error
    assert "timed out" in job.error and "after 2 attempts" in job.error, job.error
    assert hanging_server.accepted == 2  # it was retried, once
    assert elapsed < 12, f"two attempts took {elapsed:.1f} s"  # 2 x the 3 s deadline, at most
    assert source.health == "failing" and source.consecutive_failures == 1
    with tenant_context(tenant_a):
        assert IOC.objects.count() == 0
