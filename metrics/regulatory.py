"""Regulatory notification clocks, as data, with pure deadline arithmetic.

A breach can start several legal clocks at once (a European bank listed in New York may owe
GDPR, NIS2, DORA and SEC notices for the same incident). Each regime is a tuple of
`Deadline`s; `deadlines_for` turns the moments a case records (awareness, materiality
determination, classification as major, notifications sent) into due dates and states.

Decisions and simplifications, so a reader can judge them:

- Hours are exact elapsed hours from the anchor (72 h after awareness at 10:00 UTC on a
  Monday is 10:00 UTC on Thursday).
- Months are calendar months at the same time of day, clamped to the month's last day
  (31 January + 1 month is 28 or 29 February). This can be earlier than the end-of-day reading
  of Regulation (EEC, Euratom) No 1182/71 on time limits, never later: it errs on the safe side.
- SEC Form 8-K Item 1.05 is due four US business days after the day of the materiality
  determination (the determination day itself does not count), at 17:30 New York time: EDGAR
  treats a filing submitted after 17:30 as filed on the next business day (Regulation S-T
  Rule 13(a)(2)). Business days skip weekends and US federal holidays (5 U.S.C. 6103, with
  the observed-day rule); ad hoc closures such as a national day of mourning cannot be
  computed, so callers pass them as `closures`.
- DORA: the initial notification is due 4 h after classification as major, but no later than
  24 h after awareness; while the incident is not yet classified, the 24 h limit alone
  applies. One intermediate report is tracked, 72 h after the initial notification was sent;
  pass the *latest* (updated) intermediate report under "intermediate_report" so the final
  report runs one month from it, as the RTS says. The RTS's relief that lets some entities
  move a deadline falling on a weekend or holiday to the next working day is not applied
  (the stricter date is shown).
- NIS2: intermediate reports "upon request" and the trust-service 24 h variant are not modelled.
- A deadline anchored on an earlier notification has no due date until that notification is
  sent; the earlier one is already shown as due or overdue.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

Anchor = Literal["awareness", "determination", "classification", "previous_notification"]
ANCHOR_EVENTS: frozenset[str] = frozenset({"awareness", "determination", "classification"})
DeadlineState = Literal["pending", "met", "missed", "due_soon", "overdue"]

NEW_YORK = ZoneInfo("America/New_York")
EDGAR_CUTOFF = time(17, 30)


# --- Calendar arithmetic ------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` later, clamped to the last day of a shorter month."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (Monday=0) of a month; n=-1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7 + 7 * (-n - 1))


def _observed(day: date) -> date:
    """A fixed-date holiday on Saturday is observed on Friday, on Sunday on Monday."""
    if day.weekday() == calendar.SATURDAY:
        return day - timedelta(days=1)
    if day.weekday() == calendar.SUNDAY:
        return day + timedelta(days=1)
    return day


def _holidays_by_rule(year: int) -> dict[date, str]:
    """The observed federal holidays that *belong* to `year` (one may fall in year - 1)."""
    mon, thu = calendar.MONDAY, calendar.THURSDAY
    holidays = {
        _observed(date(year, 1, 1)): "New Year's Day",
        nth_weekday(year, 2, mon, 3): "Washington's Birthday",
        nth_weekday(year, 5, mon, -1): "Memorial Day",
        _observed(date(year, 7, 4)): "Independence Day",
        nth_weekday(year, 9, mon, 1): "Labor Day",
        nth_weekday(year, 10, mon, 2): "Columbus Day",
        _observed(date(year, 11, 11)): "Veterans Day",
        nth_weekday(year, 11, thu, 4): "Thanksgiving Day",
        _observed(date(year, 12, 25)): "Christmas Day",
    }
    if year >= 1986:  # first observed in 1986
        holidays[nth_weekday(year, 1, mon, 3)] = "Birthday of Martin Luther King, Jr."
    if year >= 2021:  # enacted 17 June 2021, first observed on Friday 18 June 2021
        holidays[_observed(date(year, 6, 19))] = "Juneteenth National Independence Day"
    return holidays


def us_federal_holidays(year: int) -> dict[date, str]:
    """US federal holidays (5 U.S.C. 6103) as observed on dates in `year`, sorted by date.

    Today's rules apply to every year: nth-weekday holidays, and fixed dates moved to Friday
    or Monday when they fall on a weekend. Martin Luther King Day counts from 1986 and
    Juneteenth from 2021; older changes (Veterans Day in October in 1971-1977) are not
    reproduced. New Year's Day of the next year is included when it is observed on
    31 December of this one. Inauguration Day is a holiday only around Washington, DC, and
    is left out.
    """
    candidates = {**_holidays_by_rule(year), **_holidays_by_rule(year + 1)}
    return {day: name for day, name in sorted(candidates.items()) if day.year == year}


def is_us_business_day(day: date, closures: Collection[date] = ()) -> bool:
    """Not a weekend, not a federal holiday, not an ad hoc closure."""
    return (
        day.weekday() < calendar.SATURDAY
        and day not in us_federal_holidays(day.year)
        and day not in closures
    )


def add_us_business_days(day: date, count: int, closures: Collection[date] = ()) -> date:
    """The `count`-th business day after `day` (`day` itself never counts)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_us_business_day(day, closures):
            remaining -= 1
    return day


