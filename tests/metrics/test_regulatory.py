"""Regulatory notification deadlines, checked against dates worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics.regulatory import (
    REGIMES,
    Deadline,
    Period,
    add_months,
    add_us_business_days,
    deadlines_for,
    hours,
    nth_weekday,
    us_federal_holidays,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def status(regime, anchors, sent=None, *, now, **kwargs):
    return {s.key: s for s in deadlines_for(regime, anchors, sent or {}, now=now, **kwargs)}


# --- Calendar -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (utc(2026, 1, 31, 10), 1, utc(2026, 2, 28, 10)),
        (utc(2028, 1, 31, 10), 1, utc(2028, 2, 29, 10)),  # leap year
        (utc(2026, 3, 31, 8), 1, utc(2026, 4, 30, 8)),
        (utc(2026, 12, 15, 23, 59), 1, utc(2027, 1, 15, 23, 59)),
        (utc(2026, 5, 19), 12, utc(2027, 5, 19)),
        (utc(2028, 2, 29), 12, utc(2029, 2, 28)),
    ],
)
def test_add_months_is_calendar_correct(start, months, expected):
    assert add_months(start, months) == expected


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
       st.integers(min_value=0, max_value=36))  # fmt: skip
def test_add_months_keeps_the_day_unless_the_month_is_shorter(moment, months):
    result = add_months(moment, months)
    assert (result.year * 12 + result.month) - (moment.year * 12 + moment.month) == months
    assert result.day == moment.day or (result.day < moment.day and result.day >= 28)
    assert result.time() == moment.time()


def test_nth_weekday_counts_from_either_end_of_the_month():
    assert nth_weekday(2026, 1, 0, 3) == date(2026, 1, 19)  # third Monday
    assert nth_weekday(2026, 5, 0, -1) == date(2026, 5, 25)  # last Monday (31st is a Sunday)
    assert nth_weekday(2026, 11, 3, 4) == date(2026, 11, 26)  # fourth Thursday


def test_us_federal_holidays_2026_with_independence_day_observed_on_friday():
    assert list(us_federal_holidays(2026)) == [
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 2, 16),
        date(2026, 5, 25),
        date(2026, 6, 19),
        date(2026, 7, 3),  # 4 July is a Saturday
        date(2026, 9, 7),
        date(2026, 10, 12),
        date(2026, 11, 11),
        date(2026, 11, 26),
        date(2026, 12, 25),
    ]


def test_a_new_years_day_on_saturday_is_observed_on_31_december_of_the_year_before():
    assert us_federal_holidays(2021)[date(2021, 12, 31)] == "New Year's Day"
    assert date(2022, 1, 1) not in us_federal_holidays(2022)
    assert date(2021, 12, 24) in us_federal_holidays(2021)  # Christmas on a Saturday


def test_a_sunday_holiday_is_observed_on_monday():
    assert date(2023, 1, 2) in us_federal_holidays(2023)  # 1 January 2023 was a Sunday


def test_juneteenth_is_a_holiday_from_2021_only():
    assert date(2021, 6, 18) in us_federal_holidays(2021)  # 19 June 2021 was a Saturday
    assert not any(d.month == 6 for d in us_federal_holidays(2020))


@given(st.integers(min_value=1990, max_value=2200))
def test_every_year_has_its_holidays_on_weekdays_with_new_year_moving_across(year):
    holidays = us_federal_holidays(year)
    expected = 11 if year >= 2021 else 10
    # A New Year's Day on a Saturday is observed on 31 December of the year before.
    expected -= date(year, 1, 1).weekday() == 5
    expected += date(year + 1, 1, 1).weekday() == 5
    assert len(holidays) == expected
    assert all(day.weekday() < 5 and day.year == year for day in holidays)


def test_business_days_skip_weekends_holidays_and_ad_hoc_closures():
    assert add_us_business_days(date(2026, 1, 16), 1) == date(2026, 1, 20)  # MLK Monday
    day_of_mourning = date(2025, 1, 9)
    assert add_us_business_days(date(2025, 1, 6), 4) == date(2025, 1, 10)
    assert add_us_business_days(date(2025, 1, 6), 4, closures={day_of_mourning}) == date(
        2025, 1, 13
    )


# --- GDPR ---------------------------------------------------------------------------------

AWARE = utc(2026, 3, 2, 9, 15)


@pytest.mark.parametrize(
    ("now", "sent", "state", "remaining"),
    [
        (utc(2026, 3, 3, 9), None, "pending", timedelta(hours=48, minutes=15)),
        (utc(2026, 3, 4, 10), None, "due_soon", timedelta(hours=23, minutes=15)),
        (utc(2026, 3, 5, 10), None, "overdue", timedelta(minutes=-45)),
        (utc(2026, 3, 6), utc(2026, 3, 5, 9, 15), "met", None),  # exactly on time
        (utc(2026, 3, 6), utc(2026, 3, 5, 9, 16), "missed", None),
    ],
)
def test_gdpr_authority_notification_is_due_72_hours_after_awareness(now, sent, state, remaining):
    notifications = {} if sent is None else {"authority_notification": sent}
    (result,) = deadlines_for("gdpr", {"awareness": AWARE}, notifications, now=now)
    assert result.due_at == utc(2026, 3, 5, 9, 15)
    assert (result.state, result.remaining, result.sent_at) == (state, remaining, sent)
    assert "Art. 33" in result.reference


def test_gdpr_before_awareness_has_no_due_date():
    (result,) = deadlines_for("gdpr", {}, {}, now=AWARE)
    assert (result.due_at, result.state, result.remaining) == (None, "pending", None)


# --- NIS2 ---------------------------------------------------------------------------------


def test_nis2_early_warning_notification_and_final_report_one_month_after_the_notification():
    aware = utc(2026, 1, 30, 22)
    sent = {
        "early_warning": utc(2026, 1, 31, 21),
        "incident_notification": utc(2026, 1, 31, 23, 30),
    }
    result = status("nis2", {"awareness": aware}, sent, now=utc(2026, 2, 25))
    assert result["early_warning"].due_at == utc(2026, 1, 31, 22)
    assert result["early_warning"].state == "met"
    assert result["incident_notification"].due_at == utc(2026, 2, 2, 22)
    assert result["incident_notification"].state == "met"
    assert result["final_report"].due_at == utc(2026, 2, 28, 23, 30)  # 31 Jan + 1 month
    assert result["final_report"].state == "due_soon"  # within a week


def test_nis2_final_report_waits_for_the_incident_notification():
    result = status("nis2", {"awareness": utc(2026, 1, 30, 22)}, now=utc(2026, 2, 3))
    assert result["early_warning"].state == "overdue"
    assert result["incident_notification"].state == "overdue"
    assert (result["final_report"].due_at, result["final_report"].state) == (None, "pending")


# --- SEC ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("determined", "due"),
    [
        # Friday before Martin Luther King Day: Tue, Wed, Thu, Fri -> 17:30 EST.
        (utc(2026, 1, 16, 19), utc(2026, 1, 23, 22, 30)),
        # Thursday before Independence Day observed on Friday 3 July: Mon-Thu -> 17:30 EDT.
        (utc(2026, 7, 2, 14), utc(2026, 7, 9, 21, 30)),
        # Wednesday before Thanksgiving: Fri, Mon, Tue, Wed.
        (utc(2026, 11, 25, 15), utc(2026, 12, 2, 22, 30)),
        # 23:00 on Friday in New York is Saturday in UTC; the New York day counts, and the
        # due day falls after the switch to daylight saving time on 8 March.
        (utc(2026, 3, 7, 4), utc(2026, 3, 12, 21, 30)),
        # Determined on a Saturday: Mon-Thu.
        (utc(2026, 3, 14, 15), utc(2026, 3, 19, 21, 30)),
    ],
)
def test_sec_8k_is_due_four_us_business_days_after_the_determination(determined, due):
    (result,) = deadlines_for("sec", {"determination": determined}, {}, now=determined)
    assert result.due_at == due
    assert result.state == "pending"


def test_sec_8k_honours_ad_hoc_closures():
    determined = utc(2025, 1, 6, 17)  # Monday; Thursday 9 January was a day of mourning
    (plain,) = deadlines_for("sec", {"determination": determined}, {}, now=determined)
    (closed,) = deadlines_for(
        "sec", {"determination": determined}, {}, now=determined, closures={date(2025, 1, 9)}
    )
    assert plain.due_at == utc(2025, 1, 10, 22, 30)
    assert closed.due_at == utc(2025, 1, 13, 22, 30)


def test_sec_8k_filed_after_the_cutoff_on_the_last_day_is_missed():
    determined = utc(2026, 1, 16, 19)
    (result,) = deadlines_for(
        "sec", {"determination": determined}, {"form_8k": utc(2026, 1, 23, 22, 31)}, now=determined
    )
    assert result.state == "missed"


# --- DORA ---------------------------------------------------------------------------------

DORA_AWARE = utc(2026, 5, 4, 8)


def test_dora_initial_notification_is_4_hours_after_classification():
    anchors = {"awareness": DORA_AWARE, "classification": utc(2026, 5, 4, 12)}
    result = status("dora", anchors, now=utc(2026, 5, 4, 15, 30))
    assert result["initial_notification"].due_at == utc(2026, 5, 4, 16)
    assert result["initial_notification"].state == "due_soon"
    assert result["intermediate_report"].due_at is None


def test_dora_initial_notification_is_never_later_than_24_hours_after_awareness():
    anchors = {"awareness": DORA_AWARE, "classification": utc(2026, 5, 5, 6)}
    result = status("dora", anchors, now=utc(2026, 5, 5, 6))
    assert result["initial_notification"].due_at == utc(2026, 5, 5, 8)


def test_dora_before_classification_the_24_hour_limit_runs_alone():
    result = status("dora", {"awareness": DORA_AWARE}, now=utc(2026, 5, 4, 9))
    assert result["initial_notification"].due_at == utc(2026, 5, 5, 8)
    assert result["initial_notification"].state == "pending"


def test_dora_intermediate_72_hours_after_initial_and_final_a_month_after_intermediate():
    anchors = {"awareness": DORA_AWARE, "classification": utc(2026, 5, 4, 12)}
    sent = {"initial_notification": utc(2026, 5, 4, 15), "intermediate_report": utc(2026, 5, 7, 16)}
    result = status("dora", anchors, sent, now=utc(2026, 6, 8))
    assert result["initial_notification"].state == "met"
    assert result["intermediate_report"].due_at == utc(2026, 5, 7, 15)
    assert result["intermediate_report"].state == "missed"
    assert result["final_report"].due_at == utc(2026, 6, 7, 16)
    assert result["final_report"].state == "overdue"
    assert result["final_report"].remaining == -timedelta(hours=8)


def test_dora_final_report_month_is_clamped_to_february():
    anchors = {"awareness": utc(2026, 1, 29, 10), "classification": utc(2026, 1, 29, 12)}
    sent = {
        "initial_notification": utc(2026, 1, 29, 13),
        "intermediate_report": utc(2026, 1, 31, 10),
    }
    result = status("dora", anchors, sent, now=utc(2026, 2, 1))
    assert result["final_report"].due_at == utc(2026, 2, 28, 10)


# --- Contract and validation --------------------------------------------------------------


def test_every_deadline_has_a_label_an_anchor_and_a_legal_reference():
    assert set(REGIMES) == {"gdpr", "nis2", "sec", "dora"}
    for regime in REGIMES.values():
        for deadline in regime.deadlines:
            assert deadline.label and deadline.reference and deadline.anchor


def test_a_notification_sent_before_its_anchor_happened_counts_as_met():
    (result,) = deadlines_for("sec", {}, {"form_8k": utc(2026, 1, 1)}, now=utc(2026, 1, 2))
    assert (result.state, result.due_at) == ("met", None)


@pytest.mark.parametrize(
    ("regime", "anchors", "sent", "message"),
    [
        ("hipaa", {}, {}, "unknown regime"),
        ("gdpr", {"awarenes": utc(2026, 1, 1)}, {}, "unknown anchors"),
        ("gdpr", {}, {"early_warning": utc(2026, 1, 1)}, "no notification"),
        ("gdpr", {"awareness": datetime(2026, 1, 1)}, {}, "naive"),
    ],
)
def test_typos_and_naive_times_are_errors_not_silently_ignored(regime, anchors, sent, message):
    with pytest.raises(ValueError, match=message):
        deadlines_for(regime, anchors, sent, now=utc(2026, 1, 2))


def test_a_period_is_exactly_one_kind_of_limit():
    with pytest.raises(ValueError):
        Period()
    with pytest.raises(ValueError):
        Period(duration=timedelta(hours=1), months=1)


def test_a_deadline_after_a_previous_notification_must_name_it():
    with pytest.raises(ValueError):
        Deadline(
            key="x",
            label="X",
            anchor="previous_notification",
            period=hours(1),
            reference="-",
            warn_before=timedelta(0),
        )


def test_periods_describe_themselves_for_reports():
    assert [hours(1).describe(), hours(72).describe()] == ["1 hour", "72 hours"]
    assert Period(months=1).describe() == "1 month"
    assert Period(business_days=4).describe() == "4 business days"
