"""A live case's SLA clocks: met, running, at risk, breached or paused — right now.

What a clock measures (start, milestone, pauses, the reopen rule) is defined once in
`metrics/clocks.py`; this module only applies those definitions to one case and the current
time. The targets a case is judged against come from `targets_for(case)`: the tenant's
targets in force at the case's detection time (metrics/selectors.py keeps them, with
their history); every caller here and in the services goes through this function.

The case row keeps three derived fields so lists can filter and sort on the SLA state with
an index, and the breach sweep finds due cases without scanning: `sla_due_at` (the next
deadline of a running clock that has not breached yet), `sla_risk_at` (when that clock
turns "at risk") and `sla_breached` (some clock already breached). `refresh(case, pauses)`
recomputes them; services call it whenever a milestone, the severity, the phase or a pause
changes, and the periodic sweep calls it when a deadline passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from metrics.clocks import SLA_CLOCKS, Clock, Pause, paused_overlap, sla_span

# A running clock is "at risk" once this share of its target has elapsed.
AT_RISK_FRACTION = 0.75

SLA_STATES = (
    ("breached", "Breached"),
    ("at_risk", "At risk"),
    ("running", "Running"),
    ("paused", "Paused"),
    ("met", "Met / stopped"),
)


def targets_for(case) -> dict[str, timedelta]:
    """{clock key: target} for this case's phase and severity, as in force at its detection.

    The one place targets are looked up: the tenant's table kept by metrics (defaults plus
    every change a lead made, with history), cached per tenant there.
    """
    from metrics.selectors import targets_for as targets_in_force_at

    return targets_in_force_at(case.phase, case.severity, case.detected_at or timezone.now())


@dataclass(frozen=True)
class ClockState:
    """One SLA clock of one case at one instant."""

    clock: Clock
    target: timedelta | None
    milestone_at: datetime | None
    state: str  # met, running, at_risk, breached, paused, stopped
    elapsed: timedelta  # the SLA span so far (paused time subtracted), or the final span
    deadline: datetime | None  # when a running clock breaches (None while paused)
    risk_at: datetime | None
    paused_seconds: int  # paused time inside the span so far, for the live browser clock
    live: bool  # still counting: the browser keeps the clock ticking

    @property
    def key(self) -> str:
        return self.clock.key

    @property
    def label(self) -> str:
        return self.clock.label

    @property
    def css_state(self) -> str:
        return self.state.replace("_", "-")


def pause_intervals(pauses: Iterable) -> list[Pause]:
    """(start, end) pairs from CasePause rows (or pairs already)."""
    intervals: list[Pause] = []
    for pause in pauses:
        if isinstance(pause, tuple):
            intervals.append(pause)
        else:
            intervals.append((pause.started_at, pause.ended_at))
    return intervals


def clock_states(
    case,
    pauses: Sequence = (),
    now: datetime | None = None,
    targets: dict[str, timedelta] | None = None,
) -> list[ClockState]:
    """Every SLA clock of `case` as it stands at `now`."""
    now = now or timezone.now()
    targets = targets_for(case) if targets is None else targets
    intervals = pause_intervals(pauses)
    paused = case.paused_at is not None
    detected = case.detected_at
    states = []
    for clock in SLA_CLOCKS:
        target = targets.get(clock.key)
        milestone_at = getattr(case, clock.milestone)
        deadline = risk_at = None
        live = False
        if milestone_at is not None:
            span = sla_span(detected, milestone_at, intervals) or timedelta(0)
            paused_for = paused_overlap(intervals, detected, max(milestone_at, detected))
            state = "breached" if target is not None and span > target else "met"
        elif not case.is_open:
            span = sla_span(detected, case.closed_at or now, intervals) or timedelta(0)
            paused_for = paused_overlap(intervals, detected, max(case.closed_at or now, detected))
            state = "stopped"
        else:
            span = sla_span(detected, max(now, detected), intervals) or timedelta(0)
            paused_for = paused_overlap(intervals, detected, max(now, detected))
            live = not paused
            if target is None:
                state = "running"
            elif span > target:
                state = "breached"
            elif paused:
                state = "paused"
            else:
                deadline = detected + target + paused_for
                risk_at = detected + target * AT_RISK_FRACTION + paused_for
                state = "at_risk" if now >= risk_at else "running"
        states.append(
            ClockState(
                clock=clock,
                target=target,
                milestone_at=milestone_at,
                state=state,
                elapsed=span,
                deadline=deadline,
                risk_at=risk_at,
                paused_seconds=int(paused_for.total_seconds()),
                live=live,
            )
        )
    return states


def refresh(case, pauses: Sequence = (), now: datetime | None = None) -> list[ClockState]:
    """Recompute the case's derived SLA fields in place; returns the clock states."""
    states = clock_states(case, pauses, now)
    upcoming = [s for s in states if s.deadline is not None]
    case.sla_due_at = min((s.deadline for s in upcoming), default=None)
    case.sla_risk_at = min((s.risk_at for s in upcoming), default=None)
    case.sla_breached = any(s.state == "breached" for s in states)
    return states


SLA_FIELDS = ("sla_due_at", "sla_risk_at", "sla_breached")


def state_of(case, now: datetime | None = None) -> str:
    """The case's overall SLA state from its derived fields (no query, no targets)."""
    now = now or timezone.now()
    if case.sla_breached or (case.sla_due_at is not None and case.sla_due_at <= now):
        return "breached"
    if case.paused_at is not None and case.is_open:
        return "paused"
    if case.sla_risk_at is not None and case.sla_risk_at <= now:
        return "at_risk"
    if case.sla_due_at is not None:
        return "running"
    return "met"


def state_q(state: str, now: datetime | None = None) -> Q:
    """The filter matching `state_of(case) == state`, for querysets (index-friendly)."""
    now = now or timezone.now()
    not_breached = Q(sla_breached=False) & (Q(sla_due_at__isnull=True) | Q(sla_due_at__gt=now))
    if state == "breached":
        return Q(sla_breached=True) | Q(sla_due_at__lte=now)
    if state == "paused":
        return not_breached & Q(paused_at__isnull=False) & ~Q(status="closed")
    running = not_breached & (Q(paused_at__isnull=True) | Q(status="closed"))
    if state == "at_risk":
        return running & Q(sla_risk_at__lte=now)
    if state == "running":
        return running & Q(sla_due_at__isnull=False) & Q(sla_risk_at__gt=now)
    if state == "met":
        return running & Q(sla_due_at__isnull=True)
    raise ValueError(f"unknown SLA state {state!r}")
