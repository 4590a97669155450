"""The Redis cache, degrading to "nothing cached" while Redis is unreachable.

The cache holds nothing that must survive (API and login throttle counters, reputation
answers, action doorbells), but Django's `RedisCache` raises on every call when Redis is
down, and the API throttle reads the cache on *every* request: one stopped Redis would
turn every API call, reads included, into a 500. Here a connection error is logged (once
per `LOG_EVERY` seconds) and answered as a miss: reads keep working, throttles let
requests through until Redis is back (they cannot count meanwhile), a cached answer is
recomputed.

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
_last_logged = [0.0]


def _miss(default_of):
    """Wrap a cache method: on a connection error, log and return `default_of(args)`."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except UNAVAILABLE as exc:
                now = time.monotonic()
                if now - _last_logged[0] > LOG_EVERY:
                    _last_logged[0] = now
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
