"""What the benches that drive a real server share: a keep-alive HTTP client for thousands
of connections on one asyncio thread, and stopping a server's process group."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess


class Http:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", "Connection: keep-alive"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            if body or method == "POST":
                lines.append(f"Content-Length: {len(body)}")
            try:
                self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                return await self._read()
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                self.close()  # the server closed an idle keep-alive connection: once more
                if fresh or attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return await self.request("GET", path, headers or {})

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return await self.request(
            "POST", path, {"Content-Type": "application/json", **headers}, body
        )

    async def _read(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, chunked, close = None, False, False
        for line in head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            key, value = key.strip().lower(), value.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif key == b"connection" and value == b"close":
                close = True
        if status in (204, 304) or 100 <= status < 200:  # no body, whatever the headers say
            body = b""
        elif chunked:
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if not size:
                    break
                body += chunk[:-2]
        elif length is not None:
            body = await self.reader.readexactly(length) if length else b""
        else:
            body, close = await self.reader.read(), True
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL it after 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


AGENT_TOKEN_PREFIX = "sca_"  # endpoints.services.TOKEN_PREFIX


def enrol_bench_agents(count: int, *, name: str, seen_at) -> list[tuple[int, str]]:
    """`count` enrolled endpoints in the tenant in context, each with a fresh agent token
    stored hashed as enrolment stores it (bulk-inserted: enrolling 10,000 agents through the
    API would measure enrolment, not the bench); (endpoint id, token) pairs."""
    import hashlib
    import secrets

    from django.utils import timezone

    from endpoints.models import Endpoint

    now = timezone.now()
    tokens = [f"{AGENT_TOKEN_PREFIX}{i:08x}_{secrets.token_urlsafe(24)}" for i in range(count)]
    rows = [
        Endpoint(
            hostname=f"{name}-{i:05d}",
            os_family="windows",
            agent_id=f"{name}-agent-{i:05d}",
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            token_prefix=token[:12],
            token_issued_at=now,
            enrolled_at=now,
            last_seen_at=seen_at,
        )
        for i, token in enumerate(tokens)
    ]
    created = Endpoint.objects.bulk_create(rows, batch_size=2000)
    return [(row.pk, token) for row, token in zip(created, tokens, strict=True)]
