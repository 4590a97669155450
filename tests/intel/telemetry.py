"""A fleet with a day of benign telemetry and the intrusion, stored like the agents' batches
(validated and normalised by `endpoints.telemetry`), and the planted IOCs with the hits a
sweep must find: exactly `bench.datagen.planted_hits`, as (IOC key, hostname) pairs."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from bench.datagen import fleet_telemetry, generate_fleet, intrusion_scenario, planted_hits
from bench.datagen.scenarios import Scenario
from endpoints.models import Endpoint, Observation, TelemetryBatch
from endpoints.telemetry import validate_records
from intel.matching import ioc_key
from intel.parsing import normalize_address, normalize_ioc
from intel.services import ioc_create

TYPES = {"ip": "address"}


@dataclass
class World:
    endpoints: dict[str, Endpoint]  # by lower-case hostname
    scenario: Scenario
    observations: int


def load_world(*, endpoints: int, per_endpoint: int, seed: int = 5) -> World:
    """Store the telemetry in the tenant in context (one batch per endpoint)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(hours=26)  # benign telemetry spans a day from here
    fleet = generate_fleet(endpoints, seed)
    scenario = intrusion_scenario(fleet, start + dt.timedelta(hours=2), seed)
    rows: dict[str, list[dict]] = defaultdict(list)
    for spec, record in fleet_telemetry(fleet, endpoints * per_endpoint, start, seed=seed):
        rows[spec.agent_id].append(record)
    for spec, record in scenario.records():
        rows[spec.agent_id].append(record)
    stored: dict[str, Endpoint] = {}
    count = 0
    for spec in fleet:
        endpoint = Endpoint.objects.create(
            hostname=spec.hostname.lower(),
            os_family=spec.os_family,
            agent_id=spec.agent_id,
            privileged_admin_logons=spec.privileged_admin_logons,
        )
        stored[endpoint.hostname] = endpoint
        clean = validate_records(rows[spec.agent_id], now=now, max_future=dt.timedelta(hours=1))
        batch = TelemetryBatch.objects.create(
            endpoint=endpoint,
            records=len(clean),
            accepted=len(clean),
            duplicates=0,
            status="processed",
        )
        Observation.objects.bulk_create(
            [
                Observation(endpoint=endpoint, batch=batch, received_at=now, **record)
                for record in clean
            ],
            batch_size=2000,
        )
        count += len(clean)
    return World(stored, scenario, count)


def planted_iocs(scenario: Scenario) -> list[tuple[str, str]]:
    """(IOC type, normalised value) of every planted IOC."""
    result = []
    for kind, value in scenario.iocs.items():
        if kind == "ip":
            result.append(normalize_address(value))
        else:
            result.append(normalize_ioc(kind, value))
    return result


def add_planted_iocs(scenario: Scenario) -> list:
    """The planted IOCs as a feed would bring them; the reserved-range C2 domain and address
    are on warning lists, so the analyst forces them (they are the attacker here)."""
    return [
        ioc_create(type=kind, value=value, severity="high", force=True, retro_hunt=False)[0]
        for kind, value in planted_iocs(scenario)
    ]


def expected_hits(scenario: Scenario) -> set[tuple[str, str]]:
    expected = set()
    for (kind, value), found in planted_hits(scenario).items():
        kind, value = normalize_address(value) if kind == "ip" else normalize_ioc(kind, value)
        for hostname, _event_id in found:
            expected.add((ioc_key(kind, value), hostname.lower()))
    return expected
