"""Reading a telemetry batch: body decoding (gzip, JSON array or NDJSON) and strict validation.

Pure Python, no database: `decode_body` turns the request body into a list of raw records,
`validate_records` turns those into clean ones or raises `BatchInvalid` naming every bad
record by index and field (`records[17].sha256`). A batch is all or nothing, so nothing is
written before the whole batch has passed.

The validator is built once from `observation_fields.FIELDS`: a field added there is
accepted, normalised and stored with no change here. It is on the ingestion hot path, so
each field gets one small converter function and a record costs one dict walk.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from .detection.fieldmap import normalise_registry_key
from .observation_fields import AUTORUN_TYPES, FIELDS, KINDS, Field

Record = dict[str, Any]

EVENT_ID_MAX = 128
MAX_ERRORS = 20  # an error report names at most this many problems
CONTENT_TYPES = ("application/json", "application/x-ndjson")


class BatchTooLarge(Exception):
    """Over a documented limit (413)."""


class BatchUnreadable(Exception):
    """The body cannot be read as a batch at all: bad gzip, bad JSON, wrong shape (400)."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnsupportedEncoding(Exception):
    """A Content-Type or Content-Encoding we do not read (415)."""


class BatchInvalid(Exception):
    """Records failed validation: `errors` maps `records[i].field` to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(f"{len(errors)} invalid value(s)")
        self.errors = errors


class _Invalid(Exception):
    pass


# -- decoding ------------------------------------------------------------------------------


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body (concatenated members allowed) to at most `limit` bytes."""
    out = bytearray()
    data = body
    while data:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += decompressor.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise BatchUnreadable(f"body is not valid gzip ({exc})") from exc
        if len(out) > limit or decompressor.unconsumed_tail:
            raise BatchTooLarge(f"decompressed body is larger than {limit} bytes")
        if not decompressor.eof:
            raise BatchUnreadable("gzip body is truncated")
        data = decompressor.unused_data
    return bytes(out)


