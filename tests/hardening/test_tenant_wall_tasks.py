"""The tenant wall in the task queue: every registered Celery task, enumerated.

- Every task is a `TenantTask` (takes `tenant_id`, runs inside that tenant) or a declared
  fan-out that enters each tenant itself; every id it takes names a known model.
- Enqueueing a task for another tenant than the one in context is refused, through the
  outbox and through `delay`/`apply_async`/signatures alike; a message without an integer
  `tenant_id` never runs.
- A task run for tenant A with tenant B's ids (all of them B's, or one of them B's and the
  rest A's own) finds nothing of B: B's rows and files are as they were, and no row of A
  points into B afterwards.

A new task is covered with no change here, or fails until its ids are named below.
"""

from __future__ import annotations

import contextlib
import inspect
import logging

import pytest
from django.db import transaction

from tenancy.context import TenantContextMissing, TenantMismatch, tenant_context
from tenancy.tasks import TenantTask

from . import wall
from .world import tenant_owned_models

# Tasks that take no tenant_id: beat entry points that find the tenants and enqueue one
# TenantTask per tenant (each then runs inside its own tenant), with the reason.
FAN_OUTS = {
    "cases.actions_expire_all": "beat: one cases.actions_expire per tenant",
    "cases.sla_sweep_all": "beat: one cases.sla_sweep per tenant",
    "cases.webhook_retry_all": "beat: one cases.webhook_retry per tenant",
    "endpoints.retention_sweep": "beat: one endpoints.delete_expired_observations per tenant",
    "endpoints.telemetry_watchdog": "beat: one endpoints.telemetry_requeue per tenant",
    "intel.taxii_dispatch": "beat: one intel.taxii_poll per due source, in its tenant",
    "intel.watchdog": "beat: one intel.watchdog_tenant per tenant with work under way",
    "metrics.monthly_reports_all": "beat: one metrics.monthly_report per tenant",
    "tenancy.outbox_drain": "sends each tenant's outbox messages inside that tenant",
}
# The ids a task may take, by keyword: (model, the field the value is read from). A list
# keyword (`..._ids`) takes several.
TASK_IDS: dict[str, tuple[str, str]] = {
    "batch_id": ("endpoints.TelemetryBatch", "pk"),
    "bulk_id": ("cases.BulkAction", "pk"),
    "chunk_id": ("intel.SweepChunk", "pk"),
    "delivery_uid": ("cases.WebhookDelivery", "uid"),
    "endpoint_ids": ("endpoints.Endpoint", "pk"),
    "evidence_id": ("cases.Evidence", "pk"),
    "job_id": ("intel.ImportJob", "pk"),
    "observation_ids": ("endpoints.Observation", "pk"),
    "path": ("cases.Evidence", "file"),  # a stored file: B's evidence, from A's scan
    "report_id": ("metrics.Report", "pk"),
    "scan_id": ("intel.FileScan", "pk"),
    "source_id": ("intel.Source", "pk"),
    "sweep_id": ("intel.Sweep", "pk"),
}
# Keywords that are settings, not ids (left at their defaults here).
SETTINGS = {"older_than_seconds"}
NOT_IDS = {"self", "tenant_id", "actor", *SETTINGS}
# States in which a task does its work (not "already done"), so that refusing B's row is
# the wall's doing and not the row's status. Both tenants' rows are put in them first.
WORKABLE = {
    "cases.BulkAction": {"status": "launching"},
    "intel.FileScan": {"status": "queued"},
    "intel.ImportJob": {"status": "queued"},
    "intel.SweepChunk": {"status": "pending"},
    "metrics.Report": {"status": "queued"},
}


def registered_tasks() -> dict[str, object]:
    from config.celery import app

    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def tenant_tasks() -> list:
    return sorted(
        (t for t in registered_tasks().values() if isinstance(t, TenantTask)), key=lambda t: t.name
    )


def id_kwargs(task) -> list[str]:
    return [name for name in inspect.signature(task.run).parameters if name not in NOT_IDS]


def test_every_task_is_a_tenant_task_or_a_declared_fan_out():
    tasks = registered_tasks()
    assert len(tasks) >= 20
    loose = sorted(
        n for n, t in tasks.items() if not isinstance(t, TenantTask) and n not in FAN_OUTS
    )
    assert loose == [], "tasks without tenant_id that are not declared fan-outs"
    stale = sorted(set(FAN_OUTS) - set(tasks))
    assert stale == [], "declared fan-outs that no longer exist"
    for task in tenant_tasks():
        assert "tenant_id" in inspect.signature(task.run).parameters, task.name


def test_every_id_a_tenant_task_takes_names_a_model():
    unknown = sorted(
        f"{task.name}({name})" for task in tenant_tasks() for name in id_kwargs(task)
        if name not in TASK_IDS
    )  # fmt: skip
    assert unknown == [], "say in TASK_IDS which model these ids name (SETTINGS: not ids)"


