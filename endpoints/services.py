"""Endpoints verbs: enrolment secret and agent enrolment, heartbeats, telemetry ingestion,
detection rules and their exceptions, detections turned into alerts, retention.

Every function works in the tenant in context and, where it changes tenant data a person
would ask about later, appends to the audit trail in the same transaction. Telemetry rows
and heartbeats are not audited (they are data, not changes).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from tenancy import outbox
from tenancy.context import require_tenant, unscoped
from tenancy.services import audit_record

from . import conf
from .detection import Detection, Engine, InvalidRule, UnsupportedRule, compile_rule
from .detection import load_shipped_rules as _load_shipped_texts
from .models import (
    DetectionRule,
    Endpoint,
    EndpointTag,
    EndpointUserGroup,
    EnrolmentSecret,
    Observation,
    RuleException,
    Tag,
    TelemetryBatch,
    UserGroup,
)
from .observation_fields import FIELD_BY_NAME, FIELDS
from .telemetry import validate_records

logger = logging.getLogger("stopclock.endpoints")


# -- the enrolment secret ------------------------------------------------------------------

SECRET_PREFIX = "sce_"  # noqa: S105 - a prefix, not a secret
TOKEN_PREFIX = "sca_"  # noqa: S105 - a prefix, not a secret


class SecretUnavailable(Exception):
    """The stored secret was derived under another SECRET_KEY: it can only be rotated."""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _derive_secret(tenant_id: int, nonce: str) -> str:
    """HMAC(SECRET_KEY, tenant, nonce): the server can show it again, a DB copy cannot."""
    message = f"stopclock-enrolment|{tenant_id}|{nonce}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _new_secret_row(row: EnrolmentSecret | None) -> tuple[EnrolmentSecret, str]:
    tenant = require_tenant()
    row = row or EnrolmentSecret(tenant=tenant)
    row.nonce = secrets.token_hex(16)
    secret = _derive_secret(tenant.pk, row.nonce)
    row.secret_hash = _hash(secret)
    row.prefix = secret[: len(SECRET_PREFIX) + 6]
    row.rotated_at = timezone.now()
    row.save()
    return row, secret


def enrolment_secret_reveal() -> str:
    """The tenant's agent enrolment secret, created on first use."""
    tenant = require_tenant()
    with transaction.atomic():
        row = EnrolmentSecret.objects.select_for_update().first()
        if row is None:
            row, secret = _new_secret_row(None)
            audit_record("enrolment_secret.create", row, {"prefix": [None, row.prefix]})
            return secret
    secret = _derive_secret(tenant.pk, row.nonce)
    if not hmac.compare_digest(_hash(secret), row.secret_hash):
        raise SecretUnavailable(
            "the enrolment secret was created under a previous SECRET_KEY and cannot be "
            "shown; rotate it (agents already enrolled keep working)"
        )
    return secret


def enrolment_secret_rotate() -> str:
    """A new enrolment secret; the old one stops enrolling agents (enrolled ones keep going)."""
    with transaction.atomic():
        row = EnrolmentSecret.objects.select_for_update().first()
        before = row.prefix if row else None
        row, secret = _new_secret_row(row)
        audit_record("enrolment_secret.rotate", row, {"prefix": [before, row.prefix]})
    return secret


def enrolment_secret_info() -> EnrolmentSecret | None:
    return EnrolmentSecret.objects.first()


def enrolment_authenticate(secret: str):
    """The tenant whose enrolment secret this is, or None (looked up before a tenant is known)."""
    if not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    with unscoped("enrolment secret look-up by hash, before the tenant is known"):
        row = (
            EnrolmentSecret.objects.select_related("tenant")
            .filter(secret_hash=_hash(secret))
            .first()
        )
    return row.tenant if row is not None else None


# -- agents: enrolment, credentials, heartbeats --------------------------------------------

SCALAR_FACTS = (
    "hostname",
    "fqdn",
    "os_family",
    "os_version",
    "domain",
    "ip_addresses",
    "mac_addresses",
    "agent_version",
    "privileged_admin_logons",
)
SET_FACTS = ("user_groups", "tags")


