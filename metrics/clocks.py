"""The clocks: what Stopclock measures, defined once.

Every other module (aggregation, dashboards, the API, PDF reports) imports the phases,
milestones, clock definitions and span rules from here, and every report prints
`methodology_text()` verbatim, so what a number means can never drift from how it was
computed. Changing a rule here means bumping `DEFINITIONS_VERSION`, because reports already
signed and handed to auditors carry the version they were computed with.

Everything in this module is pure Python (no database), so the rules can be tested directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

DEFINITIONS_VERSION = "2026-11.2"

ZERO = timedelta(0)


# --- Phases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """One attack phase: the furthest the attacker got on a case."""

    key: str
    label: str
    description: str


PHASES: tuple[Phase, ...] = (
    Phase(
        key="initial_infection",
        label="Initial infection",
        description="Malicious code first ran on an endpoint.",
    ),
    Phase(
        key="persistence",
        label="Persistence",
        description="The attacker survives reboots (service, scheduled task, run key, ...).",
    ),
    Phase(
        key="lateral_movement",
        label="Lateral movement",
        description="The attacker moves between hosts, reconnoitres or exfiltrates data.",
    ),
)
PHASES_BY_KEY: dict[str, Phase] = {phase.key: phase for phase in PHASES}
PHASE_KEYS: tuple[str, ...] = tuple(PHASES_BY_KEY)
# Ready for a model field's `choices=`.
PHASE_CHOICES: tuple[tuple[str, str], ...] = tuple((p.key, p.label) for p in PHASES)


# --- Milestones ---------------------------------------------------------------------------

MILESTONES: tuple[str, ...] = (
    "detected_at",
    "triaged_at",
    "scoped_at",
    "contained_at",
    "remediated_at",
    "closed_at",
)
# Not a case milestone: the earliest malicious activity seen on an endpoint, when known.
# Only the dwell clock starts there.
FIRST_ACTIVITY = "first_activity_at"


# --- Clocks -------------------------------------------------------------------------------

ReopenRule = Literal["first", "final"]
# Which closed cases must have reached a clock's milestone; for the others a missing
# milestone is simply not measured (a false positive closed at triage was never contained).
RequiredOnClose = Literal["all", "true_positive", "none"]

# Case resolutions (the cases app's vocabulary) that these rules name.
TRUE_POSITIVE = "true_positive"
# Not measured on any clock: the work belongs to the case it duplicates.
UNMEASURED_RESOLUTIONS: tuple[str, ...] = ("duplicate",)
# Not an intrusion: measured on triage, scoping and closure only.
NOT_INTRUSION_RESOLUTIONS: tuple[str, ...] = ("false_positive", "benign")


@dataclass(frozen=True)
class Clock:
    """A measured span from one instant (`start`) to a case milestone.

    `reopen_rule` says which occurrence of the milestone counts when a case was reopened:
    "first" for steps that really happened the first time (an analyst did triage), "final"
    for steps a reopen proves were not done (the endpoint was not clean after all).
    """

    key: str
    label: str
    abbreviation: str
    milestone: str
    sla: bool
    definition: str
    noun: str
    start: str = "detected_at"
    reopen_rule: ReopenRule = "first"
    # Measured only on cases that were (or may still turn out to be) an intrusion.
    intrusions_only: bool = False
    required_on_close: RequiredOnClose = "all"


CLOCKS: tuple[Clock, ...] = (
    Clock(
        key="triage",
        label="Time to triage",
        abbreviation="MTTT",
        milestone="triaged_at",
        sla=True,
        noun="triage",
        definition="From detection until an analyst first acknowledges and triages the case.",
    ),
    Clock(
        key="scope",
        label="Time to scope",
        abbreviation="MTTS",
        milestone="scoped_at",
        sla=True,
        noun="scoping",
        required_on_close="true_positive",
        definition=(
            "From detection until scoping is done: the case's indicators have been searched "
            "across the whole enterprise and the affected endpoints are known."
        ),
    ),
    Clock(
        key="contain",
        label="Time to contain",
        abbreviation="MTTC",
        milestone="contained_at",
        sla=True,
        noun="containment",
        intrusions_only=True,
        required_on_close="true_positive",
        definition=(
            "From detection until the threat can no longer spread: isolation, process kill "
            "or quarantine succeeded."
        ),
    ),
    Clock(
        key="remediate",
        label="Time to remediate",
        abbreviation="MTTR",
        milestone="remediated_at",
        sla=True,
        noun="remediation",
        reopen_rule="final",
        intrusions_only=True,
        required_on_close="true_positive",
        definition=(
            "From detection until the endpoint is clean: patched, malicious software removed, "
            "credentials reset. This is where the clock stops."
        ),
    ),
    Clock(
        key="close",
        label="Time to close",
        abbreviation="MTTClose",
        milestone="closed_at",
        sla=False,
        noun="closure",
        reopen_rule="final",
        required_on_close="none",
        definition="From detection until the case is closed and its paperwork done (no SLA).",
    ),
)
CLOCKS_BY_KEY: dict[str, Clock] = {clock.key: clock for clock in CLOCKS}
CLOCK_KEYS: tuple[str, ...] = tuple(CLOCKS_BY_KEY)
SLA_CLOCKS: tuple[Clock, ...] = tuple(clock for clock in CLOCKS if clock.sla)

DWELL = Clock(
    key="dwell",
    label="Dwell time",
    abbreviation="Dwell",
    start=FIRST_ACTIVITY,
    milestone="detected_at",
    sla=False,
    noun="detection",
    definition=(
        "From the first malicious activity on an endpoint (when the telemetry shows it) "
        "until detection: how long the attacker went unnoticed."
    ),
)


# --- Methodology --------------------------------------------------------------------------


def methodology_text() -> list[str]:
    """The paragraphs every report prints and the API returns, verbatim.

    Built from the definitions above so the text and the computation cannot disagree; a new
    list on every call so a caller may append to it safely.
    """
    clock_lines = " ".join(
        f"{clock.label} ({clock.abbreviation}): {clock.definition}" for clock in CLOCKS
    )
    return [
        f"Definitions version {DEFINITIONS_VERSION}.",
        (
            "Every clock is a span: the milestone's time minus the case's detection time "
            f"(detected_at). {clock_lines} {DWELL.label} is measured separately, from the "
            "first malicious activity on an endpoint to detection, and only when that "
            "activity is known."
        ),
        (
            "The detection time (detected_at) is the earliest observed time of the case's "
            "alerts, not the moment the case was created in Stopclock, so time spent before "
            "an analyst opened the case is counted."
        ),
        (
            "A case that was reopened counts its final remediation and final closure: the "
            "last remediated_at after the last reopen. Reopening proves the endpoint was not "
            "clean, and the remediation clock stops only when the endpoint is really clean. "
            "Triage, scoping and containment keep their first occurrence, because those steps "
            "really happened then."
        ),
        (
            "A span belongs to the reporting period in which its milestone was reached, so "
            "the figures of a past period do not change when older cases finish later. An "
            "open case enters a clock's figures only once it reaches that milestone."
        ),
        (
            "A closed case with a missing milestone, or a milestone earlier than detection "
            "(a negative span), is excluded from the figures. Each one is listed as a "
            "data-quality finding in the report; none is dropped silently. A missing "
            "milestone is attributed to the period in which the case was closed."
        ),
        (
            "Every case counts once. A case closed as a duplicate (or merged into another) "
            "is not measured at all: its alerts and its work belong to the case it "
            "duplicates. A case closed as a false positive or benign is measured on triage, "
            "on scoping when it was scoped, and on closure, because analysts did that work; "
            "it is not measured on containment or remediation, where there was nothing to "
            "contain or clean, and a missing scoping, containment or remediation milestone "
            "on it is not a data-quality finding. A closed true positive must have reached "
            "every milestone up to remediation. Open cases have no resolution yet and count "
            "on every clock whose milestone they reach."
        ),
        (
            "SLA clocks may be paused, for a recorded reason (for example, waiting for the "
            "customer). Paused intervals that fall between detection and the milestone are "
            "subtracted from the SLA span (overlapping pauses count once; a pause still open "
            "counts until the milestone). Raw durations, such as the mean, median and 90th "
            "percentile, are never reduced by pauses."
        ),
        (
            "A milestone corrected with a recorded reason is used as corrected; the original "
            "value and the reason remain in the audit trail."
        ),
        (
            "Each case is compared with the SLA target in force at its detection time, for "
            "its phase and severity, so changing a target does not rewrite past compliance. "
            "A span equal to its target meets it. Compliance is the share of measured cases "
            "whose SLA span meets the target; an open case whose clock is already past its "
            "target is a breach in progress."
        ),
        (
            "Reporting periods and trend buckets begin at midnight in the tenant's time "
            "zone (weeks on Monday). A calendar month, quarter or year is compared with the "
            "one before it; any other period with the period of equal length that ends "
            "where it starts."
        ),
        (
            f"{DWELL.label} is measured on cases detected in the period when the earliest "
            "endpoint observation referenced by the case's alerts precedes detection; when "
            "every referenced observation is later than detection, the first activity is "
            "not known and the case has no dwell time."
        ),
        (
            "Figures are given with the number of cases behind them. The median and the "
            "90th percentile interpolate linearly between the two nearest values (as "
            "PostgreSQL's percentile_cont does), so every database gives the same answer."
        ),
    ]


# --- Span rules -------------------------------------------------------------------------

SpanStatus = Literal["ok", "missing", "negative"]
Pause = tuple[datetime, datetime | None]


def _require_aware(*moments: datetime | None) -> None:
    """Refuse naive datetimes: a naive time next to an aware one is an hours-wide error."""
    for moment in moments:
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment!r}: milestones must be timezone-aware")


def raw_span(detected_at: datetime | None, milestone_at: datetime | None) -> timedelta | None:
    """The raw duration `milestone_at - detected_at`; None when either end is unknown.

    A negative result is returned as is, so `classify_span` can report it rather than hide it.
    """
    _require_aware(detected_at, milestone_at)
    if detected_at is None or milestone_at is None:
        return None
    return milestone_at - detected_at


def classify_span(detected_at: datetime | None, milestone_at: datetime | None) -> SpanStatus:
    """Whether a span may enter the figures ("ok") or is a data-quality finding."""
    span = raw_span(detected_at, milestone_at)
    if span is None:
        return "missing"
    if span < ZERO:
        return "negative"
    return "ok"


def _merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted, non-overlapping union of closed intervals."""
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def paused_overlap(pauses: Iterable[Pause], start: datetime, end: datetime) -> timedelta:
    """Total paused time inside [start, end], counting overlapping pauses once.

    A pause with no end is still running and counts until `end`. Pauses are clipped to the
    window, so a pause begun before detection only counts from detection. The result is never
    more than `end - start` (and zero when `end` is before `start`).
    """
    _require_aware(start, end)
    clipped = []
    for pause_start, pause_end in pauses:
        _require_aware(pause_start, pause_end)
        if pause_end is not None and pause_end < pause_start:
            raise ValueError(f"pause ends before it starts: {pause_start} > {pause_end}")
        lo = max(pause_start, start)
        hi = min(end if pause_end is None else pause_end, end)
        if lo < hi:
            clipped.append((lo, hi))
    return sum((hi - lo for lo, hi in _merge(clipped)), ZERO)


