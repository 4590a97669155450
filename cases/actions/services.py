"""Response action verbs: request, approve, reject, cancel, retry; the agent's acknowledge
and report; bulk responses; expiry; the tenant's approval settings.

Like every service of the cases app: keyword-only, one transaction each, an audit event per
change and a line on the case's timeline (`TimelineEntry.Kind.ACTION`). Who acts comes from
the request or task context, as for the audit trail.

Lifecycle (see `ActionStatus`): requested → awaiting_approval (types in the tenant's
`approval_required_types`, destructive ones by default) → queued (signed; the agent's bell
rings) → dispatched (the agent acknowledged it) → succeeded / failed. Open actions may be
cancelled (withdrawn; rejected with a reason) or expire (nobody approved, or the agent did
not pick it up in time: `actions_expire`, every minute). Failed and expired actions are
retried as a new attempt; the old row stays as it was.

Races: every transition is a conditional UPDATE on the status it leaves (and the human
verbs lock the row first), so of two leads approving at once, or an agent reporting twice,
exactly one wins; the other gets 409.

Four eyes: whoever requested an action never approves it (403), whatever their role.

Side effects: an isolation moves the endpoint's `isolation_state` (isolating → isolated, or
back); the first containment success (isolate, kill, quarantine) on a case stamps its
`contained_at` through `case_transition(status="contained")`; a collected file becomes
evidence on the case (`evidence_upload`); YARA matches become alerts through intel
(`intel.alerting.send_alerts`); a directory credential reset becomes a task for the
identity team, and its completion is the action's outcome.

Bulk actions: a children's steps are in the audit trail; the case's timeline shows the
bulk's request, approval, launch and end, and each child's outcome.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F

from endpoints.models import Endpoint
from tenancy import roles
from tenancy.context import current_request, require_tenant
from tenancy.errors import Conflict
from tenancy.models import Tenant
from tenancy.services import AuditEntry, audit_record, audit_record_many

from .. import conf
from ..models import (
    ACTION_OPEN_STATUSES,
    ActionStatus,
    BulkAction,
    Case,
    CaseStatus,
    ResponseAction,
    Task,
    TimelineEntry,
)
from ..services._base import _actor, _clean_text, _entry, _now, _timeline
from . import doorbell, signing
from .registry import ACTION_TYPES, CONTAINED, REMEDIATION, ActionSpec, spec_for

S = ActionStatus
WAITING_FOR_AGENT = (S.QUEUED, S.DISPATCHED)
CANCELLABLE = (S.REQUESTED, S.AWAITING_APPROVAL, S.QUEUED)
CLOCK_SKEW = dt.timedelta(seconds=60)
MAX_ARTIFACTS = 5
MAX_MATCHES = 1000


# =============================================================================================
# helpers
# =============================================================================================
def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(action: ResponseAction) -> str:
    """ "Kill process on ws-0001 (sha256 0f3a…)" — the action as one line."""
    spec = ACTION_TYPES[action.type]
    what = spec.describe(action.parameters)
    where = action.hostname or "the directory"
    return f"{spec.label} on {where}" + (f" ({what})" if what else "")


def _locked(action: ResponseAction | int) -> ResponseAction:
    pk = action.pk if isinstance(action, ResponseAction) else action
    return (
        ResponseAction.objects.select_for_update(of=("self",))
        .select_related("endpoint", "case")
        .get(pk=pk)
    )


def _move(action: ResponseAction, to: str, *, from_: Sequence[str], **fields: Any) -> str:
    """Move `action` to `to` only if it is still in one of `from_` (a conditional UPDATE:
    of two callers, one wins and the other gets 409). Returns the status it left."""
    now = _now()
    updated = ResponseAction.objects.filter(pk=action.pk, status__in=list(from_)).update(
        status=to, updated_at=now, **fields
    )
    if not updated:
        current = ResponseAction.objects.filter(pk=action.pk).values_list("status", flat=True)
        raise Conflict(
            f"Action #{action.pk} is {current.first() or 'gone'}; it cannot become {to} now."
        )
    old = action.status
    for name, value in fields.items():
        setattr(action, name, value)
    action.status, action.updated_at = to, now
    return old


def _record(
    action: ResponseAction,
    audit_action: str,
    summary: str | None,
    changes: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """The audit event, and the timeline line when there is one to write."""
    if summary and action.case_id:
        TimelineEntry.objects.bulk_create(
            [
                _timeline(
                    action.case,
                    TimelineEntry.Kind.ACTION,
                    summary,
                    {
                        "action": action.pk,
                        "type": action.type,
                        "status": action.status,
                        "endpoint": action.endpoint_id,
                        "bulk": action.bulk_id,
                    },
                    at=at,
                )
            ]
        )
    audit_record_many([_entry(audit_action, action, changes or {"status": [None, action.status]})])


def _quiet(action: ResponseAction) -> bool:
    """Children of a bulk keep their intermediate steps off the case's timeline."""
    return action.bulk_id is not None


def _open_case(case: Case | int | None, field: str = "case") -> Case | None:
    if case is None:
        return None
    pk = case.pk if isinstance(case, Case) else case
    found = Case.objects.filter(pk=pk).first()
    if found is None:
        raise ValidationError({field: "unknown case"})
    if found.merged_into_id:
        raise Conflict(f"{found.number} was merged into another case; act from that one.")
    if not found.is_open:
        raise Conflict(f"{found.number} is closed; reopen it to act on it.")
    return found


