"""API fuzzing: schemathesis over every operation of /api/schema/, as every role.

For each app's operations (and the agent routes), as admin, lead, analyst, auditor,
integration and anonymous (agents with an agent token, enrolment with the enrolment
secret), schemathesis generates valid and invalid requests from the schema — a bounded
number per operation and role (`STOPCLOCK_FUZZ_SCALE` multiplies it; `STOPCLOCK_FUZZ_SEED`
changes the examples) — and path and body ids are pointed at real rows of the caller's
tenant (and sometimes of the other tenant) so requests reach the services. Every response
must: not be a 5xx; conform to the schema (status code documented, body, content type,
headers); be the one error format when it is a 4xx; carry nothing of tenant B; and be a
refusal when it names B's row. A new operation is fuzzed with no change here.

Findings are collected and reported together, one per operation, role and kind, each with
a curl command to reproduce it. Each fixed finding has an ordinary regression test in
tests/hardening/regressions/.
"""

from __future__ import annotations

import logging
import os
import random

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import HypothesisException
from schemathesis import GenerationMode

from config.urls import APPS
from tenancy import roles

from . import fuzzing
from .fuzzing import ANONYMOUS, SEED, App, Finding, Report

GROUPS = [*APPS, "agent"]
SCALE = float(os.environ.get("STOPCLOCK_FUZZ_SCALE", "1"))
# (positive, negative) examples per operation for each role: the admin reaches the most code.
# At scale 1 all groups together send about 12,500 requests: about 2 minutes of CPU, 3 to
# 4.5 minutes wall-clock on a shared 2-core machine (PostgreSQL or SQLite). CI runs scale 1.
BUDGET = {
    roles.ADMIN: (20, 10),
    roles.LEAD: (8, 4),
    roles.ANALYST: (8, 4),
    roles.AUDITOR: (6, 4),
    roles.INTEGRATION: (8, 4),
    ANONYMOUS: (4, 0),
    roles.AGENT: (60, 30),
}


def _examples(count: int) -> int:
    return max(1, round(count * SCALE)) if count else 0


def _run(operation, mode, count, *, headers, role, group, world, app, report, rnd):
    try:
        strategy = operation.as_strategy(generation_mode=mode)
    except Exception as exc:  # a schema schemathesis cannot generate from is a finding too
        report.add(Finding(group, role, operation.label, "generation", repr(exc)[:500]))
        return

    @seed(SEED)
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def examples(case):
        roll = rnd.random()
        if roll < 0.6:
            ids = fuzzing.with_real_ids(case, world.a, rnd)
        elif roll < 0.8 and role != ANONYMOUS:
            ids = "B's" if fuzzing.with_real_ids(case, world.b, rnd) == "real" else "generated"
        else:
            ids = "generated"
        response = app.call(case, headers)
        fuzzing.inspect(
            case, response, role=role, group=group, ids=ids, app=app, report=report, world=world
        )
        if ids == "B's" and response.status_code < 400:
            report.add(
                Finding(
                    group,
                    role,
                    operation.label,
                    "tenant wall",
                    f"{response.status_code} for tenant B's id {case.path_parameters}",
                    case.as_curl_command(headers={"Authorization": f"<{role} token>"}),
                )
            )

    try:
        examples()
    except HypothesisException as exc:  # e.g. nothing negative to generate for this operation
        if "Unsatisfiable" not in type(exc).__name__:
            report.add(Finding(group, role, operation.label, "generation", repr(exc)[:500]))


@pytest.mark.heavy
@pytest.mark.parametrize("group", GROUPS)
def test_fuzz_every_operation_as_every_role(group, world, offline_network, caplog, settings):
    caplog.set_level(logging.CRITICAL, logger="django.request")
    caplog.set_level(logging.CRITICAL, logger="stopclock")
    # A generated `?wait=20` would hold the agents' long poll for 20 s: the waiting path
    # still runs, briefly (tests/actions test the long poll itself).
    settings.ACTIONS_LONG_POLL_MAX_SECONDS = 0.05
    schema = fuzzing.load_schema()
    operations = [op for op in fuzzing.operations(schema) if fuzzing.group_of(op.path) == group]
    assert operations, f"no operation in group {group}"
    callers = [roles.AGENT, ANONYMOUS] if group == "agent" else [*[*BUDGET][:5], ANONYMOUS]
    report = Report()
    rnd = random.Random(SEED)
    with App() as app:
        for operation in operations:
            for role in callers:
                headers = fuzzing.role_headers(world, role, operation)
                if headers is None:
                    continue
                positive, negative = BUDGET[role]
                for mode, count in (
                    (GenerationMode.POSITIVE, _examples(positive)),
                    (GenerationMode.NEGATIVE, _examples(negative)),
                ):
                    if count:
                        _run(
                            operation,
                            mode,
                            count,
                            headers=headers,
                            role=role,
                            group=group,
                            world=world,
                            app=app,
                            report=report,
                            rnd=rnd,
                        )
    summary = (
        f"{group}: {len(operations)} operations, {report.requests} requests, "
        f"statuses {dict(sorted(report.statuses.items()))}, seed {SEED}"
    )
    print(summary)
    findings = sorted(report.findings.values(), key=lambda f: (f.kind, f.operation, f.role))
    assert not findings, summary + "\n\n" + "\n\n".join(str(f) for f in findings)


def test_every_operation_is_fuzzed_by_one_group(db):
    """The fuzzer's groups cover the whole schema: a new app's routes cannot slip past."""
    schema = fuzzing.load_schema()
    orphans = [
        op.label for op in fuzzing.operations(schema) if fuzzing.group_of(op.path) not in GROUPS
    ]
    assert orphans == []
