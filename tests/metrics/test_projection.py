"""The span projection (`metrics_casespan`): every kind of write to a case or a pause is
queued by the database triggers, a catch-up makes the projection equal to a rebuild from the
case rows, and it stays inside its tenant (ORM everywhere, RLS on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.db import connection

from cases.models import Case, CasePause
from metrics import projection, selectors
from metrics.aggregation import NO_FILTERS
from metrics.clocks import CLOCKS
from metrics.models import CaseSpan, SpanBacklog
from metrics.periods import parse_period
from tenancy.context import tenant_context
from tests.fixtures.metrics import M, _case, at, build_story

pytestmark = pytest.mark.django_db

TRIAGE = [c.key for c in CLOCKS].index("triage")
CONTAIN = [c.key for c in CLOCKS].index("contain")


def _spans(tenant) -> set[tuple]:
    with tenant_context(tenant):
        return set(
            CaseSpan.objects.values_list(
                "case_id",
                "clock",
                "phase_key",
                "severity_key",
                "status",
                "at",
                "detected_at",
                "raw_u",
                "paused_u",
            )
        )


def _queued(tenant) -> list[int]:
    with tenant_context(tenant):
        return sorted(SpanBacklog.objects.values_list("case_id", flat=True))


def _october_row(story, phase, clock):
    with tenant_context(story.tenant):
        figures = selectors.compute_figures(
            period=parse_period({"period": "2026-10"}, "UTC"), filters=NO_FILTERS, now=story.now
        )
    return next(r for r in figures["rows"] if r["phase"] == phase and r["clock"] == clock)


def test_catch_up_equals_a_rebuild_from_the_case_rows(metrics_story):
    tenant = metrics_story.tenant
    with tenant_context(tenant):
        assert projection.catch_up(tenant.pk) > 0  # the story's inserts were queued
        assert _queued(tenant) == []
        caught_up = _spans(tenant)
        assert caught_up  # spans of every case but the merged duplicate
        merged = metrics_story.cases["J"].pk
        assert all(case_id != merged for case_id, *_ in caught_up)
        projection.rebuild(tenant.pk)
    assert _spans(tenant) == caught_up


def test_a_raw_update_the_services_never_saw_changes_the_figures(metrics_story):
    """A write that bypasses every service (a data fix in a shell) is still queued."""
    before = _october_row(metrics_story, "initial_infection", "triage")
    case_b = metrics_story.cases["B"]  # triaged in 20 min against 15: a breach
    with tenant_context(metrics_story.tenant):
        Case.objects.filter(pk=case_b.pk).update(
            triaged_at=case_b.detected_at + dt.timedelta(minutes=5)
        )
        assert _queued(metrics_story.tenant) == [case_b.pk]
    after = _october_row(metrics_story, "initial_infection", "triage")
    assert after["count"] == before["count"]
    assert after["breaches"] == before["breaches"] - 1
    assert after["min_seconds"] == 5 * M


def test_writes_that_change_no_measured_column_are_not_queued(metrics_story):
    tenant = metrics_story.tenant
    with tenant_context(tenant):
        projection.catch_up(tenant.pk)
        Case.objects.filter(pk=metrics_story.cases["A"].pk).update(
            sla_breached=True, title="renamed", version=99
        )
        assert _queued(tenant) == []
        Case.objects.filter(pk=metrics_story.cases["A"].pk).update(severity="critical")
        assert _queued(tenant) == [metrics_story.cases["A"].pk]


def test_pauses_deletions_and_merges_are_queued_and_applied(metrics_story):
    tenant = metrics_story.tenant
    a, c, h = (metrics_story.cases[k] for k in "ACH")
    with tenant_context(tenant):
        projection.catch_up(tenant.pk)
        # A pause of 2 h inside A's containment window: its SLA containment span shrinks.
        pause = CasePause.objects.create(
            case=a, started_at=a.detected_at + dt.timedelta(hours=1),
            ended_at=a.detected_at + dt.timedelta(hours=3), reason="waiting on the ISP",
        )  # fmt: skip
        assert _queued(tenant) == [a.pk]
        projection.catch_up(tenant.pk)
        row = CaseSpan.objects.get(case_id=a.pk, clock=CONTAIN)
        assert (row.raw_u, row.paused_u) == (3 * 3600 * 10**6, 2 * 3600 * 10**6)
        # Ending the pause later (an UPDATE) and removing it (a DELETE) are queued too.
        CasePause.objects.filter(pk=pause.pk).update(ended_at=a.detected_at + dt.timedelta(hours=2))
        projection.catch_up(tenant.pk)
        assert CaseSpan.objects.get(case_id=a.pk, clock=CONTAIN).paused_u == 3600 * 10**6
        CasePause.objects.filter(pk=pause.pk).delete()
        projection.catch_up(tenant.pk)
        assert CaseSpan.objects.get(case_id=a.pk, clock=CONTAIN).paused_u == 0
        # A case merged into another stops being measured; a deleted case disappears.
        Case.objects.filter(pk=h.pk).update(merged_into=c)
        z = _case(
            tenant, 91, "Z", "persistence", "low", at(6, 9), {"triaged_at": dt.timedelta(minutes=9)}
        )
        projection.catch_up(tenant.pk)
        assert CaseSpan.objects.filter(case_id=z.pk).exists()
        from cases.models import MilestoneChange

        MilestoneChange.objects.filter(case=z).delete()
        Case.objects.filter(pk=z.pk).delete()
        projection.catch_up(tenant.pk)
        assert not CaseSpan.objects.filter(case_id__in=[z.pk, h.pk]).exists()
        assert _queued(tenant) == []
    before = _spans(tenant)
    with tenant_context(tenant):
        projection.rebuild(tenant.pk)
    assert _spans(tenant) == before


def test_the_figures_of_a_case_written_between_two_reads(metrics_story):
    """Each read sees every write committed before it, without anyone rebuilding."""
    first = _october_row(metrics_story, "persistence", "triage")
    with tenant_context(metrics_story.tenant):
        _case(
            metrics_story.tenant, 90, "Z", "persistence", "critical", at(20, 9),
            {"triaged_at": dt.timedelta(minutes=3), "closed_at": dt.timedelta(hours=1)},
            resolution="benign",
        )  # fmt: skip
    second = _october_row(metrics_story, "persistence", "triage")
    assert second["count"] == first["count"] + 1
    assert second["min_seconds"] == 3 * M


def test_projection_and_queue_stay_inside_their_tenant(tenant_a, tenant_b):
    with tenant_context(tenant_b):
        build_story(tenant_b)
        assert projection.catch_up(tenant_b.pk) > 0
        b_spans = CaseSpan.objects.count()
    assert b_spans > 0
    with tenant_context(tenant_a):
        # Tenant A's catch-up never touches B's queue or spans, and A sees none of them.
        _case(
            tenant_a,
            1,
            "A",
            "persistence",
            "high",
            at(5, 9),
            {"triaged_at": dt.timedelta(hours=1)},
            status="triaging",
        )
        assert projection.catch_up(tenant_a.pk) == 1
        assert CaseSpan.objects.count() == 1
        assert SpanBacklog.objects.count() == 0
        if connection.vendor == "postgresql":
            # Row-Level Security: raw SQL in A's session cannot see B's rows either.
            with connection.cursor() as cursor:
                cursor.execute("SELECT DISTINCT tenant_id FROM metrics_casespan")
                assert [row[0] for row in cursor.fetchall()] == [tenant_a.pk]
    with tenant_context(tenant_b):
        assert CaseSpan.objects.count() == b_spans


def test_rebuild_command_finds_and_repairs_drift(metrics_story):
    """A projection row edited behind the triggers' back (a restore, a bad fix) is found by
    `metrics_rebuild_spans --check` and repaired; a second run finds nothing."""
    from django.core.management import CommandError, call_command

    tenant = metrics_story.tenant
    with tenant_context(tenant):
        projection.catch_up(tenant.pk)
        expected = _spans(tenant)
        CaseSpan.objects.filter(case_id=metrics_story.cases["A"].pk, clock=TRIAGE).update(raw_u=1)
    with pytest.raises(CommandError, match=tenant.slug):
        call_command("metrics_rebuild_spans", "--check", "--tenant", tenant.slug, stdout=StringIO())
    assert _spans(tenant) == expected
    out = StringIO()
    call_command("metrics_rebuild_spans", "--check", "--tenant", tenant.slug, stdout=out)
    assert "up to date" in out.getvalue()