# --- Regimes as data ----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A legal time limit: exactly one of exact hours, calendar months or US business days."""

    duration: timedelta | None = None
    months: int = 0
    business_days: int = 0

    def __post_init__(self) -> None:
        given = [self.duration is not None, self.months > 0, self.business_days > 0]
        if sum(given) != 1:
            raise ValueError("a Period is exactly one of duration, months or business_days")

    def after(self, anchor: datetime, closures: Collection[date] = ()) -> datetime:
        """When the period that starts at `anchor` runs out (in UTC)."""
        anchor = anchor.astimezone(UTC)
        if self.duration is not None:
            return anchor + self.duration
        if self.months:
            return add_months(anchor, self.months)
        local_day = anchor.astimezone(NEW_YORK).date()
        due_day = add_us_business_days(local_day, self.business_days, closures)
        return datetime.combine(due_day, EDGAR_CUTOFF, tzinfo=NEW_YORK).astimezone(UTC)

    def describe(self) -> str:
        """Human wording for reports, e.g. "72 hours" or "4 business days"."""
        if self.duration is not None:
            hours = int(self.duration.total_seconds() // 3600)
            return f"{hours} hour{'s' if hours != 1 else ''}"
        if self.months:
            return f"{self.months} month{'s' if self.months != 1 else ''}"
        return f"{self.business_days} business day{'s' if self.business_days != 1 else ''}"


def hours(count: int) -> Period:
    return Period(duration=timedelta(hours=count))


def months(count: int) -> Period:
    return Period(months=count)


def business_days(count: int) -> Period:
    return Period(business_days=count)


class Limit(NamedTuple):
    """A second, outer limit on a deadline (DORA: "but no later than 24 h from awareness")."""

    anchor: Anchor
    period: Period


@dataclass(frozen=True)
class Deadline:
    """One notification a regime requires.

    `after` names the earlier notification when `anchor` is "previous_notification".
    `warn_before` is how long before the due time the deadline turns "due_soon"; it scales
    with the deadline, because an hour's warning is plenty for a 4 h clock and none for a
    month-long one.
    """

    key: str
    label: str
    anchor: Anchor
    period: Period
    reference: str
    warn_before: timedelta
    after: str | None = None
    no_later_than: Limit | None = None

    def __post_init__(self) -> None:
        if (self.anchor == "previous_notification") != (self.after is not None):
            raise ValueError(f"{self.key}: `after` is required exactly for previous_notification")


@dataclass(frozen=True)
class Regime:
    key: str
    label: str
    deadlines: tuple[Deadline, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for deadline in self.deadlines:
            if deadline.after is not None and deadline.after not in seen:
                raise ValueError(f"{deadline.key} must come after {deadline.after}")
            seen.add(deadline.key)


GDPR = Regime(
    key="gdpr",
    label="GDPR personal data breach",
    deadlines=(
        Deadline(
            key="authority_notification",
            label="Notify the supervisory authority",
            anchor="awareness",
            period=hours(72),
            reference="GDPR (EU) 2016/679 Art. 33(1)",
            warn_before=timedelta(hours=24),
        ),
    ),
)

NIS2 = Regime(
    key="nis2",
    label="NIS2 significant incident",
    deadlines=(
        Deadline(
            key="early_warning",
            label="Early warning to the CSIRT or competent authority",
            anchor="awareness",
            period=hours(24),
            reference="NIS2 Directive (EU) 2022/2555 Art. 23(4)(a)",
            warn_before=timedelta(hours=6),
        ),
        Deadline(
            key="incident_notification",
            label="Incident notification",
            anchor="awareness",
            period=hours(72),
            reference="NIS2 Directive (EU) 2022/2555 Art. 23(4)(b)",
            warn_before=timedelta(hours=24),
        ),
        Deadline(
            key="final_report",
            label="Final report",
            anchor="previous_notification",
            after="incident_notification",
            period=months(1),
            reference="NIS2 Directive (EU) 2022/2555 Art. 23(4)(d)",
            warn_before=timedelta(days=7),
        ),
    ),
)

SEC = Regime(
    key="sec",
    label="SEC material cybersecurity incident",
    deadlines=(
        Deadline(
            key="form_8k",
            label="File Form 8-K, Item 1.05",
            anchor="determination",
            period=business_days(4),
            reference="SEC Form 8-K Item 1.05 and General Instruction B.1 (17 CFR 249.308)",
            warn_before=timedelta(days=1),
        ),
    ),
)


def _dora_reference(point: str, rts_article: str) -> str:
    return (
        f"DORA (EU) 2022/2554 Art. 19(4){point}; "
        f"Delegated Regulation (EU) 2025/301 Art. {rts_article}"
    )


DORA = Regime(
    key="dora",
    label="DORA major ICT-related incident",
    deadlines=(
        Deadline(
            key="initial_notification",
            label="Initial notification",
            anchor="classification",
            period=hours(4),
            no_later_than=Limit(anchor="awareness", period=hours(24)),
            reference=_dora_reference("(a)", "5(1)"),
            warn_before=timedelta(hours=1),
        ),
        Deadline(
            key="intermediate_report",
            label="Intermediate report",
            anchor="previous_notification",
            after="initial_notification",
            period=hours(72),
            reference=_dora_reference("(b)", "5(2)"),
            warn_before=timedelta(hours=24),
        ),
        Deadline(
            key="final_report",
            label="Final report",
            anchor="previous_notification",
            after="intermediate_report",
            period=months(1),
            reference=_dora_reference("(c)", "5(3)"),
            warn_before=timedelta(days=7),
        ),
    ),
)

REGIMES: dict[str, Regime] = {regime.key: regime for regime in (GDPR, NIS2, SEC, DORA)}


# --- Deadline status ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineStatus:
    """Where one notification stands at `now`.

    States: "met" (sent on time, or sent before any deadline existed), "missed" (sent late),
    "overdue" (not sent, past due), "due_soon" (not sent, within `warn_before` of the due
    time), "pending" (not sent, either comfortably before the due time or not yet started
    because its anchor has not happened; then `due_at` is None). `remaining` is the time left
    until `due_at` for a notification not yet sent (negative once overdue), otherwise None.
    """

    key: str
    label: str
    reference: str
    due_at: datetime | None
    sent_at: datetime | None
    state: DeadlineState
    remaining: timedelta | None


def _due_at(
    deadline: Deadline,
    anchors: Mapping[str, datetime],
    sent: Mapping[str, datetime],
    closures: Collection[date],
) -> datetime | None:
    """The earliest of the deadline's limits whose anchor has happened; None if none has."""
    limits = [Limit(deadline.anchor, deadline.period)]
    if deadline.no_later_than is not None:
        limits.append(deadline.no_later_than)
    candidates = []
    for anchor, period in limits:
        if anchor == "previous_notification":
            start = sent.get(deadline.after) if deadline.after else None
        else:
            start = anchors.get(anchor)
        if start is not None:
            candidates.append(period.after(start, closures))
    return min(candidates, default=None)


def _state(
    due_at: datetime | None, sent_at: datetime | None, now: datetime, warn_before: timedelta
) -> DeadlineState:
    if sent_at is not None:
        return "met" if due_at is None or sent_at <= due_at else "missed"
    if due_at is None:
        return "pending"
    if now > due_at:
        return "overdue"
    return "due_soon" if due_at - now <= warn_before else "pending"


def _check_aware(values: Mapping[str, datetime], what: str) -> None:
    for key, value in values.items():
        if value.utcoffset() is None:
            raise ValueError(f"{what} {key!r} is a naive datetime; pass timezone-aware times")


def deadlines_for(
    regime: str | Regime,
    anchors: Mapping[str, datetime],
    notifications: Mapping[str, datetime],
    *,
    now: datetime,
    closures: Collection[date] = (),
) -> list[DeadlineStatus]:
    """The status of every deadline of `regime`, in the regime's order.

    `anchors` holds the events that have happened ("awareness", "determination",
    "classification"); `notifications` maps deadline keys to when each was sent. Unknown keys
    are an error rather than ignored, because a typo would silently hide a legal deadline.
    """
    if isinstance(regime, str):
        if regime not in REGIMES:
            raise ValueError(f"unknown regime {regime!r}; known: {', '.join(REGIMES)}")
        regime = REGIMES[regime]
    unknown_anchors = set(anchors) - ANCHOR_EVENTS
    if unknown_anchors:
        raise ValueError(f"unknown anchors: {', '.join(sorted(unknown_anchors))}")
    keys = {deadline.key for deadline in regime.deadlines}
    unknown_notifications = set(notifications) - keys
    if unknown_notifications:
        raise ValueError(
            f"{regime.key} has no notification {', '.join(sorted(unknown_notifications))}"
        )
    _check_aware(anchors, "anchor")
    _check_aware(notifications, "notification")
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")

    statuses = []
    for deadline in regime.deadlines:
        due_at = _due_at(deadline, anchors, notifications, closures)
        sent_at = notifications.get(deadline.key)
        statuses.append(
            DeadlineStatus(
                key=deadline.key,
                label=deadline.label,
                reference=deadline.reference,
                due_at=due_at,
                sent_at=sent_at,
                state=_state(due_at, sent_at, now, deadline.warn_before),
                remaining=due_at - now if due_at is not None and sent_at is None else None,
            )
        )
    return statuses
