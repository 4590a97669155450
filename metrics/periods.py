"""Reporting periods: what "October 2026" or "the last 30 days" means, in the tenant's zone.

A period is a half-open interval [start, end) of aware instants whose boundaries are local
midnights in the tenant's time zone, with a label and the previous period it is compared
with:

- a calendar month, quarter or year is compared with the previous month, quarter or year
  (so "October 2026" against "September 2026", as readers expect, even though the two
  months differ by a day);
- a rolling window ("last 30 days") or a custom range is compared with the window of equal
  length that ends where it starts.

Specs, as the API and the browser take them (`period=`): `2026-10`, `2026-Q3`, `2026`,
`this-month`, `last-month`, `this-quarter`, `last-quarter`, `this-year`, `last-year`,
`last-7-days`, `last-30-days`, `last-90-days`, `last-12-months`; or `from=` and `to=`
(inclusive local dates). Pure Python apart from reading the tenant's zone.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError

GRANULARITIES = ("day", "week", "month")
MAX_BUCKETS = 400  # day buckets over a little more than a year at most
MAX_DAYS = 3 * 366
FIRST_YEAR, LAST_YEAR = 2000, 2100  # periods outside these years are typos
DEFAULT_SPEC = "last-30-days"
PRESETS = (
    ("last-7-days", "Last 7 days"),
    ("last-30-days", "Last 30 days"),
    ("last-90-days", "Last 90 days"),
    ("this-month", "This month"),
    ("last-month", "Last month"),
    ("this-quarter", "This quarter"),
    ("last-quarter", "Last quarter"),
    ("this-year", "This year"),
    ("last-year", "Last year"),
    ("last-12-months", "Last 12 months"),
)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_ROLLING = re.compile(r"^last-(\d{1,3})-days$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Span:
    """One half-open interval of local days [first, after) with its label."""

    first: date
    after: date
    label: str

    @property
    def days(self) -> int:
        return (self.after - self.first).days


@dataclass(frozen=True)
class Period:
    """The period a set of figures describes, and the one it is compared with."""

    spec: str
    current: Span
    previous: Span
    granularity: str
    zone: str

    def _instant(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zoneinfo.ZoneInfo(self.zone)).astimezone(UTC)

    @property
    def start(self) -> datetime:
        return self._instant(self.current.first)

    @property
    def end(self) -> datetime:
        return self._instant(self.current.after)

    @property
    def previous_start(self) -> datetime:
        return self._instant(self.previous.first)

    @property
    def previous_end(self) -> datetime:
        return self._instant(self.previous.after)

    @property
    def label(self) -> str:
        return self.current.label

    @property
    def previous_label(self) -> str:
        return self.previous.label

    def buckets(self, span: Span | None = None) -> list[date]:
        """The first local day of every trend bucket of a span (the current by default)."""
        span = span or self.current
        first = bucket_of(span.first, self.granularity)
        days = []
        while first < span.after:
            days.append(first)
            first = next_bucket(first, self.granularity)
        return days

    def as_dict(self) -> dict:
        return {
            "spec": self.spec,
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "previous_label": self.previous_label,
            "previous_start": self.previous_start.isoformat(),
            "previous_end": self.previous_end.isoformat(),
            "granularity": self.granularity,
            "time_zone": self.zone,
            "first_day": self.current.first.isoformat(),
            "after_day": self.current.after.isoformat(),
            "previous_first_day": self.previous.first.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> Period:
        """The period `as_dict` described (a report keeps its period this way, so a change
        of the tenant's zone or of "today" never moves it)."""
        first = date.fromisoformat(data["first_day"])
        after = date.fromisoformat(data["after_day"])
        previous_first = date.fromisoformat(data["previous_first_day"])
        return cls(
            spec=data["spec"],
            current=Span(first, after, data["label"]),
            previous=Span(previous_first, first, data["previous_label"]),
            granularity=data["granularity"],
            zone=data["time_zone"],
        )


# --- calendar helpers ----------------------------------------------------------------------


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def bucket_of(day: date, granularity: str) -> date:
    """The first day of the bucket holding `day` (weeks start on Monday, as ISO and
    PostgreSQL's date_trunc say)."""
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return _month_start(day)
    raise ValueError(f"unknown granularity {granularity!r}")


def next_bucket(day: date, granularity: str) -> date:
    if granularity == "day":
        return day + timedelta(days=1)
    if granularity == "week":
        return day + timedelta(days=7)
    return _add_months(day, 1)


def bucket_label(day: date, granularity: str) -> str:
    if granularity == "month":
        return day.strftime("%b %Y")
    return day.strftime("%d %b")


def _fmt(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _range_label(first: date, after: date) -> str:
    last = after - timedelta(days=1)
    return _fmt(first) if first == last else f"{_fmt(first)} to {_fmt(last)}"


def _month(first: date) -> Span:
    return Span(first, _add_months(first, 1), first.strftime("%B %Y"))


def _quarter(year: int, quarter: int) -> Span:
    first = date(year, 3 * quarter - 2, 1)
    return Span(first, _add_months(first, 3), f"Q{quarter} {year}")


def _year(year: int) -> Span:
    return Span(date(year, 1, 1), date(year + 1, 1, 1), str(year))


def _rolling(after: date, days: int) -> tuple[Span, Span]:
    first = after - timedelta(days=days)
    current = Span(first, after, f"{days} days to {_fmt(after - timedelta(days=1))}")
    before = first - timedelta(days=days)
    return current, Span(before, first, f"the {days} days before")


def _calendar(spec: str, today: date) -> tuple[Span, Span] | None:
    """Calendar periods and their previous calendar period."""
    quarter_now = (today.month - 1) // 3 + 1
    if match := _MONTH.match(spec) or _QUARTER.match(spec) or _YEAR.match(spec):
        _check_year(int(match[1]), "period")  # year 0 or 9999 would not make a date
    if match := _MONTH.match(spec):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            return None
        first = date(year, month, 1)
    elif match := _QUARTER.match(spec):
        year, quarter = int(match[1]), int(match[2])
        previous = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
        return _quarter(year, quarter), _quarter(*previous)
    elif match := _YEAR.match(spec):
        return _year(int(match[1])), _year(int(match[1]) - 1)
    elif spec in ("this-month", "last-month"):
        first = _month_start(today) if spec == "this-month" else _add_months(today, -1)
    elif spec in ("this-quarter", "last-quarter"):
        number = quarter_now if spec == "this-quarter" else quarter_now - 1
        year = today.year if number > 0 else today.year - 1
        number = number if number > 0 else 4
        previous = (year, number - 1) if number > 1 else (year - 1, 4)
        return _quarter(year, number), _quarter(*previous)
    elif spec in ("this-year", "last-year"):
        year = today.year if spec == "this-year" else today.year - 1
        return _year(year), _year(year - 1)
    else:
        return None
    return _month(first), _month(_add_months(first, -1))


def default_granularity(days: int) -> str:
    if days <= 31:
        return "day"
    if days <= 92:
        return "week"
    return "month"


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: message})


