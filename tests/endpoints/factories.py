"""Factories for the endpoints app; rows are created inside their tenant's context."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import factory
from django.utils import timezone

from endpoints.models import DetectionRule, Endpoint, Observation, RuleException, TelemetryBatch
from tests.factories import TenantOwnedFactory

_events = itertools.count(1)


class EndpointFactory(TenantOwnedFactory):
    class Meta:
        model = Endpoint

    hostname = factory.Sequence(lambda n: f"ws-{n:04d}")
    fqdn = factory.LazyAttribute(lambda o: f"{o.hostname}.corp.example")
    os_family = "windows"
    os_version = "Windows 11 Enterprise 23H2"
    agent_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    agent_version = "4.2.1"
    ip_addresses = factory.Sequence(lambda n: [f"10.1.{n // 250}.{n % 250 + 1}"])
    last_seen_at = factory.LazyFunction(timezone.now)


class TelemetryBatchFactory(TenantOwnedFactory):
    class Meta:
        model = TelemetryBatch

    endpoint = factory.SubFactory(EndpointFactory, tenant=factory.SelfAttribute("..tenant"))
    records = 1
    accepted = 1
    duplicates = 0
    status = TelemetryBatch.PROCESSED


class ObservationFactory(TenantOwnedFactory):
    class Meta:
        model = Observation

    endpoint = factory.SubFactory(EndpointFactory, tenant=factory.SelfAttribute("..tenant"))
    batch = factory.SubFactory(
        TelemetryBatchFactory,
        tenant=factory.SelfAttribute("..tenant"),
        endpoint=factory.SelfAttribute("..endpoint"),
    )
    kind = "process_event"
    action = "start"
    event_id = factory.LazyFunction(lambda: f"ev-{next(_events)}")
    observed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(minutes=5))
    received_at = factory.LazyFunction(timezone.now)
    pid = 4242
    ppid = 1000
    process_name = "cmd.exe"
    process_path = r"c:\windows\system32\cmd.exe"
    command_line = "cmd.exe /c whoami"


def add_observations(tenant, like: Observation, n: int) -> None:
    """`n` more observations on the endpoint (and in the batch) of `like`."""
    from tenancy.context import tenant_context

    with tenant_context(tenant):
        for _ in range(n):
            ObservationFactory(tenant=tenant, endpoint=like.endpoint, batch=like.batch)


UPLOADED_RULE = """\
title: Whoami Run
id: {rule_id}
status: test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\whoami.exe'
    condition: selection
tags:
    - attack.discovery
    - attack.t1033
level: low
"""


def rule_yaml(rule_id: str | None = None, title: str = "Whoami Run") -> str:
    text = UPLOADED_RULE.format(rule_id=rule_id or uuid.uuid4())
    return text.replace("title: Whoami Run", f"title: {title}")


class DetectionRuleFactory(TenantOwnedFactory):
    """An uploaded rule row (not compiled through the service: use `rule_upload` for that)."""

    class Meta:
        model = DetectionRule

    rule_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    title = factory.Sequence(lambda n: f"Rule {n}")
    level = "low"
    severity = "low"
    phase = "lateral_movement"
    source = DetectionRule.UPLOADED
    yaml = factory.LazyAttribute(lambda o: rule_yaml(o.rule_id, o.title))


class RuleExceptionFactory(TenantOwnedFactory):
    class Meta:
        model = RuleException

    rule = factory.SubFactory(DetectionRuleFactory, tenant=factory.SelfAttribute("..tenant"))
    field = "process_path"
    value = r"c:\tools\*"
    reason = "admin tools"
