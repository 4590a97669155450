"""Sweep verbs: launch, run a chunk, finish, cancel, resume; continuous matching; alerts.

A sweep freezes its IOC set at launch (`SweepTerm` rows, copied in one INSERT … SELECT)
and splits its target endpoints into chunks of consecutive ids. Each chunk is a Celery
task (`acks_late`, retried with backoff) that, in ONE transaction holding the chunk's row
lock, runs one INSERT … SELECT … ON CONFLICT DO NOTHING per match family and marks the
chunk done. So:

- a chunk re-delivered after a worker died either finds its row `done` (no-op) or redoes
  work that was rolled back with the dead worker's connection: never a duplicate hit;
- two workers given the same chunk serialise on the row lock; the second sees `done`;
- the chunk that completes the last one (a counter on the sweep row, updated in the same
  transaction) enqueues the final callback. That is the chord, kept in the database instead
  of a Celery result backend, so it survives a broker restart; `sweep_resume` and the
  watchdog re-enqueue chunks whose message was lost. Every message goes through the outbox
  (tenancy/outbox.py), written in the transaction that decided to send it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import Any

import re2
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from endpoints.selectors import endpoints_matching
from intel import conf, sweepsql
from intel.alerting import AlertSpec, send_alerts
from intel.matching import ioc_key, match_keys, value_hash
from intel.models import IOC, Hit, Source, Sweep, SweepChunk, SweepTerm
from intel.parsing import InvalidIOC, detect_type, normalize_ioc
from intel.parsing.types import IOC_TYPES
from intel.regexset import RegexSet
from metrics.targets import SEVERITIES_BY_KEY
from tenancy import outbox
from tenancy.context import require_tenant, tenant_context
from tenancy.errors import Conflict
from tenancy.services import audit_record

from .iocs import default_phase

logger = logging.getLogger("stopclock.intel")

MAX_ADHOC = 1000
TERM_COLUMNS = (
    "ioc_id",
    "type",
    "value",
    "key",
    "family",
    "match_value",
    "pattern",
    "needle",
    "network",
    "ip_lo",
    "ip_hi",
    "domain_exact",
)
STALE_AFTER = dt.timedelta(minutes=15)
FEW_TERMS = 500  # below this, chunks join the tables directly (see `_chunk_relations`)
MAX_SINGLE_CHUNK = 100_000  # endpoints in the one chunk of a few-terms sweep


class SweepCancelled(Exception):
    pass


# --- helpers ------------------------------------------------------------------------------
def _db(params: Iterable[Any]) -> list[Any]:
    """Raw SQL parameters as the ORM would bind them (naive UTC datetimes on SQLite)."""
    return [
        connection.ops.adapt_datetimefield_value(p) if isinstance(p, dt.datetime) else p
        for p in params
    ]


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value


def _on_commit_in_tenant(fn) -> None:
    """Run `fn` after commit, inside the tenant of now (callbacks may run elsewhere)."""
    tenant = require_tenant()

    def run():
        with tenant_context(tenant):
            fn()

    transaction.on_commit(run, robust=True)


# --- launching ----------------------------------------------------------------------------
def parse_adhoc(lines: Iterable[str]) -> list[tuple[str, str]]:
    """Ad-hoc values, one per line, typed by their shape or by a `type:` prefix
    (`cmdline:-enc JAB`), normalised like IOCs; every bad line is reported."""
    values, errors = [], {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        prefix, _, rest = line.partition(":")
        if prefix.lower() in IOC_TYPES and rest and prefix.lower() not in {"yara"}:
            kind, text = prefix.lower(), rest.strip()
        else:
            kind, text = detect_type(line), line
        if kind is None:
            errors[f"line {number}"] = f"cannot tell what {line[:60]!r} is; prefix it with a type"
            continue
        try:
            values.append(normalize_ioc(kind, text))
        except InvalidIOC as exc:
            errors[f"line {number}"] = exc.message
    if errors:
        raise ValidationError({"adhoc_values": "; ".join(f"{k}: {v}" for k, v in errors.items())})
    unique = list(dict.fromkeys(values))
    if len(unique) > MAX_ADHOC:
        raise ValidationError(
            {"adhoc_values": f"at most {MAX_ADHOC} values; import a feed instead"}
        )
    return unique


def _selected_iocs(sweep: Sweep):
    if sweep.selection == "iocs":
        return IOC.objects.filter(pk__in=sweep.selection_iocs).exclude(family="yara")
    queryset = IOC.objects.matchable()
    if sweep.selection == "source":
        queryset = queryset.filter(source_links__source_id=sweep.selection_source_id)
    elif sweep.selection == "tag":
        queryset = queryset.filter(tags__name=sweep.selection_tag)
    return queryset


def _snapshot_terms(sweep: Sweep) -> None:
    """Copy the selected IOCs' match keys into the sweep's terms, set-wise."""
    table = connection.ops.quote_name(SweepTerm._meta.db_table)
    columns = ", ".join(TERM_COLUMNS)
    fields = ["id", *TERM_COLUMNS[1:]]
    queryset = _selected_iocs(sweep)
    batches = [None]
    if sweep.selection == "iocs":
        ids = list(sweep.selection_iocs)
        batches = [ids[i : i + 5000] for i in range(0, len(ids), 5000)] or []
    with connection.cursor() as cursor:
        for batch in batches:
            part = queryset if batch is None else queryset.filter(pk__in=batch)
            sql, params = part.order_by().values_list(*fields).query.sql_with_params()
            cursor.execute(
                f"INSERT INTO {table} (tenant_id, sweep_id, {columns}) "  # noqa: S608
                f"SELECT %s, %s, q.* FROM ({sql}) q",
                [sweep.tenant_id, sweep.pk, *params],
            )
    if sweep.adhoc_values:
        known = {
            (i.type, i.value): i.pk
            for i in IOC.objects.filter(value__in=[value for _, value in sweep.adhoc_values]).only(
                "id", "type", "value"
            )
        }
        SweepTerm.objects.bulk_create(
            [
                SweepTerm(
                    sweep=sweep,
                    ioc_id=known.get((kind, value)),
                    type=kind,
                    value=value,
                    key=ioc_key(kind, value),
                    **match_keys(kind, value).as_fields(),
                )
                for kind, value in sweep.adhoc_values
                if kind != "yara"
            ],
            ignore_conflicts=True,
        )


def _families(sweep: Sweep) -> list[str]:
    """What a chunk runs: the SQL families with terms, then the RE2 passes (`glob` for
    name globs, `cmdline` for command-line substrings and patterns)."""
    terms = SweepTerm.objects.filter(sweep=sweep)
    present = set(terms.values_list("family", flat=True).distinct())
    if not terms.filter(family="name", match_value__isnull=False).exists():
        present.discard("name")
    if terms.filter(family="name", pattern__isnull=False).exists():
        present.add("glob")
    return [f for f in (*sweepsql.FAMILY_ORDER, "glob", "cmdline") if f in present]


def _plan_chunks(sweep: Sweep, size: int) -> list[SweepChunk]:
    filtered = bool(
        sweep.target_os
        or sweep.target_groups
        or sweep.target_tags
        or sweep.target_privileged is not None
    )
    ids = sorted(
        endpoints_matching(
            os_family=sweep.target_os or None,
            groups=sweep.target_groups,
            tags=sweep.target_tags,
            privileged=sweep.target_privileged,
        ).values_list("id", flat=True)
    )
    chunks = []
    for seq, start in enumerate(range(0, len(ids), size)):
        part = ids[start : start + size]
        chunks.append(
            SweepChunk(
                sweep=sweep,
                seq=seq,
                endpoint_lo=part[0],
                endpoint_hi=part[-1],
                endpoint_ids=part if filtered else None,
                endpoints_count=len(part),
            )
        )
    return chunks


def sweep_launch(
    *,
    name: str = "",
    selection: str = "all",
    source: Source | None = None,
    tag: str = "",
    ioc_ids: Iterable[int] = (),
    adhoc_values: Iterable[str] = (),
    os_family: str = "",
    groups: Iterable[str] = (),
    tags: Iterable[str] = (),
    privileged: bool | None = None,
    window_start: dt.datetime | None = None,
    window_end: dt.datetime | None = None,
    kind: str = "manual",
    user=None,
    chunk_endpoints: int | None = None,
    dispatch: bool = True,
) -> Sweep:
    """Create a sweep, freeze its terms, plan its chunks; they start after commit
    (`dispatch=False` leaves them to the caller, e.g. `sweep_run_inline`)."""
    tenant = require_tenant()
    errors = {}
    if selection not in {"all", "source", "tag", "iocs", "adhoc"}:
        errors["selection"] = "one of all, source, tag, iocs, adhoc"
    if selection == "source" and source is None:
        errors["source"] = "choose a source"
    if selection == "tag" and not tag.strip():
        errors["tag"] = "give a tag"
    ioc_ids = [int(i) for i in ioc_ids]
    if selection == "iocs" and not ioc_ids:
        errors["iocs"] = "list at least one IOC"
    if window_start and window_end and window_end <= window_start:
        errors["window_end"] = "must be after the window start"
    if errors:
        raise ValidationError(errors)
    adhoc = parse_adhoc(adhoc_values) if selection == "adhoc" else []
    if selection == "adhoc" and not adhoc:
        raise ValidationError({"adhoc_values": "type at least one value"})
    if selection == "iocs" and IOC.objects.filter(pk__in=ioc_ids).count() != len(set(ioc_ids)):
        raise ValidationError({"iocs": "unknown IOC id"})
    with transaction.atomic():
        sweep = Sweep.objects.create(
            name=(name or _default_name(selection, source, tag, adhoc, ioc_ids))[:200],
            kind=kind,
            selection=selection,
            selection_source=source,
            selection_tag=tag.strip(),
            selection_iocs=ioc_ids,
            adhoc_values=[list(pair) for pair in adhoc],
            target_os=os_family or "",
            target_groups=[g for g in groups if g],
            target_tags=[t for t in tags if t],
            target_privileged=privileged,
            window_start=window_start,
            window_end=window_end,
            created_by=user,
        )
        _snapshot_terms(sweep)
        sweep.terms_count = SweepTerm.objects.filter(sweep=sweep).count()
        sweep.families = _families(sweep)
        size = chunk_endpoints or conf.chunk_endpoints(tenant)
        if (
            kind == "retro_hunt"
            and sweep.terms_count <= FEW_TERMS
            and not {"glob", "cmdline"} & set(sweep.families)
        ):
            # A few new values, looked up on the observations' indexes: one statement per
            # family over the whole fleet answers sooner than twenty tasks.
            size = max(size, MAX_SINGLE_CHUNK)
        chunks = _plan_chunks(sweep, size)
        if not sweep.families:
            chunks = []
        SweepChunk.objects.bulk_create(chunks)
        sweep.chunks_total = len(chunks)
        sweep.endpoints_total = sum(c.endpoints_count for c in chunks)
        if not chunks:
            sweep.status, sweep.finished_at = "succeeded", timezone.now()
        sweep.save()
        audit_record(
            "sweep.launch",
            sweep,
            {
                "selection": [None, selection],
                "terms": [None, sweep.terms_count],
                "endpoints": [None, sweep.endpoints_total],
                "kind": [None, kind],
            },
        )
        if chunks and dispatch:
            sweep_id = sweep.pk
            _on_commit_in_tenant(lambda: sweep_dispatch(sweep_id=sweep_id))
    return sweep


def _default_name(selection, source, tag, adhoc, ioc_ids) -> str:
    if selection == "source":
        return f"IOCs of {source}"
    if selection == "tag":
        return f"IOCs tagged {tag}"
    if selection == "adhoc":
        return f"Ad-hoc: {', '.join(v for _, v in adhoc[:3])}" + ("…" if len(adhoc) > 3 else "")
    if selection == "iocs":
        return f"{len(ioc_ids)} listed IOC(s)"
    return "All active IOCs"


def retro_hunt_launch(ioc_ids: list[int], *, reason: str) -> Sweep | None:
    """A sweep of stored telemetry for IOCs just added (the retro-hunt)."""
    tenant = require_tenant()
    if not ioc_ids or not conf.retro_hunt(tenant):
        return None
    return sweep_launch(
        name=f"Retro-hunt: {reason}",
        selection="iocs",
        ioc_ids=ioc_ids,
        kind="retro_hunt",
        window_start=timezone.now() - conf.retro_hunt_window(tenant),
    )


def retro_hunt_on_commit(ioc_ids: list[int], *, reason: str) -> None:
    ids = list(ioc_ids)
    _on_commit_in_tenant(lambda: retro_hunt_launch(ids, reason=reason))


def sweep_dispatch(*, sweep_id: int, only_stale: bool = False) -> int:
    """Enqueue the sweep's pending chunks (one task each); returns how many.

    The messages go through the outbox, in the transaction that marks the chunks enqueued:
    a broker that is down delays the sweep, it cannot strand it half-dispatched.
    """
    from intel.tasks import sweep_chunk_task

    tenant = require_tenant()
    now = timezone.now()
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(pk=sweep_id).first()
        if sweep is None or sweep.finished:
            return 0
        chunks = SweepChunk.objects.filter(sweep=sweep, status="pending")
        if only_stale:
            chunks = chunks.filter(
                Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - STALE_AFTER)
            )
        ids = list(chunks.order_by("seq").values_list("id", flat=True))
        SweepChunk.objects.filter(pk__in=ids).update(enqueued_at=now)
        if sweep.status == "queued":
            sweep.status, sweep.started_at = "running", now
            sweep.save(update_fields=["status", "started_at"])
        outbox.enqueue_many(
            sweep_chunk_task, [{"tenant_id": tenant.pk, "chunk_id": i} for i in ids]
        )
    if not ids and not SweepChunk.objects.filter(sweep_id=sweep_id, status="pending").exists():
        sweep_finalize(sweep_id=sweep_id)
    return len(ids)


def sweep_run_inline(*, sweep: Sweep, alerts: bool = True) -> Sweep:
    """Run every pending chunk in this process, then the final callback (demo seed, bench,
    `sweep_launch(dispatch=False)`); the same code a worker runs, one chunk after another."""
    now = timezone.now()
    Sweep.objects.filter(pk=sweep.pk, status="queued").update(status="running", started_at=now)
    for chunk_id in (
        SweepChunk.objects.filter(sweep=sweep, status="pending")
        .order_by("seq")
        .values_list("id", flat=True)
    ):
        sweep_run_chunk(chunk_id=chunk_id)
    sweep_finalize(sweep_id=sweep.pk)
    if alerts:
        sweep_raise_alerts(sweep_id=sweep.pk)
    sweep.refresh_from_db()
    return sweep


def sweep_resume(*, sweep: Sweep) -> int:
    """Re-enqueue every pending chunk (a lost message, a dead worker); done ones stay done."""
    if sweep.finished:
        raise Conflict(f"the sweep is already {sweep.status}")
    return sweep_dispatch(sweep_id=sweep.pk)


# --- one chunk ----------------------------------------------------------------------------
def sweep_run_chunk(*, chunk_id: int) -> str:
    """Match one chunk (idempotent). Returns done, skipped or cancelled."""
    tenant = require_tenant()
    now = timezone.now()
    try:
        with transaction.atomic():
            chunk = SweepChunk.objects.select_for_update().filter(pk=chunk_id).first()
            if chunk is None or chunk.status != "pending":
                return "skipped"
            sweep = Sweep.objects.get(pk=chunk.sweep_id)
            if sweep.status == "cancelled":
                raise SweepCancelled
            scope = sweepsql.chunk_scope(
                tenant.pk,
                chunk.endpoint_lo,
                chunk.endpoint_hi,
                chunk.endpoint_ids,
                sweep.window_start,
                sweep.window_end,
            )
            terms = sweepsql.sweep_terms(tenant.pk, sweep.pk)
            inserted = 0
            with connection.cursor() as cursor:
                sql_terms, rows = _chunk_relations(
                    cursor, tenant.pk, sweep.pk, sweep.families, scope, sweep.terms_count
                )
                for family in sweep.families:
                    if family == "cmdline":
                        inserted += _cmdline_hits(terms, rows, sweep.pk, now)
                    elif family == "glob":
                        inserted += _glob_hits(terms, rows, sweep.pk, now)
                    else:
                        sql, params = sweepsql.insert_hits_sql(
                            family, sql_terms, rows, tenant.pk, sweep.pk, now
                        )
                        cursor.execute(sql, _db(params))
                        inserted += max(cursor.rowcount, 0)
                    if Sweep.objects.filter(pk=sweep.pk, status="cancelled").exists():
                        raise SweepCancelled
            SweepChunk.objects.filter(pk=chunk.pk).update(
                status="done",
                hits=inserted,
                finished_at=timezone.now(),
                attempts=F("attempts") + 1,
            )
            Sweep.objects.filter(pk=sweep.pk).update(
                chunks_done=F("chunks_done") + 1,
                endpoints_scanned=F("endpoints_scanned") + chunk.endpoints_count,
                hits_count=F("hits_count") + inserted,
            )
            sweep.refresh_from_db(fields=["chunks_done", "chunks_total"])
            if sweep.chunks_done >= sweep.chunks_total:
                from intel.tasks import sweep_finalize_task

                outbox.enqueue(sweep_finalize_task, tenant_id=tenant.pk, sweep_id=sweep.pk)
    except SweepCancelled:
        SweepChunk.objects.filter(pk=chunk_id, status="pending").update(status="cancelled")
        return "cancelled"
    if pause := conf.chunk_pause():
        time.sleep(pause)
    return "done"


def sweep_chunk_failed(*, chunk_id: int, error: str) -> None:
    """A chunk ran out of retries: the sweep fails (its other chunks' hits are kept)."""
    with transaction.atomic():
        chunk = SweepChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if chunk is None or chunk.status != "pending":
            return
        chunk.status, chunk.error = "failed", error[:2000]
        chunk.save(update_fields=["status", "error"])
        Sweep.objects.filter(pk=chunk.sweep_id, status__in=["queued", "running"]).update(
            status="failed", error=f"chunk {chunk.seq}: {error}"[:2000], finished_at=timezone.now()
        )


def _chunk_relations(
    cursor, tenant_id: int, sweep_id: int, families, scope: sweepsql.Scope, terms_count: int
) -> tuple[sweepsql.TermSource, sweepsql.Scope]:
    """The terms and the observations the chunk's statements read, for its transaction.

    On PostgreSQL both are copied into temporary tables first: the chunk's rows once
    (each family then joins a small table instead of re-reading the big one), and its
    terms ANALYZEd, because a new sweep's rows are invisible to the statistics of
    `intel_sweepterm` and a plan built for "one term" is a disaster for 40,000. (Temporary
    tables are the one thing the application role may analyze.) JIT compilation costs
    more than these joins take, so it is off for the transaction.
    """
    if connection.vendor != "postgresql" or terms_count <= FEW_TERMS:
        # A few terms (a retro-hunt, ad-hoc values): index probes into the observations'
        # partial indexes are the best plan, and the one a low estimate leads to.
        return sweepsql.sweep_terms(tenant_id, sweep_id), scope
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '64MB'")
    cursor.execute("DROP TABLE IF EXISTS pg_temp.intel_chunk_obs, pg_temp.intel_chunk_terms")
    sql, params = sweepsql.copy_rows_sql("intel_chunk_obs", scope)
    cursor.execute(sql, _db(params))
    wanted = [f for f in families if f in sweepsql.FAMILY_ORDER]
    cursor.execute(
        "CREATE TEMPORARY TABLE intel_chunk_terms ON COMMIT DROP AS "
        "SELECT id, ioc_id AS ioc_ref, key, type, family, match_value, network, domain_exact "
        "FROM intel_sweepterm WHERE tenant_id = %s AND sweep_id = %s AND family = ANY(%s) "
        "AND (match_value IS NOT NULL OR network IS NOT NULL)",
        [tenant_id, sweep_id, wanted],
    )
    if "address" in wanted:
        cursor.execute(
            "CREATE INDEX ON intel_chunk_terms USING gist (network inet_ops) WHERE type = 'cidr'"
        )
    cursor.execute("ANALYZE intel_chunk_terms")
    return (
        sweepsql.TermSource("intel_chunk_terms", "TRUE", []),
        sweepsql.Scope("TRUE", [], table="intel_chunk_obs"),
    )


def _glob_patterns(rows) -> RegexSet:
    return RegexSet([pattern for _, _, _, pattern in rows], case_sensitive=True)


def _glob_hits(terms: sweepsql.TermSource, scope: sweepsql.Scope, sweep_id: int, now) -> int:
    """Name, path and registry-key globs: one RE2 set per IOC type, run over the chunk's
    *distinct* values of the columns that type is compared with (a LIKE join would be
    rows x globs); only the values that match come back as rows."""
    with connection.cursor() as cursor:
        sql, params = sweepsql.glob_terms_sql(terms)
        cursor.execute(sql, _db(params))
        by_type: dict[str, list] = {}
        for row in cursor.fetchall():
            by_type.setdefault(row[2], []).append(row)
        found: dict[tuple[str, int], list[Any]] = {}
        for kind, rows in by_type.items():
            regexes = _cached_set(("glob", sweep_id, kind), rows, _glob_patterns)
            for column in sweepsql.GLOB_COLUMNS[kind]:
                _distinct_pass(cursor, scope, column, regexes, rows, found)
    return _store_hits(sweep_id, found, now)


def _distinct_pass(cursor, scope, column: str, regexes: RegexSet, terms: list, found) -> None:
    """Match each distinct value of `column` in the scope once; aggregate the matching rows
    per (value, endpoint) in SQL."""
    sql, params = sweepsql.distinct_values_sql(scope, column)
    cursor.execute(sql, _db(params))
    matched = {}
    for (value,) in cursor.fetchall():
        indexes = regexes.match(value)
        if indexes:
            matched[value] = indexes
    values = list(matched)
    for start in range(0, len(values), 500):
        sql, params = sweepsql.value_rows_sql(scope, column, values[start : start + 500])
        cursor.execute(sql, _db(params))
        for value, endpoint_id, obs_id, first, last, count in cursor.fetchall():
            for index in matched[value]:
                _add_match(
                    found,
                    terms[index][:3],
                    endpoint_id,
                    obs_id,
                    column,
                    _aware(first),
                    _aware(last),
                    count,
                )


def _glob_row(found, by_type, sets, values, obs_id, endpoint_id, observed_at) -> None:
    for kind, regexes in sets.items():
        for column in sweepsql.GLOB_COLUMNS[kind]:
            value = values.get(column)
            if not value:
                continue
            for index in regexes.match(value):
                term = by_type[kind][index][:3]
                _add_match(found, term, endpoint_id, obs_id, column, observed_at)


def _cmdline_patterns(rows) -> RegexSet:
    """Substrings (escaped) and `re:` patterns of the cmdline family, as one RE2 set."""
    return RegexSet(
        [re2.escape(needle) if needle is not None else value[3:] for _, _, _, value, needle in rows]
    )


def _cmdline_hits(terms: sweepsql.TermSource, scope: sweepsql.Scope, sweep_id: int, now) -> int:
    """Command-line substrings, URLs and `re:` patterns: one RE2 set over the chunk's
    distinct command lines. A SQL join would be a nested loop (every line x every needle);
    the set's automaton reads each line once whatever the number of IOCs, in linear time."""
    with connection.cursor() as cursor:
        sql, params = sweepsql.cmdline_terms_sql(terms)
        cursor.execute(sql, _db(params))
        patterns = cursor.fetchall()
        if not patterns:
            return 0
        regexes = _cached_set(("sweep", sweep_id), patterns, _cmdline_patterns)
        found: dict[tuple[str, int], list[Any]] = {}
        _distinct_pass(cursor, scope, "command_line", regexes, patterns, found)
    return _store_hits(sweep_id, found, now)


_SETS: dict[tuple, tuple[int, RegexSet]] = {}


def _cached_set(name: tuple, patterns: list, build) -> RegexSet:
    """Compiling thousands of patterns takes a tenth of a second: once per sweep and process."""
    fingerprint = hash(tuple(p[1] for p in patterns))
    cached = _SETS.get(name)
    if cached is None or cached[0] != fingerprint:
        if len(_SETS) > 32:
            _SETS.clear()
        cached = _SETS[name] = (fingerprint, build(patterns))
    return cached[1]


def _add_match(found, term, endpoint_id, obs_id, field, first, last=None, count=1) -> None:
    """Fold a match (or `count` of them, seen from `first` to `last`) of `term` = (IOC id,
    key, type) on an endpoint into `found[(key, endpoint)]`."""
    ioc_id, key, kind = term
    last = last or first
    entry = found.get((key, endpoint_id))
    if entry is None:
        found[(key, endpoint_id)] = [ioc_id, kind, obs_id, field, first, last, count]
    else:
        entry[2] = min(entry[2], obs_id)
        entry[4] = min(entry[4], first)
        entry[5] = max(entry[5], last)
        entry[6] += count


def _store_hits(sweep_id: int, found: dict, now) -> int:
    if not found:
        return 0
    existing = set(
        Hit.objects.filter(sweep_id=sweep_id, ioc_key__in={k for k, _ in found}).values_list(
            "ioc_key", "endpoint_id"
        )
    )
    new = [
        Hit(
            sweep_id=sweep_id,
            ioc_id=ioc_id,
            ioc_key=key,
            ioc_type=kind,
            endpoint_id=endpoint_id,
            observation_id=obs_id,
            matched_field=field,
            first_seen=first,
            last_seen=last,
            observations_count=count,
            created_at=now,
        )
        for (key, endpoint_id), (ioc_id, kind, obs_id, field, first, last, count) in found.items()
        if (key, endpoint_id) not in existing
    ]
    Hit.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


# --- finishing, cancelling ------------------------------------------------------------------
def sweep_finalize(*, sweep_id: int) -> Sweep | None:
    """The final callback: once every chunk is done, settle the status, sightings, alerts."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(pk=sweep_id).first()
        if sweep is None or sweep.finished:
            return sweep
        if SweepChunk.objects.filter(sweep=sweep, status="pending").exists():
            return sweep
        failed = SweepChunk.objects.filter(sweep=sweep, status="failed").exists()
        sweep.status = "failed" if failed else "succeeded"
        sweep.finished_at = timezone.now()
        sweep.hits_count = Hit.objects.filter(sweep=sweep).count()
        sweep.save(update_fields=["status", "finished_at", "hits_count"])
        update_sightings(Hit.objects.filter(sweep=sweep).values("ioc_id"))
        audit_record(
            "sweep.finish",
            sweep,
            {"status": ["running", sweep.status], "hits": [None, sweep.hits_count]},
        )
        if sweep.hits_count:
            from intel.tasks import sweep_alerts_task

            outbox.enqueue(sweep_alerts_task, tenant_id=sweep.tenant_id, sweep_id=sweep.pk)
    return sweep


def sweep_cancel(*, sweep: Sweep) -> Sweep:
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().get(pk=sweep.pk)
        if sweep.finished:
            raise Conflict(f"the sweep is already {sweep.status}")
        if sweep.kind == "continuous":
            raise Conflict("continuous matching is switched off in the tenant's settings")
        sweep.status, sweep.finished_at = "cancelled", timezone.now()
        sweep.save(update_fields=["status", "finished_at"])
        SweepChunk.objects.filter(sweep=sweep, status="pending").update(status="cancelled")
        audit_record("sweep.cancel", sweep, {"status": ["running", "cancelled"]})
    return sweep


def update_sightings(ioc_ids) -> int:
    """First/last seen and sightings (distinct endpoints) of IOCs, from all their hits."""
    rows = (
        Hit.objects.filter(ioc_id__in=ioc_ids)
        .values("ioc_id")
        .annotate(
            first=Min("first_seen"), last=Max("last_seen"), n=Count("endpoint", distinct=True)
        )
    )
    iocs = []
    for row in rows:
        iocs.append(
            IOC(
                pk=row["ioc_id"],
                first_seen=row["first"],
                last_seen=row["last"],
                sightings_count=row["n"],
            )
        )
    IOC.objects.bulk_update(iocs, ["first_seen", "last_seen", "sightings_count"], batch_size=500)
    return len(iocs)


# --- hits become alerts ----------------------------------------------------------------
def _hit_alert(hit: Hit) -> AlertSpec:
    ioc = hit.ioc
    kind = hit.ioc_type
    shown = hit.ioc_key if len(hit.ioc_key) <= 80 else hit.ioc_key[:79] + "…"
    dedup = f"ioc:{hit.ioc_key}:endpoint:{hit.endpoint_id}"
    if len(dedup) > 200:
        dedup = f"ioc:{kind}:#{value_hash(hit.ioc_key)}:endpoint:{hit.endpoint_id}"
    return AlertSpec(
        title=f"IOC {shown} seen on {hit.endpoint.hostname}",
        severity=ioc.severity if ioc else "medium",
        source="ioc_sweep",
        phase=(ioc.phase if ioc and ioc.phase else default_phase(kind)),
        attack_techniques=list(ioc.attack_techniques) if ioc else [],
        observed_at=hit.first_seen,
        external_id=f"hit:{hit.pk}",
        dedup_key=dedup,
        endpoint=hit.endpoint,
        ioc_key=hit.ioc_key,
        raw={
            "hit_id": hit.pk,
            "sweep_id": hit.sweep_id,
            "ioc_id": hit.ioc_id,
            "ioc_type": kind,
            "matched_field": hit.matched_field,
            "observation_id": hit.observation_id,
            "first_seen": hit.first_seen,
            "last_seen": hit.last_seen,
            "observations": hit.observations_count,
            "hostname": hit.endpoint.hostname,
            "confidence": ioc.confidence if ioc else None,
            "tlp": ioc.tlp if ioc else None,
        },
        links=[
            (hit.endpoint, "affected"),
            *([(ioc, "indicator")] if ioc else []),
            (hit, "related"),
        ],
    )


def hits_raise_alerts(hits: list[Hit]) -> int:
    """Alerts for hits not alerted yet (severity floor applies); remembers the case."""
    tenant = require_tenant()
    floor = conf.alert_severity_floor(tenant)
    now = timezone.now()
    due = [h for h in hits if h.alerted_at is None]
    wanted = [
        h
        for h in due
        if SEVERITIES_BY_KEY.get(
            h.ioc.severity if h.ioc else "medium", SEVERITIES_BY_KEY["medium"]
        ).rank
        >= floor
    ]
    case_ids = send_alerts([_hit_alert(h) for h in wanted]) if wanted else []
    by_hit = {h.pk: c for h, c in zip(wanted, case_ids, strict=True)}
    for hit in due:
        hit.alerted_at, hit.case_id = now, by_hit.get(hit.pk)
    Hit.objects.bulk_update(due, ["alerted_at", "case_id"], batch_size=500)
    return len(wanted)


def sweep_raise_alerts(*, sweep_id: int, batch: int = 200) -> int:
    raised = 0
    while True:
        with transaction.atomic():
            hits = list(
                Hit.objects.select_for_update(of=("self",))
                .filter(sweep_id=sweep_id, alerted_at__isnull=True)
                .select_related("endpoint", "ioc")
                .order_by("id")[:batch]
            )
            if not hits:
                return raised
            raised += hits_raise_alerts(hits)


# --- continuous matching -----------------------------------------------------------------
def continuous_sweep() -> Sweep:
    """The tenant's standing 'sweep' that holds the hits of continuous matching."""
    sweep = Sweep.objects.filter(kind="continuous").first()
    if sweep is None:
        sweep, _ = Sweep.objects.get_or_create(
            kind="continuous",
            defaults={
                "name": "Continuous matching of arriving telemetry",
                "status": "running",
                "started_at": timezone.now(),
            },
        )
    return sweep


def match_batch(context) -> int:
    """Batch processor: the batch's observations against the active IOCs, set-wise."""
    tenant = require_tenant()
    if not conf.continuous_matching(tenant) or not context.observations:
        return 0
    now = timezone.now()
    families = set(
        IOC.objects.matchable(now).values_list("family", flat=True).distinct().order_by()
    )
    if not families:
        return 0
    terms = sweepsql.matchable_iocs(tenant.pk, now)
    scope = sweepsql.batch_scope(tenant.pk, context.batch.pk)
    found: dict[tuple[str, int], list[Any]] = {}
    with connection.cursor() as cursor:
        for family in sweepsql.FAMILY_ORDER:
            if family not in families:
                continue
            sql, params = sweepsql.family_select(family, terms, scope)
            cursor.execute(sql, _db(params))
            for ioc_id, key, kind, endpoint_id, obs_id, field, first, last, count in cursor:
                _add_match(
                    found,
                    (ioc_id, key, kind),
                    endpoint_id,
                    obs_id,
                    field,
                    _aware(first),
                    _aware(last),
                    count,
                )
    if "cmdline" in families:
        _cmdline_batch(found, context, now)
    if "name" in families:
        _glob_batch(found, context, now)
    if not found:
        return 0
    sweep = continuous_sweep()
    existing = {
        (h.ioc_key, h.endpoint_id): h
        for h in Hit.objects.filter(
            sweep=sweep, ioc_key__in={k for k, _ in found}, endpoint_id__in={e for _, e in found}
        )
    }
    changed = []
    for (key, endpoint_id), entry in list(found.items()):
        hit = existing.get((key, endpoint_id))
        if hit is None:
            continue
        hit.last_seen = max(hit.last_seen, entry[5])
        hit.observations_count += entry[6]
        changed.append(hit)
        del found[(key, endpoint_id)]
    Hit.objects.bulk_update(changed, ["last_seen", "observations_count"])
    created = _store_hits(sweep.pk, found, now)
    Sweep.objects.filter(pk=sweep.pk).update(hits_count=F("hits_count") + created)
    touched = {entry[0] for entry in found.values() if entry[0]} | {h.ioc_id for h in changed}
    update_sightings([i for i in touched if i])
    if created:
        new_hits = list(
            Hit.objects.filter(
                sweep=sweep, alerted_at__isnull=True, ioc_key__in={k for k, _ in found}
            ).select_related("endpoint", "ioc")
        )
        hits_raise_alerts(new_hits)
    return created


def _glob_batch(found: dict, context, now) -> None:
    rows = list(
        IOC.objects.matchable(now)
        .filter(family="name", pattern__isnull=False)
        .order_by("id")
        .values_list("id", "key", "type", "pattern")
    )
    if not rows:
        return
    by_type: dict[str, list] = {}
    for row in rows:
        by_type.setdefault(row[2], []).append(row)
    tenant_id = require_tenant().pk
    sets = {
        kind: _cached_set(("tenant-glob", tenant_id, kind), items, _glob_patterns)
        for kind, items in by_type.items()
    }
    for obs in context.observations:
        _glob_row(found, by_type, sets, obs, obs["id"], context.endpoint.pk, obs["observed_at"])


def _cmdline_batch(found: dict, context, now) -> None:
    patterns = list(
        IOC.objects.matchable(now)
        .filter(family="cmdline")
        .order_by("id")
        .values_list("id", "key", "type", "value", "needle")
    )
    if not patterns:
        return
    regexes = _cached_set(("tenant", require_tenant().pk), patterns, _cmdline_patterns)
    for obs in context.observations:
        command_line = obs.get("command_line")
        if not command_line:
            continue
        for index in regexes.match(command_line):
            ioc_id, key, kind, _, _ = patterns[index]
            term = (ioc_id, key, kind)
            _add_match(
                found, term, context.endpoint.pk, obs["id"], "command_line", obs["observed_at"]
            )


# --- the watchdog -----------------------------------------------------------------------
def sweeps_watchdog() -> dict[str, int]:
    """Re-enqueue chunks whose message went missing; finish sweeps whose callback did."""
    resumed = finished = 0
    for sweep in Sweep.objects.filter(status__in=["queued", "running"]).exclude(kind="continuous"):
        pending = SweepChunk.objects.filter(sweep=sweep, status="pending").exists()
        if pending:
            resumed += sweep_dispatch(sweep_id=sweep.pk, only_stale=True)
        else:
            sweep_finalize(sweep_id=sweep.pk)
            finished += 1
    return {"resumed_chunks": resumed, "finished_sweeps": finished}
