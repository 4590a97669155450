"""Property tests of the telemetry reader: what agents send, gzip'ed or not, JSON or NDJSON.

- Decoding is total: any bytes, any Content-Type and Content-Encoding give the records or
  one of the three documented refusals (400 unreadable, 413 too large, 415 unsupported).
- Decoding round-trips: the same records as a JSON array, as NDJSON (LF or CRLF, blank
  lines between), gzip'ed (in one member or several) read back identically; a gzip bomb is
  refused without being inflated past the limit.
- Validation is total and idempotent: any JSON value gives clean records or `BatchInvalid`
  naming fields (never another exception), and clean records validate to themselves.
- Over HTTP, a hostile batch is a 4xx and stores nothing.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endpoints.observation_fields import AUTORUN_TYPES, FIELDS, KINDS
from endpoints.telemetry import (
    BatchInvalid,
    BatchTooLarge,
    BatchUnreadable,
    UnsupportedEncoding,
    decode_body,
    validate_records,
)
from tests.conftest import HEAVY

PROPERTIES = settings(
    max_examples=500 if HEAVY else 60,
    deadline=None,
    database=None,
    derandomize=not HEAVY,
    suppress_health_check=[HealthCheck.too_slow],
)
LIMIT = 64 * 1024
MAX_RECORDS = 50
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
FUTURE = dt.timedelta(minutes=5)
REFUSALS = (BatchTooLarge, BatchUnreadable, UnsupportedEncoding)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=15,
)
timestamps = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1, 1, 1),
        max_value=dt.datetime(9999, 12, 31),
        timezones=st.one_of(
            st.just(dt.UTC),
            st.builds(dt.timezone, st.timedeltas(-dt.timedelta(hours=23), dt.timedelta(hours=23))),
        ),
    ).map(dt.datetime.isoformat),
    st.text(max_size=40),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2025-01-01"]),
)


def field_value(field) -> st.SearchStrategy:
    """Mostly plausible values of one observation field, sometimes anything at all."""
    kind = field.type
    plausible = {
        "str": st.text(max_size=40),
        "lstr": st.text(max_size=40),
        "hex32": st.text("0123456789abcdefABCDEF", min_size=32, max_size=32),
        "hex40": st.text("0123456789abcdef", min_size=40, max_size=40),
        "hex64": st.text("0123456789abcdef", min_size=64, max_size=64),
        "hexbytes": st.binary(max_size=16).map(bytes.hex),
        "int": st.integers(-(2**40), 2**40),
        "ip": st.ip_addresses().map(str),
        "bool": st.booleans(),
        "ts": timestamps,
    }.get(kind, st.text(max_size=10))
    return st.one_of(plausible, json_values)


@st.composite
def records(draw) -> dict:
    record = {
        "kind": draw(st.sampled_from(KINDS) | st.text(max_size=8)),
        "event_id": draw(st.text(min_size=1, max_size=20) | json_values),
        "observed_at": draw(timestamps | json_values),
    }
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=5, unique_by=lambda f: f.name)):
        record[field.name] = draw(field_value(field))
    if draw(st.booleans()):
        record["autorun_type"] = draw(st.sampled_from(AUTORUN_TYPES) | st.text(max_size=8))
    return record


def decode(body: bytes, content_type: str = "application/json", encoding: str = "") -> list:
    return decode_body(
        body,
        content_type=content_type,
        content_encoding=encoding,
        max_decompressed=LIMIT,
        max_records=MAX_RECORDS,
    )


@PROPERTIES
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(gzip.compress),
        json_values.map(lambda v: json.dumps(v).encode()),
        json_values.map(lambda v: gzip.compress(json.dumps(v).encode())),
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x-ndjson; charset=utf-8",
            "",
            "text/plain",
            "APPLICATION/JSON",
        ]
    )
    | st.text(max_size=20),
    encoding=st.sampled_from(["", "gzip", "identity", "GZIP ", "br", "deflate"])
    | st.text(max_size=8),
)
def test_decoding_any_body_gives_records_or_a_documented_refusal(body, content_type, encoding):
    try:
        found = decode(body, content_type, encoding)
    except REFUSALS:
        return
    assert isinstance(found, list) and 0 < len(found) <= MAX_RECORDS


@PROPERTIES
@given(
    batch=st.lists(json_values, min_size=1, max_size=MAX_RECORDS),
    line_end=st.sampled_from([b"\n", b"\r\n", b"\n\n"]),
    members=st.integers(1, 3),
)
def test_a_batch_reads_the_same_as_json_ndjson_and_gzip(batch, line_end, members):
    array = json.dumps(batch).encode()
    ndjson = line_end.join(json.dumps(record).encode() for record in batch) + line_end
    assert decode(array) == batch
    assert decode(ndjson, "application/x-ndjson") == batch
    assert decode(gzip.compress(array), encoding="gzip") == batch
    # Several gzip members, concatenated, are one body (as `cat a.gz b.gz` makes).
    cut = [len(ndjson) * i // members for i in range(members + 1)]
    pieces = b"".join(gzip.compress(ndjson[a:b]) for a, b in itertools.pairwise(cut))
    assert decode(pieces, "application/x-ndjson", "gzip") == batch


@PROPERTIES
@given(size=st.integers(LIMIT + 1, 50 * LIMIT), byte=st.binary(min_size=1, max_size=1))
def test_a_gzip_bomb_is_refused_not_inflated(size, byte):
    with pytest.raises(BatchTooLarge):
        decode(gzip.compress(byte * size), encoding="gzip")


@PROPERTIES
@given(batch=st.lists(records() | json_values, max_size=8))
def test_validation_gives_clean_records_or_names_the_bad_fields(batch):
    try:
        clean = validate_records(batch, now=NOW, max_future=FUTURE)
    except BatchInvalid as exc:
        assert exc.errors
        assert all(key.startswith("records[") for key in exc.errors)
        return
    assert len(clean) == len(batch)
    for record in clean:
        assert {"kind", "event_id", "observed_at"} <= set(record)
        assert record["observed_at"].tzinfo is dt.UTC
        assert record["observed_at"] <= NOW + FUTURE


@PROPERTIES
@given(batch=st.lists(records(), min_size=1, max_size=6))
def test_clean_records_validate_to_themselves(batch):
    try:
        clean = validate_records(batch, now=NOW, max_future=FUTURE)
    except BatchInvalid:
        return
    resent = json.loads(json.dumps(clean, default=lambda when: when.isoformat()))
    assert validate_records(resent, now=NOW, max_future=FUTURE) == clean


@pytest.mark.parametrize(
    "observed_at",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "0001-01-01T00:30:00+00:31",
    ],
)
def test_a_timestamp_with_no_utc_equivalent_is_a_400_and_stores_nothing(
    observed_at, tenant_a, api_client
):
    """Found by the validation property: Python reads these, but converting them to UTC
    overflowed (an OverflowError, a 500 to the agent)."""
    from rest_framework.test import APIClient

    from endpoints.models import TelemetryBatch
    from endpoints.services import endpoint_enrol
    from tenancy.context import tenant_context

    with tenant_context(tenant_a):
        token = endpoint_enrol(
            agent_id="overflow", facts={"hostname": "ws-1", "os_family": "windows"}
        ).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {token}")
    record = {"kind": "dns", "event_id": "e1", "observed_at": observed_at, "query": "a.example"}
    response = client.post("/api/v1/agent/telemetry/", [record], format="json")
    assert response.status_code == 400, response.content
    assert "records[0].observed_at" in response.json()["error"]["fields"]
    with tenant_context(tenant_a):
        assert not TelemetryBatch.objects.exists()
