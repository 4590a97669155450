"""Root fixtures. Each app keeps its fixtures in tests/fixtures/<app>.py (loaded here).

Tests marked `heavy` (API fuzzing over every operation, long hypothesis runs, faults, load)
run only with `STOPCLOCK_HEAVY=1`, which `.ci/run` exports; `make test` stays fast.
"""

import os
from pathlib import Path

import pytest

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)

HEAVY = os.environ.get("STOPCLOCK_HEAVY", "") == "1"


def pytest_collection_modifyitems(config, items):
    if HEAVY:
        return
    skip = pytest.mark.skip(reason="heavy hardening test: set STOPCLOCK_HEAVY=1 to run it")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)
