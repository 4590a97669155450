"""Tasks, notes, evidence (with its chain of custody), saved filters."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction

from tenancy.context import current_request, require_tenant
from tenancy.errors import PayloadTooLarge, storage_error
from tenancy.services import audit_record_many

from .. import conf
from ..models import (
    Case,
    CustodyEvent,
    Evidence,
    Note,
    SavedFilter,
    Task,
    TimelineEntry,
)
from ._base import (
    UNSET,
    _actor,
    _assign,
    _aware,
    _clean_text,
    _entry,
    _ip,
    _lock,
    _member_user,
    _now,
    _timeline,
)


# =============================================================================================
# tasks, notes, evidence
# =============================================================================================
def task_create(
    *,
    case: Case,
    title: str,
    description: str = "",
    assignee: AbstractBaseUser | int | None = None,
    due_at: dt.datetime | None = None,
    is_remediation: bool = False,
) -> Task:
    title = _clean_text(title, "title", 200, required=True)
    description = _clean_text(description, "description", 10_000)
    user = _member_user(assignee)
    if due_at is not None:
        _aware(due_at, "due_at")
    now = _now()
    with transaction.atomic():
        case = _lock(case)
        last = Task.objects.filter(case=case).order_by("-order").values_list("order", flat=True)
        task = Task.objects.create(
            case=case,
            title=title,
            description=description,
            assignee=user,
            due_at=due_at,
            is_remediation=is_remediation,
            phase=case.phase,
            order=(last.first() or 0) + 1,
            created_at=now,
        )
        TimelineEntry.objects.bulk_create(
            [
                _timeline(
                    case, TimelineEntry.Kind.TASK, f"Task added: {title}", {"task": task.pk}, at=now
                )
            ]
        )
        audit_record_many(
            [_entry("task.create", task, {"title": [None, title], "case": [None, case.pk]})]
        )
    return task


def task_update(
    *,
    task: Task,
    title: Any = UNSET,
    description: Any = UNSET,
    assignee: Any = UNSET,
    due_at: Any = UNSET,
    done: Any = UNSET,
) -> Task:
    """Change a task; `done=True` completes it (timeline: "Task done"), False reopens it."""
    values: dict[str, Any] = {}
    if title is not UNSET:
        values["title"] = _clean_text(title, "title", 200, required=True)
    if description is not UNSET:
        values["description"] = _clean_text(description, "description", 10_000)
    if assignee is not UNSET:
        user = _member_user(assignee)
        values["assignee_id"] = user.pk if user else None
    if due_at is not UNSET:
        values["due_at"] = _aware(due_at, "due_at") if due_at is not None else None
    now = _now()
    user_id, _ = _actor()
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task.pk)
        changes = _assign(task, values)
        timeline = []
        if done is not UNSET and bool(done) != task.done:
            changes["done"] = [task.done, bool(done)]
            task.done_at, task.done_by_id = (now, user_id) if done else (None, None)
            timeline.append(
                _timeline(
                    task.case,
                    TimelineEntry.Kind.TASK,
                    f"Task {'done' if done else 'reopened'}: {task.title}",
                    {"task": task.pk, "done": bool(done)},
                    at=now,
                )
            )
        if not changes:
            return task
        task.save()
        TimelineEntry.objects.bulk_create(timeline)
        audit_record_many([_entry("task.update", task, changes)])
        if changes.get("done") == [False, True]:
            # A task may stand for a response action (a credential reset handed to the
            # identity team): completing it is that action's outcome.
            from ..actions.services import actions_on_task_done

            actions_on_task_done(task)
    return task


def note_create(*, case: Case, body: str) -> Note:
    """A Markdown note on the case (rendered sanitised); also a timeline line."""
    body = _clean_text(body, "body", 100_000, required=True)
    now = _now()
    user_id, _ = _actor()
    with transaction.atomic():
        case = _lock(case)
        note = Note.objects.create(
            case=case, body=body, author_id=user_id, created_at=now, updated_at=now
        )
        excerpt = " ".join(body.split())
        TimelineEntry.objects.bulk_create(
            [
                _timeline(
                    case,
                    TimelineEntry.Kind.NOTE,
                    f"Note: {excerpt[:140]}{'…' if len(excerpt) > 140 else ''}",
                    {"note": note.pk},
                    at=now,
                )
            ]
        )
        audit_record_many(
            [_entry("note.create", note, {"case": [None, case.pk], "length": [None, len(body)]})]
        )
    return note


def note_update(*, note: Note, body: str) -> Note:
    """Only the author changes a note; the audit trail keeps the previous text."""
    body = _clean_text(body, "body", 100_000, required=True)
    user_id, _ = _actor()
    with transaction.atomic():
        note = Note.objects.select_for_update().get(pk=note.pk)
        if note.author_id is None or note.author_id != user_id:
            raise PermissionDenied("Only the author can edit a note.")
        if note.body == body:
            return note
        old = note.body
        note.body, note.updated_at = body, _now()
        note.save(update_fields=["body", "updated_at"])
        audit_record_many([_entry("note.update", note, {"body": [old, body]})])
    return note


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def sanitise_filename(name: str) -> str:
    """A display/download name with no path, no control characters, no leading dots.

    Invisible format characters (bidi overrides, zero-width joiners) go too: with U+202E a
    sample named `invoice\u202etxt.exe` would be shown and saved as "invoiceexe.txt".
    """
    name = unicodedata.normalize("NFKC", str(name or ""))
    name = "".join("_" if unicodedata.category(c) == "Cf" else c for c in name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip().lstrip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot and len(ext) <= 9 else name[:200]
    return name or "evidence"


def _detect_type(head: bytes) -> str:
    try:
        import magic

        return magic.from_buffer(head, mime=True) or "application/octet-stream"
    except Exception:  # libmagic missing or confused: say so rather than guess
        return "application/octet-stream"


def evidence_upload(*, case: Case, upload: File, description: str = "") -> Evidence:
    """Store a file under evidence/<tenant>/<case>/<uuid>, fingerprinted at upload.

    Records size, SHA-256 and the content type detected from the bytes (never the client's
    claim), and the first link of the chain of custody. Refuses files over the tenant's
    limit (413).
    """
    description = _clean_text(description, "description", 500)
    limit = conf.evidence_max_bytes(require_tenant())
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise PayloadTooLarge(f"The file is {size} bytes; the limit is {limit}.")
    digest = hashlib.sha256()
    head = b""
    total = 0
    upload.seek(0)
    for chunk in upload.chunks():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"The file is larger than the limit of {limit} bytes.")
        if len(head) < 8192:
            head += chunk[: 8192 - len(head)]
        digest.update(chunk)
    if total == 0:
        raise ValidationError({"file": "the file is empty"})
    upload.seek(0)
    now = _now()
    user_id, label = _actor()
    info = current_request()
    stored_name = None
    try:
        with transaction.atomic():
            case = _lock(case)
            evidence = Evidence(
                case=case,
                original_name=sanitise_filename(getattr(upload, "name", "") or "evidence"),
                size=total,
                sha256=digest.hexdigest(),
                content_type=_detect_type(head)[:150],
                description=description,
                uploaded_by_id=user_id,
                uploaded_at=now,
            )
            evidence.assign_tenant()
            try:  # whole or nothing on disk (tenancy/storage.py); a full disk is a 507
                stored_name = default_storage.save(evidence_path_for(evidence), upload)
            except OSError as exc:
                raise storage_error(exc) from exc
            evidence.file.name = stored_name
            evidence.save()
            CustodyEvent.objects.create(
                evidence=evidence,
                action="upload",
                at=now,
                user_id=user_id,
                actor_label=label,
                ip=_ip(info.ip),
                request_id=info.request_id[:64],
                detail=f"sha256 {evidence.sha256}",
            )
            TimelineEntry.objects.bulk_create(
                [
                    _timeline(
                        case,
                        TimelineEntry.Kind.EVIDENCE,
                        f"Evidence added: {evidence.original_name} ({total} bytes, "
                        f"{evidence.content_type})",
                        {"evidence": evidence.pk, "sha256": evidence.sha256},
                        at=now,
                    )
                ]
            )
            audit_record_many(
                [
                    _entry(
                        "evidence.upload",
                        evidence,
                        {
                            "sha256": [None, evidence.sha256],
                            "size": [None, total],
                            "case": [None, case.pk],
                        },
                    )
                ]
            )
    except BaseException:
        if stored_name:
            default_storage.delete(stored_name)
        raise
    return evidence


def evidence_path_for(evidence: Evidence) -> str:
    from ..models import evidence_path

    return evidence_path(evidence, "")


def evidence_open(*, evidence: Evidence):
    """Open the stored file for download and record who took it (chain of custody)."""
    user_id, label = _actor()
    info = current_request()
    handle = default_storage.open(evidence.file.name, "rb")
    with transaction.atomic():
        CustodyEvent.objects.create(
            evidence=evidence,
            action="download",
            at=_now(),
            user_id=user_id,
            actor_label=label,
            ip=_ip(info.ip),
            request_id=info.request_id[:64],
        )
        audit_record_many([_entry("evidence.download", evidence)])
    return handle


# =============================================================================================
# saved filters
# =============================================================================================
def saved_filter_save(*, user: AbstractBaseUser, name: str, query: str) -> SavedFilter:
    name = _clean_text(name, "name", 100, required=True)
    query = _clean_text(query, "query", 1000).lstrip("?")
    with transaction.atomic():
        saved, _created = SavedFilter.objects.update_or_create(
            user=user, name=name, defaults={"query": query}
        )
        audit_record_many([_entry("saved_filter.save", saved, {"query": [None, query]})])
    return saved


def saved_filter_delete(*, saved: SavedFilter) -> None:
    with transaction.atomic():
        audit_record_many([_entry("saved_filter.delete", saved)])
        saved.delete()
