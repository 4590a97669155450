"""A minimal endpoint agent client for the HTTP agent API (the simulator, the bench, tests).

    client = AgentClient("http://127.0.0.1:8000")
    client.enrol(secret, agent_id="…", facts={"hostname": "ws-1", "os_family": "windows"})
    client.heartbeat()
    client.send_telemetry(records)              # gzip NDJSON by default

Uses one `requests.Session` (keep-alive); pass a shared session to pool connections
across many simulated agents. Raises `AgentApiError` on any non-2xx answer.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterable, Mapping
from typing import Any

import requests

AGENT_PATH = "/api/v1/agent/"


class AgentApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"agent API answered {status}: {body}")
        self.status = status
        self.body = body


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_batch(
    records: Iterable[Mapping[str, Any]], *, compress: bool = True, ndjson: bool = True
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a telemetry request (datetimes as ISO 8601)."""
    if ndjson:
        body = "\n".join(json.dumps(r, default=_default, separators=(",", ":")) for r in records)
        data = body.encode()
        headers = {"Content-Type": "application/x-ndjson"}
    else:
        data = json.dumps(list(records), default=_default, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
    if compress:
        data = gzip.compress(data, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return data, headers


class AgentClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 60,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.endpoint_id: int | None = None
        self.heartbeat_interval: int | None = None
        self.session = session or requests.Session()
        self.timeout = timeout

    def _post(self, path: str, *, auth: str, data: bytes, headers: dict[str, str]) -> dict:
        response = self.session.post(
            f"{self.base_url}{AGENT_PATH}{path}",
            data=data,
            headers={"Authorization": auth, "Accept": "application/json", **headers},
            timeout=self.timeout,
        )
        try:
            body = response.json()
        except ValueError:
            body = response.text[:500]
        if not 200 <= response.status_code < 300:
            raise AgentApiError(response.status_code, body)
        return body

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> dict:
        response = self.session.get(
            f"{self.base_url}{AGENT_PATH}{path}",
            params=params,
            headers={"Authorization": f"Agent {self.token}", "Accept": "application/json"},
            timeout=self.timeout,
        )
        if not 200 <= response.status_code < 300:
            raise AgentApiError(response.status_code, response.text[:500])
        return response.json()

    def _json(self, path: str, auth: str, payload: Mapping[str, Any]) -> dict:
        data = json.dumps(payload, default=_default).encode()
        return self._post(path, auth=auth, data=data, headers={"Content-Type": "application/json"})

    def enrol(self, secret: str, *, agent_id: str, facts: Mapping[str, Any]) -> dict:
        """Enrol (or re-enrol); keeps the returned token for the calls that follow."""
        body = self._json("enrol/", f"Enrolment {secret}", {"agent_id": agent_id, **facts})
        self.token = body["token"]
        self.endpoint_id = body["endpoint_id"]
        self.heartbeat_interval = body["heartbeat_interval"]
        return body

    def heartbeat(self, facts: Mapping[str, Any] | None = None) -> dict:
        """Answers with the interval to keep and the isolation state."""
        body = self._json("heartbeat/", f"Agent {self.token}", dict(facts or {}))
        self.heartbeat_interval = body.get("heartbeat_interval", self.heartbeat_interval)
        return body

    def send_telemetry(
        self, records: Iterable[Mapping[str, Any]], *, compress: bool = True, ndjson: bool = True
    ) -> dict:
        data, headers = encode_batch(records, compress=compress, ndjson=ndjson)
        return self.send_raw(data, headers)

    def send_raw(self, data: bytes, headers: dict[str, str]) -> dict:
        """Send an already encoded batch (the bench pre-encodes outside its timing)."""
        return self._post("telemetry/", auth=f"Agent {self.token}", data=data, headers=headers)

    # -- response actions (cases/actions/agent.py verifies and runs them) ----------------
    def action_key(self) -> dict:
        """This endpoint's action-signing key (fetch once after enrolment and keep it)."""
        return self._get("actions/key/")

    def poll_actions(self, *, wait: float = 0, cursor: str | None = None) -> dict:
        """Queued actions (signed payloads), waiting up to `wait` s; send `cursor` back."""
        params = {"wait": wait, **({"cursor": cursor} if cursor else {})}
        return self._get("actions/", params)

    def ack_action(self, action_id: int) -> dict:
        return self._json(f"actions/{action_id}/ack/", f"Agent {self.token}", {})

    def report_action(self, action_id: int, body: Mapping[str, Any]) -> dict:
        """The outcome: {"status": "succeeded|failed", "output", "artifacts", "matches"}."""
        return self._json(f"actions/{action_id}/result/", f"Agent {self.token}", body)
