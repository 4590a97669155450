"""The life of a response action through its services: request, approval (four eyes),
queue, pick-up, result; rejection, cancellation, expiry, retry; every step on the case's
timeline and in the audit trail; the side effects (isolation state, containment)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cases.actions import services
from cases.models import MilestoneChange, ResponseAction, Task, TimelineEntry
from cases.services import acting_at, case_merge, task_update
from endpoints.models import Endpoint
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.errors import Conflict
from tenancy.models import AuditEvent
from tests.cases.factories import make_case
from tests.fixtures.actions import IMPLANT, acting, as_agent

pytestmark = pytest.mark.django_db


def _timeline(tenant, case) -> list[str]:
    with tenant_context(tenant):
        return list(
            TimelineEntry.objects.filter(case=case, kind="action")
            .order_by("occurred_at", "id")
            .values_list("summary", flat=True)
        )


def _audit(tenant, action) -> list[str]:
    with tenant_context(tenant):
        return list(
            AuditEvent.objects.filter(object_type="cases.responseaction", object_id=str(action.pk))
            .order_by("seq")
            .values_list("action", flat=True)
        )


def _isolation(tenant, endpoint) -> str:
    with tenant_context(tenant):
        return Endpoint.objects.get(pk=endpoint.pk).isolation_state


def _run(endpoint, action, status="succeeded", output="done", **extra):
    with as_agent(endpoint):
        services.action_acknowledge(action=action)
        return services.action_report(action=action, status=status, output=output, **extra)


def test_isolation_waits_for_a_lead_then_runs_and_stamps_containment(
    tenant_a, people, incident, act
):
    case, endpoint = incident.case, incident.endpoint
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="isolate_endpoint",
        endpoint=endpoint,
        case=case,
        reason="beaconing to C2",
    )
    assert action.status == "awaiting_approval" and action.requires_approval
    with pytest.raises(PermissionDenied, match="Four eyes"):
        act(people.analyst, roles.ANALYST, "action_approve", action=action)
    action = act(people.lead, roles.LEAD, "action_approve", action=action)
    assert action.status == "queued" and action.approved_by_id == people.lead.pk
    assert action.signature and action.nonce and action.expires_at > timezone.now()
    assert _isolation(tenant_a, endpoint) == "isolating"
    _run(endpoint, action, output="isolated")
    with tenant_context(tenant_a):
        action.refresh_from_db()
        case.refresh_from_db()
        stamped = MilestoneChange.objects.get(case=case, milestone="contained_at")
    assert _isolation(tenant_a, endpoint) == "isolated"
    assert action.status == "succeeded" and action.result["output"] == "isolated"
    assert case.contained_at is not None and case.status == "contained"
    assert stamped.kind == "stamped" and f"action #{action.pk}" in stamped.reason
    lines = _timeline(tenant_a, case)
    for line, word in zip(
        lines,
        [
            "requested by ana: beaconing",
            "awaits",
            "approved by lee",
            "queued",
            "picked up",
            "succeeded: isolated",
        ],
        strict=True,
    ):
        assert line.startswith("Isolate endpoint on ws-0001") and word in line, lines
    assert _audit(tenant_a, action) == [
        "action.request",
        "action.await_approval",
        "action.approve",
        "action.queue",
        "action.dispatch",
        "action.succeed",
    ]


def test_only_the_first_containment_stamps_the_milestone(tenant_a, people, incident, act):
    case, endpoint = incident.case, incident.endpoint
    first = act(
        people.lead,
        roles.LEAD,
        "action_request",
        type="kill_process",
        endpoint=endpoint,
        case=case,
        parameters={"sha256": IMPLANT},
    )
    first = act(people.lead2, roles.LEAD, "action_approve", action=first)
    _run(endpoint, first)
    with tenant_context(tenant_a):
        case.refresh_from_db()
    stamped = case.contained_at
    second = act(
        people.lead,
        roles.LEAD,
        "action_request",
        type="quarantine_file",
        endpoint=endpoint,
        case=case,
        parameters={"path": r"C:\Users\x\svchost32.exe", "sha256": IMPLANT},
    )
    second = act(people.lead2, roles.LEAD, "action_approve", action=second)
    _run(endpoint, second)
    with tenant_context(tenant_a):
        case.refresh_from_db()
        assert MilestoneChange.objects.filter(case=case, milestone="contained_at").count() == 1
    assert case.contained_at == stamped


def test_a_failed_isolation_does_not_contain_and_puts_the_endpoint_back(
    tenant_a, people, incident, act
):
    case, endpoint = incident.case, incident.endpoint
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="isolate_endpoint",
        endpoint=endpoint,
        case=case,
    )
    action = act(people.lead, roles.LEAD, "action_approve", action=action)
    _run(endpoint, action, status="failed", output="driver refused\nstack…")
    with tenant_context(tenant_a):
        case.refresh_from_db()
        action.refresh_from_db()
    assert case.contained_at is None and action.status_reason == "driver refused"
    assert _isolation(tenant_a, endpoint) == "none"


def test_containment_on_a_merged_case_stamps_the_survivor(tenant_a, people, incident, act):
    with acting(people.analyst, roles.ANALYST, tenant_a):
        survivor = make_case(title="the same intrusion")
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="kill_process",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"sha256": IMPLANT},
    )
    action = act(people.lead, roles.LEAD, "action_approve", action=action)
    with acting(people.analyst, roles.ANALYST, tenant_a):
        case_merge(source=incident.case, target=survivor)
    _run(incident.endpoint, action)
    with tenant_context(tenant_a):
        survivor.refresh_from_db()
    assert survivor.contained_at is not None


def test_types_outside_the_approval_list_are_queued_at_once(tenant_a, people, incident, act):
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="collect_file",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"path": r"C:\Windows\Temp\update.vbs"},
    )
    assert action.status == "queued" and not action.requires_approval
    assert action.approved_by_id is None


def test_an_admin_chooses_which_types_need_approval(tenant_a, people, incident, act):
    act(
        people.admin,
        roles.ADMIN,
        "action_settings_update",
        approval_required_types=["isolate_endpoint", "collect_file"],
    )
    collect = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="collect_file",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"path": r"C:\x.txt"},
    )
    kill = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="kill_process",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"sha256": IMPLANT},
    )
    assert collect.status == "awaiting_approval" and kill.status == "queued"
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="tenant.settings").get()
    assert event.changes["cases.approval_required_types"][1] == ["collect_file", "isolate_endpoint"]
    with pytest.raises(ValidationError):
        act(
            people.admin,
            roles.ADMIN,
            "action_settings_update",
            approval_required_types=["format_c"],
        )


def test_a_lead_approves_once_the_second_approval_is_a_conflict(tenant_a, people, incident, act):
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="isolate_endpoint",
        endpoint=incident.endpoint,
        case=incident.case,
    )
    act(people.lead, roles.LEAD, "action_approve", action=action)
    with pytest.raises(Conflict, match="nothing to approve"):
        act(people.lead2, roles.LEAD, "action_approve", action=action)
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="action.approve").count() == 1


def test_a_lead_cannot_approve_their_own_request_either(tenant_a, people, incident, act):
    action = act(
        people.lead,
        roles.LEAD,
        "action_request",
        type="isolate_endpoint",
        endpoint=incident.endpoint,
        case=incident.case,
    )
    with pytest.raises(PermissionDenied):
        act(people.lead, roles.LEAD, "action_approve", action=action)
    assert act(people.admin, roles.ADMIN, "action_approve", action=action).status == "queued"


def test_reject_needs_a_reason_and_ends_cancelled(tenant_a, people, incident, act):
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="isolate_endpoint",
        endpoint=incident.endpoint,
        case=incident.case,
    )
    with pytest.raises(ValidationError):
        act(people.lead, roles.LEAD, "action_reject", action=action, reason="  ")
    action = act(
        people.lead,
        roles.LEAD,
        "action_reject",
        action=action,
        reason="the domain controller must stay up",
    )
    assert action.status == "cancelled" and "rejected by lee" in action.status_reason
    assert _isolation(tenant_a, incident.endpoint) == "none"
    assert "rejected by lee: the domain controller" in _timeline(tenant_a, incident.case)[-1]


def test_cancel_is_for_the_requester_or_a_lead_and_not_once_dispatched(
    tenant_a, people, incident, act, member
):
    other = member(tenant_a, roles.ANALYST, "oth")
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="kill_process",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"sha256": IMPLANT},
    )
    with pytest.raises(PermissionDenied):
        act(other, roles.ANALYST, "action_cancel", action=action)
    assert act(people.analyst, roles.ANALYST, "action_cancel", action=action).status == "cancelled"
    queued = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="collect_file",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"path": r"C:\a.txt"},
    )
    with as_agent(incident.endpoint):
        services.action_acknowledge(action=queued)
    with pytest.raises(Conflict, match="agent already has it"):
        act(people.lead, roles.LEAD, "action_cancel", action=queued)


def test_expiry_of_unapproved_undelivered_and_unreported_actions(tenant_a, people, incident, act):
    def request(kind, **params):
        return act(
            people.analyst,
            roles.ANALYST,
            "action_request",
            type=kind,
            endpoint=incident.endpoint,
            case=incident.case,
            parameters=params,
        )

    waiting = request("isolate_endpoint")
    undelivered = request("collect_file", path=r"C:\one.txt")
    silent = request("collect_file", path=r"C:\two.txt")
    with as_agent(incident.endpoint):
        services.action_acknowledge(action=silent)
    with tenant_context(tenant_a):
        assert services.actions_expire() == 0
        with acting_at(timezone.now() + dt.timedelta(days=2)):
            assert services.actions_expire(now=timezone.now() + dt.timedelta(days=2)) == 3
        rows = {a.pk: a for a in ResponseAction.objects.all()}
    assert rows[waiting.pk].status == "expired" and "approved" in rows[waiting.pk].status_reason
    assert rows[undelivered.pk].status == "expired"
    assert rows[silent.pk].status == "failed" and "no result" in rows[silent.pk].status_reason
    assert _isolation(tenant_a, incident.endpoint) == "none"


def test_a_retry_is_a_new_attempt_that_keeps_the_approval(tenant_a, people, incident, act):
    first = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="kill_process",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"sha256": IMPLANT, "pid": 4242},
    )
    first = act(people.lead, roles.LEAD, "action_approve", action=first)
    _run(incident.endpoint, first, status="failed", output="access denied")
    second = act(people.analyst, roles.ANALYST, "action_retry", action=first)
    with pytest.raises(Conflict, match="already retried"):
        act(people.analyst, roles.ANALYST, "action_retry", action=first)
    with tenant_context(tenant_a):
        first.refresh_from_db()
    assert second.attempt == 2 and second.status == "queued"
    assert second.approved_by_id == people.lead.pk and second.nonce != first.nonce
    assert first.status == "failed" and first.result["output"] == "access denied"
    with pytest.raises(Conflict, match="only failed or expired"):
        act(people.analyst, roles.ANALYST, "action_retry", action=second)
    assert "attempt 2 requested by ana" in _timeline(tenant_a, incident.case)[-2]


def test_an_unapproved_expired_action_asks_again_when_retried(tenant_a, people, incident, act):
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="isolate_endpoint",
        endpoint=incident.endpoint,
        case=incident.case,
    )
    with tenant_context(tenant_a):
        services.actions_expire(now=timezone.now() + dt.timedelta(days=3))
    again = act(people.analyst, roles.ANALYST, "action_retry", action=action)
    assert again.status == "awaiting_approval" and again.attempt == 2


def test_reset_credentials_becomes_a_task_whose_completion_is_the_outcome(
    tenant_a, people, incident, act
):
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="reset_credentials",
        case=incident.case,
        parameters={"account": r"ACME\jdoe"},
    )
    assert action.status == "awaiting_approval" and action.endpoint_id is None
    action = act(people.lead, roles.LEAD, "action_approve", action=action)
    assert action.status == "dispatched" and action.task_id
    with tenant_context(tenant_a):
        task = Task.objects.get(pk=action.task_id)
    assert task.is_remediation and "ACME\\jdoe" in task.title
    with acting(people.analyst, roles.ANALYST, tenant_a):
        task_update(task=task, done=True)
        action.refresh_from_db()
    assert action.status == "succeeded" and "completed by ana" in action.result["output"]
    with pytest.raises(ValidationError, match="needs a case"):
        act(
            people.analyst,
            roles.ANALYST,
            "action_request",
            type="reset_credentials",
            parameters={"account": "jdoe@acme.example"},
        )


def test_a_team_outcome_can_be_recorded_as_failed(tenant_a, people, incident, act):
    act(people.admin, roles.ADMIN, "action_settings_update", approval_required_types=[])
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="reset_credentials",
        case=incident.case,
        parameters={"account": "jdoe@acme.example"},
    )
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_record_outcome",
        action=action,
        status="failed",
        output="account is a break-glass account",
    )
    assert action.status == "failed"
    with tenant_context(tenant_a):
        assert Task.objects.get(pk=action.task_id).done
    with pytest.raises(Conflict, match="agent reports"):
        kill = act(
            people.analyst,
            roles.ANALYST,
            "action_request",
            type="kill_process",
            endpoint=incident.endpoint,
            case=incident.case,
            parameters={"sha256": IMPLANT},
        )
        act(people.analyst, roles.ANALYST, "action_record_outcome", action=kill, status="succeeded")


def test_bad_requests_name_the_problem(tenant_a, people, incident, act):
    def request(**kwargs):
        return act(people.analyst, roles.ANALYST, "action_request", **kwargs)

    with pytest.raises(ValidationError) as exc:
        request(type="kill_process", endpoint=incident.endpoint, parameters={"sha256": "abc"})
    assert "parameters.sha256" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        request(
            type="kill_process",
            endpoint=incident.endpoint,
            parameters={"sha256": IMPLANT, "signal": 9},
        )
    assert exc.value.message_dict["parameters.signal"] == ["unknown parameter"]
    with pytest.raises(ValidationError, match="runs on an endpoint"):
        request(type="isolate_endpoint")
    with pytest.raises(ValidationError, match="type"):
        request(type="format_disk", endpoint=incident.endpoint)
    with pytest.raises(ValidationError, match="needs a case"):
        request(type="collect_file", endpoint=incident.endpoint, parameters={"path": "/etc/x"})
    with tenant_context(tenant_a):
        assert not ResponseAction.objects.exists()


def test_a_closed_case_takes_no_new_actions(tenant_a, people, act):
    with acting(people.analyst, roles.ANALYST, tenant_a):
        case = make_case()
        from cases.services import case_transition

        case_transition(case=case, status="closed", resolution="false_positive")
    with pytest.raises(Conflict, match="closed"):
        act(
            people.analyst,
            roles.ANALYST,
            "action_request",
            type="reset_credentials",
            case=case,
            parameters={"account": "jdoe@acme.example"},
        )


def test_the_agent_reporting_twice_is_harmless_and_a_change_of_mind_is_a_conflict(
    tenant_a, people, incident, act
):
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="collect_file",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"path": r"C:\nope.txt"},
    )
    _run(incident.endpoint, action, status="failed", output="no such file")
    with as_agent(incident.endpoint):
        again = services.action_report(action=action, status="failed", output="no such file")
        assert again.status == "failed"
        with pytest.raises(Conflict):
            services.action_report(action=action, status="succeeded")
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="action.fail").count() == 1
