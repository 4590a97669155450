"""Hostile request bodies on every write operation of the API, and bombs in telemetry.

Every write operation of the OpenAPI schema that takes a body, called with valid
credentials (the agent routes with an agent's, the rest as the admin, so the request gets
past authentication and permission to the parser), receives:

- JSON nested 100 000 levels deep (a parser that recurses would overflow the stack),
- JSON nested 200 deep: parseable, but deeper than anything Stopclock stores
  (`tenancy.api.parsers.MAX_DEPTH`),
- bytes that are not UTF-8, and bytes that are not JSON,
- a body over `MAX_REQUEST_BYTES`,

and each must be refused with a 4xx in the one error format — never a 5xx — changing no
table. A NUL byte or a lone surrogate inside a string may be accepted by an operation that
ignores the field, but never crashes one (PostgreSQL text cannot hold a NUL).

The telemetry route, which reads its body itself, also receives gzip bombs (one member,
many members, nested), zip and other encodings it does not speak; the IOC import, JSON
files nested too deep.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest
from django.db import connection

from tenancy import roles

from .hostile import agent_action, api_operations, changed, state_digest

DEEP = 100_000


def _deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def _error_code(response) -> str | None:
    try:
        body = json.loads(response.content)
        return body["error"]["code"] if set(body) == {"error"} else None
    except (ValueError, KeyError, TypeError):
        return None


# Bodies no operation may accept: each is refused with a 400 in the error format.
REFUSED = {
    "nested 100 000 deep": _deep(DEEP),
    "nested arrays 100 000 deep": b"[" * DEEP + b"]" * DEEP,
    "nested 200 deep": _deep(200),
    "not UTF-8": b'{"title": "caf\xe9 \xff\xfe", "name": "\xc3\x28"}',
    "not JSON at all": b"\x00\x01\x02{{{",
}
# Bodies an operation may accept (it ignores what it does not know) but must never crash on:
# a NUL byte (PostgreSQL text cannot hold one), a lone surrogate (not encodable as UTF-8).
ODD_TEXT = {
    "NUL in a string": b'{"title": "a\\u0000b", "name": "a\\u0000b", "reason": "a\\u0000"}',
    "lone surrogate": b'{"title": "\\ud800", "name": "\\udfff", "reason": "\\ud800"}',
}


def _credentials(world, operation) -> dict[str, str]:
    if operation.path.rstrip("/").endswith("agent/enrol"):
        return {"HTTP_AUTHORIZATION": f"Enrolment {world.a.enrolment_secret}"}
    if operation.is_agent:
        return {"HTTP_AUTHORIZATION": world.a.auth(roles.AGENT)}
    return {"HTTP_AUTHORIZATION": world.a.auth(roles.ADMIN)}


def _json_writes():
    return [op for op in api_operations() if op.is_write and "application/json" in op.media_types]


def test_every_json_write_refuses_hostile_bodies(world, client):
    client.raise_request_exception = False
    agent_action(world.a)
    before = state_digest()
    problems, tried = [], 0
    for operation in _json_writes():
        for label, body in {**REFUSED, **ODD_TEXT}.items():
            tried += 1
            response = client.generic(
                operation.method.upper(),
                operation.url(world.a),
                body,
                content_type="application/json",
                **_credentials(world, operation),
            )
            status, code = response.status_code, _error_code(response)
            if label in REFUSED:
                bad = status != 400 or code is None
            else:
                bad = status >= 500 or (status >= 400 and code is None)
            if bad:
                problems.append(f"{operation.label} {label}: {status} {response.content[:100]!r}")
    assert tried > 400
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    if connection.vendor == "postgresql":  # where a stored NUL would have failed loudly
        return
    after = state_digest()
    assert [label for label in changed(before, after) if label not in MAY_CHANGE] == []


# Tables an accepted odd-text body may legitimately touch (a heartbeat stamps its endpoint).
MAY_CHANGE = {"endpoints.Endpoint", "tenancy.AuditEvent", "tenancy.AuditChainHead"}


def test_every_write_refuses_a_body_over_the_limit_before_reading_it(world, client, settings):
    agent_action(world.a)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    body = b'{"title": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}'
    problems = []
    for operation in api_operations():
        if not operation.is_write or not operation.media_types:
            continue
        if operation.media_types == ["multipart/form-data"]:
            continue  # file uploads have their own, larger, limit (test_hostile_uploads)
        response = client.generic(
            operation.method.upper(),
            operation.url(world.a),
            body,
            content_type="application/json",
            **_credentials(world, operation),
        )
        if response.status_code != 413 or _error_code(response) != "too_large":
            problems.append(f"{operation.label}: {response.status_code}")
    assert not problems, "\n".join(problems)


# --- telemetry: bombs and encodings ------------------------------------------------------------
TELEMETRY = "/api/v1/agent/telemetry/"


@pytest.fixture
def agent_post(world, client, settings):
    settings.TELEMETRY_MAX_DECOMPRESSED_BYTES = 1024 * 1024

    def post(body: bytes, content_type="application/json", **headers):
        return client.generic(
            "POST",
            TELEMETRY,
            body,
            content_type=content_type,
            HTTP_AUTHORIZATION=world.a.auth(roles.AGENT),
            **headers,
        )

    return post


def _zip(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


ZERO = b"\0" * (16 * 1024 * 1024)  # 16 MiB of zeros: ~16 KiB compressed
SPACES = b" " * (16 * 1024 * 1024)


# (label, body, headers, expected status); built once, at import
BOMBS = [
    ("gzip bomb", gzip.compress(SPACES), {"HTTP_CONTENT_ENCODING": "gzip"}, 413),
    (
        "gzip bomb in 64 members",
        b"".join(gzip.compress(b" " * (256 * 1024)) for _ in range(64)),
        {"HTTP_CONTENT_ENCODING": "gzip"},
        413,
    ),
    (
        "gzip of a gzip bomb",
        gzip.compress(gzip.compress(SPACES)),
        {"HTTP_CONTENT_ENCODING": "gzip"},
        400,  # decoded once: the inner bomb is just bytes that are not JSON
    ),
    ("zip bomb", _zip("batch.json", ZERO), {"HTTP_CONTENT_ENCODING": "zip"}, 415),
    ("deflate", gzip.compress(b"[]")[10:-8], {"HTTP_CONTENT_ENCODING": "deflate"}, 415),
    ("brotli", b"\x0b\x00\x80[]\x03", {"HTTP_CONTENT_ENCODING": "br"}, 415),
    (
        "gzip twice",
        gzip.compress(gzip.compress(b"[]")),
        {"HTTP_CONTENT_ENCODING": "gzip, gzip"},
        415,
    ),
    ("zip as the body", _zip("batch.json", b"[]"), {}, 400),
    ("truncated gzip", gzip.compress(SPACES)[:200], {"HTTP_CONTENT_ENCODING": "gzip"}, 400),
]


@pytest.mark.parametrize(
    ("label", "body", "headers", "status"), BOMBS, ids=[bomb[0] for bomb in BOMBS]
)
def test_telemetry_refuses_compression_bombs(agent_post, label, body, headers, status):
    before = state_digest()
    response = agent_post(body, **headers)
    assert response.status_code == status, (label, response.content[:200])
    assert _error_code(response) is not None
    assert changed(before, state_digest()) == []


def test_a_zip_bomb_as_the_telemetry_media_type_is_refused(agent_post):
    response = agent_post(_zip("batch.json", ZERO), content_type="application/zip")
    assert response.status_code == 415 and _error_code(response) == "unsupported_media_type"


@pytest.mark.parametrize("as_ndjson", [False, True])
def test_deeply_nested_telemetry_is_refused(agent_post, as_ndjson):
    record = _deep(DEEP // 2)
    if as_ndjson:
        response = agent_post(record + b"\n" + record, content_type="application/x-ndjson")
    else:
        response = agent_post(b"[" + record + b"]")
    assert response.status_code == 400, response.content[:200]
    assert _error_code(response) == "invalid"


def test_a_gzip_bomb_stops_at_the_limit_not_at_the_end(agent_post, settings):
    """The decompressor stops one byte past the limit: memory stays near the cap however
    large the bomb (here 128 MiB of spaces, 128 KiB on the wire, against a 1 MiB cap)."""
    import tracemalloc
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1024 * 1024)
    body = b"".join(compressor.compress(chunk) for _ in range(128)) + compressor.flush()
    tracemalloc.start()
    try:
        response = agent_post(body, HTTP_CONTENT_ENCODING="gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert peak < 16 * settings.TELEMETRY_MAX_DECOMPRESSED_BYTES


# --- JSON inside uploaded files ------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields",
    [
        {"file": ("feed.json", _deep(DEEP))},  # the format guessed from the file
        {"file": ("feed.json", _deep(DEEP)), "format": "stix"},
        {"file": ("feed.json", b"[" * DEEP + b"]" * DEEP), "format": "misp"},
        {"file": ("feed.csv", b"value\nevil.example\n"), "format": "csv", "mapping": _deep(DEEP)},
    ],
    ids=["guessed", "stix", "misp", "csv mapping"],
)
def test_a_deeply_nested_feed_upload_is_refused(world, client, fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    name, content = fields.pop("file")
    data = {k: v.decode() if isinstance(v, bytes) else v for k, v in fields.items()}
    data["file"] = SimpleUploadedFile(name, content)
    before = state_digest()
    response = client.post("/api/v1/imports/", data, HTTP_AUTHORIZATION=world.a.auth(roles.ADMIN))
    assert response.status_code == 400, response.content[:300]
    assert _error_code(response) == "invalid"
    assert changed(before, state_digest()) == []
