"""Outbound webhooks: how a delivery is signed, shaped and retried (no database writes here;
`cases.services` records the deliveries and `cases.tasks` sends them).

A receiver verifies a delivery like this (Python):

    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, "sha256").hexdigest()
    ok = hmac.compare_digest(f"sha256={expected}", request.headers["X-Stopclock-Signature"])
    fresh = abs(time.time() - int(timestamp)) < 300   # timestamp = X-Stopclock-Timestamp

The timestamp is signed with the body so a captured delivery cannot be replayed later;
`X-Stopclock-Delivery` (a UUID, the same on every retry) lets the receiver drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
from datetime import timedelta

SIGNATURE_HEADER = "X-Stopclock-Signature"
TIMESTAMP_HEADER = "X-Stopclock-Timestamp"
EVENT_HEADER = "X-Stopclock-Event"
DELIVERY_HEADER = "X-Stopclock-Delivery"
MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=6)
TIMEOUT_SECONDS = 10.0
# A delivery stuck in "sending" this long is taken to have died with its worker.
SENDING_STALE_AFTER = timedelta(minutes=5)


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def encode(payload: dict) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys sorted."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def headers(*, secret: str, timestamp: int, body: bytes, event: str, delivery_id: str) -> dict:
    return {
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
    }


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Delay before the next attempt after `attempts` failures: exponential, capped, with
    +/-20% jitter so a receiver coming back up is not hit by every retry at once."""
    rng = rng or random.SystemRandom()
    base = min(BASE_DELAY * (2 ** max(0, attempts - 1)), MAX_DELAY)
    return base * rng.uniform(0.8, 1.2)
