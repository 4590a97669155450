"""Transactions PostgreSQL may refuse for reasons that go away on a second try.

PostgreSQL breaks a deadlock by aborting one of the transactions in it (SQLSTATE 40P01) and
may refuse a serializable one (40001). The whole transaction was rolled back, so running
it again is safe and is what the client would do anyway; doing it here spares a concurrent
integrator a 503 for a race between two of its own requests. Only a transaction the
function opens itself is retried: inside a caller's transaction the caller's work is lost
too, and the error goes up.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connection

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
logger = logging.getLogger("stopclock.transactions")
T = TypeVar("T")


def is_retryable(error: BaseException) -> bool:
    """Whether the database error is a deadlock or serialization failure."""
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def retrying(function: Callable[[], T], *, attempts: int = 3) -> T:
    """`function()`, run again (after a short random pause) when the database aborted its
    transaction as a deadlock victim or a serialization failure, up to `attempts` times."""
    for attempt in range(1, attempts + 1):
        try:
            return function()
        except OperationalError as error:
            if attempt == attempts or connection.in_atomic_block or not is_retryable(error):
                raise
            logger.warning("transaction retried (attempt %d): %s", attempt + 1, error)
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")  # pragma: no cover
