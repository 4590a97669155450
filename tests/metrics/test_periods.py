"""Reporting periods: specs, labels, previous periods, the tenant's zone, buckets."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from metrics.periods import Period, last_complete_month, parse_period, period_options

NOW = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


def p(zone="UTC", **params):
    return parse_period(params, zone, NOW)


@pytest.mark.parametrize(
    ("spec", "label", "previous", "first", "after"),
    [
        ("2026-10", "October 2026", "September 2026", "2026-10-01", "2026-11-01"),
        ("2026-03", "March 2026", "February 2026", "2026-03-01", "2026-04-01"),
        ("2026-Q1", "Q1 2026", "Q4 2025", "2026-01-01", "2026-04-01"),
        ("2025", "2025", "2024", "2025-01-01", "2026-01-01"),
        ("last-month", "October 2026", "September 2026", "2026-10-01", "2026-11-01"),
        ("this-month", "November 2026", "October 2026", "2026-11-01", "2026-12-01"),
        ("last-quarter", "Q3 2026", "Q2 2026", "2026-07-01", "2026-10-01"),
        ("this-year", "2026", "2025", "2026-01-01", "2027-01-01"),
        (
            "last-30-days",
            "30 days to 28 Nov 2026",
            "the 30 days before",
            "2026-10-30",
            "2026-11-29",
        ),
        (
            "last-12-months",
            "December 2025 to November 2026",
            "the 12 months before",
            "2025-12-01",
            "2026-12-01",
        ),
    ],
)
def test_specs(spec, label, previous, first, after):
    period = p(period=spec)
    assert period.label == label and period.previous_label == previous
    assert period.current.first.isoformat() == first
    assert period.current.after.isoformat() == after
    assert period.previous.after == period.current.first  # adjacent


def test_custom_range_is_inclusive_and_compared_with_equal_length():
    period = p(**{"from": "2026-10-05", "to": "2026-10-11"})
    assert period.current.days == 7 and period.previous.days == 7
    assert period.label == "5 Oct 2026 to 11 Oct 2026"
    assert period.spec == "2026-10-05..2026-10-11"
    assert parse_period({"period": period.spec}, "UTC", NOW) == period


def test_boundaries_are_local_midnights():
    period = p("Europe/Paris", period="2026-10")
    assert period.start == dt.datetime(2026, 9, 30, 22, 0, tzinfo=dt.UTC)
    assert period.end == dt.datetime(2026, 10, 31, 23, 0, tzinfo=dt.UTC)  # DST ended
    assert (period.end - period.start) == dt.timedelta(days=31, hours=1)


def test_granularity_default_and_buckets():
    assert p(period="2026-10").granularity == "day"
    assert p(period="2026-Q3").granularity == "week"
    assert p(period="2026").granularity == "month"
    weeks = p(period="2026-10", granularity="week").buckets()
    assert weeks[0] == dt.date(2026, 9, 28) and weeks[-1] == dt.date(2026, 10, 26)
    assert len(p(period="2026", granularity="month").buckets()) == 12


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "yesterday"}, "period"),
        ({"period": "2026-13"}, "period"),
        ({"from": "2026-10-01"}, "to"),
        ({"from": "2026-10-10", "to": "2026-10-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
        ({"from": "2026-13-01", "to": "2026-12-01"}, "from"),
        (
            {"period": "2026", "granularity": "day", "from": "2024-01-01", "to": "2025-12-31"},
            "granularity",
        ),
        ({"period": "1999"}, "period"),
    ],
)
def test_bad_specs_name_the_parameter(params, field):
    with pytest.raises(ValidationError) as caught:
        p(**params)
    assert field in caught.value.message_dict


def test_round_trip_through_a_report():
    period = p("America/New_York", period="last-30-days", granularity="week")
    assert Period.from_dict(period.as_dict()) == period


def test_last_complete_month_in_the_tenant_zone():
    at = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)
    assert last_complete_month(at, "Europe/Paris") == (2026, 10)
    assert last_complete_month(at, "America/Los_Angeles") == (2026, 9)


def test_period_options_include_recent_months_and_a_custom_selection():
    options = dict(period_options("UTC", NOW, "2024-05"))
    assert options["2026-10"] == "October 2026" and options["2026-Q3"] == "Q3 2026"
    assert options["2024-05"] == "May 2024"
