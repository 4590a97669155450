"""Signed action payloads: what an agent receives, and how it knows it is genuine.

Every action is signed when it is queued (after approval), and the signature is stored
with it, so what runs is exactly what was approved: a row whose parameters were changed
afterwards (by anyone who can write the database but does not hold the server secret) no
longer verifies. The signature is HMAC-SHA256 over the canonical JSON of

    {"id", "type", "endpoint", "parameters", "issued_at", "expires_at", "nonce"}

(sorted keys, no spaces, ASCII), with a key of that endpoint alone:

    key = HMAC-SHA256(SECRET_KEY, "stopclock/action-key/v1|<tenant id>|<endpoint id>|<agent id>")

The server never stores the key: it derives it. An agent fetches its key once, after
enrolment, from `GET /api/v1/agent/actions/key/` (its own token, trust on first use) and
keeps it; re-enrolment keeps the key (same endpoint and agent id). Per-endpoint keys mean
a compromised endpoint cannot forge actions for any other. Changing SECRET_KEY changes
every key: agents fetch theirs again (the payload's `key_id` tells them it changed).

The agent refuses a payload that does not verify, that names another endpoint, whose
`expires_at` has passed, or whose id or nonce it has seen before (replays): see
`cases/actions/agent.py`, which needs nothing of Django and is what agents run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

SIGNED_FIELDS = ("id", "type", "endpoint", "parameters", "issued_at", "expires_at", "nonce")
KEY_CONTEXT = "stopclock/action-key/v1"


def canonical(payload: dict[str, Any]) -> bytes:
    """The bytes that are signed: the signed fields only, in one spelling."""
    body = {name: payload.get(name) for name in SIGNED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(payload: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical(payload), hashlib.sha256).hexdigest()


def signature_valid(payload: dict[str, Any], key: bytes) -> bool:
    given = payload.get("signature")
    return isinstance(given, str) and hmac.compare_digest(given, sign(payload, key))


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key (tells an agent its key changed)."""
    return hashlib.sha256(b"key-id|" + key).hexdigest()[:12]


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def decode_key(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def endpoint_key(*, tenant_id: int, endpoint_id: int, agent_id: str) -> bytes:
    """The endpoint's signing key, derived from the server secret (never stored)."""
    from django.conf import settings

    message = f"{KEY_CONTEXT}|{tenant_id}|{endpoint_id}|{agent_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
