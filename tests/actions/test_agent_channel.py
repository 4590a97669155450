"""The agent's channel: long poll, key, acknowledge, result over HTTP; the signed payload
and the agent's verifier (tampering, replays, expiry, another endpoint's payload)."""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time

import pytest
from django.test.utils import override_settings

from cases.actions import doorbell, signing
from cases.actions.agent import ActionRefused, ActionRunner, ActionVerifier, SimulatedMachine
from cases.models import Evidence, ResponseAction
from tenancy import roles
from tenancy.context import tenant_context
from tests.fixtures.actions import IMPLANT
from tests.utils import count_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(people, incident, act):
    """A kill on the first endpoint, approved and queued."""
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="kill_process",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"sha256": IMPLANT, "pid": 4242},
    )
    return act(people.lead, roles.LEAD, "action_approve", action=action)


def _poll(agent, **params):
    response = agent.get("/api/v1/agent/actions/", {"wait": 0, **params})
    assert response.status_code == 200, response.content
    return response.json()


class HttpChannel:
    """`ActionChannel` over the Django test client of one agent."""

    def __init__(self, client):
        self.client = client

    def poll_actions(self, *, wait=0, cursor=None):
        return _poll(self.client, **({"cursor": cursor} if cursor else {}))

    def ack_action(self, action_id):
        return self.client.post(f"/api/v1/agent/actions/{action_id}/ack/").json()

    def report_action(self, action_id, body):
        response = self.client.post(
            f"/api/v1/agent/actions/{action_id}/result/", body, format="json"
        )
        assert response.status_code in (200, 409), response.content
        return response.json()


def test_the_agent_polls_verifies_runs_and_reports(tenant_a, agents, queued, agent_of):
    agent = agents[0]
    answer = _poll(agent)
    (payload,) = answer["actions"]
    assert answer["cursor"] == ""  # something was delivered: look again next time
    assert payload["id"] == queued.pk and payload["type"] == "kill_process"
    assert payload["parameters"] == {"sha256": IMPLANT, "pid": 4242}
    assert set(payload) >= {"issued_at", "expires_at", "nonce", "signature", "key_id"}
    verifier = agent_of(agent)
    machine = SimulatedMachine("ws-0001")
    machine.observe([{"kind": "process", "pid": 4242, "sha256": IMPLANT, "event_id": "p1"}])
    report = ActionRunner(HttpChannel(agent), verifier, machine).handle([payload])
    assert report.executed == [queued.pk] and 4242 not in machine.running
    with tenant_context(tenant_a):
        queued.refresh_from_db()
    assert queued.status == "succeeded" and "killed 1 process" in queued.result["output"]
    assert _poll(agent)["actions"] == []


def test_an_unchanged_cursor_spares_the_database(tenant_a, agents, queued):
    agent = agents[1]  # nothing queued for it
    cursor = _poll(agent)["cursor"]
    assert cursor
    baseline, _ = count_queries(lambda: agent.get("/api/v1/agent/actions/", {"wait": 0}))
    spared, _ = count_queries(
        lambda: agent.get("/api/v1/agent/actions/", {"wait": 0, "cursor": cursor})
    )
    assert spared == baseline - 1  # only the token look-up is left
    # a new action rings the bell: the same cursor now finds it
    with tenant_context(tenant_a):
        doorbell.ring(tenant_a.pk, [agent.endpoint.pk])
    assert _poll(agent, cursor=cursor)["cursor"] != cursor


@override_settings(ACTIONS_BELL_CHECK_SECONDS=0.02, ACTIONS_LONG_POLL_SLOTS=2)
def test_a_waiting_poll_wakes_when_the_bell_rings(tenant_a, agents):
    endpoint = agents[1].endpoint
    bell = doorbell.current(tenant_a.pk, endpoint.pk)
    threading.Timer(0.2, lambda: doorbell.ring(tenant_a.pk, [endpoint.pk])).start()
    started = time.monotonic()
    new = doorbell.wait_for_change(tenant_a.pk, endpoint.pk, bell, timeout=5)
    assert new != bell and time.monotonic() - started < 2
    quiet = doorbell.wait_for_change(tenant_a.pk, endpoint.pk, new, timeout=0.1)
    assert quiet == new