def _endpoint(endpoint: Endpoint | int | None) -> Endpoint | None:
    if endpoint is None:
        return None
    pk = endpoint.pk if isinstance(endpoint, Endpoint) else endpoint
    found = Endpoint.objects.filter(pk=pk).first()
    if found is None:
        raise ValidationError({"endpoint": "unknown endpoint"})
    return found


# =============================================================================================
# the signed envelope
# =============================================================================================
def _key_for(endpoint: Endpoint) -> bytes:
    return signing.endpoint_key(
        tenant_id=endpoint.tenant_id, endpoint_id=endpoint.pk, agent_id=endpoint.agent_id
    )


def endpoint_signing_key(endpoint: Endpoint) -> bytes:
    """The key the endpoint's agent verifies its payloads with (served to that agent only)."""
    return _key_for(endpoint)


def signed_payload(action: ResponseAction) -> dict[str, Any]:
    """What the agent receives: the signed fields, the signature and the key's id."""
    payload = {
        "id": action.pk,
        "type": action.type,
        "endpoint": action.endpoint_id,
        "parameters": action.parameters,
        "issued_at": _iso(action.issued_at),
        "expires_at": _iso(action.expires_at),
        "nonce": action.nonce,
    }
    payload["signature"] = action.signature
    payload["key_id"] = signing.key_id(_key_for(action.endpoint))
    return payload


def _envelope(action: ResponseAction, now: dt.datetime) -> dict[str, Any]:
    issued = now.astimezone(dt.UTC).replace(microsecond=0)
    fields = {
        "nonce": secrets.token_hex(16),
        "issued_at": issued,
        "expires_at": issued + conf.action_delivery_window(require_tenant()),
    }
    unsigned = ResponseAction(
        pk=action.pk,
        type=action.type,
        endpoint_id=action.endpoint_id,
        parameters=action.parameters,
        **fields,
    )
    unsigned.endpoint = action.endpoint
    fields["signature"] = signing.sign(signed_payload(unsigned), _key_for(action.endpoint))
    return fields


# =============================================================================================
# side effects: endpoint isolation state, containment milestone, bulk completion
# =============================================================================================
# (action type, new action status) -> (isolation states it may leave, the state it enters)
_ISOLATION = {
    ("isolate_endpoint", S.QUEUED): (("none", "releasing"), "isolating"),
    ("isolate_endpoint", S.SUCCEEDED): (("none", "isolating", "releasing"), "isolated"),
    ("isolate_endpoint", S.FAILED): (("isolating",), "none"),
    ("isolate_endpoint", S.EXPIRED): (("isolating",), "none"),
    ("isolate_endpoint", S.CANCELLED): (("isolating",), "none"),
    ("release_isolation", S.QUEUED): (("isolated", "isolating"), "releasing"),
    ("release_isolation", S.SUCCEEDED): (("isolated", "isolating", "releasing"), "none"),
    ("release_isolation", S.FAILED): (("releasing",), "isolated"),
    ("release_isolation", S.EXPIRED): (("releasing",), "isolated"),
    ("release_isolation", S.CANCELLED): (("releasing",), "isolated"),
}


def _isolation(endpoint_ids: Sequence[int], action_type: str, status: str) -> None:
    """Keep `Endpoint.isolation_state` in step with isolation actions (endpoints has no
    verb for it; the agent learns the state from its heartbeat answer)."""
    rule = _ISOLATION.get((action_type, status))
    if rule is None or not endpoint_ids:
        return
    leaving, entering = rule
    rows = list(
        Endpoint.objects.filter(pk__in=endpoint_ids, isolation_state__in=leaving).values_list(
            "pk", "hostname", "isolation_state"
        )
    )
    if not rows:
        return
    Endpoint.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(isolation_state=entering)
    audit_record_many(
        [
            AuditEntry(
                action="endpoint.isolation",
                object_type="endpoints.endpoint",
                object_id=str(pk),
                object_repr=hostname,
                changes={"isolation_state": [state, entering]},
            )
            for pk, hostname, state in rows
        ]
    )


def _stamp_contained(action: ResponseAction) -> None:
    """The first containment success on a case stamps `contained_at` — through the case
    workflow (status → contained), so the milestone, its history, the SLA clocks, the
    timeline and the webhooks all happen as for a person's click."""
    from ..services import allowed_transitions, case_transition

    case = Case.objects.get(pk=action.case_id)
    while case.merged_into_id:
        case = Case.objects.get(pk=case.merged_into_id)
    if case.contained_at is not None or CaseStatus.CONTAINED not in allowed_transitions(case):
        return
    case_transition(
        case=case,
        status=CaseStatus.CONTAINED,
        reason=f"{describe(action)} succeeded (action #{action.pk})",
    )


def _finish(
    action: ResponseAction,
    to: str,
    *,
    from_: Sequence[str],
    summary: str,
    audit_action: str,
    status_reason: str = "",
    result: dict[str, Any] | None = None,
) -> ResponseAction:
    """Move to a final status with its side effects, audit and timeline."""
    now = _now()
    fields: dict[str, Any] = {"finished_at": now, "status_reason": status_reason[:1000]}
    if result is not None:
        fields["result"] = result
    old = _move(action, to, from_=from_, **fields)
    _record(action, audit_action, summary, {"status": [old, to], "reason": status_reason}, now)
    if action.endpoint_id:
        _isolation([action.endpoint_id], action.type, to)
    if to == S.SUCCEEDED and action.case_id and ACTION_TYPES[action.type].milestone == CONTAINED:
        _stamp_contained(action)
    if action.bulk_id:
        _bulk_maybe_finish(action.bulk_id)
    return action


