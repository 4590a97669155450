"""The Redis cache, degrading to "nothing cached" while Redis is unreachable.

The cache holds nothing that must survive (API and login throttle counters, reputation
answers, action doorbells), but Django's `RedisCache` raises on every call when Redis is
down, and the API throttle reads the cache on *every* request: one stopped Redis would
turn every API call, reads included, into a 500. Here a connection error is logged (once
per `LOG_EVERY` seconds) and answered as a miss: reads keep working, throttles let
requests through until Redis is back (they cannot count meanwhile), a cached answer is
recomputed.

A Redis that stops answering without refusing (frozen, a partition) costs the socket
timeout (2 s, settings.CACHES) on every call, and a request makes several: after a failure
the cache answers "miss" without trying for `BREAKER_SECONDS`, so one request in that
window pays the timeout and the others none.

The class name ends in `RedisCache`: cases/actions/doorbell.py recognises Redis that way.
"""

from __future__ import annotations

import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("stopclock.cache")

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
LOG_EVERY = 30.0
BREAKER_SECONDS = 5.0
_state = {"last_logged": 0.0, "down_until": 0.0}


def _miss(default_of):
    """Wrap a cache method: on a connection error, log and return `default_of(args)`;
    for `BREAKER_SECONDS` after one, return it without trying."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if time.monotonic() < _state["down_until"]:
                return default_of(*args, **kwargs)
            try:
                return method(self, *args, **kwargs)
            except UNAVAILABLE as exc:
                now = time.monotonic()
                _state["down_until"] = now + BREAKER_SECONDS
                if now - _state["last_logged"] > LOG_EVERY:
                    _state["last_logged"] = now
                    logger.warning("cache unavailable, answering as a miss: %s", exc)
                return default_of(*args, **kwargs)

        return wrapper

    return decorate


def _default(key, default=None, *args, **kwargs):
    return default


def _none(*args, **kwargs):
    return None


def _false(*args, **kwargs):
    return False


def _empty(*args, **kwargs):
    return {}


def _delta(key, delta=1, *args, **kwargs):
    return delta


class ResilientRedisCache(RedisCache):
    get = _miss(_default)(RedisCache.get)
    get_many = _miss(_empty)(RedisCache.get_many)
    has_key = _miss(_false)(RedisCache.has_key)
    add = _miss(_false)(RedisCache.add)
    set = _miss(_none)(RedisCache.set)
    set_many = _miss(lambda data, *a, **k: list(data))(RedisCache.set_many)
    touch = _miss(_false)(RedisCache.touch)
    delete = _miss(_false)(RedisCache.delete)
    delete_many = _miss(_none)(RedisCache.delete_many)
    # a counter that cannot count: as if this were the first (login throttle, rate limits)
    incr = _miss(_delta)(RedisCache.incr)
    clear = _miss(_false)(RedisCache.clear)
