"""What an alert says about the rule that raised it: severity, attack phase, techniques.

The severity scale and phase names are Stopclock's (DESIGN §1), defined once in
`metrics.targets` and `metrics.clocks`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from metrics.clocks import PHASE_KEYS as PHASES

# A rule without a level is still worth a look, but not a page at night.
DEFAULT_SEVERITY = "medium"

_LEVEL_TO_SEVERITY = {
    "informational": "info",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}

# ATT&CK tactic (tag spelling with `_`; SigmaHQ now writes `-`) -> our phase. `stealth` and
# `defense_impairment` are ATT&CK v18's split of defense evasion.
_TACTIC_PHASE = {
    "reconnaissance": "initial_infection",
    "resource_development": "initial_infection",
    "initial_access": "initial_infection",
    "execution": "initial_infection",
    "defense_evasion": "initial_infection",
    "stealth": "initial_infection",
    "defense_impairment": "initial_infection",
    "persistence": "persistence",
    "privilege_escalation": "persistence",
    "credential_access": "lateral_movement",
    "discovery": "lateral_movement",
    "lateral_movement": "lateral_movement",
    "collection": "lateral_movement",
    "command_and_control": "lateral_movement",
    "exfiltration": "lateral_movement",
    "impact": "lateral_movement",
}

PHASE_TAG_PREFIX = "stopclock.phase."
_TECHNIQUE = re.compile(r"attack\.(t\d{4}(?:\.\d{3})?)")


def severity_of(level: str | None) -> str:
    """Sigma ``level`` -> our severity (``informational`` is ``info``)."""
    return _LEVEL_TO_SEVERITY.get((level or "").lower(), DEFAULT_SEVERITY)


def phase_of(tags: Iterable[str]) -> str:
    """The attack phase a detection puts a case in.

    An explicit ``stopclock.phase.<phase>`` tag wins. Otherwise the furthest phase among
    the rule's tactics, because a case is filed under the furthest the attacker got
    (DESIGN §1). A rule with no tactic tag is about code running: initial infection.
    """
    tags = [t.lower() for t in tags]
    for tag in tags:
        if tag.startswith(PHASE_TAG_PREFIX):
            phase = tag[len(PHASE_TAG_PREFIX) :]
            if phase not in PHASES:
                raise ValueError(f"unknown phase tag '{tag}' (phases: {', '.join(PHASES)})")
            return phase
    found = {
        _TACTIC_PHASE[name]
        for tag in tags
        if tag.startswith("attack.")
        and (name := tag.removeprefix("attack.").replace("-", "_")) in _TACTIC_PHASE
    }
    return max(found, key=PHASES.index, default=PHASES[0])


def techniques_of(tags: Iterable[str]) -> tuple[str, ...]:
    """``attack.t1059.001`` -> ``T1059.001``, in tag order, without duplicates."""
    seen: dict[str, None] = {}
    for tag in tags:
        match = _TECHNIQUE.fullmatch(tag.lower())
        if match:
            seen[match.group(1).upper()] = None
    return tuple(seen)