# =============================================================================================
# requesting, approving, queueing
# =============================================================================================
def action_request(
    *,
    type: str,
    endpoint: Endpoint | int | None = None,
    case: Case | int | None = None,
    parameters: dict[str, Any] | None = None,
    reason: str = "",
) -> ResponseAction:
    """Ask for one response action. It waits for a lead when its type needs approval in
    this tenant; otherwise it is queued for the agent (or handed to a team) at once."""
    spec = spec_for(type)
    reason = _clean_text(reason, "reason", 1000)
    endpoint_row = _endpoint(endpoint)
    if spec.needs_endpoint and endpoint_row is None:
        raise ValidationError({"endpoint": f"{spec.label} runs on an endpoint: choose one"})
    if not spec.needs_endpoint and endpoint_row is not None:
        raise ValidationError({"endpoint": f"{spec.label} acts on a directory account"})
    case_row = _open_case(case)
    if spec.needs_case and case_row is None:
        raise ValidationError({"case": f"{spec.label} needs a case (its outcome lands there)"})
    params = spec.clean(parameters)
    now = _now()
    user_id, label = _actor()
    with transaction.atomic():
        action = ResponseAction.objects.create(
            type=type,
            case=case_row,
            endpoint=endpoint_row,
            hostname=endpoint_row.hostname if endpoint_row else "",
            parameters=params,
            status=S.REQUESTED,
            reason=reason,
            requested_by_id=user_id,
            requested_by_label=label,
            created_at=now,
            updated_at=now,
        )
        _record(
            action,
            "action.request",
            f"{describe(action)} requested by {label}" + (f": {reason}" if reason else ""),
            {
                "type": [None, type],
                "endpoint": [None, action.endpoint_id],
                "parameters": [None, params],
                "case": [None, action.case_id],
            },
            now,
        )
        if case_row is not None and endpoint_row is not None:
            from ..services import case_link

            case_link(case=case_row, obj=endpoint_row, relation="affected")
        _decide(action, now)
    return action


def _needs_approval(action_type: str) -> bool:
    return action_type in conf.approval_required_types(require_tenant())


def _decide(action: ResponseAction, now: dt.datetime) -> None:
    if _needs_approval(action.type):
        window = conf.action_approval_window(require_tenant())
        _move(
            action,
            S.AWAITING_APPROVAL,
            from_=(S.REQUESTED,),
            requires_approval=True,
            approval_expires_at=now + window,
        )
        _record(
            action, "action.await_approval", f"{describe(action)} awaits a lead's approval", at=now
        )
    else:
        _queue(action, now, from_=(S.REQUESTED,))


def _queue(action: ResponseAction, now: dt.datetime, *, from_: Sequence[str]) -> None:
    spec = ACTION_TYPES[action.type]
    if not spec.runs_on_agent:
        _hand_to_team(action, spec, now, from_=from_)
        return
    envelope = _envelope(action, now)
    _move(action, S.QUEUED, from_=from_, queued_at=now, **envelope)
    _record(
        action,
        "action.queue",
        None
        if _quiet(action)
        else f"{describe(action)} queued for the agent (until {envelope['expires_at']:%H:%M} UTC)",
        {"status": [None, S.QUEUED], "nonce": [None, envelope["nonce"]]},
        now,
    )
    _isolation([action.endpoint_id], action.type, S.QUEUED)
    tenant_id, endpoint_id = action.tenant_id, action.endpoint_id
    transaction.on_commit(lambda: doorbell.ring(tenant_id, [endpoint_id]))


def _hand_to_team(
    action: ResponseAction, spec: ActionSpec, now: dt.datetime, *, from_: Sequence[str]
) -> None:
    """No directory connector: the reset becomes a task for the identity team on the case;
    completing the task is the action's outcome (`actions_on_task_done`)."""
    from ..services import task_create

    what = spec.describe(action.parameters)
    task = task_create(
        case=action.case,
        title=f"Identity team: {spec.label.split(' (')[0].lower()} of {what}"[:200],
        description=(
            f"Response action #{action.pk}. No directory connector is configured: reset the "
            f"password of {what}, revoke its sessions and tokens, then mark this task done."
        ),
        is_remediation=spec.milestone == REMEDIATION,
    )
    _move(action, S.DISPATCHED, from_=from_, queued_at=now, dispatched_at=now, task=task)
    _record(
        action,
        "action.dispatch",
        f"{describe(action)} handed to the identity team as a task (no directory connector)",
        {"status": [None, S.DISPATCHED], "task": [None, task.pk]},
        now,
    )


def _check_four_eyes(requested_by_id: int | None) -> tuple[int, str]:
    user_id, label = _actor()
    if user_id is None:
        raise PermissionDenied("Only a person approves response actions.")
    if requested_by_id is not None and requested_by_id == user_id:
        raise PermissionDenied(
            "Four eyes: you requested this; another lead or admin must approve it."
        )
    return user_id, label


def action_approve(*, action: ResponseAction) -> ResponseAction:
    """A lead's (or admin's) go: the action is signed and queued. Never its requester's."""
    with transaction.atomic():
        action = _locked(action)
        if action.status != S.AWAITING_APPROVAL:
            raise Conflict(f"Action #{action.pk} is {action.status}: there is nothing to approve.")
        user_id, label = _check_four_eyes(action.requested_by_id)
        now = _now()
        ResponseAction.objects.filter(pk=action.pk).update(approved_by_id=user_id, approved_at=now)
        action.approved_by_id, action.approved_at = user_id, now
        _record(
            action,
            "action.approve",
            f"{describe(action)} approved by {label}",
            {"approved_by": [None, user_id]},
            now,
        )
        _queue(action, now, from_=(S.AWAITING_APPROVAL,))
    return action


