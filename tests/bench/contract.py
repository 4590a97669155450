r"""What every generated record must satisfy, read from `endpoints.observation_fields`.

The telemetry API validates agents' batches against the same field list; generated data
that broke these rules would be rejected there, or worse, accepted and matched wrongly.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from endpoints.observation_fields import AUTORUN_TYPES, FIELD_BY_NAME, HASH_LENGTHS, KINDS

ENVELOPE = {"event_id", "kind", "observed_at"}
REQUIRED = {
    "process": {"pid", "ppid", "process_name", "user_name"},
    "process_event": {"pid", "ppid", "process_name", "process_path", "command_line", "action"},
    "autorun": {"autorun_type", "item_name", "target_path"},
    "driver": {"item_name", "target_path"},
    "file": {"action", "file_path", "file_name", "pid", "process_name"},
    "network": {"protocol", "local_ip", "local_port", "remote_ip", "remote_port", "direction"},
    "logon": {"logon_type", "target_user_name", "auth_package"},
    "registry": {"action", "registry_key", "registry_value", "pid"},
    "dns": {"dns_query", "dns_answers", "pid"},
}
PATH_FIELDS = ("process_path", "parent_path", "target_path", "file_path", "current_directory")
_HEXBYTES = re.compile(r"^(?:[0-9a-f]{2}){1,16}$")


def _type_problem(name: str, value: Any) -> str | None:
    spec = FIELD_BY_NAME[name]
    kind = spec.type
    if kind in ("str", "lstr"):
        if not isinstance(value, str):
            return f"{name} is {type(value).__name__}, not str"
        if spec.max_length and len(value) > spec.max_length:
            return f"{name} longer than {spec.max_length}"
        if kind == "lstr" and value != value.lower():
            return f"{name} not lower-case: {value!r}"
    elif kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{name} is not an int: {value!r}"
    elif kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"{name} is not an IP: {value!r}"
    elif kind == "ts":
        if not isinstance(value, datetime) or value.utcoffset() != timedelta(0):
            return f"{name} is not an aware UTC datetime: {value!r}"
    elif kind in HASH_LENGTHS:
        if not re.fullmatch(rf"[0-9a-f]{{{HASH_LENGTHS[kind]}}}", str(value)):
            return f"{name} is not {HASH_LENGTHS[kind]} lower-case hex: {value!r}"
    elif kind == "hexbytes":
        if not isinstance(value, str) or not _HEXBYTES.match(value):
            return f"{name} is not up to 16 bytes of lower-case hex: {value!r}"
    elif kind == "bool" and not isinstance(value, bool):
        return f"{name} is not a bool"
    return None


def record_problems(record: dict[str, Any], os_family: str | None = None) -> list[str]:
    """Every way ``record`` breaks the contract (empty when it is valid)."""
    problems = []
    kind = record.get("kind")
    if kind not in KINDS:
        return [f"unknown kind {kind!r}"]
    if not isinstance(record.get("event_id"), str) or not record["event_id"]:
        problems.append("event_id missing")
    observed = record.get("observed_at")
    if not isinstance(observed, datetime) or observed.utcoffset() != timedelta(0):
        problems.append("observed_at is not an aware UTC datetime")
    unknown = set(record) - ENVELOPE - set(FIELD_BY_NAME)
    if unknown:
        problems.append(f"unknown fields {sorted(unknown)}")
    missing = REQUIRED[kind] - set(record)
    if kind == "process" and record.get("pid") == 4:
        missing -= {"process_path"}  # Windows' System process has no image
    if missing:
        problems.append(f"{kind} lacks {sorted(missing)}")
    for name, value in record.items():
        if name in FIELD_BY_NAME and (problem := _type_problem(name, value)):
            problems.append(problem)
    if "autorun_type" in record and record["autorun_type"] not in AUTORUN_TYPES:
        problems.append(f"autorun_type {record['autorun_type']!r}")
    if os_family == "windows":
        for name in PATH_FIELDS:
            if "/" in record.get(name, ""):
                problems.append(f"{name} is not a Windows path: {record[name]!r}")
    return problems


def assert_valid(pairs: Iterable[tuple[Any, dict[str, Any]]]) -> int:
    """Check ``(endpoint, record)`` pairs; returns how many were checked."""
    count = 0
    for endpoint, record in pairs:
        problems = record_problems(record, endpoint.os_family)
        assert not problems, f"{endpoint.hostname} {record}: {problems}"
        count += 1
    return count