def agent_authenticate(token: str) -> Endpoint | None:
    """The endpoint an agent token belongs to (with its tenant loaded), or None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with unscoped("agent token look-up by hash, before the tenant is known"):
        return Endpoint.objects.select_related("tenant").filter(token_hash=_hash(token)).first()


def _issue_token(endpoint: Endpoint) -> str:
    prefix = f"{TOKEN_PREFIX}{secrets.token_hex(4)}"
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    endpoint.token_hash = _hash(token)
    endpoint.token_prefix = prefix
    endpoint.token_issued_at = timezone.now()
    return token


def _normalise_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    out = {key: facts[key] for key in (*SCALAR_FACTS, *SET_FACTS) if key in facts}
    if "hostname" in out:
        out["hostname"] = out["hostname"].strip().lower()
    if "fqdn" in out:
        out["fqdn"] = out["fqdn"].strip().lower()
    for key in ("ip_addresses", "mac_addresses"):
        if key in out:
            out[key] = list(dict.fromkeys(str(v).lower() for v in out[key]))
    for key in SET_FACTS:
        if key in out:
            out[key] = sorted({str(v).strip() for v in out[key] if str(v).strip()})
    return out


def _apply_scalars(endpoint: Endpoint, facts: Mapping[str, Any]) -> dict[str, list[Any]]:
    changes = {}
    for key in SCALAR_FACTS:
        if key in facts and getattr(endpoint, key) != facts[key]:
            changes[key] = [getattr(endpoint, key), facts[key]]
            setattr(endpoint, key, facts[key])
    return changes


def _names_of(endpoint: Endpoint, through, fk: str) -> list[str]:
    rows = through.objects.filter(endpoint_id=endpoint.pk).values_list(f"{fk}__name", flat=True)
    return sorted(rows)


def _set_names(
    endpoint: Endpoint, names: list[str], model, through, fk: str, *, new: bool = False
) -> list[Any] | None:
    """Make the endpoint's groups (or tags) exactly `names`; [before, after] if changed."""
    before = [] if new else _names_of(endpoint, through, fk)
    if before == names:
        return None
    model.objects.bulk_create([model(name=n) for n in names], ignore_conflicts=True)
    ids = dict(model.objects.filter(name__in=names).values_list("name", "id"))
    if before:
        stale = through.objects.filter(endpoint_id=endpoint.pk)
        stale.exclude(**{f"{fk}_id__in": ids.values()}).delete()
    through.objects.bulk_create(
        [through(endpoint_id=endpoint.pk, **{f"{fk}_id": pk}) for pk in ids.values()],
        ignore_conflicts=True,
    )
    return [before, names]


def _apply_sets(
    endpoint: Endpoint, facts: Mapping[str, Any], *, new: bool = False
) -> dict[str, list[Any]]:
    changes = {}
    for key, model, through, fk in (
        ("user_groups", UserGroup, EndpointUserGroup, "group"),
        ("tags", Tag, EndpointTag, "tag"),
    ):
        if key in facts:
            change = _set_names(endpoint, facts[key], model, through, fk, new=new)
            if change:
                changes[key] = change
    return changes


@dataclass(frozen=True)
class Enrolment:
    endpoint: Endpoint
    token: str  # shown once
    created: bool


def endpoint_enrol(*, agent_id: str, facts: Mapping[str, Any]) -> Enrolment:
    """Enrol (or re-enrol) the agent `agent_id` with its facts; a new token either way.

    Re-enrolment keeps the endpoint (its history, alerts, telemetry) and rotates its token,
    so an agent reinstalled on the same machine carries on where it left off.
    """
    tenant = require_tenant()
    facts = _normalise_facts(facts)
    now = timezone.now()
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().filter(agent_id=agent_id).first()
        created = endpoint is None
        if created:
            endpoint = Endpoint(agent_id=agent_id, first_seen_at=now)
        changes = _apply_scalars(endpoint, facts)
        token = _issue_token(endpoint)
        endpoint.enrolled_at = now
        endpoint.last_seen_at = now
        endpoint.heartbeat_interval = conf.heartbeat_interval(tenant)
        endpoint.full_clean(exclude=["tenant", "token_hash"], validate_unique=False)
        endpoint.save()
        changes.update(_apply_sets(endpoint, facts, new=created))
        changes["token_prefix"] = [None if created else "…", endpoint.token_prefix]
        audit_record("endpoint.enrol" if created else "endpoint.reenrol", endpoint, changes)
    return Enrolment(endpoint, token, created)


