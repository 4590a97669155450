"""Demo data of the metrics app for `seed_demo`: six months of closed cases so the dashboard,
trends and reports have something to say, a target change, regulatory flags, the breach
register, and the monthly report of last month queued for the worker.

The history is DEMO DATA, generated: every case carries the tag "demo-history" and its title
starts with "[demo]". It is replayed through the cases app's own services at past moments
(`cases.services.acting_at`), so milestones, pauses, reopenings, the timeline and the audit
trail are exactly what the workflow would have left. Deterministic per tenant (seeded
random), idempotent (a tenant that has the tag is left alone), a few seconds per tenant.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections.abc import Iterator

from django.utils import timezone

from tenancy.context import Actor, RequestInfo, request_context
from tenancy.models import Membership

MARKER_TAG = "demo-history"
CASES_PER_TENANT = {"acme": 72}
DEFAULT_CASES = 30
DAYS_BACK = 182

# (phase, severity, weight)
MIX = (
    ("initial_infection", "critical", 4),
    ("initial_infection", "high", 10),
    ("initial_infection", "medium", 8),
    ("persistence", "critical", 2),
    ("persistence", "high", 5),
    ("persistence", "medium", 4),
    ("lateral_movement", "critical", 3),
    ("lateral_movement", "high", 4),
    ("lateral_movement", "low", 2),
)
TITLES = {
    "initial_infection": (
        "Office macro spawned PowerShell on {host}",
        "Known-bad hash executed on {host}",
        "Acrobat wrote an executable on {host}",
    ),
    "persistence": (
        "New service installed from %TEMP% on {host}",
        "Run key pointing at a user-writable path on {host}",
        "WMI event subscription created on {host}",
    ),
    "lateral_movement": (
        "PsExec from {host} to a file server",
        "net user /add on {host}",
        "Encrypted archive staged on {host}",
    ),
}


@contextlib.contextmanager
def _as(user, at: dt.datetime) -> Iterator[None]:
    from cases.services import acting_at

    actor = (
        Actor(kind="user", id=str(user.pk), label=user.get_username(), user_id=user.pk)
        if user is not None
        else Actor(kind="system", label="demo seed")
    )
    with request_context(RequestInfo(actor=actor)), acting_at(at):
        yield


def _people() -> list:
    memberships = Membership.objects.select_related("user").filter(
        role__in=("admin", "lead", "analyst")
    )
    return [m.user for m in memberships] or [None]


def _minutes(rng: random.Random, typical: float, late: float, breach_rate: float) -> float:
    """A duration in minutes: usually around `typical`, sometimes past `late`."""
    if rng.random() < breach_rate:
        return late * rng.uniform(1.05, 2.5)
    return max(1.0, rng.lognormvariate(0, 0.45) * typical)


def _replay(rng: random.Random, case_number: int, now: dt.datetime, people: list) -> None:
    from cases.services import (
        case_create,
        case_pause,
        case_reopen,
        case_resume,
        case_scope_done,
        case_transition,
    )

    phase, severity = rng.choices([(p, s) for p, s, _ in MIX], [w for *_, w in MIX])[0]
    detected = now - dt.timedelta(days=rng.uniform(3, DAYS_BACK), minutes=rng.uniform(0, 1440))
    detected = detected.replace(microsecond=0)
    who = rng.choice(people)
    host = f"ws-{rng.choice(['fin', 'hr', 'eng', 'ops', 'dev'])}-{rng.randint(1, 60):02d}"
    title = "[demo] " + rng.choice(TITLES[phase]).format(host=host)
    contain_h = {"critical": 4, "high": 8, "medium": 24, "low": 72}[severity]
    remediate_h = {"critical": 24, "high": 72, "medium": 168, "low": 720}[severity]
    at = detected
    with _as(who, detected):
        case = case_create(
            title=title, severity=severity, phase=phase, detected_at=detected, tags=[MARKER_TAG]
        )

    def step(minutes: float, action, **kwargs):
        nonlocal at, case
        at = at + dt.timedelta(minutes=minutes)
        if at >= now:
            return False
        with _as(who, at):
            case = action(case=case, **kwargs)
        return True

    if not step(_minutes(rng, 8, 15, 0.12), case_transition, status="triage"):
        return
    if rng.random() < 0.18:  # a false positive or benign: closed at triage
        resolution = rng.choice(["false_positive", "benign"])
        step(_minutes(rng, 25, 60, 0.1), case_transition, status="closed", resolution=resolution)
        return
    scoped = rng.random() > 0.05  # 5% forget to record scoping: a data-quality finding
    if scoped and not step(_minutes(rng, 30, 45, 0.15), case_scope_done):
        return
    if rng.random() < 0.12:  # waiting on a third party, the clocks stand still
        step(rng.uniform(20, 60), case_pause, reason="waiting for the site team to reach the host")
        step(rng.uniform(120, 600), case_resume)
    if not step(
        _minutes(rng, contain_h * 60 * 0.35, contain_h * 60, 0.1),
        case_transition,
        status="contained",
    ):
        return
    if not step(
        _minutes(rng, remediate_h * 60 * 0.3, remediate_h * 60, 0.1),
        case_transition,
        status="remediated",
    ):
        return
    if rng.random() < 0.07:  # the endpoint was not clean after all
        step(rng.uniform(600, 4000), case_reopen, reason="the implant came back after reboot")
        step(rng.uniform(300, 3000), case_transition, status="remediated")
    step(rng.uniform(30, 600), case_transition, status="closed", resolution="true_positive")


def _regulatory(rng: random.Random, now: dt.datetime) -> None:
    from cases.models import Case

    from .services import regulatory_flag_create, regulatory_notification_record

    cases = list(
        Case.objects.filter(
            tags__name=MARKER_TAG, status="closed", resolution="true_positive"
        ).order_by("-detected_at")[:3]
    )
    if len(cases) < 3:
        return
    notified, late, quiet = cases
    aware = notified.detected_at + dt.timedelta(hours=2)
    flag = regulatory_flag_create(
        case=notified,
        regime="gdpr",
        aware_at=aware,
        data_categories="HR records",
        subjects_approx=420,
        facts="[demo] payroll export read by the implant",
        effects="possible disclosure of salaries and bank details",
        remedial_action="host rebuilt, credentials reset, data subjects informed",
    )
    regulatory_notification_record(
        flag=flag,
        deadline="authority_notification",
        sent_at=aware + dt.timedelta(hours=40),
        recipient="Supervisory authority",
        reference="DEMO-GDPR-1",
    )
    aware = late.detected_at + dt.timedelta(hours=1)
    flag = regulatory_flag_create(
        case=late, regime="nis2", aware_at=aware, facts="[demo] outage of the order platform"
    )
    regulatory_notification_record(
        flag=flag,
        deadline="early_warning",
        sent_at=aware + dt.timedelta(hours=30),
        recipient="National CSIRT",
        reference="DEMO-NIS2-EW",
    )
    regulatory_flag_create(
        case=quiet,
        regime="gdpr",
        notifiable=False,
        aware_at=quiet.detected_at + dt.timedelta(hours=3),
        facts="[demo] encrypted laptop stolen from a car",
        not_notified_reason="full-disk encryption, key not compromised",
    )


def seed(tenant, stdout) -> None:
    from cases.models import Tag

    from .services import report_schedule_monthly, sla_target_set

    if Tag.objects.filter(name=MARKER_TAG).exists():
        stdout.write(f"metrics: {tenant.slug} already has the demo history, left alone")
        return
    started = time.monotonic()
    rng = random.Random(f"stopclock-demo-{tenant.slug}")  # noqa: S311 - demo data, not secrets
    now = timezone.now()
    people = _people()
    lead = next((u for u in people if u is not None), None)
    with _as(lead, now):
        # A change three months ago: the history shows cases judged against both targets.
        sla_target_set(
            phase="initial_infection",
            severity="high",
            clock="contain",
            target=dt.timedelta(hours=6),
            effective_from=(now - dt.timedelta(days=90)).replace(microsecond=0),
            reason="[demo] EDR isolation is now automatic",
            allow_past=True,
        )
    count = CASES_PER_TENANT.get(tenant.slug, DEFAULT_CASES)
    for number in range(count):
        _replay(rng, number, now, people)
    with _as(lead, now):
        _regulatory(rng, now)
        report = report_schedule_monthly(now=now)
    stdout.write(
        f"metrics: {tenant.slug}: {count} demo cases over {DAYS_BACK} days"
        + (f", monthly report of {report.period_label} queued" if report else "")
        + f" in {time.monotonic() - started:.1f} s"
    )
