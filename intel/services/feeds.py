"""Import verbs: uploaded feeds, `import_iocs` files and TAXII polls, all as `ImportJob`s.

An import never holds a request open: the upload is checked cheaply (well-formed JSON, a
CSV header with the mapped columns), stored, and a Celery task does the rest. The task
parses the whole feed first — a malformed feed fails with nothing written — then writes
in batches of `BATCH` candidates, each committed together with the job's cursor and
counters. A worker that dies mid-import is retried (acks_late) and resumes at the cursor;
the upsert key (tenant, type, value) means a repeated batch duplicates nothing. So an
import is *resumable without duplicates* rather than one transaction: 100,000 IOCs in one
SQLite transaction would lock the web server out for its whole duration.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from intel import conf
from intel.models import ImportJob, Source
from intel.parsing import (
    CsvMapping,
    InvalidFeed,
    ParseResult,
    parse_csv,
    parse_misp,
    parse_stix_bundle,
    parse_stix_objects,
    parse_text,
)
from intel.parsing.stix import iter_stix_objects
from intel.parsing.types import decode_text, json_kind, load_json
from intel.taxii import FeedError, fetch
from tenancy import outbox
from tenancy.context import require_tenant
from tenancy.services import audit_record

from .iocs import ioc_upsert_many, source_for_name

logger = logging.getLogger("stopclock.intel")

BATCH = 2000
MAX_STORED_WARNINGS = 5000
UPLOAD_FORMATS = ("stix", "csv", "misp", "text")
EXTENSIONS = {"stix": "json", "misp": "json", "csv": "csv", "text": "txt"}


# --- creating a job -----------------------------------------------------------------------
def _precheck(fmt: str, data: bytes, options: dict[str, Any]) -> None:
    """The cheap checks that answer a malformed upload with a 400 at once."""
    try:
        if fmt in {"stix", "misp"}:
            document = load_json(data)
            if fmt == "stix":
                if not isinstance(document, dict) or document.get("type") != "bundle":
                    kind = document.get("type") if isinstance(document, dict) else None
                    raise InvalidFeed(
                        f"not a STIX bundle: expected an object with type 'bundle', got "
                        f"{json_kind(document) if kind is None else repr(kind)}"
                    )
                next(iter_stix_objects(document), None)
            elif not isinstance(document, dict | list):
                raise InvalidFeed(f"a MISP export is a JSON object, not a {json_kind(document)}")
        elif fmt == "csv":
            mapping = CsvMapping.from_dict(options.get("mapping") or {"value": "value"})
            text = decode_text(data)
            header = next((line for line in text.splitlines() if line.strip()), "")
            parse_csv(header + "\n", mapping)
        elif fmt == "text":
            decode_text(data)
        else:
            raise InvalidFeed(f"unknown format {fmt!r}; one of {', '.join(UPLOAD_FORMATS)}")
    except InvalidFeed as exc:
        raise ValidationError({"file": exc.message}) from None


def import_create(
    *,
    data: bytes,
    format: str,
    source: Source | None = None,
    source_name: str = "",
    filename: str = "",
    options: dict[str, Any] | None = None,
    user=None,
    enqueue: bool = True,
) -> ImportJob:
    """Check and store an upload, and queue its import (the job is returned at once)."""
    options = options or {}
    if format not in UPLOAD_FORMATS:
        raise ValidationError({"format": f"one of {', '.join(UPLOAD_FORMATS)}"})
    if not data:
        raise ValidationError({"file": "the file is empty"})
    _precheck(format, data, options)
    tenant = require_tenant()
    source = source or source_for_name(source_name or filename or "Uploaded feeds")
    path = f"{tenant.slug}/intel/imports/{uuid.uuid4().hex}.{EXTENSIONS[format]}"
    stored = default_storage.save(path, ContentFile(data))
    with transaction.atomic():
        job = ImportJob.objects.create(
            source=source,
            format=format,
            filename=(filename or "")[:255],
            payload=stored,
            options=options,
            created_by=user,
        )
        audit_record(
            "ioc.import_queued",
            job,
            {"source": [None, source.name], "format": [None, format], "size": [None, len(data)]},
        )
        if enqueue:
            _enqueue(job)
    return job


def _enqueue(job: ImportJob) -> None:
    """The job's task, through the outbox: sent when the job's transaction commits, and
    later if the broker is down then (an upload answered 202 is never silently dropped)."""
    from intel.tasks import import_run_task
    from tenancy.tasks import actor_kwargs

    outbox.enqueue(import_run_task, tenant_id=job.tenant_id, job_id=job.pk, **actor_kwargs())


# --- running a job ------------------------------------------------------------------------
def _read_payload(job: ImportJob) -> bytes:
    with default_storage.open(job.payload, "rb") as handle:
        return handle.read()


_PARSERS: dict[str, Callable[[ImportJob, bytes], ParseResult]] = {
    "stix": lambda job, data: parse_stix_bundle(data),
    "misp": lambda job, data: parse_misp(data),
    "text": lambda job, data: parse_text(data),
    "csv": lambda job, data: parse_csv(data, job.options.get("mapping") or {"value": "value"}),
}


def _set(job: ImportJob, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    ImportJob.objects.filter(pk=job.pk).update(**fields)


def import_run(*, job: ImportJob) -> ImportJob:
    """Parse the job's feed (or poll its TAXII collection) and write it, resumably.

    Raises `FeedError` for a transient TAXII failure (the task retries); every other
    failure is recorded on the job (and the source's health) and returned.
    """
    job.refresh_from_db()
    if job.finished:
        return job
    started = timezone.now()
    _set(
        job,
        status="running",
        started_at=job.started_at or started,
        error="",
        attempts=job.attempts + 1,
    )
    next_cursor = ""
    try:
        if job.format == "taxii":
            _set(job, stage="fetching")
            fetched = fetch(job.source, started=started)
            next_cursor = fetched.next_cursor
            _set(job, stage="parsing")
            result = parse_stix_objects(fetched.objects)
        else:
            _set(job, stage="parsing")
            result = _PARSERS[job.format](job, _read_payload(job))
    except FeedError as exc:
        if exc.transient:
            _set(job, error=f"attempt {job.attempts}: {exc.message}")
            raise
        return _fail(job, exc.message)
    except InvalidFeed as exc:
        return _fail(job, exc.message)
    except (OSError, ValueError) as exc:
        logger.exception("import %s could not read its feed", job.pk)
        return _fail(job, f"the feed could not be read: {exc}")
    _write(job, result)
    return _finish(job, next_cursor)


def _write(job: ImportJob, result: ParseResult) -> None:
    candidates = result.candidates
    total = len(candidates)
    if job.cursor == 0:
        skipped = [{"ref": s.ref, "reason": s.reason} for s in result.skipped]
        _set(job, stage="writing", total=total, skipped=skipped, skipped_count=len(skipped))
    else:
        _set(job, stage="writing", total=total)
    for start in range(job.cursor, total, BATCH):
        batch = candidates[start : start + BATCH]
        with transaction.atomic():
            locked = ImportJob.objects.select_for_update().get(pk=job.pk)
            if locked.cursor > start:
                continue  # another run of this job wrote it already
            outcome = ioc_upsert_many(batch, source=job.source, user=job.created_by)
            locked.cursor = start + len(batch)
            locked.added += outcome.added
            locked.updated += outcome.updated
            locked.unchanged += outcome.unchanged
            if outcome.skipped:
                locked.skipped = [
                    *locked.skipped,
                    *({"ref": s.ref, "reason": s.reason} for s in outcome.skipped),
                ]
            locked.skipped_count = len(locked.skipped)
            room = MAX_STORED_WARNINGS - len(locked.warnings)
            if outcome.warnings and room > 0:
                locked.warnings = [*locked.warnings, *outcome.warnings[:room]]
            locked.new_ioc_ids = [*locked.new_ioc_ids, *outcome.new_ids]
            locked.progress = min(99, int(100 * locked.cursor / total)) if total else 99
            locked.save()
        job.refresh_from_db()


def _finish(job: ImportJob, next_cursor: str) -> ImportJob:
    tenant = require_tenant()
    now = timezone.now()
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.finished:
            return job
        job.status, job.stage, job.progress, job.finished_at = "succeeded", "", 100, now
        if job.new_ioc_ids and conf.retro_hunt(tenant):
            from intel.services.sweeps import retro_hunt_launch

            job.retro_sweep = retro_hunt_launch(
                job.new_ioc_ids, reason=f"import #{job.pk} from {job.source.name}"
            )
        job.save()
        if job.format == "taxii":
            Source.objects.filter(pk=job.source_id).update(
                cursor=next_cursor[:64],
                last_success_at=now,
                consecutive_failures=0,
                objects_added_last=job.added,
                objects_added_total=F("objects_added_total") + job.added,
            )
        audit_record(
            "ioc.import_done",
            job,
            {
                k: [None, getattr(job, k)]
                for k in ("added", "updated", "unchanged", "skipped_count")
            },
        )
    return job


def _fail(job: ImportJob, message: str) -> ImportJob:
    now = timezone.now()
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        job.status, job.stage, job.error, job.finished_at = "failed", "", message[:4000], now
        job.save()
        if job.format == "taxii":
            source_record_failure(job.source, message, now)
        audit_record("ioc.import_failed", job, {"error": [None, message[:500]]})
    return job


def source_record_failure(source: Source, message: str, at: dt.datetime) -> None:
    """A feed error on the source's health; the next poll backs off (1, 2, 4 … minutes)."""
    failures = source.consecutive_failures + 1
    backoff = dt.timedelta(minutes=min(2 ** (failures - 1), source.poll_interval_minutes))
    Source.objects.filter(pk=source.pk).update(
        last_error=message[:4000],
        last_error_at=at,
        consecutive_failures=failures,
        next_poll_at=at + backoff,
    )


def imports_watchdog(*, stale: dt.timedelta = dt.timedelta(minutes=30)) -> int:
    """Re-enqueue imports whose message was lost: queued for 5 minutes, or running with no
    batch written for `stale` (a dead worker). A re-run resumes at the job's cursor."""
    now = timezone.now()
    jobs = ImportJob.objects.filter(
        Q(status="queued", created_at__lt=now - dt.timedelta(minutes=5))
        | Q(status="running", started_at__lt=now - stale)
    ).exclude(format="taxii", status="queued")
    count = 0
    with transaction.atomic():
        for job in jobs:
            _enqueue(job)
            count += 1
    return count


def import_give_up(*, job: ImportJob, message: str) -> ImportJob:
    """The task's retries are exhausted: record the last error as the job's failure."""
    return _fail(job, message)


# --- TAXII polls --------------------------------------------------------------------------
def taxii_poll_create(*, source: Source, user=None, enqueue: bool = True) -> ImportJob:
    """A poll job for one TAXII source, queued with it (the dispatcher or "Poll now")."""
    if source.kind != Source.TAXII:
        raise ValidationError({"source": "not a TAXII source"})
    now = timezone.now()
    with transaction.atomic():
        job = ImportJob.objects.create(source=source, format="taxii", created_by=user)
        Source.objects.filter(pk=source.pk).update(
            last_polled_at=now,
            next_poll_at=now + dt.timedelta(minutes=source.poll_interval_minutes),
        )
        if enqueue:
            _enqueue(job)
    return job


def import_summary(job: ImportJob) -> dict[str, Any]:
    """What `import_iocs` prints and the API returns: every skipped object with its reason."""
    return {
        "id": job.pk,
        "status": job.status,
        "source": job.source.name,
        "format": job.format,
        "filename": job.filename,
        "total": job.total,
        "added": job.added,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "skipped_count": job.skipped_count,
        "skipped": job.skipped,
        "warnings": job.warnings,
        "error": job.error,
        "retro_hunt_sweep": job.retro_sweep_id,
    }


def import_file(
    *, data: bytes, format: str, source_name: str, filename: str, options=None
) -> ImportJob:
    """`import_iocs`: the same job, run in this process (no worker needed)."""
    job = import_create(
        data=data,
        format=format,
        source_name=source_name,
        filename=filename,
        options=options,
        enqueue=False,
    )
    return import_run(job=job)


def guess_format(filename: str, data: bytes) -> str:
    name = filename.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".txt", ".list")):
        return "text"
    if name.endswith(".json"):
        try:
            document = json.load(io.BytesIO(data))
        except (ValueError, RecursionError):  # the chosen parser then says what is wrong
            return "stix"
        if isinstance(document, dict) and ("Event" in document or "response" in document):
            return "misp"
        return "stix"
    return "text"