def action_reject(*, action: ResponseAction, reason: str) -> ResponseAction:
    """A lead says no, with a reason: the action ends cancelled."""
    reason = _clean_text(reason, "reason", 1000, required=True)
    with transaction.atomic():
        action = _locked(action)
        if action.status != S.AWAITING_APPROVAL:
            raise Conflict(f"Action #{action.pk} is {action.status}: there is nothing to reject.")
        _, label = _actor()
        return _finish(
            action,
            S.CANCELLED,
            from_=(S.AWAITING_APPROVAL,),
            summary=f"{describe(action)} rejected by {label}: {reason}",
            audit_action="action.reject",
            status_reason=f"rejected by {label}: {reason}",
        )


def _may_withdraw(requested_by_id: int | None) -> str:
    user_id, label = _actor()
    info = current_request()
    if info.role in roles.LEADS or info.actor.kind == "system" or user_id == requested_by_id:
        return label
    raise PermissionDenied("Only its requester, a lead or an admin cancels an action.")


def action_cancel(*, action: ResponseAction, reason: str = "") -> ResponseAction:
    """Withdraw an action the agent has not picked up yet (requester, leads, admins)."""
    reason = _clean_text(reason, "reason", 1000)
    with transaction.atomic():
        action = _locked(action)
        label = _may_withdraw(action.requested_by_id)
        if action.status not in CANCELLABLE:
            raise Conflict(
                f"Action #{action.pk} is {action.status}: "
                + ("the agent already has it." if action.status == S.DISPATCHED else "it is over.")
            )
        return _finish(
            action,
            S.CANCELLED,
            from_=CANCELLABLE,
            summary=f"{describe(action)} cancelled by {label}" + (f": {reason}" if reason else ""),
            audit_action="action.cancel",
            status_reason=f"cancelled by {label}" + (f": {reason}" if reason else ""),
        )


def action_retry(*, action: ResponseAction) -> ResponseAction:
    """Try a failed or expired action again: a new attempt (the old one stays as it was).

    An approval given to the first attempt carries over (same action, same parameters);
    one that was never given is asked for again."""
    now = _now()
    user_id, label = _actor()
    with transaction.atomic():
        old = _locked(action)
        if old.status not in (S.FAILED, S.EXPIRED):
            raise Conflict(f"Action #{old.pk} is {old.status}: only failed or expired ones retry.")
        newer = ResponseAction.objects.filter(retry_of=old).values_list("pk", flat=True).first()
        if newer:
            raise Conflict(f"Action #{old.pk} was already retried as #{newer}: retry that one.")
        if old.case_id:
            _open_case(old.case_id)
        if ACTION_TYPES[old.type].needs_endpoint and old.endpoint_id is None:
            raise Conflict("The endpoint of this action no longer exists.")
        new = ResponseAction.objects.create(
            type=old.type,
            case_id=old.case_id,
            endpoint_id=old.endpoint_id,
            hostname=old.hostname,
            parameters=old.parameters,
            status=S.REQUESTED,
            reason=old.reason,
            requires_approval=old.requires_approval,
            requested_by_id=user_id,
            requested_by_label=label,
            approved_by_id=old.approved_by_id,
            approved_at=old.approved_at,
            bulk_id=old.bulk_id,
            attempt=old.attempt + 1,
            retry_of=old,
            created_at=now,
            updated_at=now,
        )
        new.endpoint, new.case = old.endpoint, old.case
        _record(
            new,
            "action.retry",
            f"{describe(new)}: attempt {new.attempt} requested by {label} (#{old.pk} {old.status})",
            {"retry_of": [None, old.pk], "attempt": [None, new.attempt]},
            now,
        )
        if old.approved_by_id:
            _queue(new, now, from_=(S.REQUESTED,))
        else:
            _decide(new, now)
    return new


# =============================================================================================
# the agent's side: acknowledge, report
# =============================================================================================
def action_acknowledge(*, action: ResponseAction) -> ResponseAction:
    """The agent picked the action up (it verified the payload): dispatched. Idempotent."""
    with transaction.atomic():
        action = _locked(action)
        if action.status == S.DISPATCHED:
            return action
        if action.status != S.QUEUED:
            raise Conflict(f"Action #{action.pk} is {action.status}.")
        now = _now()
        if action.expires_at and now > action.expires_at + CLOCK_SKEW:
            raise Conflict(f"Action #{action.pk} expired at {_iso(action.expires_at)}.")
        _move(action, S.DISPATCHED, from_=(S.QUEUED,), dispatched_at=now)
        _record(
            action,
            "action.dispatch",
            None if _quiet(action) else f"{describe(action)} picked up by the agent",
            {"status": [S.QUEUED, S.DISPATCHED]},
            now,
        )
    return action