def endpoint_heartbeat(*, endpoint: Endpoint, facts: Mapping[str, Any] | None = None) -> Endpoint:
    """The agent is alive: touch `last_seen_at`; record facts only when they changed."""
    tenant = require_tenant()
    now = timezone.now()
    facts = _normalise_facts(facts or {})
    interval = conf.heartbeat_interval(tenant)
    with transaction.atomic():
        changes = _apply_scalars(endpoint, facts)
        fields = ["last_seen_at", *changes]
        endpoint.last_seen_at = now
        if endpoint.heartbeat_interval != interval:
            endpoint.heartbeat_interval = interval
            fields.append("heartbeat_interval")
        if changes:
            endpoint.full_clean(exclude=["tenant", "token_hash"], validate_unique=False)
        endpoint.save(update_fields=fields)
        changes.update(_apply_sets(endpoint, facts))
        if changes:
            audit_record("endpoint.facts", endpoint, changes)
    return endpoint


def endpoint_touch(endpoint: Endpoint, when: dt.datetime) -> None:
    """Mark the endpoint seen at `when` (one UPDATE, skipped when seen in the last 15 s)."""
    stale = Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=when - dt.timedelta(seconds=15))
    Endpoint.objects.filter(pk=endpoint.pk).filter(stale).update(last_seen_at=when)


# -- telemetry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestOutcome:
    batch_id: int
    records: int
    accepted: int
    duplicates: int


# How a field type travels to PostgreSQL in the bulk insert (arrays, one per column).
_PG_ARRAY_TYPE = {
    "str": "text[]",
    "lstr": "text[]",
    "hex32": "text[]",
    "hex40": "text[]",
    "hex64": "text[]",
    "hexbytes": "text[]",
    "int": "bigint[]",
    "ip": "inet[]",
    "ts": "timestamptz[]",
    "bool": "boolean[]",
}
_COLUMN_ORDER = ("kind", "event_id", "observed_at", *(f.name for f in FIELDS))
_COLUMN_TYPE = {"kind": "text[]", "event_id": "text[]", "observed_at": "timestamptz[]"} | {
    f.name: _PG_ARRAY_TYPE[f.type] for f in FIELDS
}


@lru_cache(maxsize=512)
def _pg_insert_sql(columns: tuple[str, ...]) -> str:
    """INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING, for these columns.

    One array parameter per column, whatever the batch size: PostgreSQL builds the rows.
    """
    table = Observation._meta.db_table
    names = ", ".join(columns)
    # %b: arrays travel in binary (no text escaping of every element in Python)
    arrays = ", ".join(f"%b::{_COLUMN_TYPE[c]}" for c in columns)
    return (  # SQL from our own table and column names; values are parameters
        f"INSERT INTO {table} (tenant_id, endpoint_id, batch_id, received_at, {names}) "  # noqa: S608
        f"SELECT %s, %s, %s, %s, u.* FROM unnest({arrays}) AS u({names}) "
        "ON CONFLICT (tenant_id, endpoint_id, event_id) DO NOTHING"
    )


