"""CSV files (spreadsheets, SIEM lookups, vendor exports) to IOC candidates.

Every CSV names its columns differently, so the caller maps ours to theirs. A header row is
required; a mapped column missing from it makes the whole file unusable (`InvalidFeed`),
while a bad row only skips that row, as "row N" counted like a spreadsheet does (the header
is row 1). Without a type column each value's type is detected, and defanged network values
are refanged (see `normalize.refang`). The delimiter (`,` `;` tab `|`) is taken from the
header line, because spreadsheets in many locales export with `;`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from .normalize import detect_type, normalize_as, undetected_reason
from .types import (
    HASH_TYPES,
    InvalidFeed,
    InvalidIOC,
    IOCCandidate,
    ParseResult,
    clean_text,
    decode_text,
    normalize_tag,
    parse_confidence,
    parse_severity,
    parse_timestamp,
    parse_tlp,
    quote_value,
)

_DELIMITERS = ",;\t|"
# What people put in a "type" column, beyond our own names.
_TYPE_ALIASES = {
    "sha-256": "sha256",
    "sha-1": "sha1",
    "hostname": "domain",
    "fqdn": "domain",
    "filename": "file_name",
    "file": "file_name",
    "filepath": "file_path",
    "path": "file_path",
    "regkey": "registry_key",
    "registry": "registry_key",
    "command_line": "cmdline",
    "commandline": "cmdline",
    "network": "cidr",
    "subnet": "cidr",
    "ip": "address",
    "ip_address": "address",
    "ip-dst": "address",
    "ip-src": "address",
    "hash": "hash",
}


@dataclass(frozen=True)
class CsvMapping:
    """Which CSV column holds each of our fields; only `value` is required.

    `default_type` is not a column: it types every row when there is no type column and
    detection cannot work (command lines, header bytes).
    """

    value: str
    type: str | None = None
    confidence: str | None = None
    severity: str | None = None
    tlp: str | None = None
    tags: str | None = None
    valid_until: str | None = None
    description: str | None = None
    default_type: str | None = None

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> CsvMapping:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise InvalidFeed(f"unknown mapping keys: {', '.join(unknown)}")
        if not mapping.get("value"):
            raise InvalidFeed("the mapping must name the column holding the value")
        return cls(**{key: (str(v) if v else None) for key, v in mapping.items()})

    def columns(self) -> dict[str, str]:
        """Our field -> their column, for the fields that are mapped to a column."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "default_type" and getattr(self, f.name)
        }


def parse_csv(text: str | bytes, mapping: CsvMapping | Mapping[str, Any]) -> ParseResult:
    """Rows to candidates; `InvalidFeed` when there is no header or a mapped column is absent."""
    if not isinstance(mapping, CsvMapping):
        mapping = CsvMapping.from_dict(mapping)
    content = decode_text(text)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=_delimiter(content))
    result = ParseResult()
    rows = enumerate(reader, start=1)
    try:
        header = _header(rows)
        index = _column_index(header, mapping)
        for number, row in rows:
            if not any(cell.strip() for cell in row):
                continue
            try:
                result.candidates.append(_candidate(row, index, mapping))
            except InvalidIOC as exc:
                result.skip(f"row {number}", exc.message)
    except csv.Error as exc:
        raise InvalidFeed(f"malformed CSV at line {reader.line_num}: {exc}") from None
    return result


def _delimiter(content: str) -> str:
    first = next((line for line in content.split("\n") if line.strip()), "")
    try:
        return csv.Sniffer().sniff(first, delimiters=_DELIMITERS).delimiter
    except csv.Error:  # a single column has nothing to sniff
        return ","


def _header(rows: Iterator[tuple[int, list[str]]]) -> list[str]:
    for _number, row in rows:
        if any(cell.strip() for cell in row):
            return row
    raise InvalidFeed("the CSV is empty: a header row naming the columns is required")


def _column_index(header: list[str], mapping: CsvMapping) -> dict[str, int]:
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(header):
        positions.setdefault(name.strip().lower(), []).append(position)
    index = {}
    for field_name, column in mapping.columns().items():
        found = positions.get(column.strip().lower())
        if not found:
            names = ", ".join(quote_value(name.strip()) for name in header)
            raise InvalidFeed(
                f"column {quote_value(column)} (mapped to {field_name}) is not in the header; "
                f"the header has {names}"
            )
        if len(found) > 1:
            raise InvalidFeed(f"column {quote_value(column)} appears more than once in the header")
        index[field_name] = found[0]
    return index


def _candidate(row: list[str], index: dict[str, int], mapping: CsvMapping) -> IOCCandidate:
    def cell(field_name: str) -> str:
        position = index.get(field_name)
        return row[position].strip() if position is not None and position < len(row) else ""

    raw = cell("value")
    if not raw:
        raise InvalidIOC("value is empty")
    ioc_type, value = _typed(cell("type") or mapping.default_type or "", raw)
    tags = [normalize_tag(tag) for tag in re.split(r"[;,]", cell("tags"))]
    return IOCCandidate(
        type=ioc_type,
        value=value,
        original_value=raw,
        confidence=parse_confidence(cell("confidence")),
        severity=parse_severity(cell("severity")),
        tlp=parse_tlp(cell("tlp")),
        tags=[tag for tag in tags if tag],
        valid_until=parse_timestamp(cell("valid_until"), field="valid_until", end_of_day=True),
        description=clean_text(cell("description")),
    )


def _typed(type_name: str, raw: str) -> tuple[str, str]:
    """Normalise `raw` as the named type (aliases allowed), or as the type it looks like."""
    name = re.sub(r"\s+", "_", type_name.strip().lower())
    name = _TYPE_ALIASES.get(name, name)
    if name == "hash":
        detected = detect_type(raw)
        if detected not in HASH_TYPES:
            raise InvalidIOC(f"{quote_value(raw)} is not an MD5, SHA-1 or SHA-256 hash")
        name = detected
    elif not name:
        detected = detect_type(raw)
        if detected is None:
            raise InvalidIOC(f"{undetected_reason(raw)}; give its type")
        name = detected
    return normalize_as(name, raw)
