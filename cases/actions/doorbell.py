"""Doorbells: how an agent's long poll learns, cheaply, that an action was queued for it.

Each endpoint has a *bell*: a short random token in the cache (`actions:bell:<tenant>:<endpoint>`)
that the server replaces whenever it queues an action for that endpoint (after the commit).
A poll reads the bell *before* it looks in the database; an agent that sends back the bell
of its last empty answer (`?cursor=`) while the bell is unchanged gets an empty answer with
no database query at all, and a long poll waits for the bell to change instead of asking
the database every second.

How a waiting poll notices the change depends on the cache:

* **Redis** (production, `CACHE_URL` or a Redis broker): one subscriber thread per web
  process listens on `<prefix>:actions:*` (Redis pub/sub); `ring()` publishes, the waiting
  requests are woken at once. Idle waits cost nothing: no query, no timer. Pub/sub is
  fire-and-forget, so when the subscriber loses Redis it wakes every waiting poll on
  reconnecting (each re-reads its bell), and a waiting poll re-reads its bell anyway every
  `ACTIONS_BELL_SAFETY_SECONDS` (30 s: longer than a poll, so in practice never).
* **the file cache** (the embedded `make run`) and the in-process cache (tests): the bell is
  re-read every `ACTIONS_BELL_CHECK_SECONDS` (default 1 s) — a file read, still no database
  query; an action reaches a waiting agent within that second.

A bell lives 10 minutes; when it is gone (expired, evicted, cache restarted) the next poll
draws a new one, which differs from every cursor, so it looks in the database: a lost bell
costs one query, never a lost action.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("stopclock.actions")

BELL_TTL_SECONDS = 600


def _key(tenant_id: int, endpoint_id: int) -> str:
    return f"actions:bell:{tenant_id}:{endpoint_id}"


def _new_token() -> str:
    return uuid.uuid4().hex[:16]


def check_interval() -> float:
    return float(getattr(settings, "ACTIONS_BELL_CHECK_SECONDS", 1.0))


def safety_interval() -> float:
    return float(getattr(settings, "ACTIONS_BELL_SAFETY_SECONDS", 30.0))


def current(tenant_id: int, endpoint_id: int) -> str:
    """The endpoint's bell now (drawing a new one when there is none)."""
    key = _key(tenant_id, endpoint_id)
    value = cache.get(key)
    if value is None:
        cache.add(key, _new_token(), BELL_TTL_SECONDS)
        value = cache.get(key) or _new_token()
    return value


def ring(tenant_id: int, endpoint_ids: Iterable[int]) -> None:
    """Change the bells of these endpoints and wake their waiting polls (call on commit)."""
    ids = sorted(set(endpoint_ids))
    if not ids:
        return
    token = _new_token()
    try:
        cache.set_many({_key(tenant_id, pk): token for pk in ids}, BELL_TTL_SECONDS)
    except Exception:  # the cache is down: polls will look in the database when it is back
        logger.exception("could not ring the action bells of %d endpoints", len(ids))
        return
    hub = _hub()
    if hub is not None:
        hub.publish([_channel(tenant_id, pk) for pk in ids], token)


def wait_for_change(tenant_id: int, endpoint_id: int, seen: str, timeout: float) -> str:
    """Block until the bell differs from `seen` or `timeout` seconds pass; the bell then."""
    deadline = time.monotonic() + max(0.0, timeout)
    hub = _hub()
    channel = _channel(tenant_id, endpoint_id)
    event = hub.subscribe(channel) if hub is not None else None
    try:
        # A ring between the caller's read of the bell and the subscription above would be
        # missed: look once more now that we listen.
        value = current(tenant_id, endpoint_id)
        if value != seen:
            return value
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return seen
            if event is not None:
                event.wait(min(remaining, safety_interval()))
                event.clear()
            else:
                time.sleep(min(remaining, check_interval()))
            value = current(tenant_id, endpoint_id)
            if value != seen:
                return value
    finally:
        if event is not None:
            hub.unsubscribe(channel, event)


# -- Redis pub/sub --------------------------------------------------------------------------


def _redis_url() -> str | None:
    config = settings.CACHES.get("default", {})
    if not str(config.get("BACKEND", "")).endswith("RedisCache"):
        return None
    location = config.get("LOCATION")
    return location[0] if isinstance(location, list | tuple) else location


def _prefix() -> str:
    return settings.CACHES.get("default", {}).get("KEY_PREFIX") or "stopclock"


def _channel(tenant_id: int, endpoint_id: int) -> str:
    return f"{_prefix()}:actions:{tenant_id}:{endpoint_id}"


class _Hub:
    """One Redis subscriber per process, fanning bell messages out to waiting threads."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
        # Publishing runs in requests: a Redis that stops answering must fail it in seconds
        # (the listener's client above blocks on purpose, so it cannot have that timeout).
        self.publisher = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.pattern = f"{_prefix()}:actions:*"
        self.waiters: dict[str, set[threading.Event]] = defaultdict(set)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.listening = threading.Event()

    def subscribe(self, channel: str) -> threading.Event:
        self._ensure_listener()
        self.listening.wait(2)  # the first subscriber of the process waits for the listener
        event = threading.Event()
        with self.lock:
            self.waiters[channel].add(event)
        return event

    def unsubscribe(self, channel: str, event: threading.Event) -> None:
        with self.lock:
            waiting = self.waiters.get(channel)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self.waiters[channel]

    def publish(self, channels: list[str], token: str) -> None:
        try:
            with self.publisher.pipeline(transaction=False) as pipe:
                for channel in channels:
                    pipe.publish(channel, token)
                pipe.execute()
        except Exception:  # waiting polls still see the new bell at their safety re-read
            logger.exception("could not publish %d action bells", len(channels))

    def _wake(self, channel: str | None) -> None:
        with self.lock:
            events = (
                [e for waiting in self.waiters.values() for e in waiting]
                if channel is None
                else list(self.waiters.get(channel, ()))
            )
        for event in events:
            event.set()

    def _ensure_listener(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._listen, name="action-bells", daemon=True
                )
                self.thread.start()

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=False)
                pubsub.psubscribe(self.pattern)
                for message in pubsub.listen():
                    if message.get("type") == "psubscribe":
                        self.listening.set()
                        self._wake(None)  # anything rung while nobody listened
                        continue
                    if message.get("type") == "pmessage":
                        channel = message["channel"]
                        self._wake(channel.decode() if isinstance(channel, bytes) else channel)
            except Exception:
                logger.warning("action bell subscriber lost Redis; reconnecting", exc_info=True)
                self.listening.clear()
                self._wake(None)  # every waiting poll re-reads its bell
                time.sleep(1)


_hubs: dict[tuple[int, str, str], _Hub] = {}
_hubs_lock = threading.Lock()


def _hub() -> _Hub | None:
    """This process's hub for the configured Redis (a forked web worker gets its own), or
    None when the cache is not Redis."""
    url = _redis_url()
    if not url:
        return None
    key = (os.getpid(), url, _prefix())
    hub = _hubs.get(key)
    if hub is None:
        with _hubs_lock:
            hub = _hubs.get(key)
            if hub is None:
                hub = _hubs[key] = _Hub(url)
    return hub
