"""YARA verbs: scan evidence files and uploaded samples with the tenant's active YARA IOCs,
and build the payload an endpoint scan will carry (the response-action channel, issue 6).

All active rules are compiled together, each IOC in its own namespace (`ioc<id>`), so one
scan runs every rule once and a match names the IOC it came from. The compiled set is
cached per process and rebuilt when the set of rules changes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from typing import Any

import yara
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from intel.models import IOC, FileScan
from intel.parsing.yara_rules import EXTERNALS, SCAN_TIMEOUT_SECONDS
from tenancy import outbox
from tenancy.context import require_tenant
from tenancy.services import audit_record

logger = logging.getLogger("stopclock.intel")

MAX_SCAN_BYTES = 64 * 1024 * 1024
_compiled: dict[int, tuple[tuple, Any, dict[str, int]]] = {}
_lock = threading.Lock()


def _rules():
    """(compiled rules or None, namespace -> IOC id) for the tenant's active YARA IOCs."""
    tenant = require_tenant()
    rows = list(
        IOC.objects.active()
        .filter(type="yara")
        .order_by("id")
        .values_list("id", "value_hash", "value")
    )
    fingerprint = tuple((pk, digest) for pk, digest, _ in rows)
    cached = _compiled.get(tenant.pk)
    if cached is not None and cached[0] == fingerprint:
        return cached[1], cached[2]
    namespaces = {f"ioc{pk}": pk for pk, _, _ in rows}
    rules = None
    if rows:
        try:
            rules = yara.compile(
                sources={f"ioc{pk}": source for pk, _, source in rows},
                includes=False,
                externals=EXTERNALS,
            )
        except yara.Error:
            # One stored rule no longer compiles (a YARA upgrade): compile the rest.
            good = {}
            for pk, _, source in rows:
                try:
                    yara.compile(source=source, includes=False, externals=EXTERNALS)
                    good[f"ioc{pk}"] = source
                except yara.Error as exc:
                    logger.error("YARA IOC %s no longer compiles: %s", pk, exc)
            rules = (
                yara.compile(sources=good, includes=False, externals=EXTERNALS) if good else None
            )
    with _lock:
        _compiled[tenant.pk] = (fingerprint, rules, namespaces)
    return rules, namespaces


def scan_bytes(data: bytes, *, filename: str = "") -> tuple[list[dict[str, Any]], int]:
    """([{ioc, key, rules}], rules count) for the bytes, with the scan time limit."""
    rules, namespaces = _rules()
    if rules is None:
        return [], 0
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    externals = {**EXTERNALS, "filename": filename, "extension": extension}
    try:
        matches = rules.match(data=data, externals=externals, timeout=SCAN_TIMEOUT_SECONDS)
    except yara.TimeoutError:
        raise TimeoutError(f"the YARA scan took longer than {SCAN_TIMEOUT_SECONDS} s") from None
    by_ioc: dict[int, list[str]] = {}
    for match in matches:
        ioc_id = namespaces.get(match.namespace)
        if ioc_id is not None:
            by_ioc.setdefault(ioc_id, []).append(match.rule)
    keys = dict(IOC.objects.filter(pk__in=list(by_ioc)).values_list("id", "key"))
    found = [{"ioc": pk, "key": keys.get(pk, ""), "rules": names} for pk, names in by_ioc.items()]
    return found, len(namespaces)


def _run(scan: FileScan, data: bytes) -> FileScan:
    try:
        matches, count = scan_bytes(data, filename=scan.filename)
    except TimeoutError as exc:
        scan.status, scan.error = "failed", str(exc)
    else:
        scan.status, scan.matches, scan.rules_count = "succeeded", matches, count
    scan.finished_at = timezone.now()
    with transaction.atomic():
        scan.save()
        audit_record(
            "yara.scan",
            scan,
            {"matches": [None, len(scan.matches)], "status": [None, scan.status]},
        )
    return scan


def yara_scan_evidence(evidence) -> FileScan:
    """Scan a case's evidence file with the active YARA rules; the result is recorded."""
    with evidence.file.open("rb") as handle:
        data = handle.read(MAX_SCAN_BYTES + 1)
    scan = FileScan(
        target="evidence",
        evidence_id=evidence.pk,
        filename=getattr(evidence, "original_name", "")[:255],
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        status="running",
    )
    if len(data) > MAX_SCAN_BYTES:
        scan.status, scan.error = "failed", f"larger than {MAX_SCAN_BYTES} bytes"
        scan.finished_at = timezone.now()
        scan.save()
        return scan
    scan.save()
    return _run(scan, data)


def yara_sample_create(*, data: bytes, filename: str = "", user=None) -> FileScan:
    """Store a file sample and queue its scan (the scan is returned at once)."""
    if not data:
        raise ValidationError({"file": "the file is empty"})
    tenant = require_tenant()
    path = f"{_sample_prefix()}{uuid.uuid4().hex}"
    default_storage.save(path, ContentFile(data))
    with transaction.atomic():
        scan = FileScan.objects.create(
            target="sample",
            filename=filename[:255],
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            created_by=user,
        )
        from intel.tasks import yara_scan_sample_task

        outbox.enqueue(yara_scan_sample_task, tenant_id=tenant.pk, scan_id=scan.pk, path=path)
    return scan


def _sample_prefix() -> str:
    return f"{require_tenant().slug}/intel/samples/"


def yara_scan_sample(*, scan: FileScan, path: str) -> FileScan:
    if scan.status not in {"queued", "running"}:
        return scan
    name = path[len(_sample_prefix()) :] if path.startswith(_sample_prefix()) else ""
    if not (name.isascii() and name.isalnum()):
        # The task message names the file. One naming anything but a sample of this tenant
        # (another tenant's evidence, a `../` path) is refused: read nothing, delete nothing.
        scan.status, scan.error = "failed", "the sample is not in this tenant's storage"
        scan.finished_at = timezone.now()
        scan.save()
        return scan
    with default_storage.open(path, "rb") as handle:
        data = handle.read()
    result = _run(scan, data)
    default_storage.delete(path)
    return result


def yara_scan_payload(iocs=None) -> dict[str, Any]:
    """What an endpoint YARA scan carries (issue 6's response-action channel runs it):
    the rule sources by IOC, the external variables and the time limit."""
    rows = iocs if iocs is not None else IOC.objects.active().filter(type="yara").order_by("id")
    return {
        "type": "yara_scan",
        "timeout_seconds": SCAN_TIMEOUT_SECONDS,
        "externals": sorted(EXTERNALS),
        "rules": [
            {"ioc": ioc.pk, "key": ioc.key, "namespace": f"ioc{ioc.pk}", "source": ioc.value}
            for ioc in rows
        ],
    }