@lru_cache(maxsize=512)
def _pg_ingest_sql(columns: tuple[str, ...]) -> str:
    """The whole batch in one statement (one round trip, atomic on its own): a batch id
    from the sequence, the observations, the batch row with its counts, and the
    endpoint's `last_seen_at` (when older than 15 s)."""
    batches, endpoints = TelemetryBatch._meta.db_table, Endpoint._meta.db_table
    insert = _pg_insert_sql(columns).replace("SELECT %s, %s, %s, %s", "SELECT %s, %s, b.id, %s")
    insert = insert.replace("FROM unnest(", "FROM new_batch b, unnest(")
    return (  # SQL from our own table and column names; values are parameters
        f"WITH new_batch AS (SELECT nextval(pg_get_serial_sequence('{batches}', 'id')) AS id), "  # noqa: S608
        f"stored AS ({insert} RETURNING 1), "
        "counted AS (SELECT count(*) AS n FROM stored), "
        f"touched AS (UPDATE {endpoints} SET last_seen_at = %s WHERE id = %s "
        "AND (last_seen_at IS NULL OR last_seen_at < %s) RETURNING 1) "
        f"INSERT INTO {batches} (id, tenant_id, endpoint_id, received_at, records, accepted, "
        "duplicates, status, processed_at, detections) "
        "SELECT b.id, %s, %s, %s, %s, c.n, %s - c.n, "
        f"CASE WHEN c.n = 0 THEN '{TelemetryBatch.EMPTY}' ELSE '{TelemetryBatch.PENDING}' END, "
        "CASE WHEN c.n = 0 THEN %s END, 0 "
        "FROM new_batch b, counted c LEFT JOIN (SELECT count(*) FROM touched) t ON true "
        "RETURNING id, accepted"
    )


def _columns_of(records: list[dict[str, Any]]) -> tuple[str, ...]:
    present: set[str] = set()
    for record in records:
        present.update(record)
    return tuple(c for c in _COLUMN_ORDER if c in present)


def _ingest_postgres(
    endpoint: Endpoint, records: list[dict[str, Any]], now: dt.datetime
) -> tuple[int, int]:
    """(batch id, accepted) through `_pg_ingest_sql`.

    Django's cursors bind client-side, so psycopg would quote every array element in
    Python; a server-binding cursor sends the arrays as binary parameters, several times
    faster. It bypasses Django's execute wrappers: the tenant setting (RLS) goes first.
    """
    import psycopg

    columns = _columns_of(records)
    params: list[Any] = [endpoint.tenant_id, endpoint.pk, now]
    params += [[record.get(c) for record in records] for c in columns]
    params += [now, endpoint.pk, now - dt.timedelta(seconds=15)]
    params += [endpoint.tenant_id, endpoint.pk, now, len(records), len(records), now]
    connection.ensure_connection()
    connection.apply_tenant_setting()
    # psycopg's own errors, mapped like Django's (a server gone mid-batch is a 503, and the
    # connection is marked for its health check), since this cursor is not Django's.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_pg_ingest_sql(columns), params)
        batch_id, accepted = cursor.fetchone()
    return batch_id, accepted


def _ingest_orm(
    endpoint: Endpoint, records: list[dict[str, Any]], now: dt.datetime
) -> tuple[int, int]:
    """(batch id, accepted) with the ORM (SQLite): the same rows, several statements."""
    batch = TelemetryBatch.objects.create(
        endpoint=endpoint, received_at=now, records=len(records), accepted=0, duplicates=0
    )
    rows = [
        Observation(
            tenant_id=batch.tenant_id,
            endpoint_id=endpoint.pk,
            batch_id=batch.pk,
            received_at=now,
            **record,
        )
        for record in records
    ]
    Observation.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    accepted = Observation.objects.filter(batch_id=batch.pk).count()
    batch.accepted, batch.duplicates = accepted, len(records) - accepted
    if not accepted:
        batch.status, batch.processed_at = TelemetryBatch.EMPTY, now
    batch.save(update_fields=["accepted", "duplicates", "status", "processed_at"])
    endpoint_touch(endpoint, now)
    return batch.pk, accepted


def telemetry_ingest(
    *,
    endpoint: Endpoint,
    records: Sequence[Any],
    now: dt.datetime | None = None,
    enqueue: bool = True,
) -> IngestOutcome:
    """Validate and store one batch (all or nothing); enqueue its processing on commit
    (`enqueue=False`: the caller runs `processing.process_batch` itself).

    Raises `telemetry.BatchInvalid` (nothing written) when any record is invalid. Event
    ids the endpoint sent before are skipped (counted as duplicates), never stored twice.
    """
    now = now or timezone.now()
    clean = validate_records(records, now=now, max_future=conf.max_future_skew())
    # The batch and its processing message commit together (tenancy/outbox.py): a broker
    # that is down cannot lose the processing of a batch the agent was told is stored.
    with transaction.atomic():
        if connection.vendor == "postgresql":
            batch_id, accepted = _ingest_postgres(endpoint, clean, now)
        else:
            batch_id, accepted = _ingest_orm(endpoint, clean, now)
        if accepted and enqueue:
            from .tasks import process_telemetry_batch

            outbox.enqueue(process_telemetry_batch, tenant_id=endpoint.tenant_id, batch_id=batch_id)
    return IngestOutcome(batch_id, len(clean), accepted, len(clean) - accepted)


