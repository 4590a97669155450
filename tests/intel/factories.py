"""Factories for intel tests: sources, IOCs (through the services), endpoints with telemetry.

Everything is created in the tenant in context (or the tenant given), the way the
application creates it, so RLS lets it through on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from endpoints.models import (
    Endpoint,
    EndpointTag,
    EndpointUserGroup,
    Observation,
    TelemetryBatch,
    UserGroup,
)
from endpoints.models import Tag as EndpointTagName
from intel.models import IOC, Hit, Source, Sweep
from intel.services import allowlist_add, import_create, ioc_create, source_create
from tenancy.context import current_tenant, tenant_context

_seq = itertools.count(1)
NOW = timezone.now().replace(microsecond=0)


def _in(tenant):
    return tenant_context(tenant or current_tenant())


def make_source(name: str | None = None, tenant=None, **fields: Any) -> Source:
    with _in(tenant):
        return source_create(name=name or f"feed-{next(_seq)}", **fields)


def make_ioc(type: str, value: str, tenant=None, **fields: Any) -> IOC:
    """An IOC through `ioc_create` (no retro-hunt unless asked)."""
    fields.setdefault("retro_hunt", False)
    with _in(tenant):
        ioc, _created, _warnings = ioc_create(type=type, value=value, **fields)
        return ioc


def make_endpoint(
    hostname: str | None = None,
    tenant=None,
    *,
    os_family: str = "windows",
    groups: Iterable[str] = (),
    tags: Iterable[str] = (),
    privileged: bool = False,
) -> Endpoint:
    n = next(_seq)
    with _in(tenant):
        endpoint = Endpoint.objects.create(
            hostname=hostname or f"ws-{n:04d}",
            os_family=os_family,
            agent_id=f"agent-{n}",
            privileged_admin_logons=privileged,
            first_seen_at=NOW - dt.timedelta(days=30),
        )
        for name in groups:
            group, _ = UserGroup.objects.get_or_create(name=name)
            EndpointUserGroup.objects.create(endpoint=endpoint, group=group)
        for name in tags:
            tag, _ = EndpointTagName.objects.get_or_create(name=name)
            EndpointTag.objects.create(endpoint=endpoint, tag=tag)
        return endpoint


def make_batch(endpoint: Endpoint, tenant=None) -> TelemetryBatch:
    with _in(tenant):
        return TelemetryBatch.objects.create(
            endpoint=endpoint, records=0, accepted=0, duplicates=0, status="processed"
        )


def observe(
    endpoint: Endpoint,
    rows: Iterable[dict[str, Any]],
    tenant=None,
    batch: TelemetryBatch | None = None,
) -> list[Observation]:
    """Store observations on an endpoint (kind defaults to process, observed an hour ago)."""
    with _in(tenant):
        batch = batch or make_batch(endpoint)
        objects = []
        for row in rows:
            row = dict(row)
            n = next(_seq)
            objects.append(
                Observation(
                    endpoint=endpoint,
                    batch=batch,
                    kind=row.pop("kind", "process"),
                    event_id=row.pop("event_id", f"ev-{n}"),
                    observed_at=row.pop("observed_at", NOW - dt.timedelta(hours=1)),
                    received_at=NOW,
                    **row,
                )
            )
        return Observation.objects.bulk_create(objects)


def make_hit(ioc=None, tenant=None, *, md5: str | None = None) -> Hit:
    """A hit of a finished sweep on a new endpoint (for lists and the isolation harness)."""
    md5 = md5 or f"{next(_seq):032x}"
    with _in(tenant):
        endpoint = make_endpoint()
        (obs,) = observe(endpoint, [{"md5": md5}])
        sweep = Sweep.objects.create(name=f"sweep {md5[-6:]}", status="succeeded")
        return Hit.objects.create(
            sweep=sweep,
            ioc=ioc,
            ioc_key=f"md5:{md5}",
            ioc_type="md5",
            endpoint=endpoint,
            observation=obs,
            matched_field="md5",
            first_seen=obs.observed_at,
            last_seen=obs.observed_at,
        )


def row_adder(tenant, kind: str):
    """add(n) for `assert_constant_queries`: n more rows of one kind in the tenant."""

    def add(count: int) -> None:
        with tenant_context(tenant):
            for _ in range(count):
                n = next(_seq)
                if kind == "iocs":
                    make_ioc("md5", f"{n:032x}", tags=[f"t{n}", "common"])
                elif kind == "sources":
                    source_create(name=f"src {n}")
                elif kind == "imports":
                    import_create(data=b"evil-cdn.net\n", format="text", enqueue=False)
                elif kind == "allowlist":
                    allowlist_add(type="domain", value=f"corp{n}.example", reason="ours")
                else:  # sweeps and hits
                    make_hit()

    return add
