"""How fast the data generator produces benign telemetry, single-threaded.

    python bench/datagen_speed.py [--records 1000000] [--endpoints 10000]

Absolute records/s depend on the machine, so the figure is also printed as a ratio to two
baselines measured in the same run: building the same number of empty dicts, and copying
a typical 15-column record that many times (the least any dict-producing generator does).
The target is 100,000 records/s; the script exits non-zero below ``--min-rate``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datagen import fleet_telemetry, generate_fleet

START = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    """Wall-clock seconds: what a benchmark waits for."""
    began = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - began


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-rate", type=float, default=0, help="fail below this records/s")
    args = parser.parse_args(argv)
    n = args.records

    fleet, fleet_seconds = timed(lambda: generate_fleet(args.endpoints, args.seed))
    print(f"fleet: {len(fleet)} endpoints in {fleet_seconds:.2f} s")

    def generate() -> int:
        count = 0
        for _ in fleet_telemetry(fleet, n, START, args.seed):
            count += 1
        return count

    sample = next(r for _, r in fleet_telemetry(fleet[-1:], 200, START, 0) if r["kind"] == "file")

    def empty_dicts() -> int:
        count = 0
        for _ in range(n):
            _ = {}
            count += 1
        return count

    def record_copies() -> int:
        count = 0
        for _ in range(n):
            _ = sample.copy()
            count += 1
        return count

    _, empty = timed(empty_dicts)
    _, copies = timed(record_copies)
    cpu_began = time.process_time()
    count, run = timed(generate)
    cpu = time.process_time() - cpu_began
    rate = count / run
    print(f"generated {count} records in {run:.2f} s: {rate:,.0f} records/s "
          f"({count / cpu:,.0f} per CPU second, unaffected by other load)")  # fmt: skip
    print(f"  {run / empty:6.1f}x the time to build {n} empty dicts ({empty:.3f} s)")
    print(f"  {run / copies:6.1f}x the time to copy a {len(sample)}-column record {n} times "
          f"({copies:.3f} s)")  # fmt: skip
    if rate < args.min_rate:
        print(f"below --min-rate {args.min_rate:,.0f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
