# ruff: noqa: S608 - SQL assembled from model metadata and our own constants; values are bound.
"""The span projection: `metrics_casespan` kept equal to what the case rows say.

Why a projection: a year of a large SOC is a million cases and some 2.5 million spans;
recomputing every span from the case rows for every figure (unpivot, pause union, exact
arithmetic) cost seconds per statement. The projection holds each case's spans once, in
narrow rows, and the figures scan those.

Why it cannot go stale: nothing in Python is trusted to remember to update it. Triggers on
the case and pause tables (installed after every migrate, on PostgreSQL and SQLite) queue
every case whose measured columns changed, whatever wrote them (a service, a bulk update,
a data fix in psql). Every read of the figures first runs `catch_up`, which recomputes the
queued cases set-wise with the very SQL that defines the spans
(`metrics.aggregation.projection_rows`), so a figure always reflects every committed write.

Concurrency: catch-ups of one tenant are serialised (a transaction-scoped advisory lock on
PostgreSQL; SQLite has one writer). A catch-up claims the queued rows it saw, recomputes
those cases from their committed state and deletes only its claimed rows, so a write that
commits meanwhile stays queued for the next one. A crash rolls the whole catch-up back.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import connection, transaction

from metrics.clocks import CLOCKS

from .models import CaseSpan, SpanBacklog

# Case columns a span depends on (the triggers compare them on UPDATE): the milestones of
# the clocks (closure among them, which also dates a missing span) and what decides whether
# and how a case is measured.
MEASURED_COLUMNS = (
    "tenant_id",
    "phase",
    "severity",
    "resolution",
    "merged_into_id",
    "detected_at",
    *dict.fromkeys(clock.milestone for clock in CLOCKS),
)
PAUSE_COLUMNS = ("case_id", "started_at", "ended_at")
LOCK_NAMESPACE = 0x5C5A  # first key of pg_advisory_xact_lock(namespace, tenant)


def _tables() -> tuple[str, str, str, str]:
    from cases.models import Case, CasePause

    return (
        Case._meta.db_table,
        CasePause._meta.db_table,
        SpanBacklog._meta.db_table,
        CaseSpan._meta.db_table,
    )


# --- triggers ---------------------------------------------------------------------------------


def _postgres_trigger_sql() -> list[str]:
    case, pause, backlog, _ = _tables()
    changed = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in MEASURED_COLUMNS)
    pause_changed = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in PAUSE_COLUMNS)
    insert = f"INSERT INTO {backlog} (tenant_id, case_id)"
    statements = [
        "CREATE OR REPLACE FUNCTION metrics_queue_cases() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        f"IF TG_OP = 'UPDATE' THEN {insert} SELECT n.tenant_id, n.id FROM new_rows n "
        f"JOIN old_rows o ON o.id = n.id WHERE {changed}; "
        f"ELSIF TG_OP = 'INSERT' THEN {insert} SELECT tenant_id, id FROM new_rows; "
        f"ELSE {insert} SELECT tenant_id, id FROM old_rows; END IF; "
        "RETURN NULL; END $$",
        "CREATE OR REPLACE FUNCTION metrics_queue_pauses() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        f"IF TG_OP = 'UPDATE' THEN {insert} SELECT DISTINCT x.tenant_id, x.case_id FROM "
        "(SELECT n.tenant_id, n.case_id, o.case_id AS old_case FROM new_rows n "
        f"JOIN old_rows o ON o.id = n.id WHERE {pause_changed}) q "
        "CROSS JOIN LATERAL (VALUES (q.tenant_id, q.case_id), (q.tenant_id, q.old_case)) "
        "AS x(tenant_id, case_id); "
        f"ELSIF TG_OP = 'INSERT' THEN {insert} SELECT DISTINCT tenant_id, case_id FROM new_rows; "
        f"ELSE {insert} SELECT DISTINCT tenant_id, case_id FROM old_rows; END IF; "
        "RETURN NULL; END $$",
    ]
    for table, function in ((case, "metrics_queue_cases"), (pause, "metrics_queue_pauses")):
        for event, transition in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            name = f"{table}_metrics_{event.lower()}"
            statements += [
                f"DROP TRIGGER IF EXISTS {name} ON {table}",
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            ]
    return statements


def _sqlite_trigger_sql() -> list[str]:
    case, pause, backlog, _ = _tables()
    insert = f"INSERT INTO {backlog} (tenant_id, case_id, claim) VALUES"
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in MEASURED_COLUMNS)
    pause_changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in PAUSE_COLUMNS)
    return [
        f"CREATE TRIGGER IF NOT EXISTS {case}_metrics_insert AFTER INSERT ON {case} "
        f"BEGIN {insert} (NEW.tenant_id, NEW.id, NULL); END",
        f"CREATE TRIGGER IF NOT EXISTS {case}_metrics_update AFTER UPDATE ON {case} "
        f"WHEN {changed} BEGIN {insert} (NEW.tenant_id, NEW.id, NULL); END",
        f"CREATE TRIGGER IF NOT EXISTS {case}_metrics_delete AFTER DELETE ON {case} "
        f"BEGIN {insert} (OLD.tenant_id, OLD.id, NULL); END",
        f"CREATE TRIGGER IF NOT EXISTS {pause}_metrics_insert AFTER INSERT ON {pause} "
        f"BEGIN {insert} (NEW.tenant_id, NEW.case_id, NULL); END",
        f"CREATE TRIGGER IF NOT EXISTS {pause}_metrics_update AFTER UPDATE ON {pause} "
        f"WHEN {pause_changed} BEGIN {insert} (NEW.tenant_id, NEW.case_id, NULL), "
        "(OLD.tenant_id, OLD.case_id, NULL); END",
        f"CREATE TRIGGER IF NOT EXISTS {pause}_metrics_delete AFTER DELETE ON {pause} "
        f"BEGIN {insert} (OLD.tenant_id, OLD.case_id, NULL); END",
    ]


def install_triggers(using: str = "default", **kwargs) -> None:
    """post_migrate: (re)install the triggers that queue changed cases. Idempotent; run
    after every migrate because SQLite drops a table's triggers when a migration rebuilds
    the table."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor == "postgresql":
        statements = _postgres_trigger_sql()
    elif conn.vendor == "sqlite":
        statements = _sqlite_trigger_sql()
    else:  # pragma: no cover - the settings allow only these two
        raise NotImplementedError(f"no span triggers for {conn.vendor}")
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