def _kwargs(task, tenant, ids) -> dict:
    kwargs = {"tenant_id": tenant.pk}
    for name in id_kwargs(task):
        kwargs[name] = ids(name)
    return kwargs


@pytest.mark.parametrize("task", tenant_tasks(), ids=lambda t: t.name)
def test_enqueueing_for_another_tenant_is_refused(task, tenant_a, tenant_b):
    from celery import group

    from tenancy import outbox
    from tenancy.models import OutboxMessage

    kwargs = _kwargs(task, tenant_b, lambda name: [1] if name.endswith("_ids") else 1)
    with tenant_context(tenant_a):
        before = OutboxMessage.objects.count()
        attempts = {
            "outbox.enqueue": lambda: outbox.enqueue(task, **kwargs),
            "delay": lambda: task.delay(**kwargs),
            "apply_async": lambda: task.apply_async(kwargs=kwargs),
            "signature": lambda: task.s(**kwargs).apply_async(),
            "group": lambda: group([task.s(**kwargs)]).apply_async(),
        }
        for how, attempt in attempts.items():
            with pytest.raises(TenantMismatch), _queued(how == "group"):
                attempt()
        assert OutboxMessage.objects.count() == before


@contextlib.contextmanager
def _queued(really: bool):
    """Eagerly a group runs its tasks with `apply` (no queue at all): send it for real, the
    refusal comes before anything reaches the broker."""
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = eager and not really
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


@pytest.mark.parametrize("task", tenant_tasks(), ids=lambda t: t.name)
def test_a_message_without_an_integer_tenant_id_never_runs(task, tenant_a, monkeypatch):
    ran = []
    monkeypatch.setattr(task, "run", lambda *a, **k: ran.append(k))
    for tenant_id in (None, str(tenant_a.pk), float(tenant_a.pk)):
        kwargs = {} if tenant_id is None else {"tenant_id": tenant_id}
        with pytest.raises(TenantContextMissing):
            task(**kwargs)
    assert ran == []


def _values(side, label: str, attr: str) -> list:
    from django.apps import apps

    model = apps.get_model(label)
    with tenant_context(side.tenant):
        values = list(model.objects.order_by("pk").values_list(attr, flat=True)[:2])
    return [str(v) if attr != "pk" else v for v in values]


def _files(side) -> dict[str, bool]:
    """Every stored file of the side's rows, and whether it is still there."""
    from django.core.files.storage import default_storage
    from django.db import models

    found = {}
    with tenant_context(side.tenant):
        for model in tenant_owned_models():
            for f in model._meta.concrete_fields:
                if isinstance(f, models.FileField):
                    for name in model.objects.exclude(**{f.name: ""}).values_list(
                        f.name, flat=True
                    ):
                        found[name] = default_storage.exists(name)
    return found


def _prime(world) -> None:
    from django.apps import apps

    for side in (world.a, world.b):
        with tenant_context(side.tenant):
            for label, values in WORKABLE.items():
                apps.get_model(label).objects.update(**values)


def test_a_task_run_for_a_with_b_ids_finds_nothing_of_b(world, offline_network, caplog):
    """Every TenantTask, for tenant A: with all of B's ids, then with each id B's and the
    others A's own (B's endpoint ids in A's bulk action, B's evidence file for A's scan)."""
    caplog.set_level(logging.CRITICAL, logger="stopclock")
    _prime(world)
    attacker = wall.Attacker(world)  # takes B's snapshot, checks rows like the HTTP walks
    files_before = _files(world.b)
    assert files_before and all(files_before.values())
    runs, outcomes = 0, {}
    for task in tenant_tasks():
        names = id_kwargs(task)
        variants = [{name: "b" for name in names}]
        if len(names) > 1:
            variants += [{name: ("b" if name == bad else "a") for name in names} for bad in names]
        for variant in variants:

            def ids(name, variant=variant):
                label, attr = TASK_IDS[name]
                side = world.b if variant[name] == "b" else world.a
                values = _values(side, label, attr)
                return values if name.endswith("_ids") else (values or [None])[0]

            kwargs = _kwargs(task, world.a.tenant, ids)
            what = f"{task.name}({', '.join(f'{k}={v}' for k, v in variant.items())})"
            runs += 1
            with transaction.atomic():
                try:
                    result = task.apply(kwargs=kwargs, throw=True).get()
                except Exception as exc:  # refusing loudly is refusing
                    result = f"raised {type(exc).__name__}"
                outcomes[what] = result
                if wall.leaks(repr(result)):
                    attacker.problems.append(f"{what} returned B's data: {result!r}")
                attacker.check_rows(what)
                gone = [name for name, there in _files(world.b).items() if not there]
                if gone:
                    attacker.problems.append(f"{what} deleted B's files {gone}")
                transaction.set_rollback(True)
    print(f"{len(tenant_tasks())} tenant tasks, {runs} runs: {outcomes}")
    assert attacker.problems == [], "\n".join(attacker.problems)
