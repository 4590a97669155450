"""The agent's side of response actions: verify, carry out, report.

Nothing here touches the database or needs Django: it is what an endpoint agent runs, and
what the simulated agents (`endpoints/simulation.py`, the tests, the bench) run.

* `ActionVerifier` — refuses a payload whose signature does not verify (tampered, or not
  from the server), that names another endpoint, that has expired, or whose id or nonce it
  has already seen (a replay). Seen ids are kept until their payload expires: after that a
  replay is refused as expired anyway, so memory stays bounded.
* `SimulatedMachine` — the pretend endpoint behind a simulated agent: isolation (telemetry
  stops, heartbeats go on), killed processes and quarantined files (gone from the next
  snapshot), blocked connections, and files it can hand over or scan with YARA.
* `ActionRunner` — one loop turn: long-poll, verify, acknowledge, execute, report.

    verifier = ActionVerifier(key=key, endpoint_id=42)
    runner = ActionRunner(channel, verifier, SimulatedMachine("ws-1"))
    runner.run_once(wait=25)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .signing import SIGNED_FIELDS, signature_valid

logger = logging.getLogger("stopclock.agent")

PROCESS_KINDS = ("process", "process_event")
REFUSALS = ("malformed", "bad_signature", "wrong_endpoint", "expired", "not_yet_valid", "replayed")


class ActionRefused(Exception):
    """The payload must not be executed; `reason` is one of REFUSALS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _parse_time(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("naive time")
    return moment


class ActionVerifier:
    """Checks a signed action payload before anything runs (see cases/actions/signing.py)."""

    def __init__(
        self,
        *,
        key: bytes,
        endpoint_id: int,
        skew: dt.timedelta = dt.timedelta(seconds=60),
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.key = key
        self.endpoint_id = endpoint_id
        self.skew = skew
        self.clock = clock
        self._seen: dict[str, dt.datetime] = {}

    def verify(self, payload: Any) -> dict[str, Any]:
        """The payload if it may run (and it is now remembered); else `ActionRefused`."""
        if not isinstance(payload, dict) or any(name not in payload for name in SIGNED_FIELDS):
            raise ActionRefused("malformed", "not an action payload")
        if not signature_valid(payload, self.key):
            raise ActionRefused("bad_signature", "the signature does not verify")
        if payload["endpoint"] != self.endpoint_id:
            raise ActionRefused("wrong_endpoint", f"for endpoint {payload['endpoint']}")
        try:
            issued, expires = _parse_time(payload["issued_at"]), _parse_time(payload["expires_at"])
        except (TypeError, ValueError):
            raise ActionRefused("malformed", "bad issued_at / expires_at") from None
        now = self.clock()
        if now > expires + self.skew:
            raise ActionRefused("expired", f"expired at {payload['expires_at']}")
        if issued > now + self.skew:
            raise ActionRefused("not_yet_valid", f"issued at {payload['issued_at']}")
        self._forget_expired(now)
        keys = (f"id:{payload['id']}", f"nonce:{payload['nonce']}")
        if any(key in self._seen for key in keys):
            raise ActionRefused("replayed", f"action {payload['id']} was already received")
        for key in keys:
            self._seen[key] = expires
        return payload

    def _forget_expired(self, now: dt.datetime) -> None:
        stale = [key for key, until in self._seen.items() if until + self.skew < now]
        for key in stale:
            del self._seen[key]


# -- the simulated machine ---------------------------------------------------------------------


def simulated_content(path: str, sha256: str = "", header_hex: str = "") -> bytes:
    """The bytes a simulated file holds: its header, then its path and hash (deterministic,
    so a YARA rule on the implant's name matches it and a collected file is stable)."""
    head = bytes.fromhex(header_hex) if header_hex else b""
    return head + f"\nstopclock simulated file\n{path}\n{sha256}\n".encode()


@dataclass
class Outcome:
    status: str  # succeeded / failed
    output: str = ""
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "output": self.output}
        if self.artifacts:
            body["artifacts"] = self.artifacts
        if self.matches:
            body["matches"] = self.matches
        return body


@dataclass
class SimulatedMachine:
    """What a simulated endpoint is and does, as far as response actions can tell."""

    hostname: str
    isolated: bool = False
    killed_hashes: set[str] = field(default_factory=set)
    killed_pids: set[int] = field(default_factory=set)
    quarantined: set[str] = field(default_factory=set)
    blocked: set[tuple[str, int | None]] = field(default_factory=set)
    accounts_removed: set[str] = field(default_factory=set)
    accounts_demoted: set[str] = field(default_factory=set)
    uninstalled: set[str] = field(default_factory=set)
    patches: set[str] = field(default_factory=set)
    running: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    file_hashes: dict[str, str] = field(default_factory=dict)

    # -- what the agent sees and sends ---------------------------------------------------
    def observe(self, records: Iterable[dict[str, Any]]) -> None:
        """Learn running processes and files from the telemetry the agent produces."""
        for record in records:
            kind = record.get("kind")
            if kind in PROCESS_KINDS and record.get("pid") is not None:
                if record.get("action") == "stop":
                    self.running.pop(record["pid"], None)
                else:
                    self.running[record["pid"]] = record
            elif kind == "file" and record.get("file_path") and record.get("action") != "delete":
                path = record["file_path"].lower()
                if record.get("sha256"):
                    self.file_hashes[path] = record["sha256"]
                self.files.setdefault(
                    path,
                    simulated_content(
                        path, record.get("sha256") or "", record.get("header_hex") or ""
                    ),
                )

    def _gone(self, record: dict[str, Any]) -> bool:
        kind = record.get("kind")
        killed = record.get("sha256") in self.killed_hashes or record.get("pid") in self.killed_pids
        if killed and (kind in PROCESS_KINDS or kind == "network"):
            return True
        if kind == "network" and (
            (record.get("remote_ip"), record.get("remote_port")) in self.blocked
            or (record.get("remote_ip"), None) in self.blocked
        ):
            return True
        path = (record.get("file_path") or record.get("process_path") or "").lower()
        return bool(path) and path in self.quarantined

    def filter(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """What still reaches the server: nothing while isolated (heartbeats only), and no
        trace of killed processes, quarantined files or blocked connections."""
        if self.isolated:
            return []
        return [record for record in records if not self._gone(record)]

    def snapshot(self, now: dt.datetime, round_id: str) -> list[dict[str, Any]]:
        """A `process` snapshot of what runs now (killed processes are not in it)."""
        rows = []
        for pid, record in sorted(self.running.items()):
            if self._gone(record):
                continue
            row = {k: v for k, v in record.items() if k not in ("event_id", "observed_at")}
            row.update(kind="process", event_id=f"snap-{round_id}-{pid}", observed_at=now)
            row.pop("action", None)
            rows.append(row)
        return rows

    # -- carrying actions out ------------------------------------------------------------
    def execute(self, action: dict[str, Any]) -> Outcome:
        handler = getattr(self, f"_do_{action['type']}", None)
        if handler is None:
            return Outcome("failed", f"this agent cannot {action['type']}")
        return handler(action.get("parameters") or {})

    def _do_isolate_endpoint(self, p) -> Outcome:
        self.isolated = True
        return Outcome("succeeded", "network isolated; management channel kept")

    def _do_release_isolation(self, p) -> Outcome:
        was = self.isolated
        self.isolated = False
        return Outcome("succeeded", "isolation released" if was else "was not isolated")

    def _do_kill_process(self, p) -> Outcome:
        sha256, pid = p["sha256"], p.get("pid")
        victims = [
            found
            for found, record in self.running.items()
            if record.get("sha256") == sha256 and (pid is None or found == pid)
        ]
        if pid is not None and not victims and pid in self.running:
            return Outcome("failed", f"pid {pid} does not run {sha256[:12]}…: left alone")
        if pid is None:
            self.killed_hashes.add(sha256)
        else:
            self.killed_pids.add(pid)
        for found in victims:
            self.running.pop(found, None)
        return Outcome("succeeded", f"killed {len(victims)} process(es): {victims}")

    def _do_quarantine_file(self, p) -> Outcome:
        path = p["path"].lower()
        known = self.file_hashes.get(path)
        if known is not None and known != p["sha256"]:
            return Outcome("failed", "the file's hash differs: left in place")
        self.quarantined.add(path)
        self.files.pop(path, None)
        return Outcome("succeeded", f"quarantined {p['path']}")

    def _do_close_connection(self, p) -> Outcome:
        self.blocked.add((p["remote_ip"], p.get("remote_port")))
        return Outcome("succeeded", f"blocked {p['remote_ip']}:{p.get('remote_port', '*')}")

    def _do_uninstall_application(self, p) -> Outcome:
        self.uninstalled.add(p.get("name") or p.get("product_code"))
        return Outcome("succeeded", f"uninstalled {p.get('name') or p.get('product_code')}")

    def _do_deploy_patch(self, p) -> Outcome:
        self.patches.add(p.get("kb") or p.get("package"))
        return Outcome("succeeded", f"installed {p.get('kb') or p.get('package')}")

    def _do_delete_local_account(self, p) -> Outcome:
        self.accounts_removed.add(p["username"].lower())
        return Outcome("succeeded", f"deleted local account {p['username']}")

    def _do_demote_local_account(self, p) -> Outcome:
        self.accounts_demoted.add(p["username"].lower())
        return Outcome("succeeded", f"removed {p['username']} from Administrators")

    def _do_collect_file(self, p) -> Outcome:
        content = self.files.get(p["path"].lower())
        if content is None:
            return Outcome("failed", f"no such file: {p['path']}")
        name = p["path"].replace("\\", "/").rsplit("/", 1)[-1]
        artifact = {
            "kind": "file",
            "name": name,
            "path": p["path"],
            "sha256": hashlib.sha256(content).hexdigest(),
            "content_base64": base64.b64encode(content).decode(),
        }
        return Outcome("succeeded", f"collected {p['path']} ({len(content)} bytes)", [artifact])

    def _do_yara_scan(self, p) -> Outcome:
        import yara

        rules = p.get("rules") or []
        sources = {rule["namespace"]: rule["source"] for rule in rules}
        iocs = {rule["namespace"]: rule.get("ioc") for rule in rules}
        externals = {name: "" for name in p.get("externals", [])}
        try:
            compiled = yara.compile(sources=sources, includes=False, externals=externals)
        except yara.Error as exc:
            return Outcome("failed", f"the rules do not compile here: {exc}")
        prefixes = [path.lower().rstrip("\\/") for path in p.get("paths", [])]
        scanned, matches = 0, []
        for path, content in sorted(self.files.items()):
            if not any(
                path == prefix or path.startswith(prefix + "\\") or path.startswith(prefix + "/")
                for prefix in prefixes
            ):
                continue
            scanned += 1
            found = compiled.match(data=content, timeout=int(p.get("timeout_seconds", 10)))
            by_namespace: dict[str, list[str]] = {}
            for match in found:
                by_namespace.setdefault(match.namespace, []).append(match.rule)
            for namespace, names in by_namespace.items():
                matches.append(
                    {
                        "path": path,
                        "ioc": iocs.get(namespace),
                        "namespace": namespace,
                        "rules": names,
                    }
                )
        return Outcome(
            "succeeded", f"scanned {scanned} file(s), {len(matches)} match(es)", matches=matches
        )


# -- the loop ------------------------------------------------------------------------------------


class ActionChannel(Protocol):
    """The agent API as the runner needs it (`endpoints.agent_client.AgentClient`)."""

    def poll_actions(self, *, wait: float = 0, cursor: str | None = None) -> dict[str, Any]: ...
    def ack_action(self, action_id: int) -> dict[str, Any]: ...
    def report_action(self, action_id: int, body: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class RunReport:
    executed: list[int] = field(default_factory=list)
    refused: list[tuple[Any, str]] = field(default_factory=list)


class ActionRunner:
    """Poll, verify, acknowledge, execute and report: what an agent does with actions."""

    def __init__(
        self, channel: ActionChannel, verifier: ActionVerifier, machine: SimulatedMachine
    ) -> None:
        self.channel = channel
        self.verifier = verifier
        self.machine = machine
        self.cursor: str | None = None

    def run_once(self, *, wait: float = 0) -> RunReport:
        answer = self.channel.poll_actions(wait=wait, cursor=self.cursor)
        self.cursor = answer.get("cursor", self.cursor)
        return self.handle(answer.get("actions") or [])

    def handle(self, payloads: Sequence[dict[str, Any]]) -> RunReport:
        report = RunReport()
        for payload in payloads:
            try:
                action = self.verifier.verify(payload)
            except ActionRefused as refusal:
                report.refused.append(
                    (payload.get("id") if isinstance(payload, dict) else None, refusal.reason)
                )
                self._refuse(payload, refusal)
                continue
            self.channel.ack_action(action["id"])
            outcome = self.machine.execute(action)
            self.channel.report_action(action["id"], outcome.body())
            report.executed.append(action["id"])
        return report

    def _refuse(self, payload: Any, refusal: ActionRefused) -> None:
        """Tell the server about a payload that will not run — except a replay, which is an
        action this agent already has (and is carrying out)."""
        logger.warning("%s: refused action payload: %s", self.machine.hostname, refusal)
        if refusal.reason == "replayed" or not isinstance(payload, dict):
            return
        action_id = payload.get("id")
        if not isinstance(action_id, int):
            return
        try:
            self.channel.report_action(
                action_id, {"status": "failed", "output": f"refused by the agent: {refusal}"}
            )
        except Exception as exc:  # another endpoint's id: the server says 404; nothing to do
            logger.warning("%s: could not report the refusal: %s", self.machine.hostname, exc)