@override_settings(ACTIONS_BELL_CHECK_SECONDS=0.02, ACTIONS_LONG_POLL_SLOTS=0)
def test_without_a_free_slot_the_poll_answers_at_once_with_poll_after(agents):
    started = time.monotonic()
    answer = _poll(agents[1], wait=20)
    assert answer["actions"] == [] and answer["poll_after"] == 20
    assert time.monotonic() - started < 5


@override_settings(ACTIONS_BELL_CHECK_SECONDS=0.02)
def test_a_long_poll_with_nothing_to_do_waits_then_answers_empty(agents):
    started = time.monotonic()
    answer = _poll(agents[1], wait=0.3)
    assert answer["actions"] == [] and answer["cursor"] and answer["poll_after"] == 0
    assert 0.25 <= time.monotonic() - started < 5


def test_bad_waits_are_refused(agents):
    response = agents[0].get("/api/v1/agent/actions/", {"wait": "soon"})
    assert response.status_code == 400 and "wait" in response.json()["error"]["fields"]


def test_an_agent_sees_and_answers_only_for_its_own_endpoint(
    tenant_a, tenant_b, agents, queued, enrol_agent
):
    other, foreign = agents[1], enrol_agent(tenant_b, hostname="ws-b")
    for agent in (other, foreign):
        assert _poll(agent)["actions"] == []
        for path in ("ack", "result"):
            response = agent.post(
                f"/api/v1/agent/actions/{queued.pk}/{path}/", {"status": "failed"}, format="json"
            )
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"
    with tenant_context(tenant_a):
        queued.refresh_from_db()
    assert queued.status == "queued"


def test_api_tokens_do_not_open_the_agent_routes_nor_agents_the_api(tenant_a, agents, api_client):
    token = api_client(tenant_a, roles.ADMIN)
    assert token.get("/api/v1/agent/actions/").status_code in (401, 403)
    assert agents[0].get("/api/v1/actions/").status_code in (401, 403)


def test_each_endpoint_has_its_own_key(agents):
    keys = {a.get("/api/v1/agent/actions/key/").json()["key"] for a in agents}
    assert len(keys) == 3


