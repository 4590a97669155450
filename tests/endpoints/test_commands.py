"""`enrolment_secret`, `simulate_agents` (against a live server) and the demo seed."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from endpoints.models import Endpoint, Observation, TelemetryBatch
from endpoints.services import enrolment_authenticate
from tenancy.context import tenant_context


def _run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


@pytest.mark.django_db
def test_enrolment_secret_prints_the_same_secret_until_rotated(tenant_a):
    first = _run("enrolment_secret", "--tenant", tenant_a.slug)
    assert first.startswith("sce_")
    assert _run("enrolment_secret", "--tenant", tenant_a.slug) == first
    rotated = _run("enrolment_secret", "--tenant", tenant_a.slug, "--rotate")
    assert rotated != first
    assert enrolment_authenticate(first) is None
    assert enrolment_authenticate(rotated) == tenant_a
    with pytest.raises(CommandError):
        _run("enrolment_secret", "--tenant", "no-such-tenant")


@pytest.mark.django_db
def test_a_changed_secret_key_makes_the_secret_unshowable_not_wrong(tenant_a, settings):
    _run("enrolment_secret", "--tenant", tenant_a.slug)
    settings.SECRET_KEY = "another key entirely, long enough to be a key"
    with pytest.raises(CommandError, match="--rotate"):
        _run("enrolment_secret", "--tenant", tenant_a.slug)
    assert _run("enrolment_secret", "--tenant", tenant_a.slug, "--rotate").startswith("sce_")


def _simulate(tenant, url: str, *extra: str) -> str:
    args = f"--tenant {tenant.slug} --url {url} --endpoints 3 --records 40 --threads 1"
    return _run("simulate_agents", *args.split(), *extra)


@pytest.mark.django_db(transaction=True)
def test_simulate_agents_enrols_streams_and_plays_the_intrusion(tenant_a, live_server):
    out = _simulate(tenant_a, live_server.url, "--scenario", "intrusion")
    assert "enrolled 3 endpoint(s)" in out and "intrusion played" in out
    with tenant_context(tenant_a):
        assert Endpoint.objects.count() == 3
        assert Observation.objects.filter(event_id__startswith="sc-").count() > 40
        assert Observation.objects.filter(event_id__startswith="bn-").count() == 120
        assert TelemetryBatch.objects.filter(status="processed", detections__gt=0).exists()
    assert "enrolled 3" in _simulate(tenant_a, live_server.url)
    with tenant_context(tenant_a):
        assert Endpoint.objects.count() == 3  # re-enrolled, not duplicated


@pytest.mark.django_db
def test_simulate_agents_says_why_it_cannot_reach_the_server(tenant_a):
    with pytest.raises(CommandError, match="cannot reach"):
        _simulate(tenant_a, "http://127.0.0.1:9")


@pytest.mark.django_db
def test_the_demo_seed_is_quick_believable_and_idempotent(tenant_a):
    from endpoints import demo

    out = io.StringIO()
    with tenant_context(tenant_a):
        demo.seed(tenant_a, out)
        endpoints = Endpoint.objects.count()
        observations = Observation.objects.count()
        assert endpoints >= 20 and observations > 2000
        assert TelemetryBatch.objects.filter(detections__gt=0).count() >= 2
        demo.seed(tenant_a, out)
        assert Observation.objects.count() == observations
    assert "already has endpoints" in out.getvalue()


@pytest.mark.django_db
def test_following_agents_heartbeat_and_stream_until_stopped(tenant_a):
    import threading

    from endpoints.simulation import FleetSimulator, LocalTransport

    stop = threading.Event()
    with tenant_context(tenant_a):
        simulator = FleetSimulator(LocalTransport(), endpoints=2, threads=1)
        simulator.enrol_all()
        beats = []
        simulator.execute_actions = lambda spec, actions: beats.append(spec.hostname)
        original = simulator.send_benign

        def one_round(**kwargs):
            original(**kwargs)
            stop.set()  # stop after the first round of the loop

        simulator.send_benign = one_round
        simulator.follow(stop, interval=0.01, per_endpoint=70)
        assert len(beats) == 2  # one heartbeat per agent, answered with no actions
        assert Observation.objects.count() == 140
