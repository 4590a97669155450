"""The PostgreSQL fast paths give exactly the figures of the general ones: per-group
percentiles (`lateral_percentiles`) against one grouped `percentile_cont`, and trend
buckets cut into intervals (`bucket_intervals`) against the local date of every instant."""

from __future__ import annotations

import bisect
import datetime as dt
import random

import pytest
from django.db import connection

from metrics import aggregation
from metrics.aggregation import Filters, bucket_intervals
from metrics.periods import parse_period
from tenancy.context import tenant_context

UTC = dt.UTC
ZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "America/Santiago",  # daylight saving starts at local midnight
    "Pacific/Chatham",
)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_bucket_intervals_agree_with_the_local_date_of_every_instant(zone, granularity):
    lo = dt.datetime(2025, 2, 17, 13, 0, tzinfo=UTC)
    split = dt.datetime(2025, 11, 3, 4, 0, tzinfo=UTC)
    hi = dt.datetime(2026, 8, 20, 0, 0, tzinfo=UTC)
    intervals = bucket_intervals(lo, hi, split, granularity, zone)
    starts = [start for start, _, _ in intervals]
    assert starts == sorted(set(starts)) and starts[0] == lo
    rng = random.Random(20261128)
    span = (hi - lo).total_seconds()
    instants = [lo + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(3000)]
    # Instants just either side of every cut are where an error would show.
    for start in starts[1:]:
        instants += [start, start - dt.timedelta(microseconds=1)]
    for instant in instants:
        _, bucket, cur = intervals[bisect.bisect_right(starts, instant) - 1]
        expected = aggregation._bucket_py(
            instant.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" "), zone, granularity
        )
        assert bucket.isoformat() == expected, (instant, zone)
        assert cur == int(instant >= split)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL fast path")
@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(phases=("initial_infection",)), Filters(severities=("high", "medium"))],
)
def test_lateral_percentiles_equal_one_grouped_percentile_cont(metrics_story, filters):
    story = metrics_story
    period = parse_period({"period": "2026-10"}, "UTC")
    window = {"lo": period.previous_start, "hi": period.end, "split": period.start}
    with tenant_context(story.tenant):
        assert aggregation.lateral_percentiles_apply(filters)
        lateral = aggregation.lateral_percentiles(
            tenant_id=story.tenant.pk, filters=filters, **window
        )
        grouped = aggregation.clock_percentiles(
            tenant_id=story.tenant.pk, filters=filters, targets=[], **window
        )
    assert lateral
    key = lambda row: (int(row["cur"]), row["phase"], row["clock"])  # noqa: E731
    fields = ("n", "p10", "p25", "p50", "p75", "p90")
    assert {key(r): [r[f] for f in fields] for r in lateral} == {
        key(r): [r[f] for f in fields] for r in grouped
    }


def test_filters_the_index_does_not_hold_take_the_general_path():
    assert not aggregation.lateral_percentiles_apply(Filters(tag="ransomware"))
    assert not aggregation.lateral_percentiles_apply(Filters(assignee_id=1))
    assert not aggregation.lateral_percentiles_apply(Filters(), window=True)
