"""The verbs of case management: every change to alerts and cases goes through here.

Each function is keyword-only, runs in `transaction.atomic()`, appends to the audit trail in
the same transaction, and writes the case's timeline. Who acts is read from the request or
task context (`tenancy.context.current_request().actor`), as the audit trail does, so the
same verb serves the browser, the API and workers.

Errors: bad input raises `django.core.exceptions.ValidationError` (a dict naming the
fields); a change the case's state does not allow raises `tenancy.errors.Conflict` (409); a
stale `expected_version` raises `tenancy.errors.PreconditionFailed` (412).

Contract for other apps (endpoints detections, intel sweeps and reputation):

    from cases.services import AlertInput, alert_ingest, case_link
    result = alert_ingest(alerts=[AlertInput(title=..., severity="high",
                                             source=AlertSource.DETECTION_RULE,
                                             observed_at=..., endpoint=endpoint, ...)])
    case_link(case=case, obj=ioc, relation=CaseLink.Relation.INDICATOR)

Concurrency: a case is changed only while its row is locked (`select_for_update`), and its
`version` (the API's ETag) is compared under that lock, so two writers with the same
version cannot both win. Case numbers come from a locked per-year counter row.

The rooms: `ingest` (alert_ingest, grouping rules), `alerts` (triage), `workflow` (case
verbs, milestones, merge/split, links), `work` (tasks, notes, evidence, saved filters),
`creation` (how every case is born: numbers, playbooks), `breaches` (SLA fields and
breaches), `hooks` (webhooks), `_base` (helpers). Import from `cases.services`.
"""

from __future__ import annotations

from ._base import (
    UNSET,
    WORKING_ROLES,
    acting_at,
    normalise_tags,
)
from .alerts import (
    alert_acknowledge,
    alert_dismiss,
    alert_promote,
    alert_restore,
)
from .breaches import (
    sla_refresh_cases,
    sla_sweep,
)
from .creation import (
    ensure_task_templates,
)
from .hooks import (
    case_payload,
    webhook_create,
    webhook_delete,
    webhook_deliver,
    webhook_due_deliveries,
    webhook_ping,
    webhook_redeliver,
    webhook_rotate_secret,
    webhook_update,
)
from .ingest import (
    DEFAULT_GROUPING_RULES,
    AlertInput,
    AlertValidationError,
    IngestResult,
    alert_ingest,
    grouping_rule_delete,
    grouping_rule_save,
    grouping_rules_ensure,
)
from .work import (
    evidence_open,
    evidence_path_for,
    evidence_upload,
    note_create,
    note_update,
    sanitise_filename,
    saved_filter_delete,
    saved_filter_save,
    task_create,
    task_update,
)
from .workflow import (
    allowed_transitions,
    case_assign,
    case_bulk_update,
    case_correct_milestone,
    case_create,
    case_link,
    case_merge,
    case_pause,
    case_reopen,
    case_resume,
    case_scope_done,
    case_split,
    case_transition,
    case_unlink,
    case_update,
)

__all__ = [
    "DEFAULT_GROUPING_RULES",
    "UNSET",
    "WORKING_ROLES",
    "AlertInput",
    "AlertValidationError",
    "IngestResult",
    "acting_at",
    "alert_acknowledge",
    "alert_dismiss",
    "alert_ingest",
    "alert_promote",
    "alert_restore",
    "allowed_transitions",
    "case_assign",
    "case_bulk_update",
    "case_correct_milestone",
    "case_create",
    "case_link",
    "case_merge",
    "case_pause",
    "case_payload",
    "case_reopen",
    "case_resume",
    "case_scope_done",
    "case_split",
    "case_transition",
    "case_unlink",
    "case_update",
    "ensure_task_templates",
    "evidence_open",
    "evidence_path_for",
    "evidence_upload",
    "grouping_rule_delete",
    "grouping_rule_save",
    "grouping_rules_ensure",
    "normalise_tags",
    "note_create",
    "note_update",
    "sanitise_filename",
    "saved_filter_delete",
    "saved_filter_save",
    "sla_refresh_cases",
    "sla_sweep",
    "task_create",
    "task_update",
    "webhook_create",
    "webhook_delete",
    "webhook_deliver",
    "webhook_due_deliveries",
    "webhook_ping",
    "webhook_redeliver",
    "webhook_rotate_secret",
    "webhook_update",
]
