"""Two tenants full of data, for attacks across the wall and for the API fuzzer.

`build_world()` seeds tenant A and tenant B the same way — one object of every kind the
isolation registry knows (`tests/isolation/registry_*.py`: a new resource registered there
is seeded here with no change), plus text-rich objects whose every free-text field carries
the tenant's marker string — and returns, per tenant, the ids of every row of every
tenant-owned model, a token for every role and an agent token.

B's marker (`MARK_B`) is what "no B data in any response body" searches for. It is in B's
name, its users' names, case and alert titles, notes, IOC values, descriptions and tags,
host names, rule titles, file names and audit entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import Tenant, TenantOwnedModel
from tenancy.services import api_token_create, audit_record
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.isolation import harness

MARK_A = "qqalphamarkqq"
MARK_B = "zzbravoleakzz"
ROLES = (roles.ADMIN, roles.LEAD, roles.ANALYST, roles.AUDITOR, roles.INTEGRATION)

# Tenant-owned models a seeded tenant may hold no row of, each with the reason.
UNSEEDED: dict[str, str] = {
    "cases.CasePause": "only while a case is paused; the fuzzer pauses cases itself",
    "cases.SlaBreach": "written by the SLA sweep when a clock runs out",
    "tenancy.OutboxMessage": "transient: a task message waiting for the broker",
    "metrics.SpanBacklog": "transient: the cases queued for the span projection, emptied below",
}


def tenant_owned_models() -> list[type[TenantOwnedModel]]:
    return sorted(
        (m for m in apps.get_models() if issubclass(m, TenantOwnedModel) and m._meta.managed),
        key=lambda m: m._meta.label,
    )


@dataclass
class Side:
    """One tenant of the world: its rows, its credentials, its marker."""

    tenant: Tenant
    marker: str
    ids: dict[str, list[int]] = field(default_factory=dict)  # model label -> pks
    tokens: dict[str, str] = field(default_factory=dict)  # role -> API token key
    users: dict[str, Any] = field(default_factory=dict)  # role -> user
    agent_token: str = ""
    enrolment_secret: str = ""
    endpoint_id: int | None = None
    objects: dict[str, Any] = field(default_factory=dict)  # name -> a marker-rich object

    def auth(self, role: str) -> str:
        if role == roles.AGENT:
            return f"Agent {self.agent_token}"
        return f"Token {self.tokens[role]}"


@dataclass
class World:
    a: Side
    b: Side


def _registry_factories() -> list:
    harness.load_registry()
    seen, factories = set(), []
    for registration in [*harness.API, *harness.PAGES]:
        if registration.factory not in seen:
            seen.add(registration.factory)
            factories.append(registration.factory)
    return factories


def _marker_objects(side: Side) -> None:
    """Objects whose free text carries the marker (and a little hostile markup)."""
    from cases.services import (
        AlertInput,
        alert_ingest,
        case_create,
        case_link,
        evidence_upload,
        note_create,
        task_create,
        webhook_create,
    )
    from endpoints.processing import process_batch
    from endpoints.services import (
        endpoint_enrol,
        enrolment_secret_reveal,
        rule_upload,
        telemetry_ingest,
    )
    from intel.services import ioc_create, source_create
    from tests.endpoints.factories import rule_yaml

    m = side.marker
    side.enrolment_secret = enrolment_secret_reveal()
    enrolment = endpoint_enrol(
        agent_id=f"agent-{m}",
        facts={
            "hostname": f"{m}-ws-001",
            "os_family": "windows",
            "domain": f"{m}.corp",
            "user_groups": [f"{m}-group"],
            "tags": [f"{m}-endpoint-tag"],
        },
    )
    endpoint = enrolment.endpoint
    side.agent_token = enrolment.token
    side.endpoint_id = endpoint.pk
    when = (timezone.now() - dt.timedelta(minutes=10)).isoformat()
    outcome = telemetry_ingest(
        endpoint=endpoint,
        enqueue=False,
        records=[
            {
                "kind": "process_event",
                "event_id": f"{m}-1",
                "observed_at": when,
                "action": "start",
                "pid": 4100,
                "ppid": 4,
                "process_name": f"{m}.exe",
                "process_path": f"c:\\users\\{m}\\{m}.exe",
                "command_line": f"powershell -enc {m}",
                "sha256": hashlib.sha256(m.encode()).hexdigest(),
            },
            {
                "kind": "autorun",
                "event_id": f"{m}-2",
                "observed_at": when,
                "autorun_type": "run_key",
                "item_name": f"{m}-autorun",
                "target_path": f"c:\\users\\{m}\\{m}.exe",
                "registry_key": f"hklm\\software\\microsoft\\windows\\currentversion\\run\\{m}",
            },
        ],
    )
    process_batch(batch_id=outcome.batch_id)
    case = case_create(
        title=f"{m} case title",
        description=f"{m} case description",
        severity="high",
        phase="initial_infection",
        tags=[f"{m}-tag"],
        watchers=[side.users[roles.ANALYST]],
    )
    case_link(case=case, obj=endpoint, relation="affected")
    alert = alert_ingest(
        alerts=[
            AlertInput(
                title=f"{m} alert title",
                severity="low",
                source="api",
                observed_at=timezone.now() - dt.timedelta(minutes=3),
                phase="persistence",
                external_id=f"{m}-ext",
                raw={"marker": m},
            )
        ]
    ).alerts[0]
    side.objects.update(
        case=case,
        alert=alert,
        note=note_create(case=case, body=f"{m} note body"),
        task=task_create(case=case, title=f"{m} task title"),
        evidence=evidence_upload(
            case=case, upload=SimpleUploadedFile(f"{m}.txt", m.encode()), description=m
        ),
        ioc=ioc_create(
            type="domain",
            value=f"{m}.example",
            description=f"{m} ioc description",
            tags=[f"{m}-ioc-tag"],
            retro_hunt=False,
        )[0],
        source=source_create(name=f"{m} source"),
        rule=rule_upload(yaml_text=rule_yaml(title=f"{m} rule title")),
        webhook=webhook_create(
            name=f"{m} hook", url="https://8.8.8.8/hook", events=["case.created"]
        )[0],
        audit=audit_record("test.marker", None, {"marker": [None, m]}, object_repr=f"{m} repr"),
    )


def seed(tenant: Tenant, marker: str) -> Side:
    side = Side(tenant=tenant, marker=marker)
    for role in ROLES:
        user = UserFactory(username=f"{marker}-{role}")
        MembershipFactory(tenant=tenant, user=user, role=role)
        side.users[role] = user
    with tenant_context(tenant):
        for role, user in side.users.items():
            side.tokens[role] = api_token_create(user=user, name=f"{marker} {role}")[1]
        for factory in _registry_factories():
            factory()
        _marker_objects(side)
        from metrics.projection import catch_up

        catch_up(tenant.pk)  # the span projection holds rows of every seeded case
        for model in tenant_owned_models():
            side.ids[model._meta.label] = list(
                model.objects.order_by("pk").values_list("pk", flat=True)[:200]
            )
    return side


def build_world() -> World:
    tenant_a = TenantFactory(slug="wall-alpha", name=f"Alpha {MARK_A}")
    tenant_b = TenantFactory(slug="wall-bravo", name=f"Bravo {MARK_B}")
    return World(a=seed(tenant_a, MARK_A), b=seed(tenant_b, MARK_B))


def leaks(body: bytes | str, marker: str = MARK_B) -> bool:
    """True when a response body carries the other tenant's marker (any case)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return marker in text.lower()
