"""`make bench` / `python -m bench [NAME ...]`: run the benchmarks in bench/<name>_bench.py.

Each module exposes `main(argv: list[str]) -> int`. Benchmarks print their figures as
ratios against a baseline measured in the same run, so a slower machine changes the
absolute numbers but not the conclusions. Most need PostgreSQL (`DATABASE_URL`).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

HERE = Path(__file__).parent


def available() -> list[str]:
    return sorted(path.stem.removesuffix("_bench") for path in HERE.glob("*_bench.py"))


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    names = [arg for arg in argv if not arg.startswith("-")]
    options = [arg for arg in argv if arg.startswith("-")]
    if names == ["list"]:
        print("\n".join(available()))
        return 0
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(available())}")
        return 2
    status = 0
    for name in names or available():
        print(f"\n### bench {name}", flush=True)
        module = importlib.import_module(f"bench.{name}_bench")
        status |= module.main(options) or 0
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
