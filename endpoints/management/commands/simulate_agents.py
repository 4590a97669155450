"""`python manage.py simulate_agents --tenant SLUG --url URL --endpoints N
[--scenario intrusion] [--follow]`: endpoint agents over the real HTTP agent API.

Enrols N endpoints (a believable fleet, `bench.datagen`), sends a round of benign
telemetry, plays the scenario if asked, and exits 0. With --follow the agents keep
heartbeating and sending telemetry, and poll for response actions every two seconds,
verify their signatures and carry them out (isolation, kill, quarantine, collect, YARA…),
until interrupted.
"""

from __future__ import annotations

import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from endpoints.agent_client import AgentApiError
from endpoints.services import SecretUnavailable, enrolment_secret_reveal
from endpoints.simulation import FleetSimulator, HttpTransport
from tenancy.context import tenant_context
from tenancy.management.commands._helpers import get_tenant


class Command(BaseCommand):
    help = "Simulate endpoint agents against a running Stopclock (real HTTP agent API)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
        parser.add_argument("--endpoints", type=int, required=True, help="how many agents")
        parser.add_argument("--scenario", choices=["intrusion"], help="attack to play")
        parser.add_argument("--variant", choices=["macro", "pdf"], default="macro")
        parser.add_argument("--follow", action="store_true", help="keep going until stopped")
        parser.add_argument("--records", type=int, default=200, help="per endpoint per round")
        parser.add_argument("--interval", type=float, default=None, help="seconds per round")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args, **o):
        if o["endpoints"] < 1:
            raise CommandError("--endpoints must be at least 1")
        if o["scenario"] and o["endpoints"] < 2:
            raise CommandError("the intrusion moves between two hosts: --endpoints 2 or more")
        tenant = get_tenant(o["tenant"])
        try:
            with tenant_context(tenant):
                secret = enrolment_secret_reveal()
        except SecretUnavailable as exc:
            raise CommandError(str(exc)) from exc
        simulator = FleetSimulator(
            HttpTransport(o["url"], secret),
            endpoints=o["endpoints"],
            seed=o["seed"],
            domain=f"{tenant.slug}.example",
            threads=o["threads"],
        )
        try:
            self._run(simulator, o)
        except AgentApiError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:  # connection refused, DNS, timeouts
            raise CommandError(f"cannot reach {o['url']}: {exc}") from exc

    def _run(self, simulator: FleetSimulator, o: dict) -> None:
        started = time.monotonic()
        enrolled = simulator.enrol_all()
        self.stdout.write(f"enrolled {enrolled} endpoint(s) at {o['url']}")
        simulator.send_benign(per_endpoint=o["records"])
        self._report(simulator, "benign telemetry")
        if o["scenario"] == "intrusion":
            phases = simulator.play_intrusion(variant=o["variant"])
            shown = ", ".join(f"{phase} {count}" for phase, count in phases.items())
            self._report(simulator, f"intrusion played ({shown} steps)")
        self.stdout.write(f"done in {time.monotonic() - started:.1f} s")
        if not o["follow"]:
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        interval = o["interval"] or float(
            next(iter(simulator.handles.values())).heartbeat_interval or 60
        )
        self.stdout.write(f"following: a round every {interval:g} s; Ctrl-C stops")
        simulator.follow(stop, interval=interval, per_endpoint=o["records"])
        self._report(simulator, "stopped")

    def _report(self, simulator: FleetSimulator, what: str) -> None:
        t = simulator.totals
        self.stdout.write(
            f"{what}: {t.batches} batches, {t.records} records, "
            f"{t.accepted} accepted, {t.duplicates} duplicates"
        )
