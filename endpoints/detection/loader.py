"""The rules Stopclock ships, as YAML texts (compile them with `compile_rule`)."""

from __future__ import annotations

from pathlib import Path

RULES_DIR = Path(__file__).with_name("rules")


def load_shipped_rules() -> list[str]:
    """The YAML text of every shipped rule, in file-name order (stable alert ordering)."""
    return [path.read_text(encoding="utf-8") for path in sorted(RULES_DIR.glob("*.yml"))]
