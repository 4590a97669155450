"""Simulated endpoint agents: a believable fleet, its benign telemetry and an intrusion.

The records come from `bench.datagen`; how they reach Stopclock is a *transport*:

* `HttpTransport` talks to a running server through the real agent API (the
  `simulate_agents` command, the end-to-end test, the bench);
* `LocalTransport` calls the same services in-process (the demo seed: no server yet).

    simulator = FleetSimulator(HttpTransport(url, secret), endpoints=25, seed=7, domain=…)
    simulator.enrol_all()
    simulator.send_benign()
    simulator.play_intrusion()

Response actions: `run_actions()` has each HTTP agent poll `agent/actions/`, verify the
signed payloads and carry them out on its `SimulatedMachine` (cases/actions/agent.py):
an isolated endpoint sends no telemetry (heartbeats go on), a killed process or a
quarantined file is gone from what follows (`send_snapshots()` reports what still runs),
a collected file is uploaded, a YARA scan reports its matches.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from bench.datagen import (
    EndpointSpec,
    benign_records,
    generate_fleet,
    intrusion_scenario,
    scenario_phases,
)
from cases.actions.agent import ActionRunner, ActionVerifier, SimulatedMachine
from cases.actions.signing import decode_key

from .agent_client import AgentClient
from .services import SCALAR_FACTS, SET_FACTS

logger = logging.getLogger("stopclock.simulator")

FACT_KEYS = (*SCALAR_FACTS, *SET_FACTS)
BATCH_RECORDS = 1000


def agent_facts(spec: EndpointSpec) -> dict[str, Any]:
    """What the agent of `spec` says about its machine when it enrols."""
    data = spec.to_dict()
    return {key: data[key] for key in FACT_KEYS}


class Transport(Protocol):
    def enrol(self, spec: EndpointSpec) -> Any: ...
    def heartbeat(self, handle: Any) -> dict[str, Any]: ...
    def send(self, handle: Any, records: Sequence[dict[str, Any]]) -> dict[str, Any]: ...


class HttpTransport:
    """The real agent API over HTTP, one `AgentClient` per endpoint, pooled connections."""

    def __init__(self, base_url: str, secret: str, *, pool: int = 16) -> None:
        self.base_url = base_url
        self.secret = secret
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def enrol(self, spec: EndpointSpec) -> AgentClient:
        client = AgentClient(self.base_url, session=self.session)
        client.enrol(self.secret, agent_id=spec.agent_id, facts=agent_facts(spec))
        return client

    def heartbeat(self, handle: AgentClient) -> dict[str, Any]:
        return handle.heartbeat()

    def send(self, handle: AgentClient, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return handle.send_telemetry(records)


class LocalTransport:
    """The services, in-process, in the tenant in context (the demo seed).

    Batches are processed at once (detections, alerts) rather than queued, so the demo is
    complete when the seed returns, whether or not a worker runs yet.
    """

    def enrol(self, spec: EndpointSpec):
        from .api.serializers import AgentFactsSerializer
        from .services import endpoint_enrol

        facts = AgentFactsSerializer(data=agent_facts(spec))
        facts.is_valid(raise_exception=True)
        return endpoint_enrol(agent_id=spec.agent_id, facts=facts.validated_data).endpoint

    def heartbeat(self, handle) -> dict[str, Any]:
        from .services import endpoint_heartbeat

        endpoint = endpoint_heartbeat(endpoint=handle)
        return {"endpoint_id": endpoint.pk, "isolation_state": endpoint.isolation_state}

    def send(self, handle, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        from .processing import process_batch
        from .services import telemetry_ingest

        outcome = telemetry_ingest(endpoint=handle, records=records, enqueue=False)
        if outcome.accepted:
            process_batch(batch_id=outcome.batch_id)
        return {"batch_id": outcome.batch_id, "accepted": outcome.accepted,
                "duplicates": outcome.duplicates, "records": outcome.records}  # fmt: skip


@dataclass
class Totals:
    enrolled: int = 0
    batches: int = 0
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, answer: dict[str, Any]) -> None:
        with self.lock:
            self.batches += 1
            self.records += answer.get("records", 0)
            self.accepted += answer.get("accepted", 0)
            self.duplicates += answer.get("duplicates", 0)


def _chunks(records: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


class FleetSimulator:
    """N agents of one tenant: enrol, stream benign telemetry, play the intrusion."""

    def __init__(
        self,
        transport: Transport,
        *,
        endpoints: int,
        seed: int = 1,
        domain: str = "acme.example",
        threads: int = 8,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.transport = transport
        self.fleet = generate_fleet(endpoints, seed, domain)
        self.seed = seed
        self.threads = max(1, threads)
        self.handles: dict[str, Any] = {}
        self.machines = {spec.agent_id: SimulatedMachine(spec.hostname) for spec in self.fleet}
        self.runners: dict[str, ActionRunner] = {}
        self.snapshots = 0
        self.totals = Totals()
        self.now = clock or (lambda: dt.datetime.now(dt.UTC))
        self.round = 0

    def _each(self, specs: Iterable[EndpointSpec], work: Callable[[EndpointSpec], None]) -> None:
        specs = list(specs)
        if self.threads == 1 or len(specs) == 1:
            for spec in specs:
                work(spec)
            return
        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(work, specs))

    def enrol_all(self) -> int:
        def enrol(spec: EndpointSpec) -> None:
            self.handles[spec.agent_id] = self.transport.enrol(spec)
            with self.totals.lock:
                self.totals.enrolled += 1

        self._each(self.fleet, enrol)
        return len(self.handles)

    def send(self, spec: EndpointSpec, records: Sequence[dict[str, Any]]) -> None:
        handle = self.handles[spec.agent_id]
        machine = self.machines[spec.agent_id]
        machine.observe(records)
        records = machine.filter(records)  # isolated: nothing; killed processes: gone
        for chunk in _chunks(records, BATCH_RECORDS):
            self.totals.add(self.transport.send(handle, chunk))

    def send_benign(
        self, *, per_endpoint: int = 200, span: dt.timedelta = dt.timedelta(hours=1)
    ) -> None:
        """One round of ordinary telemetry per endpoint, over the `span` before now."""
        start = self.now() - span - dt.timedelta(seconds=5)
        seed = self.seed * 1000 + self.round
        self.round += 1

        def stream(spec: EndpointSpec) -> None:
            self.send(spec, list(benign_records(spec, start, per_endpoint, seed, span=span)))

        self._each(self.fleet, stream)

    def play_intrusion(self, *, variant: str = "macro") -> dict[str, int]:
        """The intrusion, ending a few minutes ago; returns its steps per attack phase."""
        start = self.now() - dt.timedelta(minutes=70)
        scenario = intrusion_scenario(self.fleet, start, self.seed, variant=variant)
        by_endpoint: dict[str, list[dict[str, Any]]] = {}
        specs: dict[str, EndpointSpec] = {}
        for spec, record in scenario.records():
            by_endpoint.setdefault(spec.agent_id, []).append(record)
            specs[spec.agent_id] = spec
        for agent_id, records in by_endpoint.items():
            self.send(specs[agent_id], records)
        return {phase: len(steps) for phase, steps in scenario_phases(scenario).items()}

    def heartbeat_all(self) -> None:
        def beat(spec: EndpointSpec) -> None:
            handle = self.handles[spec.agent_id]
            answer = self.transport.heartbeat(handle)
            self.execute_actions(spec, answer.get("actions") or [])

        self._each(self.fleet, beat)

    def execute_actions(self, spec: EndpointSpec, actions: list[dict[str, Any]]) -> None:
        """Verify and carry out signed action payloads handed to this agent (the action
        channel, `run_actions`, delivers them; a heartbeat answer carries none today)."""
        runner = self._runner(spec) if actions else None
        if runner is not None:
            runner.handle(actions)

    def send_snapshots(self) -> None:
        """Each agent reports the processes it knows to be running (killed ones are not)."""
        now, self.snapshots = self.now(), self.snapshots + 1

        def report(spec: EndpointSpec) -> None:
            rows = self.machines[spec.agent_id].snapshot(now, f"{self.seed}-{self.snapshots}")
            if rows:
                self.send(spec, rows)

        self._each(self.fleet, report)

    def run_actions(self, *, wait: float = 0) -> int:
        """Every HTTP agent polls for its actions, verifies and carries them out; returns
        how many ran. (The in-process demo transport has no agent channel: nothing runs.)"""
        done: list[int] = []

        def poll(spec: EndpointSpec) -> None:
            runner = self._runner(spec)
            if runner is not None:
                executed = runner.run_once(wait=wait).executed
                with self.totals.lock:
                    done.extend(executed)

        self._each(self.fleet, poll)
        return len(done)

    def _runner(self, spec: EndpointSpec) -> ActionRunner | None:
        runner = self.runners.get(spec.agent_id)
        handle = self.handles.get(spec.agent_id)
        if runner is None and isinstance(handle, AgentClient):
            key = decode_key(handle.action_key()["key"])  # fetched once, then kept
            verifier = ActionVerifier(key=key, endpoint_id=handle.endpoint_id)
            runner = ActionRunner(handle, verifier, self.machines[spec.agent_id])
            self.runners[spec.agent_id] = runner
        return runner

    def follow(
        self,
        stop: threading.Event,
        *,
        interval: float,
        per_endpoint: int,
        actions_every: float = 2.0,
    ) -> None:
        """Until `stop` is set: poll for actions every `actions_every` seconds (an idle
        poll costs the server no query), heartbeat and stream telemetry every `interval`."""
        next_round = 0.0
        while not stop.wait(min(actions_every, interval)):
            self.run_actions()
            if time.monotonic() >= next_round:
                next_round = time.monotonic() + interval
                self.heartbeat_all()
                self.send_snapshots()
                self.send_benign(per_endpoint=per_endpoint, span=dt.timedelta(seconds=interval))
