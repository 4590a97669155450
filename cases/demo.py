"""Demo data for `seed_demo`: a queue with believable alerts, and cases in every phase and
state (one breached, one paused, one reopened, some closed), replayed through the services
at realistic past times so clocks, timelines and the audit trail look like a real week.

Idempotent: a tenant that already has the demo's first alert is left alone. No endpoints are
created here (the endpoints demo builds the fleet and skips a tenant that has any).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from tenancy.context import Actor, RequestInfo, request_context
from tenancy.models import Membership

from .models import AlertExternalRef, Case
from .services import (
    AlertInput,
    acting_at,
    alert_acknowledge,
    alert_dismiss,
    alert_ingest,
    case_pause,
    case_reopen,
    case_scope_done,
    case_transition,
    case_update,
    evidence_upload,
    note_create,
    task_update,
)

User = get_user_model()
MARKER = "demo-0001"


@contextlib.contextmanager
def _as(username: str | None, at: dt.datetime) -> Iterator[None]:
    """Act as a demo user (when they are a member here) at a past moment."""
    user = None
    if username:
        membership = (
            Membership.objects.select_related("user").filter(user__username=username).first()
        )
        user = membership.user if membership else None
    actor = (
        Actor(kind="user", id=str(user.pk), label=user.get_username(), user_id=user.pk)
        if user
        else Actor(kind="system", label="demo seed")
    )
    with request_context(RequestInfo(actor=actor)), acting_at(at):
        yield


def _alert(n: int, at: dt.datetime, **values) -> AlertInput:
    values.setdefault("source", "api")
    values.setdefault("phase", "initial_infection")
    return AlertInput(observed_at=at, external_id=f"demo-{n:04d}", **values)


def _ingest(at: dt.datetime, *inputs: AlertInput):
    with _as(None, at + dt.timedelta(seconds=40)):
        return alert_ingest(alerts=list(inputs))


def _case_of(result) -> Case:
    return (result.cases_created or result.cases_joined)[0]


def seed(tenant, stdout) -> None:
    if AlertExternalRef.objects.filter(source="api", external_id=MARKER).exists():
        stdout.write(f"cases: {tenant.slug} already has the demo cases, left alone")
        return
    now = timezone.now().replace(microsecond=0)
    ago = lambda **kw: now - dt.timedelta(**kw)  # noqa: E731 - reads well below
    small = tenant.slug != "acme"
    lead, analyst = "lead" if not small else "globex-admin", "analyst"

    # --- the queue: alerts waiting for triage (low/medium: no rule opens a case) ----------
    queue = _ingest(
        ago(minutes=2),
        _alert(
            1,
            ago(minutes=52),
            title="Rare autorun: OneDriveStandaloneUpdater in %TEMP%",
            severity="medium",
            phase="persistence",
            attack_techniques=["T1547.001"],
            dedup_key="demo:autorun:onedrive",
            raw={"host": "ws-sales-12", "user": "mlopez"},
        ),
        _alert(
            2,
            ago(minutes=38),
            title='net group "domain admins" /domain by svc-backup',
            severity="medium",
            phase="lateral_movement",
            attack_techniques=["T1069.002"],
            raw={"host": "srv-backup-01", "parent": "cmd.exe"},
        ),
        _alert(
            3,
            ago(minutes=31),
            title="Script written to C:\\Users\\Public",
            severity="low",
            source="detection_rule",
            rule_id="script-in-public",
            attack_techniques=["T1059.005"],
            raw={"host": "ws-hr-04", "file": "upd.vbs"},
        ),
        _alert(
            4,
            ago(minutes=22),
            title="Logon type 3 from an unexpected workstation",
            severity="medium",
            phase="lateral_movement",
            attack_techniques=["T1021.002"],
            raw={"host": "srv-files-02", "source_ip": "10.20.4.77"},
        ),
        _alert(
            5,
            ago(minutes=9),
            title="PowerShell download cradle (IEX New-Object Net.WebClient)",
            severity="medium",
            attack_techniques=["T1059.001", "T1105"],
            dedup_key="demo:ps-cradle:ws-dev-09",
            raw={"host": "ws-dev-09"},
        ),
        _alert(
            6,
            ago(minutes=3),
            title="Unsigned driver loaded: wdfilter64.sys",
            severity="low",
            phase="persistence",
            attack_techniques=["T1014"],
            raw={"host": "ws-eng-21"},
        ),
    )
    with _as(analyst, ago(minutes=1)):
        alert_acknowledge(alerts=[queue.alerts[1]])
        alert_dismiss(
            alerts=[queue.alerts[2]],
            reason="false_positive",
            note="IT's logon script, signed and expected",
        )
    _ingest(
        ago(minutes=1),
        _alert(
            7,
            ago(minutes=1),
            title=queue.alerts[4].title,
            severity="medium",
            dedup_key="demo:ps-cradle:ws-dev-09",
        ),
    )

    # --- 1. contained initial infection, remediation clock running -------------------------
    detected = ago(hours=2, minutes=10)
    result = _ingest(
        detected,
        _alert(
            10,
            detected,
            title="WINWORD.EXE spawned powershell.exe -enc …",
            severity="critical",
            attack_techniques=["T1566.001", "T1059.001"],
            ioc_key="sha256:9f2c…e01a",
            raw={"host": "ws-finance-07", "user": "jdoe"},
        ),
    )
    macro = _case_of(result)
    with _as(analyst, detected + dt.timedelta(minutes=6)):
        case_transition(case=macro, status="triage")
        case_update(
            case=macro,
            tags=["phishing", "macro", "ransomware-precursor"],
            description="Invoice-themed mail, macro drops a loader in "
            "`%APPDATA%\\Microsoft\\Templates`. **Do not** open the attachment.",
        )
        note_create(
            case=macro,
            body="Process tree: `WINWORD.EXE → powershell.exe -enc … → "
            "rundll32.exe tmp4821.dll,Start`. Loader beacons to 185.220.x.x:443.",
        )
    with _as(analyst, detected + dt.timedelta(minutes=12)):
        case_transition(case=macro, status="investigating")
    with _as(analyst, detected + dt.timedelta(minutes=41)):
        for task in macro.tasks.order_by("order")[:2]:
            task_update(task=task, done=True)
        case_scope_done(case=macro)
        note_create(case=macro, body="Hash swept across 2,140 endpoints: only ws-finance-07.")
    with _as(lead, detected + dt.timedelta(hours=1, minutes=18)):
        case_transition(case=macro, status="contained", reason="endpoint isolated")
        evidence_upload(
            case=macro,
            upload=ContentFile(
                b"WINWORD.EXE (4120)\n  powershell.exe -nop -w hidden -enc JABjAD0A... (5532)\n"
                b"    rundll32.exe C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Templates\\"
                b"tmp4821.dll,Start (6012)\n",
                name="ws-finance-07-process-tree.txt",
            ),
            description="process tree export",
        )

    # --- 2. persistence, triaged late and never scoped: SLA breached -----------------------
    detected = ago(hours=5)
    result = _ingest(
        detected,
        _alert(
            20,
            detected,
            title="Scheduled task \\Microsoft\\Windows\\UpdateOrchestrator\\"
            "Sync created from a user profile",
            severity="high",
            phase="persistence",
            attack_techniques=["T1053.005"],
            raw={"host": "srv-app-02"},
        ),
    )
    task_case = _case_of(result)
    with _as(analyst, detected + dt.timedelta(minutes=27)):
        case_transition(
            case=task_case, status="investigating", reason="picked up after the shift handover"
        )

    # --- 3. lateral movement, worked to closure as a true positive -------------------------
    if not small:
        detected = ago(days=1, hours=3)
        result = _ingest(
            detected,
            _alert(
                30,
                detected,
                title="PSEXESVC service installed on srv-db-01 from ws-it-03",
                severity="critical",
                phase="lateral_movement",
                attack_techniques=["T1021.002", "T1569.002"],
                raw={"host": "srv-db-01"},
            ),
        )
        psexec = _case_of(result)
        steps = [
            (4, "triage", analyst, ""),
            (9, "investigating", analyst, ""),
            (150, "contained", lead, "4 hosts isolated"),
            (900, "remediated", lead, "accounts reset, services removed"),
        ]
        for minutes, status, who, reason in steps:
            with _as(who, detected + dt.timedelta(minutes=minutes)):
                if status == "contained":
                    case_scope_done(case=psexec)
                case_transition(case=psexec, status=status, reason=reason)
        with _as(lead, detected + dt.timedelta(minutes=1000)):
            case_transition(
                case=psexec,
                status="closed",
                resolution="true_positive",
                reason="post-incident review done",
            )

    # --- 4. malicious hash: remediated, closed, then reopened (it came back) ---------------
    detected = ago(days=3, hours=2)
    result = _ingest(
        detected,
        _alert(
            40,
            detected,
            title="Known-bad hash (reputation): invoice_0932.exe",
            severity="high",
            source="hash_reputation",
            ioc_key="sha256:4e1f…77b2",
            attack_techniques=["T1204.002"],
            raw={"host": "ws-sales-03"},
        ),
    )
    reopened = _case_of(result)
    for minutes, status in (
        (8, "triage"),
        (20, "investigating"),
        (95, "contained"),
        (600, "remediated"),
    ):
        with _as(analyst, detected + dt.timedelta(minutes=minutes)):
            case_transition(case=reopened, status=status)
    with _as(analyst, detected + dt.timedelta(minutes=700)):
        case_transition(case=reopened, status="closed", resolution="true_positive")
    with _as(lead, ago(hours=20)):
        case_reopen(case=reopened, reason="the same hash ran again after the reimage")

    # --- 5. just in: triage clock running ----------------------------------------------------
    detected = ago(minutes=11)
    _ingest(
        detected,
        _alert(
            50,
            detected,
            title="LSASS memory read by an unsigned process",
            severity="high",
            attack_techniques=["T1003.001"],
            raw={"host": "ws-exec-01"},
        ),
    )

    # --- 6. paused: waiting for the customer ----------------------------------------------------
    detected = ago(hours=3)
    result = _ingest(
        detected,
        _alert(
            60,
            detected,
            title="WMI event subscription created (CommandLineEventConsumer)",
            severity="high",
            phase="persistence",
            attack_techniques=["T1546.003"],
            raw={"host": "ws-legal-02"},
        ),
    )
    paused = _case_of(result)
    with _as(analyst, detected + dt.timedelta(minutes=9)):
        case_transition(case=paused, status="triage")
    with _as(analyst, detected + dt.timedelta(minutes=30)):
        case_pause(case=paused, reason="waiting for the legal team to release the laptop")

    # --- 7. a quick false positive ---------------------------------------------------------------
    detected = ago(days=2)
    result = _ingest(
        detected,
        _alert(
            70,
            detected,
            title="Archive with encrypted header written to D:\\staging",
            severity="high",
            phase="lateral_movement",
            attack_techniques=["T1560.001"],
            raw={"host": "srv-backup-01"},
        ),
    )
    fp = _case_of(result)
    with _as(analyst, detected + dt.timedelta(minutes=7)):
        case_transition(
            case=fp,
            status="closed",
            resolution="false_positive",
            reason="nightly encrypted backup job",
        )

    count = Case.objects.count()
    stdout.write(f"cases: {tenant.slug}: {count} cases and a queue of alerts")
