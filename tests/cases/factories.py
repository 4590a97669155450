"""Builders for cases tests. They go through the services (as the application does), inside
the tenant in context, so every row has its audit event, timeline and SLA fields."""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from cases.models import Alert, Case
from cases.services import AlertInput, alert_ingest, case_create
from endpoints.models import Endpoint

_seq = itertools.count(1)


def alert_input(**overrides) -> AlertInput:
    n = next(_seq)
    values = {
        "title": f"Suspicious PowerShell #{n}",
        "severity": "medium",
        "source": "api",
        "observed_at": timezone.now() - dt.timedelta(minutes=5),
        "phase": "initial_infection",
        "external_id": f"siem-{n}",
    }
    values.update(overrides)
    return AlertInput(**values)


def make_alert(**overrides) -> Alert:
    """One alert (medium, no endpoint: no grouping rule takes it, it waits in the queue)."""
    return alert_ingest(alerts=[alert_input(**overrides)]).alerts[0]


def make_case(**overrides) -> Case:
    n = next(_seq)
    values = {
        "title": f"Macro dropper on WS-{n:03d}",
        "severity": "high",
        "phase": "initial_infection",
    }
    values.update(overrides)
    return case_create(**values)


def make_endpoint(**overrides) -> Endpoint:
    n = next(_seq)
    values = {"hostname": f"ws-{n:04d}", "os_family": "windows", "agent_id": f"agent-{n}"}
    values.update(overrides)
    return Endpoint.objects.create(**values)
