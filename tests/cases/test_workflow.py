"""Case workflow: numbers, transitions and milestones, reopen, corrections, pauses,
merge and split, playbooks, links, versions."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases.models import (
    Alert,
    CaseLink,
    CasePause,
    MilestoneChange,
    Note,
    Task,
    TimelineEntry,
)
from cases.services import (
    acting_at,
    alert_ingest,
    case_bulk_update,
    case_correct_milestone,
    case_link,
    case_merge,
    case_pause,
    case_reopen,
    case_resume,
    case_scope_done,
    case_split,
    case_transition,
    case_update,
    note_create,
    task_update,
)
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.errors import Conflict, PreconditionFailed
from tenancy.models import AuditEvent
from tests.cases.factories import alert_input, make_alert, make_case, make_endpoint

pytestmark = pytest.mark.django_db


def test_numbers_are_sequential_per_tenant_and_year(tenant_a, tenant_b):
    year = timezone.now().year
    with tenant_context(tenant_a):
        numbers = [make_case().number for _ in range(3)]
    with tenant_context(tenant_b):
        other = make_case().number
    assert numbers == [f"CASE-{year}-{n:04d}" for n in (1, 2, 3)]
    assert other == f"CASE-{year}-0001"


def test_a_case_opened_by_hand_gets_its_playbook(in_a):
    case = make_case(phase="initial_infection", tags=["Phishing", " macro "])
    titles = list(Task.objects.filter(case=case).order_by("order").values_list("title", flat=True))
    assert titles[0] == "Trace the process tree on the first endpoint"
    assert "Search the hash enterprise-wide" in titles
    assert "Kill the process / quarantine the file" in titles
    assert "Patch the endpoint" in titles
    assert Task.objects.filter(case=case, is_remediation=True).exists()
    assert sorted(case.tags.values_list("name", flat=True)) == ["macro", "phishing"]
    assert AuditEvent.objects.filter(action="case.create", object_id=str(case.pk)).exists()


def test_a_phase_change_adds_that_phases_tasks_once(in_a):
    case = make_case(phase="initial_infection")
    before = Task.objects.filter(case=case).count()
    case = case_update(case=case, phase="lateral_movement")
    case = case_update(case=case, phase="initial_infection")
    case = case_update(case=case, phase="lateral_movement")
    assert Task.objects.filter(case=case).count() == before + 7
    assert Task.objects.filter(case=case, phase="lateral_movement").count() == 7


def test_transitions_stamp_their_milestones(in_a):
    t0 = timezone.now()
    case = make_case()
    with acting_at(t0 + dt.timedelta(minutes=5)):
        case = case_transition(case=case, status="triage")
    with acting_at(t0 + dt.timedelta(minutes=30)):
        case = case_scope_done(case=case)
    with acting_at(t0 + dt.timedelta(hours=2)):
        case = case_transition(case=case, status="contained")
    with acting_at(t0 + dt.timedelta(hours=9)):
        case = case_transition(case=case, status="remediated")
    with acting_at(t0 + dt.timedelta(hours=10)):
        case = case_transition(case=case, status="closed", resolution="true_positive")
    assert case.triaged_at == t0 + dt.timedelta(minutes=5)
    assert case.scoped_at == t0 + dt.timedelta(minutes=30)
    assert case.status == "closed" and case.resolution == "true_positive"
    assert case.contained_at == t0 + dt.timedelta(hours=2)
    assert case.remediated_at == t0 + dt.timedelta(hours=9)
    assert case.closed_at == t0 + dt.timedelta(hours=10)
    stamped = MilestoneChange.objects.filter(case=case, kind="stamped")
    assert set(stamped.values_list("milestone", flat=True)) == {
        "detected_at",
        "triaged_at",
        "scoped_at",
        "contained_at",
        "remediated_at",
        "closed_at",
    }
    assert case.version == 6


def test_skipping_ahead_stamps_what_it_implies(in_a):
    case = case_transition(case=make_case(), status="remediated")
    assert case.triaged_at and case.contained_at and case.remediated_at
    assert case.scoped_at is None  # scoping is only ever an explicit action


def test_moving_backwards_is_refused(in_a):
    case = case_transition(case=make_case(), status="contained")
    with pytest.raises(Conflict, match="can move to"):
        case_transition(case=case, status="investigating")


def test_closing_needs_a_resolution_and_a_true_positive_needs_remediation(in_a):
    case = make_case()
    with pytest.raises(ValidationError):
        case_transition(case=case, status="closed")
    with pytest.raises(Conflict, match="remediated first"):
        case_transition(case=case, status="closed", resolution="true_positive")
    closed = case_transition(case=case, status="closed", resolution="false_positive")
    assert closed.closed_at and closed.triaged_at and closed.remediated_at is None


def test_scope_done_twice_is_a_conflict(in_a):
    case = case_scope_done(case=make_case())
    assert case.status == "investigating" and case.triaged_at == case.scoped_at
    with pytest.raises(Conflict, match="already recorded"):
        case_scope_done(case=case)


def test_reopen_keeps_only_the_final_remediation(in_a):
    t0 = timezone.now() - dt.timedelta(days=1)
    with acting_at(t0):
        case = make_case()
    with acting_at(t0 + dt.timedelta(hours=1)):
        case = case_transition(case=case, status="remediated")
    first_remediation = case.remediated_at
    with acting_at(t0 + dt.timedelta(hours=2)):
        case = case_transition(case=case, status="closed", resolution="true_positive")
    with acting_at(t0 + dt.timedelta(hours=5)):
        case = case_reopen(case=case, reason="beaconing again")
    assert (case.status, case.resolution) == ("investigating", "")
    assert case.remediated_at is None and case.closed_at is None
    assert case.contained_at is not None  # first occurrence kept
    cleared = MilestoneChange.objects.filter(case=case, kind="reopened")
    assert set(cleared.values_list("milestone", "old_value")) == {
        ("remediated_at", first_remediation),
        ("closed_at", t0 + dt.timedelta(hours=2)),
    }
    with acting_at(t0 + dt.timedelta(hours=8)):
        case = case_transition(case=case, status="remediated")
    assert case.remediated_at == t0 + dt.timedelta(hours=8)
    assert TimelineEntry.objects.filter(case=case, kind="reopen").exists()


def test_reopen_needs_a_finished_case_and_a_reason(in_a):
    case = make_case()
    with pytest.raises(Conflict):
        case_reopen(case=case, reason="why not")
    with pytest.raises(ValidationError):
        case_reopen(case=case_transition(case=case, status="remediated"), reason=" ")


def test_a_milestone_is_corrected_only_with_a_reason(in_a, member, acting_as):
    lead = member(in_a, roles.LEAD, "lena")
    t0 = timezone.now() - dt.timedelta(hours=3)
    case = case_transition(case=make_case(detected_at=t0), status="triage")
    with pytest.raises(ValidationError, match="reason"):
        case_correct_milestone(case=case, milestone="triaged_at", value=t0, reason="")
    with pytest.raises(ValidationError, match="before detection"):
        case_correct_milestone(
            case=case,
            milestone="triaged_at",
            value=t0 - dt.timedelta(minutes=1),
            reason="typo in the runbook",
        )
    with pytest.raises(ValidationError, match="needs triaged_at"):
        case_correct_milestone(case=case, milestone="triaged_at", value=None, reason="clear it")
    fixed = t0 + dt.timedelta(minutes=9)
    with acting_as(lead):
        case = case_correct_milestone(
            case=case, milestone="triaged_at", value=fixed, reason="acknowledged by phone at 09:09"
        )
    assert case.triaged_at == fixed
    change = MilestoneChange.objects.get(case=case, kind="corrected")
    assert (change.new_value, change.reason, change.actor_label) == (
        fixed,
        "acknowledged by phone at 09:09",
        "lena",
    )
    entry = TimelineEntry.objects.get(case=case, kind="correction")
    assert "phone" in entry.summary
    event = AuditEvent.objects.get(action="case.milestone_correct")
    assert event.changes["reason"][1] == "acknowledged by phone at 09:09"


def test_detection_cannot_be_corrected_after_another_milestone(in_a):
    case = case_transition(case=make_case(), status="triage")
    with pytest.raises(ValidationError, match="after another milestone"):
        case_correct_milestone(
            case=case,
            milestone="detected_at",
            value=case.triaged_at + dt.timedelta(seconds=1),
            reason="wrong source clock",
        )


def test_pause_and_resume_record_the_interval(in_a):
    t0 = timezone.now() - dt.timedelta(hours=1)
    with acting_at(t0):
        case = make_case()
    with acting_at(t0 + dt.timedelta(minutes=5)):
        case = case_pause(case=case, reason="waiting for the customer")
        assert case.sla_due_at is None and case.paused_at is not None
        with pytest.raises(Conflict):
            case_pause(case=case, reason="again")
    with acting_at(t0 + dt.timedelta(minutes=35)):
        case = case_resume(case=case)
    pause = CasePause.objects.get(case=case)
    assert pause.ended_at - pause.started_at == dt.timedelta(minutes=30)
    # the triage deadline moved by the paused half hour
    assert case.sla_due_at == t0 + dt.timedelta(minutes=15 + 30)


def test_closing_a_paused_case_ends_the_pause(in_a):
    case = case_pause(case=make_case(), reason="waiting")
    case = case_transition(case=case, status="closed", resolution="benign")
    assert case.paused_at is None
    assert CasePause.objects.get(case=case).ended_at is not None


def test_merge_moves_everything_to_the_survivor(in_a):
    endpoint = make_endpoint()
    t0 = timezone.now() - dt.timedelta(hours=2)
    source = alert_ingest(
        alerts=[alert_input(severity="critical", observed_at=t0, endpoint=endpoint)]
    ).cases_created[0]
    target = make_case(severity="medium")
    note = note_create(case=source, body="found the dropper")
    case_link(case=source, obj=endpoint, relation="affected")
    case_update(case=source, tags=["ransomware"])
    survivor = case_merge(source=source, target=target, reason="same intrusion")
    source.refresh_from_db()
    assert survivor.pk == target.pk
    assert (source.status, source.resolution, source.merged_into_id) == (
        "closed",
        "duplicate",
        target.pk,
    )
    assert Alert.objects.get(endpoint=endpoint).case_id == target.pk
    assert Note.objects.get(pk=note.pk).case_id == target.pk
    assert CaseLink.objects.get().case_id == target.pk
    assert list(target.tags.values_list("name", flat=True)) == ["ransomware"]
    assert (survivor.severity, survivor.detected_at) == ("critical", t0)
    assert TimelineEntry.objects.filter(case=source, kind="merge").exists()
    assert TimelineEntry.objects.filter(case=target, kind="merge").exists()
    with pytest.raises(Conflict):
        case_merge(source=source, target=target)


def test_merge_into_itself_or_a_closed_case_is_refused(in_a):
    case = make_case()
    with pytest.raises(ValidationError):
        case_merge(source=case, target=case)
    closed = case_transition(case=make_case(), status="closed", resolution="benign")
    with pytest.raises(Conflict):
        case_merge(source=case, target=closed)


def test_split_moves_the_chosen_alerts_to_a_new_case(in_a):
    endpoint = make_endpoint()
    t0 = timezone.now() - dt.timedelta(hours=3)
    result = alert_ingest(
        alerts=[
            alert_input(severity="high", endpoint=endpoint, observed_at=t0),
            alert_input(
                severity="low",
                endpoint=endpoint,
                observed_at=t0 + dt.timedelta(hours=1),
                phase="lateral_movement",
            ),
            alert_input(severity="low", endpoint=endpoint, observed_at=t0 + dt.timedelta(hours=2)),
        ]
    )
    case = result.cases_created[0]
    first, second, third = result.alerts
    new_case = case_split(case=case, alerts=[first, second], title="second intrusion")
    case.refresh_from_db()
    assert set(Alert.objects.filter(case=new_case).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    assert new_case.detected_at == t0 and new_case.phase == "lateral_movement"
    assert new_case.status == "triage" and new_case.title == "second intrusion"
    assert case.detected_at == third.first_seen_at  # recomputed from what it kept
    with pytest.raises(ValidationError, match="at least one"):
        case_split(case=case, alerts=[third])


def test_a_link_attaches_any_object_once(in_a, tenant_b):
    case = make_case()
    endpoint = make_endpoint()
    link = case_link(case=case, obj=endpoint, relation="affected")
    assert case_link(case=case, obj=endpoint, relation="affected").pk == link.pk
    assert link.object_repr == endpoint.hostname
    with tenant_context(tenant_b):
        foreign = make_endpoint()
    with pytest.raises(ValidationError, match="unknown object"):
        case_link(case=case, obj=foreign)


def test_a_stale_version_changes_nothing(in_a):
    case = make_case(title="before")
    case_update(case=case, title="colleague's change", expected_version=1)
    with pytest.raises(PreconditionFailed):
        case_update(case=case, title="my change", expected_version=1)
    case.refresh_from_db()
    assert (case.title, case.version) == ("colleague's change", 2)


def test_bulk_update_is_all_or_nothing(in_a, member):
    analyst = member(in_a, roles.ANALYST, "ana")
    open_one, other = make_case(), make_case()
    contained = case_transition(case=make_case(), status="contained")
    with pytest.raises(ValidationError) as caught:
        case_bulk_update(cases=[open_one, other, contained], assignee=analyst, status="triage")
    assert contained.number in str(caught.value) and open_one.number not in str(caught.value)
    open_one.refresh_from_db()
    assert (open_one.status, open_one.assignee_id) == ("new", None)
    done = case_bulk_update(
        cases=[open_one, other], assignee=analyst, status="closed", resolution="false_positive"
    )
    assert {c.assignee_id for c in done} == {analyst.pk}
    assert {c.status for c in done} == {"closed"}


def test_assignee_must_work_cases_here(in_a, member, tenant_b):
    auditor = member(in_a, roles.AUDITOR, "audrey")
    outsider = member(tenant_b, roles.ANALYST, "otto")
    for user in (auditor, outsider):
        with pytest.raises(ValidationError, match="assignee"):
            make_case(assignee=user)


def test_task_done_goes_to_the_timeline(in_a, member, acting_as):
    user = member(in_a, roles.ANALYST, "tom")
    case = make_case()
    task = Task.objects.filter(case=case).first()
    with acting_as(user):
        task = task_update(task=task, done=True)
    assert task.done_by_id == user.pk and task.done
    entry = TimelineEntry.objects.filter(case=case, kind="task").latest("id")
    assert entry.summary.startswith("Task done") and entry.actor_label == "tom"


def test_acknowledging_an_alert_of_a_new_case_triages_it(in_a):
    from cases.services import alert_acknowledge

    result = alert_ingest(alerts=[alert_input(severity="high")])
    alert_acknowledge(alerts=result.alerts)
    case = result.cases_created[0]
    case.refresh_from_db()
    assert case.status == "triage" and case.triaged_at is not None


def test_promoting_from_the_queue_is_triage(in_a, member, acting_as):
    from cases.services import alert_promote

    user = member(in_a, roles.ANALYST, "pia")
    alerts = [make_alert(), make_alert()]
    with acting_as(user):
        case = alert_promote(alerts=alerts, title="two related alerts")
    assert (case.status, case.assignee_id, case.created_by_id) == ("triage", user.pk, user.pk)
    assert case.triaged_at is not None
    assert set(Alert.objects.filter(case=case).values_list("status", flat=True)) == {"promoted"}
    with pytest.raises(Conflict):
        alert_promote(alerts=alerts)


def test_a_note_is_markdown_on_the_timeline(in_a):
    case = make_case()
    note_create(case=case, body="# Found\n" + "word " * 100)
    entry = TimelineEntry.objects.get(case=case, kind="note")
    assert entry.summary.startswith("Note: # Found") and entry.summary.endswith("…")