# --- catching up ------------------------------------------------------------------------------


def catch_up(tenant_id: int) -> int:
    """Recompute the spans of every case queued for `tenant_id`; the number of queue rows
    processed (0, one cheap statement, when nothing changed since the last read)."""
    from metrics.aggregation import projection_insert

    _, _, backlog, spans = _tables()
    with connection.cursor() as cursor:  # the usual case: one indexed probe, no transaction
        cursor.execute(f"SELECT 1 FROM {backlog} WHERE tenant_id = %s LIMIT 1", [tenant_id])
        if cursor.fetchone() is None:
            return 0
    claim = secrets.randbits(62)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {backlog} SET claim = %s WHERE tenant_id = %s AND claim IS NULL",
            [claim, tenant_id],
        )
        claimed = cursor.rowcount
        if not claimed:
            return 0
        if connection.vendor == "postgresql":
            # After the claim: a catch-up still running on the same cases commits first, and
            # every statement below then sees its rows.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, tenant_id])
        cursor.execute(
            f"DELETE FROM {spans} WHERE tenant_id = %s AND case_id IN "
            f"(SELECT case_id FROM {backlog} WHERE tenant_id = %s AND claim = %s)",
            [tenant_id, tenant_id, claim],
        )
        projection_insert(cursor, tenant_id=tenant_id, claim=claim)
        cursor.execute(
            f"DELETE FROM {backlog} WHERE tenant_id = %s AND claim = %s", [tenant_id, claim]
        )
        if connection.vendor == "postgresql" and claimed > 100_000:
            cursor.execute(f"ANALYZE {spans}")  # a rebuild: give the planner the new sizes
    return claimed


def rebuild(tenant_id: int) -> int:
    """Drop the tenant's spans, queue every case and catch up: the projection rebuilt
    from the case rows (`manage.py metrics_rebuild_spans`). Returns the queue rows done."""
    case, _, backlog, spans = _tables()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {spans} WHERE tenant_id = %s", [tenant_id])
            cursor.execute(
                f"INSERT INTO {backlog} (tenant_id, case_id) "
                f"SELECT tenant_id, id FROM {case} WHERE tenant_id = %s",
                [tenant_id],
            )
        return catch_up(tenant_id)


SPAN_COLUMNS = ("case_id", "clock", "phase_key", "severity_key", "status", "at", "detected_at",
                "raw_u", "paused_u")  # fmt: skip


def fingerprint() -> tuple[int, str]:
    """(rows, SHA-256) of the projection of the tenant in context, in a fixed order and
    streamed: what `metrics_rebuild_spans --check` compares before and after a rebuild."""
    digest = hashlib.sha256()
    rows = 0
    queryset = CaseSpan.objects.order_by("case_id", "clock").values_list(*SPAN_COLUMNS)
    for row in queryset.iterator(chunk_size=20_000):
        digest.update(repr(row).encode())
        rows += 1
    return rows, digest.hexdigest()