def _check_year(year: int, field: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise _invalid(field, f"between the years {FIRST_YEAR} and {LAST_YEAR}")


def _parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid(field, "a date as YYYY-MM-DD") from None


def parse_period(
    params: Mapping[str, str | None], zone: str = "UTC", now: datetime | None = None
) -> Period:
    """The period named by request parameters (`period`, or `from`/`to`; `granularity`).

    Raises ValidationError naming the bad parameter.
    """
    zone_info = zoneinfo.ZoneInfo(zone)
    today = (now or datetime.now(UTC)).astimezone(zone_info).date()
    start, end = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    spec = (params.get("period") or "").strip().lower()
    if not (start or end) and (match := _RANGE.match(spec)):
        start, end = match[1], match[2]  # a custom range, as `Period.spec` writes it
    if start or end:
        if not (start and end):
            raise _invalid("from" if not start else "to", "give both from and to")
        first, last = _parse_date(start, "from"), _parse_date(end, "to")
        if last < first:
            raise _invalid("to", "must not be before from")
        # Bounded before any arithmetic: the previous period of a long or ancient range
        # would fall before year 1 (OverflowError, a 500).
        _check_year(first.year, "from")
        _check_year(last.year, "to")
        if (last - first).days >= MAX_DAYS:
            raise _invalid("to", f"a period is at most {MAX_DAYS} days")
        after = last + timedelta(days=1)
        length = (after - first).days
        current = Span(first, after, _range_label(first, after))
        previous = Span(first - timedelta(days=length), first, "the previous period")
        previous = Span(previous.first, previous.after, _range_label(previous.first, first))
        spec = f"{first.isoformat()}..{last.isoformat()}"
    else:
        spec = spec or DEFAULT_SPEC
        if spec == "last-12-months":
            first = _add_months(_month_start(today), -11)
            after = _add_months(_month_start(today), 1)
            current = Span(first, after, f"{first:%B %Y} to {today:%B %Y}")
            previous = Span(_add_months(first, -12), first, "the 12 months before")
        elif match := _ROLLING.match(spec):
            days = int(match[1])
            if not 1 <= days <= MAX_DAYS:
                raise _invalid("period", f"between 1 and {MAX_DAYS} days")
            current, previous = _rolling(today + timedelta(days=1), days)
        else:
            found = _calendar(spec, today)
            if found is None:
                choices = ", ".join(key for key, _ in PRESETS)
                raise _invalid(
                    "period", f"YYYY-MM, YYYY-Qn, YYYY, or one of {choices} (or from and to)"
                )
            current, previous = found
    if current.days > MAX_DAYS:
        raise _invalid("to", f"a period is at most {MAX_DAYS} days")
    if current.first.year < FIRST_YEAR or current.after.year > LAST_YEAR:
        raise _invalid("period", f"between the years {FIRST_YEAR} and {LAST_YEAR}")
    granularity = (params.get("granularity") or "").strip().lower()
    if granularity and granularity not in GRANULARITIES:
        raise _invalid("granularity", f"one of {', '.join(GRANULARITIES)}")
    period = Period(
        spec=spec,
        current=current,
        previous=previous,
        granularity=granularity or default_granularity(current.days),
        zone=zone,
    )
    if len(period.buckets()) > MAX_BUCKETS:
        raise _invalid("granularity", f"at most {MAX_BUCKETS} buckets; choose a coarser one")
    return period


def period_options(
    zone: str = "UTC", now: datetime | None = None, selected: str = ""
) -> list[tuple[str, str]]:
    """Choices for a period picker: the presets, the last 12 months and 4 quarters, and
    the selected spec when it is none of those."""
    today = (now or datetime.now(UTC)).astimezone(zoneinfo.ZoneInfo(zone)).date()
    options = list(PRESETS)
    month = _month_start(today)
    for _ in range(12):
        options.append((month.strftime("%Y-%m"), month.strftime("%B %Y")))
        month = _add_months(month, -1)
    quarter, year = (today.month - 1) // 3 + 1, today.year
    for _ in range(4):
        options.append((f"{year}-Q{quarter}", f"Q{quarter} {year}"))
        quarter, year = (quarter - 1, year) if quarter > 1 else (4, year - 1)
    if selected and selected not in dict(options):
        try:
            label = parse_period({"period": selected}, zone, now).label
        except ValidationError:
            label = selected
        options.append((selected, label))
    return options


def month_period(year: int, month: int, zone: str = "UTC") -> Period:
    """One calendar month (the monthly scheduled report)."""
    return parse_period({"period": f"{year:04d}-{month:02d}", "granularity": "week"}, zone)


def last_complete_month(now: datetime, zone: str) -> tuple[int, int]:
    """(year, month) of the last month that has ended in `zone` at `now`."""
    local = now.astimezone(zoneinfo.ZoneInfo(zone)).date()
    previous = _add_months(_month_start(local), -1)
    return previous.year, previous.month
