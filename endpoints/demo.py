"""Demo data for `seed_demo`: a believable fleet per tenant, a day's worth of telemetry and
an intrusion, through the same simulator and services the real agents use (in-process,
since no server runs yet). Idempotent: a tenant that has endpoints is left alone."""

from __future__ import annotations

import time

from .models import DetectionRule, Endpoint
from .services import rule_exception_add, rules_sync_builtin
from .simulation import FleetSimulator, LocalTransport

# Per tenant: (endpoints, intrusion variant).
FLEETS = {"acme": (40, "macro"), "globex": (24, "pdf")}
DEFAULT_FLEET = (20, "macro")
NETWORK_LOGON_RULE = "f09da6aa-60c1-4580-9fea-e0c3a727074d"
# The generated fleet's servers (domain controllers, file and management servers) live in
# the data centre range; their network logons are the everyday kind an admin allowlists.
SERVER_RANGE = "10.50.*"


def seed(tenant, stdout) -> None:
    if Endpoint.objects.exists():
        stdout.write(f"endpoints: {tenant.slug} already has endpoints, left alone")
        return
    started = time.monotonic()
    count, variant = FLEETS.get(tenant.slug, DEFAULT_FLEET)
    rules_sync_builtin()
    rule = DetectionRule.objects.filter(rule_id=NETWORK_LOGON_RULE).first()
    if rule is not None:
        rule_exception_add(
            rule=rule,
            field="source_ip",
            value=SERVER_RANGE,
            reason="domain controllers, file and management servers (data centre range)",
        )
    simulator = FleetSimulator(
        LocalTransport(), endpoints=count, seed=7, domain=f"{tenant.slug}.example", threads=1
    )
    simulator.enrol_all()
    simulator.send_benign(per_endpoint=150)
    simulator.play_intrusion(variant=variant)
    totals = simulator.totals
    stdout.write(
        f"endpoints: {tenant.slug}: {totals.enrolled} endpoints, {totals.accepted} observations, "
        f"an intrusion ({variant}) in {time.monotonic() - started:.1f} s"
    )
