"""Bulk responses: one request, one approval, a Celery group of chunks creating one action
per endpoint (idempotently), progress, and one summary when the last endpoint answers."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cases.actions import services
from cases.actions.selectors import bulk_progress
from cases.models import BulkAction, ResponseAction, TimelineEntry
from endpoints.models import Endpoint
from intel.models import Hit, Sweep
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.errors import Conflict
from tests.fixtures.actions import IMPLANT, as_agent
from tests.intel.factories import observe

pytestmark = pytest.mark.django_db


@pytest.fixture
def running_implant(tenant_a, agents):
    """The implant ran on the first two endpoints (telemetry), not on the third."""
    for agent in agents[:2]:
        observe(
            agent.endpoint,
            [{"kind": "process_event", "action": "start", "pid": 4242, "sha256": IMPLANT}],
            tenant=tenant_a,
        )
    observe(agents[2].endpoint, [{"kind": "file", "sha256": IMPLANT}], tenant=tenant_a)
    return [agent.endpoint for agent in agents[:2]]


def _children(tenant, bulk):
    with tenant_context(tenant):
        return list(ResponseAction.objects.filter(bulk=bulk).select_related("endpoint"))


def test_kill_a_hash_wherever_it_runs_with_one_approval(
    tenant_a, people, incident, running_implant, act, django_capture_on_commit_callbacks
):
    bulk = act(
        people.analyst,
        roles.ANALYST,
        "bulk_action_request",
        type="kill_process",
        sha256=IMPLANT,
        case=incident.case,
        reason="implant everywhere",
    )
    assert bulk.status == "awaiting_approval" and bulk.total == 2
    assert bulk.parameters == {"sha256": IMPLANT} and bulk.target == {"sha256": IMPLANT}
    assert _children(tenant_a, bulk) == []  # created only once approved
    with pytest.raises(PermissionDenied):
        act(people.analyst, roles.ANALYST, "bulk_action_approve", bulk=bulk)
    with django_capture_on_commit_callbacks(execute=True):
        bulk = act(people.lead, roles.LEAD, "bulk_action_approve", bulk=bulk)
    children = _children(tenant_a, bulk)
    assert {c.endpoint for c in children} == set(running_implant)
    assert all(c.status == "queued" and c.approved_by_id == people.lead.pk for c in children)
    assert all(c.signature and c.parameters == {"sha256": IMPLANT} for c in children)
    with tenant_context(tenant_a):
        bulk.refresh_from_db()
    assert bulk.status == "running" and bulk.launched == 2
    # the agents answer; the last one finishes the bulk
    for child in children:
        with as_agent(child.endpoint):
            services.action_acknowledge(action=child)
            services.action_report(action=child, status="succeeded", output="killed 1")
    with tenant_context(tenant_a):
        bulk.refresh_from_db()
        incident.case.refresh_from_db()
        percent = bulk_progress(bulk)["percent"]
        lines = list(
            TimelineEntry.objects.filter(case=incident.case, kind="action")
            .order_by("id")
            .values_list("summary", flat=True)
        )
    assert bulk.status == "finished" and percent == 100
    assert incident.case.contained_at is not None
    assert lines[0].startswith("Bulk kill process on 2 endpoint(s)") and "requested" in lines[0]
    assert "approved by lee" in lines[1] and "launched" in lines[2]
    assert sum(line.startswith("Kill process on") and "succeeded" in line for line in lines) == 2
    assert lines[-1].endswith("finished: 2 succeeded")


def test_a_chunk_run_twice_creates_nothing_twice(
    tenant_a, people, running_implant, act, django_capture_on_commit_callbacks
):
    act(people.admin, roles.ADMIN, "action_settings_update", approval_required_types=[])
    with django_capture_on_commit_callbacks(execute=True):
        bulk = act(
            people.analyst,
            roles.ANALYST,
            "bulk_action_request",
            type="kill_process",
            sha256=IMPLANT,
        )
    assert len(_children(tenant_a, bulk)) == 2
    with tenant_context(tenant_a):
        again = services.bulk_action_launch_chunk(bulk_id=bulk.pk, endpoint_ids=bulk.endpoint_ids)
        bulk.refresh_from_db()
    assert again == 0 and len(_children(tenant_a, bulk)) == 2 and bulk.launched == 2


def test_the_endpoints_of_a_sweep_and_of_a_list(tenant_a, people, agents, act):
    from tests.intel.factories import make_hit

    with tenant_context(tenant_a):
        hit = make_hit()
        other = make_hit()
        Hit.objects.filter(pk=other.pk).update(sweep=hit.sweep)
    bulk = act(
        people.analyst,
        roles.ANALYST,
        "bulk_action_request",
        type="isolate_endpoint",
        sweep=hit.sweep_id,
    )
    assert sorted(bulk.endpoint_ids) == sorted([hit.endpoint_id, other.endpoint_id])
    listed = act(
        people.analyst,
        roles.ANALYST,
        "bulk_action_request",
        type="isolate_endpoint",
        endpoints=[a.endpoint.pk for a in agents],
    )
    assert listed.total == 3 and listed.target == {"endpoints": 3}


def test_bad_bulk_requests_change_nothing(tenant_a, tenant_b, people, agents, act, enrol_agent):
    foreign = enrol_agent(tenant_b).endpoint

    def request(**kwargs):
        return act(people.analyst, roles.ANALYST, "bulk_action_request", **kwargs)

    with pytest.raises(ValidationError, match="unknown endpoint"):
        request(type="isolate_endpoint", endpoints=[agents[0].endpoint.pk, foreign.pk])
    with pytest.raises(ValidationError, match="no endpoint matches"):
        request(type="kill_process", sha256="f" * 64)
    with pytest.raises(ValidationError, match="does not run on endpoints"):
        request(
            type="reset_credentials",
            endpoints=[agents[0].endpoint.pk],
            parameters={"account": "x@y"},
        )
    with pytest.raises(ValidationError, match="choose one"):
        request(type="isolate_endpoint", endpoints=[agents[0].endpoint.pk], sha256=IMPLANT)
    with pytest.raises(ValidationError):
        request(type="isolate_endpoint", sweep=123456)
    with tenant_context(tenant_a):
        assert not BulkAction.objects.exists()
        assert not Sweep.objects.exists()


def test_cancelling_a_bulk_cancels_the_endpoints_still_waiting(
    tenant_a, people, agents, act, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        bulk = act(
            people.analyst,
            roles.ANALYST,
            "bulk_action_request",
            type="isolate_endpoint",
            endpoints=[a.endpoint.pk for a in agents],
        )
        bulk = act(people.lead, roles.LEAD, "bulk_action_approve", bulk=bulk)
    first, *rest = sorted(_children(tenant_a, bulk), key=lambda c: c.pk)
    with as_agent(first.endpoint):
        services.action_acknowledge(action=first)
    with tenant_context(tenant_a):
        assert Endpoint.objects.filter(isolation_state="isolating").count() == 3
    bulk = act(people.lead, roles.LEAD, "bulk_action_cancel", bulk=bulk, reason="wrong hosts")
    statuses = {c.pk: c.status for c in _children(tenant_a, bulk)}
    assert statuses[first.pk] == "dispatched"
    assert {statuses[c.pk] for c in rest} == {"cancelled"}
    with tenant_context(tenant_a):
        assert Endpoint.objects.filter(isolation_state="isolating").count() == 1
    with pytest.raises(Conflict):
        act(people.lead, roles.LEAD, "bulk_action_cancel", bulk=bulk)


def test_a_rejected_bulk_never_creates_actions(tenant_a, people, agents, act):
    bulk = act(
        people.analyst,
        roles.ANALYST,
        "bulk_action_request",
        type="isolate_endpoint",
        endpoints=[agents[0].endpoint.pk],
    )
    bulk = act(people.lead, roles.LEAD, "bulk_action_reject", bulk=bulk, reason="not needed")
    assert bulk.status == "cancelled" and "rejected by lee" in bulk.status_reason
    assert _children(tenant_a, bulk) == []
    with pytest.raises(Conflict):
        act(people.lead2, roles.LEAD, "bulk_action_approve", bulk=bulk)
