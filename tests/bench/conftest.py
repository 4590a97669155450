"""Shared generated data: built once per session, since every test only reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.datagen import fleet_telemetry, generate_fleet, intrusion_scenario

START = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
SEED = 11


@pytest.fixture(scope="session")
def fleet():
    return generate_fleet(60, SEED)


@pytest.fixture(scope="session")
def benign(fleet):
    """(endpoint, record) pairs: 20,000 benign records over the 60-endpoint fleet."""
    return list(fleet_telemetry(fleet, 20_000, START, SEED))


@pytest.fixture(scope="session", params=["macro", "pdf"])
def scenario(request, fleet):
    return intrusion_scenario(fleet, START + timedelta(hours=2), SEED, variant=request.param)