def sla_span(
    detected_at: datetime | None,
    milestone_at: datetime | None,
    pauses: Iterable[Pause] = (),
) -> timedelta | None:
    """The span an SLA target is compared with: the raw span minus paused time.

    For an open case, pass the current time as `milestone_at` to get the clock as it stands
    (a breach in progress is an open case whose running SLA span exceeds its target).
    A missing or negative raw span is returned unchanged: pauses cannot repair bad data.
    """
    _require_aware(detected_at, milestone_at)
    if detected_at is None or milestone_at is None:
        return None
    span = milestone_at - detected_at
    if span < ZERO:
        return span
    return span - paused_overlap(pauses, detected_at, milestone_at)


def meets_target(span: timedelta, target: timedelta) -> bool:
    """A span equal to its target meets it: "within 15 minutes" includes minute fifteen."""
    return span <= target


def final_milestone(
    occurrences: Iterable[datetime], reopens: Iterable[datetime]
) -> datetime | None:
    """The occurrence that counts under the "final" reopen rule.

    That is the last occurrence after the last reopen; None when the case was reopened after
    its last occurrence (it has not been remediated again yet).
    """
    times = list(occurrences)
    reopen_times = list(reopens)
    _require_aware(*times, *reopen_times)
    last_reopen = max(reopen_times, default=None)
    eligible = [t for t in times if last_reopen is None or t > last_reopen]
    return max(eligible, default=None)


@dataclass(frozen=True)
class Measurement:
    """One clock measured on one case: the unit the aggregation counts and reports."""

    clock: str
    status: SpanStatus
    raw: timedelta | None
    sla: timedelta | None


def measure(
    clock: Clock,
    milestones: Mapping[str, datetime | None],
    pauses: Iterable[Pause] = (),
) -> Measurement:
    """Measure `clock` on a case given its milestones (keyed as in MILESTONES).

    `raw` and `sla` are set only when the status is "ok"; otherwise the measurement is a
    data-quality finding. Pauses apply only to SLA clocks.
    """
    start = milestones.get(clock.start)
    end = milestones.get(clock.milestone)
    status = classify_span(start, end)
    if status != "ok":
        return Measurement(clock=clock.key, status=status, raw=None, sla=None)
    return Measurement(
        clock=clock.key,
        status=status,
        raw=raw_span(start, end),
        sla=sla_span(start, end, pauses) if clock.sla else None,
    )


# --- Statistics -------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolation percentile, identical to PostgreSQL's `percentile_cont`.

    Defined here so the SQLite path and Python-side charts compute the same median and p90
    as PostgreSQL. None for no values.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
    ordered = sorted(values)
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    weight = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * weight
