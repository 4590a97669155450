"""Webhooks: signed deliveries after commit, retries with backoff, the delivery log."""

import datetime as dt
import http.server
import json
import random
import threading

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases import webhooks
from cases.models import WebhookDelivery
from cases.services import (
    acting_at,
    case_transition,
    sla_sweep,
    webhook_create,
    webhook_deliver,
    webhook_due_deliveries,
    webhook_redeliver,
)
from tests.cases.factories import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    seen: list[dict] = []
    state = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"headers": dict(self.headers), "body": body})
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    server.seen, server.state = seen, state
    server.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield server
    server.shutdown()


@pytest.fixture
def hook(in_a, receiver):
    in_a.settings = {"tenancy": {"outbound_allowlist": ["127.0.0.1"]}}
    in_a.save()
    hook, secret = webhook_create(
        name="soar",
        url=receiver.url,
        events=["case.created", "case.status_changed", "case.sla_breached"],
    )
    hook.plain_secret = secret
    return hook


def test_a_case_created_is_delivered_signed_after_commit(
    hook, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        case = make_case()
    (sent,) = receiver.seen
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    body = json.loads(sent["body"])
    assert body["event"] == "case.created" and body["case"]["number"] == case.number
    assert webhooks.verify(
        hook.plain_secret,
        int(headers["x-stopclock-timestamp"]),
        sent["body"],
        headers["x-stopclock-signature"],
    )
    assert headers["x-stopclock-delivery"] == body["id"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 200)
    assert delivery.duration_ms is not None


def test_nothing_is_sent_for_a_rolled_back_change(
    hook, receiver, django_capture_on_commit_callbacks
):
    from django.db import transaction

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        make_case()
        raise RuntimeError("rollback")
    assert receiver.seen == [] and not WebhookDelivery.objects.exists()


def test_status_changes_and_breaches_are_events(hook, receiver, django_capture_on_commit_callbacks):
    t0 = timezone.now() - dt.timedelta(minutes=30)
    with django_capture_on_commit_callbacks(execute=True):
        with acting_at(t0):
            case = make_case()
        case_transition(case=case, status="investigating")  # 30 min: triage breached
        sla_sweep()
    events = [json.loads(s["body"])["event"] for s in receiver.seen]
    assert events.count("case.status_changed") == 1
    breaches = [
        json.loads(s["body"])
        for s in receiver.seen
        if json.loads(s["body"])["event"] == "case.sla_breached"
    ]
    assert sorted(b["detail"]["clock"] for b in breaches) == ["triage"]


def test_a_failure_is_retried_with_backoff_then_given_up(
    hook, receiver, django_capture_on_commit_callbacks
):
    receiver.state["status"] = 503
    with django_capture_on_commit_callbacks(execute=True):
        make_case()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.error) == ("retrying", 1, "HTTP 503")
    first_wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert dt.timedelta(seconds=23) <= first_wait <= dt.timedelta(seconds=37)
    assert webhook_deliver(delivery_uid=str(delivery.uid)) is None  # not due yet
    moment = delivery.next_attempt_at
    for _ in range(webhooks.MAX_ATTEMPTS - 1):
        assert webhook_due_deliveries(now=moment) == [str(delivery.uid)]
        delivery = webhook_deliver(delivery_uid=str(delivery.uid), now=moment)
        moment = (delivery.next_attempt_at or moment) + dt.timedelta(seconds=1)
    assert (delivery.status, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
    assert len(receiver.seen) == webhooks.MAX_ATTEMPTS
    receiver.state["status"] = 200
    with django_capture_on_commit_callbacks(execute=True):
        webhook_redeliver(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(1)
    waits = [webhooks.backoff(n, rng) for n in range(1, 12)]
    assert waits[0] < waits[3] < waits[6]
    assert max(waits) <= webhooks.MAX_DELAY * 1.2
    assert len({round(w.total_seconds()) for w in waits[:3]}) == 3


def test_a_private_url_is_refused_unless_allowlisted(in_a):
    with pytest.raises(ValidationError) as caught:
        webhook_create(name="x", url="http://127.0.0.1:9/x", events=["case.created"])
    assert "url" in caught.value.message_dict
    with pytest.raises(ValidationError, match="events"):
        webhook_create(name="x", url="https://8.8.8.8/", events=["case.deleted"])


def test_a_url_that_became_private_fails_the_delivery_without_retry(
    hook, in_a, django_capture_on_commit_callbacks
):
    in_a.settings = {}
    in_a.save()
    with django_capture_on_commit_callbacks(execute=True):
        make_case()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.error.startswith("refused")
