"""The agent's long poll for its actions: `GET /api/v1/agent/actions/?wait=25&cursor=…`.

Cheap when idle (see `doorbell`): the bell is read before the database; an agent whose
cursor is the current bell is answered without a query, and a waiting poll sleeps until
its bell changes — no query per second per agent, and no database connection held while
it waits (on PostgreSQL the connection is closed before the wait and reopened only when
there is something to fetch).

A web process holds at most `ACTIONS_LONG_POLL_SLOTS` polls at once (each holds a worker
thread); beyond that a poll is answered at once, empty, with `poll_after` = the wait it
asked for, so agents never starve the browser of threads: they fall back to plain
polling at that interval, and still get an action within one interval.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from endpoints.models import Endpoint

from ..models import ResponseAction
from . import doorbell
from .selectors import poll_queryset
from .services import signed_payload


def max_wait() -> float:
    return float(getattr(settings, "ACTIONS_LONG_POLL_MAX_SECONDS", 25))


_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _take_slot() -> threading.BoundedSemaphore | None:
    """A long-poll slot of this process, or None when all are taken (or there are none)."""
    size = int(getattr(settings, "ACTIONS_LONG_POLL_SLOTS", 2))
    if size <= 0:
        return None
    with _slots_lock:
        pool = _slots.setdefault(size, threading.BoundedSemaphore(size))
    return pool if pool.acquire(blocking=False) else None


@dataclass
class PollAnswer:
    actions: list[dict[str, Any]] = field(default_factory=list)
    cursor: str = ""
    poll_after: float = 0.0
    waited: float = 0.0


_gates: dict[int, threading.BoundedSemaphore] = {}


@contextlib.contextmanager
def db_gate(*, release: bool = False) -> Iterator[None]:
    """At most `ACTIONS_POLL_DB_CONCURRENCY` polls of this process use the database at once.

    A web process holding thousands of long polls has thousands of threads; when they all
    want the database at once (a burst of agents, a slow moment) they queue here instead
    of opening thousands of connections. With `release`, the connection is closed before
    the gate opens for the next one (PostgreSQL, outside a transaction): a waiting poll
    holds none.
    """
    size = max(1, int(getattr(settings, "ACTIONS_POLL_DB_CONCURRENCY", 8)))
    with _slots_lock:
        gate = _gates.setdefault(size, threading.BoundedSemaphore(size))
    with gate:
        try:
            yield
        finally:
            if release:
                _release_connection()


def _deliver(endpoint: Endpoint, *, release: bool = False) -> list[dict[str, Any]]:
    with db_gate(release=release):
        rows = list(poll_queryset(endpoint, timezone.now()))
        if not rows:
            return []
        ResponseAction.objects.filter(pk__in=[row.pk for row in rows]).update(
            deliveries=F("deliveries") + 1
        )
        return [signed_payload(row) for row in rows]


def _release_connection() -> None:
    """Give the database connection back (PostgreSQL; outside any transaction): thousands
    of waiting agents must not hold thousands of connections."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        connection.close()


def agent_poll(*, endpoint: Endpoint, wait: float = 0.0, cursor: str | None = None) -> PollAnswer:
    """The endpoint's queued actions (signed), waiting up to `wait` seconds for one.

    The answer's `cursor` is the bell of an empty answer; sent back, it spares the next
    poll its query while nothing changed. An answer with actions has an empty cursor, so
    the next poll looks again (an action delivered but never acknowledged comes back).
    """
    started = time.monotonic()
    tenant_id = endpoint.tenant_id
    wait = min(max(0.0, wait), max_wait())
    bell = doorbell.current(tenant_id, endpoint.pk)  # read before the database: no gap
    if cursor != bell:
        found = _deliver(endpoint)
        if found:
            return PollAnswer(found, "")
    if wait <= 0:
        return PollAnswer([], bell)
    slot = _take_slot()
    if slot is None:
        return PollAnswer([], bell, poll_after=wait)
    try:
        _release_connection()
        deadline = started + wait
        while (remaining := deadline - time.monotonic()) > 0:
            new = doorbell.wait_for_change(tenant_id, endpoint.pk, bell, remaining)
            if new == bell:
                break
            bell = new
            found = _deliver(endpoint, release=True)
            if found:
                return PollAnswer(found, "", waited=time.monotonic() - started)
        return PollAnswer([], bell, waited=time.monotonic() - started)
    finally:
        slot.release()