def action_report(
    *,
    action: ResponseAction,
    status: str,
    output: str = "",
    artifacts: Sequence[dict[str, Any]] = (),
    matches: Sequence[dict[str, Any]] = (),
) -> ResponseAction:
    """The agent's result. A collected file becomes evidence on the case; YARA matches of
    the scan's IOCs become alerts. Re-sending the same result is harmless."""
    if status not in (S.SUCCEEDED, S.FAILED):
        raise ValidationError({"status": "succeeded or failed"})
    if not isinstance(output, str):
        raise ValidationError({"output": "text"})
    output = output[: conf.MAX_ACTION_OUTPUT_CHARS]
    if len(artifacts) > MAX_ARTIFACTS:
        raise ValidationError({"artifacts": f"at most {MAX_ARTIFACTS}"})
    if len(matches) > MAX_MATCHES:
        raise ValidationError({"matches": f"at most {MAX_MATCHES}"})
    with transaction.atomic():
        action = _locked(action)
        if action.status == status:
            return action  # the agent resent its answer
        if action.status not in WAITING_FOR_AGENT or not ACTION_TYPES[action.type].runs_on_agent:
            raise Conflict(f"Action #{action.pk} is {action.status}: no result is expected.")
        result: dict[str, Any] = {"status": status, "output": output}
        if artifacts:
            result["artifacts"] = _store_artifacts(action, artifacts)
        if matches:
            result["matches"], result["alerts"] = _yara_matches(action, matches)
        if action.dispatched_at is None:
            action.dispatched_at = _now()
            ResponseAction.objects.filter(pk=action.pk).update(dispatched_at=action.dispatched_at)
        first_line = output.strip().splitlines()[0] if output.strip() else ""
        return _finish(
            action,
            status,
            from_=WAITING_FOR_AGENT,
            summary=f"{describe(action)} {status}"
            + (f": {first_line[:300]}" if first_line else ""),
            audit_action=f"action.{'succeed' if status == S.SUCCEEDED else 'fail'}",
            status_reason="" if status == S.SUCCEEDED else first_line,
            result=result,
        )


