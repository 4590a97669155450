"""The severity scale and the default SLA targets a new tenant starts with.

Leads edit a tenant's targets later; these defaults are what `create_tenant` and the demo
seed copy in, and what the tests pin. Targets exist only for clocks with `sla=True` in
`metrics.clocks` (closing a case has no SLA).

Choice for `info` (the brief left it open): containment within 7 days and remediation within
90 days. Informational cases are mostly hygiene findings (unwanted software, a risky but not
malicious autorun): there is nothing spreading to contain urgently, but they should still be
contained within a working week and cleaned up within one quarterly patch cycle, rather than
never. Triage and scoping keep 15 minutes and 1 hour, because until someone has looked, an
"info" label is only the detector's guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from metrics.clocks import PHASE_KEYS, SLA_CLOCKS


@dataclass(frozen=True)
class Severity:
    """One step of the severity scale; `rank` orders them (higher is more severe)."""

    key: str
    label: str
    rank: int


SEVERITIES: tuple[Severity, ...] = (
    Severity(key="info", label="Info", rank=0),
    Severity(key="low", label="Low", rank=1),
    Severity(key="medium", label="Medium", rank=2),
    Severity(key="high", label="High", rank=3),
    Severity(key="critical", label="Critical", rank=4),
)
SEVERITIES_BY_KEY: dict[str, Severity] = {s.key: s for s in SEVERITIES}
SEVERITY_KEYS: tuple[str, ...] = tuple(SEVERITIES_BY_KEY)
SEVERITY_CHOICES: tuple[tuple[str, str], ...] = tuple((s.key, s.label) for s in SEVERITIES)

TargetKey = tuple[str, str, str]  # (phase, severity, clock key)

# Same for every phase and severity: an analyst looks within 15 minutes, scoping within 1 hour.
_UNIFORM: dict[str, timedelta] = {
    "triage": timedelta(minutes=15),
    "scope": timedelta(hours=1),
}
# Containment and remediation depend on severity (the same for every phase).
_BY_SEVERITY: dict[str, dict[str, timedelta]] = {
    "contain": {
        "critical": timedelta(hours=4),
        "high": timedelta(hours=8),
        "medium": timedelta(hours=24),
        "low": timedelta(hours=72),
        "info": timedelta(days=7),
    },
    "remediate": {
        "critical": timedelta(hours=24),
        "high": timedelta(hours=72),
        "medium": timedelta(days=7),
        "low": timedelta(days=30),
        "info": timedelta(days=90),
    },
}


def _default_target(severity: str, clock_key: str) -> timedelta:
    if clock_key in _UNIFORM:
        return _UNIFORM[clock_key]
    return _BY_SEVERITY[clock_key][severity]


def default_targets() -> dict[TargetKey, timedelta]:
    """Every (phase, severity, SLA clock) with its default target; a new dict per call."""
    return {
        (phase, severity, clock.key): _default_target(severity, clock.key)
        for phase in PHASE_KEYS
        for severity in SEVERITY_KEYS
        for clock in SLA_CLOCKS
    }


def target_in_force(
    changes: Iterable[tuple[datetime, timedelta | None]], detected_at: datetime
) -> timedelta | None:
    """The target that applied at `detected_at`, given a target's history of changes.

    `changes` are (effective_from, target) pairs in any order; a None target means "no target"
    from then on. Judging a case by the target in force when it was detected keeps past
    compliance figures stable when a lead edits the targets. None when no change had taken
    effect yet.
    """
    in_force = [(start, target) for start, target in changes if start <= detected_at]
    if not in_force:
        return None
    return max(in_force, key=lambda change: change[0])[1]
