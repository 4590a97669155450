"""Synthetic endpoint telemetry shared by the benchmarks, the demo seed and the agent simulator.

Pure Python, no database. Records are dicts shaped by `endpoints.observation_fields`.

    fleet = generate_fleet(1000, seed=1)
    for endpoint, record in fleet_telemetry(fleet, 100_000, start, seed=1): ...
    scenario = intrusion_scenario(fleet, start, seed=1)
    for endpoint, record in scenario.records(): ...

Modules: `fleet` (who the endpoints are), `catalog` (what is installed), `records` (the
shape of each record kind), `benign` (an ordinary day), `scenarios` (an intrusion).
"""

from bench.datagen.benign import benign_records, fleet_telemetry
from bench.datagen.fleet import EndpointSpec, Infrastructure, Peer, find_endpoint, generate_fleet
from bench.datagen.scenarios import (
    DETECTIONS,
    EVIL_DOMAIN,
    EVIL_IP,
    IOC_COLUMNS,
    PlantedIOCs,
    Scenario,
    Step,
    intrusion_scenario,
    planted_hits,
    scenario_phases,
)

__all__ = [
    "DETECTIONS",
    "EVIL_DOMAIN",
    "EVIL_IP",
    "IOC_COLUMNS",
    "EndpointSpec",
    "Infrastructure",
    "Peer",
    "PlantedIOCs",
    "Scenario",
    "Step",
    "benign_records",
    "find_endpoint",
    "fleet_telemetry",
    "generate_fleet",
    "intrusion_scenario",
    "planted_hits",
    "scenario_phases",
]