def _store_artifacts(action: ResponseAction, artifacts: Sequence[Any]) -> list[dict[str, Any]]:
    """Collected files → evidence on the action's case (fingerprinted, chain of custody)."""
    from ..services import evidence_upload

    stored = []
    for index, artifact in enumerate(artifacts):
        field = f"artifacts.{index}"
        if not isinstance(artifact, dict) or artifact.get("kind") != "file":
            raise ValidationError({field: 'a {"kind": "file", "name", "content_base64"} object'})
        try:
            data = base64.b64decode(str(artifact.get("content_base64", "")), validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError({f"{field}.content_base64": "not base64"}) from None
        declared = str(artifact.get("sha256", "")).lower()
        if declared and declared != hashlib.sha256(data).hexdigest():
            raise ValidationError({f"{field}.sha256": "does not match the content"})
        if action.case_id is None:
            raise ValidationError({field: "this action has no case to hold the file"})
        path = str(artifact.get("path") or action.parameters.get("path", ""))[:500]
        evidence = evidence_upload(
            case=action.case,
            upload=ContentFile(data, name=str(artifact.get("name") or "collected")[:200]),
            description=f"collected from {action.hostname} {path} by action #{action.pk}"[:500],
        )
        stored.append(
            {
                "kind": "file",
                "name": evidence.original_name,
                "path": path,
                "sha256": evidence.sha256,
                "size": evidence.size,
                "evidence": evidence.pk,
            }
        )
    return stored


def _yara_matches(
    action: ResponseAction, matches: Sequence[Any]
) -> tuple[list[dict[str, Any]], int]:
    """Matches of the scan's own rules; those of a YARA IOC become `ioc_sweep` alerts on the
    endpoint (deduplicated per IOC and endpoint), linked to the IOC."""
    from intel.alerting import AlertSpec, send_alerts
    from intel.models import IOC

    if action.type != "yara_scan":
        raise ValidationError({"matches": "only a YARA scan reports matches"})
    allowed = {rule.get("ioc") for rule in action.parameters.get("rules", []) if rule.get("ioc")}
    clean: list[dict[str, Any]] = []
    for index, match in enumerate(matches):
        if not isinstance(match, dict) or not isinstance(match.get("path"), str):
            raise ValidationError({f"matches.{index}": 'a {"path", "ioc", "rules"} object'})
        ioc = match.get("ioc")
        if ioc is not None and ioc not in allowed:
            raise ValidationError({f"matches.{index}.ioc": "not a rule of this scan"})
        names = [str(name)[:128] for name in match.get("rules") or []][:50]
        clean.append({"path": match["path"][:1024], "ioc": ioc, "rules": names})
    iocs = {ioc.pk: ioc for ioc in IOC.objects.filter(pk__in={m["ioc"] for m in clean} - {None})}
    now = _now()
    specs = []
    for match in clean:
        ioc = iocs.get(match["ioc"])
        if ioc is None:
            continue
        digest = hashlib.sha1(match["path"].encode(), usedforsecurity=False).hexdigest()[:16]
        specs.append(
            AlertSpec(
                title=f"YARA {', '.join(match['rules']) or ioc.key} matched {match['path']} "
                f"on {action.hostname}",
                severity=ioc.severity or "high",
                source="ioc_sweep",
                phase=ioc.phase or "initial_infection",
                observed_at=now,
                external_id=f"yara-action:{action.pk}:{ioc.pk}:{digest}",
                dedup_key=f"yara:{ioc.pk}:endpoint:{action.endpoint_id}",
                endpoint=action.endpoint,
                ioc_key=ioc.key,
                raw={"action": action.pk, "path": match["path"], "rules": match["rules"]},
                links=[(ioc, "indicator")],
            )
        )
    send_alerts(specs)
    return clean, len(specs)


# =============================================================================================
# task-executed actions (directory credentials)
# =============================================================================================
def actions_on_task_done(task: Task) -> None:
    """Called by `task_update` when a task is completed: the action it stands for is done."""
    _, label = _actor()
    for action in (
        ResponseAction.objects.select_for_update(of=("self",))
        .select_related("case", "endpoint")
        .filter(task=task, status=S.DISPATCHED)
    ):
        _finish(
            action,
            S.SUCCEEDED,
            from_=(S.DISPATCHED,),
            summary=f"{describe(action)} succeeded: task “{task.title}” completed by {label}",
            audit_action="action.succeed",
            result={"status": S.SUCCEEDED, "output": f"task {task.pk} completed by {label}"},
        )


def action_record_outcome(
    *, action: ResponseAction, status: str, output: str = ""
) -> ResponseAction:
    """A person records how a team-executed action ended (e.g. the reset was refused)."""
    if status not in (S.SUCCEEDED, S.FAILED):
        raise ValidationError({"status": "succeeded or failed"})
    output = _clean_text(output, "output", conf.MAX_ACTION_OUTPUT_CHARS)
    from ..services import task_update

    with transaction.atomic():
        action = _locked(action)
        if ACTION_TYPES[action.type].runs_on_agent:
            raise Conflict("The agent reports this action's outcome.")
        if action.status != S.DISPATCHED:
            raise Conflict(f"Action #{action.pk} is {action.status}.")
        _, label = _actor()
        _finish(
            action,
            status,
            from_=(S.DISPATCHED,),
            summary=f"{describe(action)} {status} (recorded by {label})"
            + (f": {output}" if output else ""),
            audit_action=f"action.{'succeed' if status == S.SUCCEEDED else 'fail'}",
            status_reason="" if status == S.SUCCEEDED else output,
            result={"status": status, "output": output, "recorded_by": label},
        )
        if action.task_id:
            task = Task.objects.get(pk=action.task_id)
            if not task.done:
                task_update(task=task, done=True)
    return action


# =============================================================================================
# expiry (beat, every minute)
# =============================================================================================
def actions_expire(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Expire what nobody approved or picked up in time; fail what the agent never reported."""
    now = now or _now()
    tenant = require_tenant()
    stale_dispatch = now - conf.action_result_timeout(tenant)
    rules = [
        (
            ResponseAction.objects.filter(status=S.AWAITING_APPROVAL, approval_expires_at__lt=now),
            S.EXPIRED,
            "nobody approved it in time",
        ),
        (
            ResponseAction.objects.filter(status=S.QUEUED, expires_at__lt=now),
            S.EXPIRED,
            "the agent did not pick it up in time (offline?)",
        ),
        (
            ResponseAction.objects.filter(
                status=S.DISPATCHED, dispatched_at__lt=stale_dispatch, task__isnull=True
            ),
            S.FAILED,
            "no result from the agent in time",
        ),
    ]
    done = 0
    for queryset, to, why in rules:
        for pk, status in queryset.order_by("pk").values_list("pk", "status")[:limit]:
            try:
                with transaction.atomic():
                    action = _locked(pk)
                    _finish(
                        action,
                        to,
                        from_=(status,),
                        summary=f"{describe(action)} {to}: {why}",
                        audit_action=f"action.{'expire' if to == S.EXPIRED else 'fail'}",
                        status_reason=why,
                    )
                done += 1
            except Conflict:  # it moved on meanwhile (the agent answered): fine
                continue
    window = conf.action_approval_window(tenant)
    for bulk in BulkAction.objects.filter(
        status=BulkAction.Status.AWAITING_APPROVAL, created_at__lt=now - window
    )[:limit]:
        with transaction.atomic():
            if _bulk_move(
                bulk,
                BulkAction.Status.CANCELLED,
                (BulkAction.Status.AWAITING_APPROVAL,),
                status_reason="nobody approved it in time",
                finished_at=now,
            ):
                _bulk_record(
                    bulk,
                    "bulk_action.expire",
                    f"{_bulk_label(bulk)} expired: nobody approved it in time",
                )
                done += 1
    return done


# =============================================================================================
# bulk responses
# =============================================================================================
def _bulk_label(bulk: BulkAction) -> str:
    return f"Bulk {ACTION_TYPES[bulk.type].label.lower()} on {bulk.total} endpoint(s)"


def _bulk_record(bulk: BulkAction, audit_action: str, summary: str | None, changes=None) -> None:
    if summary and bulk.case_id:
        TimelineEntry.objects.bulk_create(
            [
                _timeline(
                    Case(pk=bulk.case_id, tenant_id=bulk.tenant_id),
                    TimelineEntry.Kind.ACTION,
                    summary,
                    {"bulk": bulk.pk, "type": bulk.type, "status": bulk.status},
                )
            ]
        )
    audit_record_many([_entry(audit_action, bulk, changes or {"status": [None, bulk.status]})])


def _bulk_move(bulk: BulkAction, to: str, from_: Sequence[str], **fields: Any) -> bool:
    updated = BulkAction.objects.filter(pk=bulk.pk, status__in=list(from_)).update(
        status=to, updated_at=_now(), **fields
    )
    if updated:
        for name, value in fields.items():
            setattr(bulk, name, value)
        bulk.status = to
    return bool(updated)


def bulk_action_request(
    *,
    type: str,
    endpoints: Sequence[Endpoint | int] = (),
    sha256: str = "",
    sweep: Any = None,
    ioc: Any = None,
    case: Case | int | None = None,
    parameters: dict[str, Any] | None = None,
    reason: str = "",
) -> BulkAction:
    """One response for many endpoints: listed ones, every endpoint where a hash runs
    (telemetry and sweep hits), or every endpoint a sweep (or an IOC) hit. Approved once."""
    from .selectors import bulk_targets

    spec = spec_for(type)
    if not spec.runs_on_agent:
        raise ValidationError({"type": f"{spec.label} does not run on endpoints"})
    if spec.needs_case and case is None:
        raise ValidationError({"case": f"{spec.label} needs a case"})
    reason = _clean_text(reason, "reason", 1000)
    case_row = _open_case(case)
    parameters = dict(parameters or {})
    if sha256 and type == "kill_process":
        parameters.setdefault("sha256", sha256)
    params = spec.clean(parameters)
    target, ids = bulk_targets(endpoints=endpoints, sha256=sha256, sweep=sweep, ioc=ioc)
    if not ids:
        raise ValidationError({"endpoints": "no endpoint matches this target"})
    if len(ids) > conf.MAX_BULK_ENDPOINTS:
        raise ValidationError(
            {"endpoints": f"{len(ids)} endpoints; at most {conf.MAX_BULK_ENDPOINTS} at once"}
        )
    now = _now()
    user_id, label = _actor()
    needs = _needs_approval(type)
    with transaction.atomic():
        bulk = BulkAction.objects.create(
            type=type,
            case=case_row,
            parameters=params,
            target=target,
            endpoint_ids=ids,
            total=len(ids),
            status=BulkAction.Status.AWAITING_APPROVAL if needs else BulkAction.Status.LAUNCHING,
            requires_approval=needs,
            reason=reason,
            requested_by_id=user_id,
            requested_by_label=label,
            created_at=now,
            updated_at=now,
        )
        what = spec.describe(params)
        _bulk_record(
            bulk,
            "bulk_action.request",
            f"{_bulk_label(bulk)}{f' ({what})' if what else ''} requested by {label}"
            + (" — awaits a lead's approval" if needs else "")
            + (f": {reason}" if reason else ""),
            {
                "type": [None, type],
                "target": [None, target],
                "total": [None, len(ids)],
                "parameters": [None, params],
            },
        )
        if not needs:
            _bulk_launch(bulk)
    return bulk


def _bulk_locked(bulk: BulkAction | int) -> BulkAction:
    pk = bulk.pk if isinstance(bulk, BulkAction) else bulk
    return BulkAction.objects.select_for_update().get(pk=pk)


def bulk_action_approve(*, bulk: BulkAction) -> BulkAction:
    """One approval for every endpoint of the bulk (never by its requester)."""
    with transaction.atomic():
        bulk = _bulk_locked(bulk)
        if bulk.status != BulkAction.Status.AWAITING_APPROVAL:
            raise Conflict(f"Bulk action #{bulk.pk} is {bulk.status}: nothing to approve.")
        user_id, label = _check_four_eyes(bulk.requested_by_id)
        now = _now()
        _bulk_move(
            bulk,
            BulkAction.Status.LAUNCHING,
            (BulkAction.Status.AWAITING_APPROVAL,),
            approved_by_id=user_id,
            approved_at=now,
        )
        _bulk_record(
            bulk,
            "bulk_action.approve",
            f"{_bulk_label(bulk)} approved by {label}",
            {"approved_by": [None, user_id]},
        )
        _bulk_launch(bulk)
    return bulk


def bulk_action_reject(*, bulk: BulkAction, reason: str) -> BulkAction:
    reason = _clean_text(reason, "reason", 1000, required=True)
    with transaction.atomic():
        bulk = _bulk_locked(bulk)
        _, label = _actor()
        if not _bulk_move(
            bulk,
            BulkAction.Status.CANCELLED,
            (BulkAction.Status.AWAITING_APPROVAL,),
            status_reason=f"rejected by {label}: {reason}",
            finished_at=_now(),
        ):
            raise Conflict(f"Bulk action #{bulk.pk} is {bulk.status}: nothing to reject.")
        _bulk_record(
            bulk, "bulk_action.reject", f"{_bulk_label(bulk)} rejected by {label}: {reason}"
        )
    return bulk


def bulk_action_cancel(*, bulk: BulkAction, reason: str = "") -> BulkAction:
    """Stop a bulk: endpoints that have not picked their action up yet are cancelled;
    those already running it finish."""
    reason = _clean_text(reason, "reason", 1000)
    with transaction.atomic():
        bulk = _bulk_locked(bulk)
        label = _may_withdraw(bulk.requested_by_id)
        why = f"cancelled by {label}" + (f": {reason}" if reason else "")
        open_states = (
            BulkAction.Status.AWAITING_APPROVAL,
            BulkAction.Status.LAUNCHING,
            BulkAction.Status.RUNNING,
        )
        if not _bulk_move(
            bulk, BulkAction.Status.CANCELLED, open_states, status_reason=why, finished_at=_now()
        ):
            raise Conflict(f"Bulk action #{bulk.pk} is {bulk.status}: it is over.")
        _bulk_record(bulk, "bulk_action.cancel", f"{_bulk_label(bulk)} {why}")
        children = list(
            ResponseAction.objects.select_for_update(of=("self",))
            .select_related("case", "endpoint")
            .filter(bulk=bulk, status__in=CANCELLABLE)
        )
        for child in children:
            _finish(
                child,
                S.CANCELLED,
                from_=CANCELLABLE,
                summary=f"{describe(child)} {why}",
                audit_action="action.cancel",
                status_reason=why,
            )
    return bulk


def _bulk_launch(bulk: BulkAction) -> None:
    """Fan out: one chunk task per slice of endpoints, each creating its endpoints' actions.

    Through the outbox, in the transaction that launches the bulk: a broker that is down
    delays the launch, it cannot leave the bulk `launching` for ever."""
    from tenancy import outbox
    from tenancy.tasks import actor_kwargs

    from ..tasks import launch_bulk_chunk

    tenant_id, bulk_id, actor = bulk.tenant_id, bulk.pk, actor_kwargs()
    size = conf.BULK_CHUNK_SIZE
    chunks = [bulk.endpoint_ids[i : i + size] for i in range(0, len(bulk.endpoint_ids), size)]
    outbox.enqueue_many(
        launch_bulk_chunk,
        [
            {"tenant_id": tenant_id, "bulk_id": bulk_id, "endpoint_ids": chunk, **actor}
            for chunk in chunks
        ],
    )


def bulk_action_launch_chunk(*, bulk_id: int, endpoint_ids: Sequence[int]) -> int:
    """Create (queued, signed, approval inherited) the actions of one chunk of a bulk.

    Idempotent: an endpoint that already has its action in this bulk is skipped, so a chunk
    run twice (a worker died, the message came back) creates nothing twice. Returns how
    many actions it created."""
    now = _now()
    with transaction.atomic():
        bulk = BulkAction.objects.select_for_update().filter(pk=bulk_id).first()
        if bulk is None or bulk.status not in (
            BulkAction.Status.LAUNCHING,
            BulkAction.Status.RUNNING,
        ):
            return 0
        wanted = [pk for pk in endpoint_ids if pk in set(bulk.endpoint_ids)]
        have = set(
            ResponseAction.objects.filter(bulk=bulk, endpoint_id__in=wanted).values_list(
                "endpoint_id", flat=True
            )
        )
        endpoints = list(Endpoint.objects.filter(pk__in=set(wanted) - have).order_by("pk"))
        children = [
            ResponseAction(
                type=bulk.type,
                case_id=bulk.case_id,
                endpoint=endpoint,
                hostname=endpoint.hostname,
                parameters=bulk.parameters,
                status=S.QUEUED,
                requires_approval=bulk.requires_approval,
                reason=bulk.reason,
                requested_by_id=bulk.requested_by_id,
                requested_by_label=bulk.requested_by_label,
                approved_by_id=bulk.approved_by_id,
                approved_at=bulk.approved_at,
                bulk=bulk,
                queued_at=now,
                created_at=now,
                updated_at=now,
            )
            for endpoint in endpoints
        ]
        ResponseAction.objects.bulk_create(children)
        for child in children:
            for name, value in _envelope(child, now).items():
                setattr(child, name, value)
        ResponseAction.objects.bulk_update(
            children, ["nonce", "issued_at", "expires_at", "signature"]
        )
        audit_record_many(
            [
                _entry("action.queue", child, {"status": [None, S.QUEUED], "bulk": [None, bulk.pk]})
                for child in children
            ]
        )
        _isolation([child.endpoint_id for child in children], bulk.type, S.QUEUED)
        processed = len(set(wanted) - have)
        skipped = processed - len(children)
        BulkAction.objects.filter(pk=bulk.pk).update(launched=F("launched") + processed)
        bulk.refresh_from_db(fields=["launched", "status"])
        if skipped:
            target = {**bulk.target, "skipped": bulk.target.get("skipped", 0) + skipped}
            BulkAction.objects.filter(pk=bulk.pk).update(target=target)
        if bulk.launched >= bulk.total and _bulk_move(
            bulk, BulkAction.Status.RUNNING, (BulkAction.Status.LAUNCHING,)
        ):
            _bulk_record(
                bulk,
                "bulk_action.launch",
                f"{_bulk_label(bulk)} launched: every endpoint has its action",
            )
            _bulk_maybe_finish(bulk.pk)
        tenant_id, ids = bulk.tenant_id, [child.endpoint_id for child in children]
        transaction.on_commit(lambda: doorbell.ring(tenant_id, ids))
    return len(children)


def _bulk_maybe_finish(bulk_id: int) -> None:
    """When the last child of a running bulk ends, the bulk ends (once: conditional)."""
    if ResponseAction.objects.filter(bulk_id=bulk_id, status__in=ACTION_OPEN_STATUSES).exists():
        return
    bulk = BulkAction.objects.get(pk=bulk_id)
    if _bulk_move(
        bulk, BulkAction.Status.FINISHED, (BulkAction.Status.RUNNING,), finished_at=_now()
    ):
        from .selectors import bulk_counts

        counts = bulk_counts(bulk)
        shown = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        _bulk_record(
            bulk,
            "bulk_action.finish",
            f"{_bulk_label(bulk)} finished: {shown}",
            {"status": ["running", "finished"], "counts": [None, counts]},
        )


# =============================================================================================
# the tenant's settings
# =============================================================================================
def action_settings_update(*, approval_required_types: Sequence[str]) -> list[str]:
    """Which action types need a lead's approval in this tenant (admins)."""
    wanted = sorted(set(approval_required_types))
    unknown = [name for name in wanted if name not in ACTION_TYPES]
    if unknown:
        raise ValidationError({"approval_required_types": f"unknown: {', '.join(unknown)}"})
    tenant = require_tenant()
    with transaction.atomic():
        row = Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = sorted(conf.approval_required_types(row))
        settings = dict(row.settings or {})
        settings["cases"] = {**settings.get("cases", {}), "approval_required_types": wanted}
        row.settings = settings
        row.save(update_fields=["settings"])
        tenant.settings = settings
        if before != wanted:
            audit_record(
                "tenant.settings",
                row,
                {"cases.approval_required_types": [before, wanted]},
            )
    return wanted
