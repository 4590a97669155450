"""The span projection under concurrent writers and readers, with real transactions on
PostgreSQL: catch-ups racing each other and racing case writes lose nothing and duplicate
nothing (the unique (case, clock) constraint would refuse a duplicate)."""

from __future__ import annotations

import datetime as dt

import pytest

from cases.models import Case
from metrics import projection
from metrics.models import CaseSpan, SpanBacklog
from tenancy.context import tenant_context
from tests.cases.test_concurrency import run_together
from tests.fixtures.metrics import build_story

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres):
    if not is_postgres:
        pytest.skip("needs concurrent transactions (SQLite serialises writers)")


def _rows(tenant):
    with tenant_context(tenant):
        return sorted(
            CaseSpan.objects.values_list("case_id", "clock", "status", "at", "raw_u", "paused_u")
        )


def test_catch_ups_racing_writes_end_equal_to_a_rebuild(tenant_a):
    with tenant_context(tenant_a):
        story = build_story(tenant_a)
    ids = [case.pk for case in story.cases.values()]

    def writer():
        with tenant_context(tenant_a):
            for step in range(30):
                Case.objects.filter(pk=ids[step % len(ids)]).update(
                    triaged_at=story.cases["A"].detected_at + dt.timedelta(minutes=step + 1)
                )
        return "written"

    def reader():
        with tenant_context(tenant_a):
            return sum(projection.catch_up(tenant_a.pk) for _ in range(30))

    results = run_together(writer, reader, reader)
    assert results[0] == "written"
    assert all(isinstance(result, int) for result in results[1:]), results
    with tenant_context(tenant_a):
        projection.catch_up(tenant_a.pk)
        assert not SpanBacklog.objects.exists()
    caught_up = _rows(tenant_a)
    with tenant_context(tenant_a):
        projection.rebuild(tenant_a.pk)
    assert _rows(tenant_a) == caught_up