def telemetry_requeue_stale(
    *, older_than: dt.timedelta = dt.timedelta(minutes=10), limit: int = 5000
) -> int:
    """Enqueue again the processing of batches still pending after `older_than`.

    The outbox guarantees a message reaches the broker; a broker that then loses it (Redis
    restarted without persistence, a purged queue) would leave the batch pending for ever,
    its telemetry never matched. Processing claims a pending batch under a row lock, so a
    batch whose first message was only slow is still processed once. Returns how many.
    """
    from .tasks import process_telemetry_batch

    tenant = require_tenant()
    cutoff = timezone.now() - older_than
    ids = list(
        TelemetryBatch.objects.filter(status=TelemetryBatch.PENDING, received_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    with transaction.atomic():
        outbox.enqueue_many(
            process_telemetry_batch, [{"tenant_id": tenant.pk, "batch_id": pk} for pk in ids]
        )
    if ids:
        logger.warning("re-enqueued %d telemetry batches pending since %s", len(ids), cutoff)
    return len(ids)


# -- detection rules -----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def compile_cached(yaml_text: str):
    """Compiled rules are immutable: one copy per distinct YAML text, shared by tenants."""
    return compile_rule(yaml_text)


@lru_cache(maxsize=1)
def shipped_rules() -> tuple[Any, ...]:
    return tuple(compile_cached(text) for text in _load_shipped_texts())


def _rule_fields(compiled) -> dict[str, Any]:
    return {
        "title": compiled.title[:300],
        "description": compiled.description,
        "level": compiled.level or "",
        "severity": compiled.severity,
        "phase": compiled.phase,
        "attack_techniques": list(compiled.attack_techniques),
        "yaml": compiled.source,
    }


def rules_sync_builtin() -> int:
    """Install the shipped rules for the tenant, and update their text after an upgrade.

    A team's enabled/disabled choice and its exceptions survive the update. Safe to run
    concurrently (two workers' first batches): missing rows are inserted ignoring
    conflicts. Returns how many rows were created or changed.
    """
    shipped = {rule.rule_id: rule for rule in shipped_rules()}
    existing = {r.rule_id: r for r in DetectionRule.objects.filter(rule_id__in=list(shipped))}
    now = timezone.now()
    with transaction.atomic():
        missing = [
            DetectionRule(rule_id=rule_id, source=DetectionRule.BUILTIN, **_rule_fields(compiled))
            for rule_id, compiled in shipped.items()
            if rule_id not in existing
        ]
        DetectionRule.objects.bulk_create(missing, ignore_conflicts=True)
        changed = len(missing)
        for rule_id, row in existing.items():
            compiled = shipped[rule_id]
            if row.source == DetectionRule.BUILTIN and row.yaml != compiled.source:
                for key, value in _rule_fields(compiled).items():
                    setattr(row, key, value)
                row.updated_at = now
                row.save()
                changed += 1
        if changed:
            audit_record("detection_rule.sync", None, {"builtin_rules": [None, changed]})
    return changed


def rules_ensure_builtin() -> None:
    """Sync the shipped rules only when one is missing (one query otherwise)."""
    ids = [rule.rule_id for rule in shipped_rules()]
    if DetectionRule.objects.filter(rule_id__in=ids).count() < len(ids):
        rules_sync_builtin()


def _compile_or_refuse(yaml_text: str):
    try:
        return compile_cached(yaml_text)
    except InvalidRule as exc:
        raise ValidationError({"yaml": f"not a valid Sigma rule: {exc.reason}"}) from exc
    except UnsupportedRule as exc:
        raise ValidationError(
            {"yaml": f"refused, the engine cannot apply it: {exc.reason}"}
        ) from exc


def rule_upload(*, yaml_text: str, user=None) -> DetectionRule:
    """Add (or replace) one of the team's Sigma rules; refused rules name their reason.

    A rule is compiled before anything is stored, so a refused rule is never half applied.
    Replacing a shipped rule is refused: disable it and upload yours under another id.
    """
    compiled = _compile_or_refuse(yaml_text)
    with transaction.atomic():
        row = DetectionRule.objects.select_for_update().filter(rule_id=compiled.rule_id).first()
        if row is not None and row.source == DetectionRule.BUILTIN:
            raise ValidationError(
                {"yaml": f"rule id {compiled.rule_id} belongs to a shipped rule; use another id"}
            )
        fields = _rule_fields(compiled)
        if row is None:
            row = DetectionRule.objects.create(
                rule_id=compiled.rule_id,
                source=DetectionRule.UPLOADED,
                created_by=user,
                **fields,
            )
            audit_record("detection_rule.upload", row, {"title": [None, row.title]})
            return row
        changes = {k: [getattr(row, k), v] for k, v in fields.items() if getattr(row, k) != v}
        for key, value in fields.items():
            setattr(row, key, value)
        row.updated_at = timezone.now()
        row.save()
        changes.pop("yaml", None)
        audit_record("detection_rule.replace", row, {**changes, "yaml": ["…", "…"]})
    return row


def rule_set_enabled(*, rule: DetectionRule, enabled: bool) -> DetectionRule:
    if rule.enabled == enabled:
        return rule
    with transaction.atomic():
        DetectionRule.objects.filter(pk=rule.pk).update(enabled=enabled, updated_at=timezone.now())
        audit_record("detection_rule.enable" if enabled else "detection_rule.disable", rule,
                     {"enabled": [rule.enabled, enabled]})  # fmt: skip
        rule.enabled = enabled
    return rule


def rule_delete(*, rule: DetectionRule) -> None:
    """Delete an uploaded rule (shipped rules are disabled, never deleted)."""
    if rule.source != DetectionRule.UPLOADED:
        raise ValidationError({"rule": "shipped rules cannot be deleted; disable them instead"})
    with transaction.atomic():
        audit_record("detection_rule.delete", rule, {"title": [rule.title, None]})
        rule.delete()


def rule_exception_add(
    *, rule: DetectionRule, field: str, value: str, reason: str = "", user=None
) -> RuleException:
    """Allowlist `field` = `value` (wildcards, case-insensitive) for one rule."""
    value = (value or "").strip()
    if field not in FIELD_BY_NAME:
        raise ValidationError({"field": f"'{field}' is not an observation field"})
    if not value:
        raise ValidationError({"value": "an exception needs a value"})
    try:  # compiled exactly as the engine will, so a bad entry never breaks detection
        Engine([], exceptions={"probe": [(field, value)]})
    except ValueError as exc:
        raise ValidationError({"value": str(exc)}) from exc
    with transaction.atomic():
        entry, created = RuleException.objects.get_or_create(
            rule=rule, field=field, value=value, defaults={"reason": reason, "created_by": user}
        )
        if created:
            DetectionRule.objects.filter(pk=rule.pk).update(updated_at=timezone.now())
            change = {"exception": [None, f"{field} = {value}"], "reason": [None, reason]}
            audit_record("detection_rule.exception_add", rule, change)
    return entry


def rule_exception_remove(*, exception: RuleException) -> None:
    with transaction.atomic():
        rule = exception.rule
        audit_record("detection_rule.exception_remove", rule,
                     {"exception": [f"{exception.field} = {exception.value}", None]})  # fmt: skip
        exception.delete()
        DetectionRule.objects.filter(pk=rule.pk).update(updated_at=timezone.now())


# -- detections become alerts --------------------------------------------------------------

# The columns that say *what happened* (not when, nor which pid): two records equal on these
# are the same behaviour, so their alerts share a dedup key.
_BEHAVIOUR_COLUMNS = (
    "kind",
    "process_path",
    "command_line",
    "parent_path",
    "file_path",
    "registry_key",
    "autorun_type",
    "item_name",
    "target_path",
    "remote_ip",
    "remote_port",
    "dns_query",
    "target_user_name",
    "source_ip",
    "logon_type",
    "sha256",
)


@dataclass(frozen=True)
class DetectionHit:
    """A rule match on one stored observation."""

    detection: Detection
    observation_id: int


def dedup_key(rule_id: str, endpoint_id: int, record: Mapping[str, Any]) -> str:
    """`rule:<id>:endpoint:<id>:<behaviour>`: replays, task re-runs and repeats of the same
    behaviour on the same endpoint share it, so the cases app counts them on one alert;
    two different command lines of one rule on one host are two alerts."""
    behaviour = "\x1f".join(str(record.get(c) or "") for c in _BEHAVIOUR_COLUMNS)
    digest = hashlib.sha256(behaviour.encode()).hexdigest()[:20]
    return f"rule:{rule_id}:endpoint:{endpoint_id}:{digest}"


def _raw(hit: DetectionHit, endpoint: Endpoint) -> dict[str, Any]:
    record = hit.detection.record
    raw = {
        "observation_id": hit.observation_id,
        "event_id": record.get("event_id"),
        "endpoint_id": endpoint.pk,
        "hostname": endpoint.hostname,
        "rule_id": hit.detection.rule.rule_id,
        "rule_title": hit.detection.rule.title,
        "record": {
            k: (v.isoformat() if isinstance(v, dt.datetime) else v)
            for k, v in record.items()
            if v is not None
        },
    }
    return raw


def detections_to_alerts(*, endpoint: Endpoint, hits: Sequence[DetectionHit]) -> Any:
    """Hand detections to the cases app's ingestion (dedup, then grouping into cases).

    The one seam between endpoints and cases: `cases.services.alert_ingest(alerts=[...])`
    with one `AlertInput` per distinct behaviour (`dedup_key`); hits sharing a key in one
    batch are sent once (the first). `raw.observation_id` links the alert to its evidence
    (`endpoints:observation`). Returns the ingestion's `IngestResult`, or None.
    """
    from cases.services import AlertInput, alert_ingest  # cases imports endpoints.models

    alerts, keys = [], set()
    for hit in hits:
        rule = hit.detection.rule
        record = hit.detection.record
        key = dedup_key(rule.rule_id, endpoint.pk, record)
        if key in keys:
            continue
        keys.add(key)
        alerts.append(
            AlertInput(
                title=f"{rule.title} on {endpoint.hostname}"[:300],
                severity=rule.severity,
                source="detection_rule",
                phase=rule.phase,
                attack_techniques=list(rule.attack_techniques),
                observed_at=record["observed_at"],
                external_id=f"observation:{hit.observation_id}:rule:{rule.rule_id}",
                dedup_key=key,
                raw=_raw(hit, endpoint),
                endpoint=endpoint,
                rule_id=rule.rule_id,
                ioc_key="",
            )
        )
    if not alerts:
        return None
    return alert_ingest(alerts=alerts)


# -- retention -----------------------------------------------------------------------------


def observations_delete_expired(*, chunk: int = 5000, max_chunks: int = 200) -> int:
    """Delete the tenant's observations older than its retention, `chunk` rows at a time.

    Small deletes keep locks and WAL bursts short; the task re-runs daily, so a backlog
    larger than `chunk * max_chunks` rows is worked off over several runs.
    """
    tenant = require_tenant()
    cutoff = timezone.now() - dt.timedelta(days=conf.retention_days(tenant))
    deleted = 0
    for _ in range(max_chunks):
        ids = list(
            Observation.objects.filter(observed_at__lt=cutoff)
            .order_by("observed_at")
            .values_list("id", flat=True)[:chunk]
        )
        if not ids:
            break
        deleted += Observation.objects.filter(id__in=ids).delete()[0]
    batches = TelemetryBatch.objects.filter(received_at__lt=cutoff).order_by("received_at")
    for _ in range(max_chunks):
        ids = list(batches.values_list("id", flat=True)[:chunk])
        if not ids:
            break
        TelemetryBatch.objects.filter(id__in=ids).delete()
    if deleted:
        logger.info("retention: deleted %s observations older than %s", deleted, cutoff)
    return deleted