def test_the_verifier_refuses_tampering_replays_expiry_and_other_endpoints(
    agents, queued, agent_of
):
    agent = agents[0]
    (payload,) = _poll(agent)["actions"]
    verifier = agent_of(agent)
    for change in (
        lambda p: p["parameters"].update(sha256="0" * 64),  # another hash to kill
        lambda p: p["parameters"].pop("pid"),  # every process instead of one
        lambda p: p.update(type="isolate_endpoint"),
        lambda p: p.update(expires_at="2099-01-01T00:00:00Z"),  # a longer life
        lambda p: p.update(signature="0" * 64),
    ):
        forged = copy.deepcopy(payload)
        change(forged)
        with pytest.raises(ActionRefused) as refused:
            verifier.verify(forged)
        assert refused.value.reason == "bad_signature"
    assert verifier.verify(copy.deepcopy(payload))["id"] == payload["id"]
    with pytest.raises(ActionRefused) as refused:
        verifier.verify(copy.deepcopy(payload))  # the same payload again: a replay
    assert refused.value.reason == "replayed"
    # another endpoint's agent (its own key) refuses it too
    with pytest.raises(ActionRefused) as refused:
        agent_of(agents[1]).verify(copy.deepcopy(payload))
    assert refused.value.reason == "bad_signature"
    # a payload signed with this endpoint's key but naming another endpoint
    key = verifier.key
    other = dict(copy.deepcopy(payload), endpoint=agents[1].endpoint.pk, nonce="n" * 32)
    other["signature"] = signing.sign(other, key)
    with pytest.raises(ActionRefused) as refused:
        verifier.verify(other)
    assert refused.value.reason == "wrong_endpoint"
    # later than its expiry
    late = ActionVerifier(
        key=key,
        endpoint_id=agent.endpoint.pk,
        clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    with pytest.raises(ActionRefused) as refused:
        late.verify(copy.deepcopy(payload))
    assert refused.value.reason == "expired"
    with pytest.raises(ActionRefused) as refused:
        verifier.verify({"id": 1})
    assert refused.value.reason == "malformed"


def test_the_runner_reports_a_forged_payload_as_failed_and_runs_nothing(
    tenant_a, agents, queued, agent_of
):
    agent = agents[0]
    (payload,) = _poll(agent)["actions"]
    payload["parameters"]["sha256"] = "0" * 64
    machine = SimulatedMachine("ws-0001")
    report = ActionRunner(HttpChannel(agent), agent_of(agent), machine).handle([payload])
    assert report.executed == [] and report.refused == [(queued.pk, "bad_signature")]
    assert not machine.killed_hashes and not machine.killed_pids
    with tenant_context(tenant_a):
        queued.refresh_from_db()
    assert queued.status == "failed" and "refused by the agent" in queued.result["output"]


def test_a_replayed_payload_is_not_run_twice(tenant_a, agents, queued, agent_of):
    agent = agents[0]
    (payload,) = _poll(agent)["actions"]
    runner = ActionRunner(HttpChannel(agent), agent_of(agent), SimulatedMachine("ws-0001"))
    assert runner.handle([payload]).executed == [queued.pk]
    replay = runner.handle([copy.deepcopy(payload)])
    assert replay.executed == [] and replay.refused == [(queued.pk, "replayed")]
    with tenant_context(tenant_a):
        queued.refresh_from_db()
    assert queued.status == "succeeded"


def test_a_stored_action_altered_after_approval_no_longer_verifies(
    tenant_a, agents, queued, agent_of
):
    with tenant_context(tenant_a):  # someone with write access to the database, no secret
        ResponseAction.objects.filter(pk=queued.pk).update(parameters={"sha256": "1" * 64})
    (payload,) = _poll(agents[0])["actions"]
    with pytest.raises(ActionRefused, match="bad_signature"):
        agent_of(agents[0]).verify(payload)


def test_a_collected_file_becomes_evidence_on_the_case(
    tenant_a, people, incident, agents, act, agent_of
):
    path = r"C:\Users\jdoe\AppData\Roaming\Microsoft\svchost32.exe"
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="collect_file",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"path": path},
    )
    machine = SimulatedMachine("ws-0001")
    machine.observe(
        [
            {
                "kind": "file",
                "file_path": path.lower(),
                "sha256": IMPLANT,
                "header_hex": "4d5a90",
                "event_id": "f1",
            }
        ]
    )
    ActionRunner(HttpChannel(agents[0]), agent_of(agents[0]), machine).run_once()
    with tenant_context(tenant_a):
        action.refresh_from_db()
        evidence = Evidence.objects.get(case=incident.case)
        custody = list(evidence.custody.values_list("action", "actor_label"))
    (artifact,) = action.result["artifacts"]
    assert artifact["evidence"] == evidence.pk and evidence.original_name == "svchost32.exe"
    assert evidence.sha256 == artifact["sha256"] and custody == [("upload", "ws-0001")]


def test_an_artifact_that_does_not_match_its_hash_is_refused(tenant_a, people, incident, act):
    action = act(
        people.analyst,
        roles.ANALYST,
        "action_request",
        type="collect_file",
        endpoint=incident.endpoint,
        case=incident.case,
        parameters={"path": "/tmp/x"},
    )
    agent_client = incident.endpoint
    from rest_framework.test import APIClient

    from endpoints.services import endpoint_enrol

    with tenant_context(tenant_a):
        token = endpoint_enrol(
            agent_id=agent_client.agent_id, facts={"hostname": "ws-0001", "os_family": "windows"}
        ).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {token}")
    body = {
        "status": "succeeded",
        "artifacts": [
            {"kind": "file", "name": "x", "content_base64": "aGVsbG8=", "sha256": "0" * 64}
        ],
    }
    response = client.post(f"/api/v1/agent/actions/{action.pk}/result/", body, format="json")
    assert response.status_code == 400
    assert "artifacts.0.sha256" in response.json()["error"]["fields"]
    with tenant_context(tenant_a):
        action.refresh_from_db()
        assert action.status == "queued" and not Evidence.objects.exists()
