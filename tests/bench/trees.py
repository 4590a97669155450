"""Process-tree reconstruction, as the endpoint timeline view does it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PROCESS_KINDS = ("process", "process_event")


def assert_process_tree(pairs: Iterable[tuple[Any, dict[str, Any]]]) -> int:
    """Every ppid names an earlier process of the same endpoint (0 is the root), and the
    parent columns agree with that process. Returns how many processes were checked."""
    seen: dict[str, dict[int, dict[str, Any]]] = {}
    checked = 0
    for endpoint, record in pairs:
        if record["kind"] not in PROCESS_KINDS:
            continue
        procs = seen.setdefault(endpoint.agent_id, {})
        ppid = record["ppid"]
        if ppid != 0:
            assert ppid in procs, f"{endpoint.hostname}: parent {ppid} unknown for {record}"
            parent = procs[ppid]
            assert record["parent_name"] == parent["process_name"], record
            assert record.get("parent_path") == parent.get("process_path"), record
            if "parent_command_line" in record:
                assert record["parent_command_line"] == parent["command_line"], record
        procs[record["pid"]] = record
        checked += 1
    return checked
