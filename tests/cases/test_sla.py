"""SLA clocks of live cases: states, deadlines with pauses, the breach sweep (once per
case and clock), and the list filter agreeing with the per-case state."""

import datetime as dt

import pytest
from django.utils import timezone

from cases import sla
from cases.models import Case, SlaBreach, TimelineEntry
from cases.services import (
    acting_at,
    alert_ingest,
    case_pause,
    case_resume,
    case_scope_done,
    case_transition,
    sla_sweep,
)
from tests.cases.factories import alert_input, make_case

pytestmark = pytest.mark.django_db


def _states(case, now):
    return {c.key: c.state for c in sla.clock_states(case, list(case.pauses.all()), now)}


def test_targets_come_from_the_metrics_defaults(in_a):
    case = make_case(severity="critical", phase="persistence")
    assert sla.targets_for(case) == {
        "triage": dt.timedelta(minutes=15),
        "scope": dt.timedelta(hours=1),
        "contain": dt.timedelta(hours=4),
        "remediate": dt.timedelta(hours=24),
    }


def test_a_fresh_case_runs_every_clock(in_a):
    t0 = timezone.now()
    with acting_at(t0):
        case = make_case(detected_at=t0)
    assert _states(case, t0 + dt.timedelta(minutes=5)) == dict.fromkeys(
        ("triage", "scope", "contain", "remediate"), "running"
    )
    assert _states(case, t0 + dt.timedelta(minutes=12))["triage"] == "at_risk"
    assert _states(case, t0 + dt.timedelta(minutes=16))["triage"] == "breached"
    assert case.sla_due_at == t0 + dt.timedelta(minutes=15)
    assert case.sla_risk_at == t0 + dt.timedelta(minutes=15) * 0.75


def test_a_milestone_met_in_time_stops_its_clock(in_a):
    t0 = timezone.now() - dt.timedelta(hours=1)
    with acting_at(t0):
        case = make_case(detected_at=t0)
    with acting_at(t0 + dt.timedelta(minutes=10)):
        case = case_transition(case=case, status="triage")
    states = _states(case, timezone.now())
    assert states["triage"] == "met"
    assert case.sla_due_at == t0 + dt.timedelta(hours=1)  # next: scoping
    assert sla.state_of(case, t0 + dt.timedelta(minutes=20)) == "running"


def test_a_late_milestone_is_a_breach_recorded_once(in_a):
    t0 = timezone.now() - dt.timedelta(hours=1)
    with acting_at(t0):
        case = make_case(detected_at=t0)
    with acting_at(t0 + dt.timedelta(minutes=40)):
        case = case_transition(case=case, status="triage")
    assert case.sla_breached
    breach = SlaBreach.objects.get(case=case)
    assert (breach.clock, breach.deadline) == ("triage", t0 + dt.timedelta(minutes=15))
    assert TimelineEntry.objects.filter(case=case, kind="sla").count() == 1
    with acting_at(t0 + dt.timedelta(minutes=50)):
        case_scope_done(case=case)
    assert SlaBreach.objects.filter(case=case).count() == 1


def test_the_sweep_records_running_breaches_once(in_a):
    t0 = timezone.now() - dt.timedelta(hours=2)
    with acting_at(t0):
        late = make_case(detected_at=t0)
        fine = make_case(detected_at=t0)
    with acting_at(t0 + dt.timedelta(minutes=5)):
        case_scope_done(case=fine)
    assert sla_sweep(now=t0 + dt.timedelta(minutes=20)) == 1
    assert sla_sweep(now=t0 + dt.timedelta(minutes=21)) == 0
    assert sla_sweep(now=t0 + dt.timedelta(minutes=61)) == 1  # late: scoping now too
    assert set(SlaBreach.objects.filter(case=late).values_list("clock", flat=True)) == {
        "triage",
        "scope",
    }
    assert not SlaBreach.objects.filter(case=fine).exists()
    late.refresh_from_db()
    assert late.sla_breached and late.sla_due_at == t0 + dt.timedelta(hours=8)  # contain