def decode_body(
    body: bytes,
    *,
    content_type: str,
    content_encoding: str,
    max_decompressed: int,
    max_records: int,
) -> list[Any]:
    """The raw records of a request body: a JSON array or NDJSON, optionally gzip'ed."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media not in CONTENT_TYPES:
        raise UnsupportedEncoding(
            f"Content-Type {media!r} is not accepted; send {' or '.join(CONTENT_TYPES)}"
        )
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        body = gunzip(body, max_decompressed)
    elif encoding != "identity":
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not accepted; send gzip")
    elif len(body) > max_decompressed:
        raise BatchTooLarge(f"body is larger than {max_decompressed} bytes")
    if media == "application/x-ndjson":
        records = _ndjson(body, max_records)
    else:
        try:
            records = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deep: a 400
            raise BatchUnreadable(f"body is not valid JSON ({exc})") from exc
        if not isinstance(records, list):
            raise BatchUnreadable("body must be a JSON array of records (or NDJSON)")
    if not records:
        raise BatchUnreadable("the batch has no records", "records")
    if len(records) > max_records:
        raise BatchTooLarge(f"a batch holds at most {max_records} records, not {len(records)}")
    return records


def _ndjson(body: bytes, max_records: int) -> list[Any]:
    lines = [line for line in body.split(b"\n") if line.strip()]
    if len(lines) > max_records:
        raise BatchTooLarge(f"a batch holds at most {max_records} records, not {len(lines)}")
    try:  # one parse for the whole batch; line by line only to name a bad line
        records = json.loads(b"[" + b",".join(lines) + b"]")
        if len(records) == len(lines):
            return records
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    records = []
    for index, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise BatchUnreadable(f"not valid JSON ({exc})", f"records[{index}]") from exc
    return records


# -- validation ----------------------------------------------------------------------------


def _text(max_length: int, lower: bool) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if type(value) is not str:
            raise _Invalid("must be a string")
        if len(value) > max_length:
            raise _Invalid(f"at most {max_length} characters")
        if "\x00" in value:
            raise _Invalid("must not contain NUL characters")
        return value.lower() if lower else value

    return convert


def _registry_key(max_length: int) -> Callable[[Any], str]:
    text = _text(max_length, lower=False)

    def convert(value: Any) -> str:
        return normalise_registry_key(text(value))

    return convert


def _hex(length: int | None, max_length: int = 0) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if type(value) is not str:
            raise _Invalid("must be a hex string")
        size = len(value)
        if length is not None and size != length:
            raise _Invalid(f"must be exactly {length} hex digits, not {size}")
        if size > max_length and length is None:
            raise _Invalid(f"at most {max_length} hex digits")
        if size % 2:
            raise _Invalid("must be an even number of hex digits")
        try:
            if len(bytes.fromhex(value)) * 2 != size:  # fromhex skips spaces
                raise ValueError
        except ValueError:
            raise _Invalid("must contain only hex digits 0-9 a-f") from None
        return value.lower()

    return convert


def _int(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if type(value) is not int:
            raise _Invalid("must be an integer")
        if not low <= value <= high:
            raise _Invalid(f"must be between {low} and {high}")
        return value

    return convert


def _ip(value: Any) -> str:
    if type(value) is not str:
        raise _Invalid("must be an IP address string")
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        raise _Invalid("is not an IPv4 or IPv6 address") from None


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _Invalid("must be true or false")
    return value


_EPOCH_FLOOR = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_timestamp(value: Any, latest: dt.datetime) -> dt.datetime:
    """An aware ISO 8601 string (or aware datetime) no later than `latest`, in UTC."""
    if isinstance(value, dt.datetime):
        when = value
    elif type(value) is str and 10 <= len(value) <= 40:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid("is not an ISO 8601 timestamp") from None
    else:
        raise _Invalid("must be an ISO 8601 timestamp string")
    if when.tzinfo is None or when.utcoffset() is None:
        raise _Invalid("must carry a time zone (e.g. 2025-03-01T12:00:00Z)")
    try:
        when = when.astimezone(dt.UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it: no UTC instant
        raise _Invalid("is out of range (no such instant in UTC)") from None
    if when > latest:
        raise _Invalid(f"is in the future (later than {latest.isoformat()})")
    if when < _EPOCH_FLOOR:
        raise _Invalid("is before 1970")
    return when


def _converter(field: Field) -> Callable[[Any], Any] | None:
    """The converter of one field; None for timestamps (they need the batch's clock)."""
    kind = field.type
    if field.name == "registry_key":
        return _registry_key(field.max_length or 1024)
    if kind == "str":
        return _text(field.max_length or 1024, lower=False)
    if kind == "lstr":
        return _text(field.max_length or 1024, lower=True)
    if kind in ("hex32", "hex40", "hex64"):
        return _hex(int(kind[3:]))
    if kind == "hexbytes":
        return _hex(None, field.max_length or 32)
    if kind == "int":
        return _int(field.min_value, field.max_value)
    if kind == "ip":
        return _ip
    if kind == "bool":
        return _bool
    if kind == "ts":
        return None
    raise ValueError(f"observation field {field.name}: unknown type {kind!r}")


_CONVERTERS: dict[str, Callable[[Any], Any] | None] = {f.name: _converter(f) for f in FIELDS}
_KINDS = frozenset(KINDS)
_AUTORUN_TYPES = frozenset(AUTORUN_TYPES)
ENVELOPE = ("kind", "event_id", "observed_at")


def validate_records(
    records: Iterable[Any], *, now: dt.datetime, max_future: dt.timedelta
) -> list[Record]:
    """Clean records (normalised values, no None) or `BatchInvalid` naming the bad ones.

    Strict: unknown keys, wrong types, hashes of the wrong length, unparsable IPs, naive or
    future timestamps and event ids repeated within the batch are all errors.
    """
    latest = now + max_future
    errors: dict[str, str] = {}
    clean: list[Record] = []
    seen: dict[str, int] = {}
    converters = _CONVERTERS

    def fail(index: int, name: str, message: str) -> None:
        errors[f"records[{index}].{name}" if name else f"records[{index}]"] = message
        if len(errors) >= MAX_ERRORS:
            raise BatchInvalid(errors)

    for index, raw in enumerate(records):
        if type(raw) is not dict:
            fail(index, "", "must be a JSON object")
            continue
        out: Record = {}
        bad = False
        for name, value in raw.items():
            if value is None:
                continue
            if name in converters:
                convert = converters[name]
                try:
                    out[name] = (
                        convert(value) if convert is not None else parse_timestamp(value, latest)
                    )
                except _Invalid as exc:
                    fail(index, name, str(exc))
                    bad = True
            elif name == "kind":
                if type(value) is not str or value not in _KINDS:
                    fail(index, name, f"must be one of {', '.join(KINDS)}")
                    bad = True
                out[name] = value
            elif name == "event_id":
                if type(value) is not str or not 0 < len(value) <= EVENT_ID_MAX or "\x00" in value:
                    fail(index, name, f"must be a string of 1 to {EVENT_ID_MAX} characters")
                    bad = True
                out[name] = value
            elif name == "observed_at":
                try:
                    out[name] = parse_timestamp(value, latest)
                except _Invalid as exc:
                    fail(index, name, str(exc))
                    bad = True
            else:
                fail(index, name, "unknown field")
                bad = True
        for name in ENVELOPE:
            if name not in out and f"records[{index}].{name}" not in errors:
                fail(index, name, "is required")
                bad = True
        autorun_type = out.get("autorun_type")
        if autorun_type is not None and autorun_type not in _AUTORUN_TYPES:
            fail(index, "autorun_type", f"must be one of {', '.join(AUTORUN_TYPES)}")
            bad = True
        event_id = out.get("event_id")
        if type(event_id) is str:
            first = seen.setdefault(event_id, index)
            if first != index:
                fail(index, "event_id", f"repeats the event id of records[{first}]")
                bad = True
        if not bad:
            clean.append(out)
    if errors:
        raise BatchInvalid(errors)
    return clean
