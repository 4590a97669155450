"""The Redis doorbell: a waiting poll is woken by pub/sub at once (not by re-reading its
bell: that happens only every 30 s), in another process's web worker as in this one."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from cases.actions import doorbell


@pytest.fixture
def redis_cache(settings):
    import redis

    url = "redis://127.0.0.1:6379/3"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        pytest.skip("needs Redis on 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"bell-test-{uuid.uuid4().hex[:8]}",
        }
    }
    settings.ACTIONS_BELL_CHECK_SECONDS = 30  # only pub/sub can wake it in time
    return url


def test_a_ring_wakes_a_waiting_poll_through_pub_sub(redis_cache):
    seen = doorbell.current(1, 42)
    assert doorbell._hub() is not None
    threading.Timer(0.3, lambda: doorbell.ring(1, [42])).start()
    started = time.monotonic()
    new = doorbell.wait_for_change(1, 42, seen, timeout=10)
    assert new != seen and 0.2 < time.monotonic() - started < 2


def test_a_ring_for_another_endpoint_does_not_wake_it(redis_cache):
    seen = doorbell.current(1, 42)
    threading.Timer(0.1, lambda: doorbell.ring(1, [43])).start()
    started = time.monotonic()
    assert doorbell.wait_for_change(1, 42, seen, timeout=0.8) == seen
    assert time.monotonic() - started >= 0.75


def test_a_ring_just_before_the_wait_is_not_missed(redis_cache):
    seen = doorbell.current(1, 44)
    doorbell.ring(1, [44])  # between the poll's read of the bell and its wait
    started = time.monotonic()
    assert doorbell.wait_for_change(1, 44, seen, timeout=10) != seen
    assert time.monotonic() - started < 1