def test_a_paused_clock_stands_still(in_a):
    t0 = timezone.now() - dt.timedelta(hours=1)
    with acting_at(t0):
        case = make_case(detected_at=t0)
    with acting_at(t0 + dt.timedelta(minutes=10)):
        case = case_pause(case=case, reason="customer asked to wait")
    states = sla.clock_states(case, list(case.pauses.all()), t0 + dt.timedelta(minutes=50))
    triage = next(c for c in states if c.key == "triage")
    assert triage.state == "paused" and triage.elapsed == dt.timedelta(minutes=10)
    assert sla.state_of(case, t0 + dt.timedelta(minutes=50)) == "paused"
    assert sla_sweep(now=t0 + dt.timedelta(minutes=50)) == 0
    with acting_at(t0 + dt.timedelta(minutes=50)):
        case = case_resume(case=case)
    assert case.sla_due_at == t0 + dt.timedelta(minutes=55)


def test_a_closed_case_has_no_running_clock(in_a):
    case = case_transition(case=make_case(), status="closed", resolution="false_positive")
    assert case.sla_due_at is None
    assert {c.state for c in sla.clock_states(case, [])} <= {"met", "stopped"}


def test_severity_escalation_shortens_the_targets(in_a):
    from cases.services import case_update

    t0 = timezone.now() - dt.timedelta(hours=3)
    with acting_at(t0):
        case = make_case(severity="low", detected_at=t0)
    assert case.sla_due_at == t0 + dt.timedelta(minutes=15)
    case = case_transition(case=case, status="triage")
    case = case_scope_done(case=case)  # late scoping: breached, recorded
    case = case_update(case=case, severity="critical")
    assert sla.targets_for(case)["contain"] == dt.timedelta(hours=4)


def test_the_list_filter_agrees_with_each_cases_state(in_a):
    """state_q (SQL) and state_of (Python) give the same answer for every kind of case."""
    now = timezone.now()
    for minutes in (1, 13, 14):  # running, at risk, at risk
        with acting_at(now - dt.timedelta(minutes=minutes)):
            make_case()
    with acting_at(now - dt.timedelta(minutes=10)):
        case_pause(case=make_case(), reason="wait")
        case_transition(case=make_case(), status="closed", resolution="benign")
    with acting_at(now - dt.timedelta(hours=3)):
        breached = make_case()
    assert breached.sla_due_at < now  # not swept yet: breached by its deadline alone
    by_state = {
        state: set(Case.objects.filter(sla.state_q(state, now)).values_list("pk", flat=True))
        for state, _ in sla.SLA_STATES
    }
    for case in Case.objects.all():
        expected = sla.state_of(case, now)
        owners = [state for state, ids in by_state.items() if case.pk in ids]
        assert owners == [expected], (case.number, owners, expected)
    assert {len(ids) for ids in by_state.values()} == {1, 2}


def test_a_backfilled_alert_opens_an_already_breached_case(in_a):
    old = timezone.now() - dt.timedelta(hours=2)
    case = alert_ingest(alerts=[alert_input(severity="high", observed_at=old)]).cases_created[0]
    case.refresh_from_db()
    assert case.sla_breached
    assert set(SlaBreach.objects.filter(case=case).values_list("clock", flat=True)) == {
        "triage",
        "scope",
    }


def test_the_beat_tasks_fan_out_to_every_tenant(tenant_a, tenant_b):
    from cases.tasks import sla_sweep_all, webhook_retry_all
    from tenancy.context import tenant_context

    t0 = timezone.now() - dt.timedelta(hours=2)
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant), acting_at(t0):
            make_case()
    assert sla_sweep_all() >= 2
    assert webhook_retry_all() >= 2
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant):
            assert set(SlaBreach.objects.values_list("clock", flat=True)) == {"triage", "scope"}


def test_the_schedule_is_merged_into_beat():
    from config.celery import app

    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    assert schedule["cases.sla_sweep_all"]["task"] == "cases.sla_sweep_all"
    assert "cases.webhook_retry_all" in schedule
