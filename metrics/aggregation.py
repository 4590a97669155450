# ruff: noqa: S608 - this module assembles SQL from our own constants and checked identifiers;
# every value (tenant, instants, filters, targets) is a bound parameter.
"""The clocks aggregated in SQL: one statement per question, the same answers on every database.

No Python loop over cases: every figure (count, mean, median, p90, min, max, compliance,
breaches, data-quality exclusions, breaches in progress, trend buckets, dwell) is computed by
the database, in a constant number of statements whatever the number of cases.

How a span is measured is defined in `metrics/clocks.py`; this module translates those rules
into SQL once (`_computed_spans_ctes`), and that SQL fills the span projection
(`metrics_casespan`, kept up to date by `metrics.projection`), which every figure reads:

- one row per case x clock (`CLOCKS`), measured when its milestone falls in the window
  (the span belongs to the period in which its milestone was reached), or a "missing"
  finding when a closed case that needed the milestone does not have it (attributed to the
  period of closure), or a "negative" finding when the milestone is before detection;
- duplicates (and merged cases) are not measured; false positives and benign cases are
  not measured on the intrusion-only clocks (containment, remediation);
- paused time is the length of the union of the case's pauses clipped to [detection,
  milestone] (overlapping pauses count once, an open pause runs until the milestone), computed
  with a running maximum over the pauses sorted by start; it is subtracted from SLA spans
  only;
- the target is the one in force at detection for the case's phase and severity: the
  tenant's target history is turned into intervals (`TargetInterval`) and joined on range.

Exact arithmetic, then one rounding. On PostgreSQL a span is `EXTRACT(EPOCH FROM m - d)`, an
exact numeric; on SQLite it is an exact integer number of microseconds (Django stores
timestamps as "YYYY-MM-DD HH:MM:SS[.ffffff]" UTC text). Both are converted to a double
once, correctly rounded, so the two databases hand the percentile code bit-identical
values. SLA comparisons are made on the exact values.

Percentiles. PostgreSQL uses `percentile_cont` (one sort per group for all fractions), one
aggregate per period x phase x clock over an index-only scan of that group's spans
(`lateral_percentiles`), or one grouped aggregate when a filter needs the case rows.
SQLite has no ordered-set aggregates, so the same linear interpolation is written with
window functions: ROW_NUMBER and COUNT per group pick the two neighbouring values and
`lo + (pos - floor(pos)) * (hi - lo)` with `pos = f * (n - 1)` computed in double precision,
which is exactly what `percentile_cont` and `metrics.clocks.percentile` compute. That
"window" path is plain SQL and also runs on PostgreSQL, so a test can compare both paths on
one database.

Trend buckets are local days, ISO weeks or months in the tenant's zone: on PostgreSQL the
window is cut into bucket intervals in Python (`bucket_intervals`, zoneinfo) and each span
finds its interval with `width_bucket`; on SQLite a deterministic function registered on
every connection (`register_sqlite_functions`) computes the local bucket of each span (tested
to agree instant by instant).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import connection, transaction

from metrics.clocks import (
    CLOCKS,
    NOT_INTRUSION_RESOLUTIONS,
    PHASE_KEYS,
    SLA_CLOCKS,
    TRUE_POSITIVE,
    UNMEASURED_RESOLUTIONS,
)
from metrics.periods import GRANULARITIES, bucket_of, next_bucket
from metrics.targets import SEVERITY_KEYS

# Fractions computed with every median: quartiles for box plots, 10/90 for whiskers and p90.
FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 30, tzinfo=UTC)
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


@dataclass(frozen=True)
class Filters:
    """Which cases the figures describe. Empty means "all"."""

    phases: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    assignee_id: int | None = None
    tag: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(self).items()}

    @property
    def empty(self) -> bool:
        return self == Filters()


NO_FILTERS = Filters()


@dataclass(frozen=True)
class TargetInterval:
    """The target of one phase x severity x clock over [valid_from, valid_to)."""

    phase: str
    severity: str
    clock: str
    valid_from: datetime
    valid_to: datetime
    seconds: int | None


# --- dialects -------------------------------------------------------------------------------

# How a clock's "required on close" rule is written in SQL (integers, see `Dialect.unpivot`).
_REQUIRED = {"all": 0, "true_positive": 1, "none": 2}


class Dialect:
    """The few expressions that differ between PostgreSQL and SQLite.

    Spans are exact integers of microseconds on both (the precision of a stored timestamp);
    `seconds()` turns them into a double once, by one correctly rounded division.
    """

    vendor = ""
    units_per_second = 1_000_000
    native_percentiles = False

    def units_between(self, later: str, earlier: str) -> str:
        raise NotImplementedError

    def seconds(self, units: str) -> str:
        raise NotImplementedError

    def epoch_micros(self, moment: str) -> str:
        """A timestamp as exact integer microseconds since the epoch (NULL stays NULL)."""
        raise NotImplementedError

    def greatest(self, a: str, b: str) -> str:
        raise NotImplementedError

    def least(self, a: str, b: str) -> str:
        raise NotImplementedError

    def floor_int(self, value: str) -> str:
        raise NotImplementedError

    def bucket(self, moment: str, granularity: str, zone: str) -> str:
        raise NotImplementedError

    def json_int(self, column: str, key: str) -> str:
        raise NotImplementedError

    def string_agg(self, table: str, where: str, expr: str, order: str) -> str:
        raise NotImplementedError

    def float_lit(self, value: float) -> str:
        return f"CAST({value!r} AS DOUBLE PRECISION)"

    def param(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return connection.ops.adapt_datetimefield_value(value)
        return value


class Postgres(Dialect):
    vendor = "postgresql"
    native_percentiles = True

    def units_between(self, later: str, earlier: str) -> str:
        # date_part on an interval is a double within a few units of the last place of the
        # exact microseconds / 1e6: rounding its product with 1e6 gives the exact integer
        # (much cheaper than EXTRACT's numeric).
        return f"CAST(ROUND(date_part('epoch', ({later}) - ({earlier})) * 1000000) AS BIGINT)"

    def seconds(self, units: str) -> str:
        return f"(CAST({units} AS DOUBLE PRECISION) / 1000000)"

    def epoch_micros(self, moment: str) -> str:
        return f"CAST(EXTRACT(EPOCH FROM {moment}) * 1000000 AS BIGINT)"

    def unpivot(self, alias: str, clocks: Sequence) -> tuple[str, str]:
        """One row per clock for each row of `alias`: (FROM-clause suffix, milestone expr).
        Integers only: text literals would be copied into every one of millions of rows."""
        rows = ", ".join(
            f"({CLOCKS.index(c)}, {int(c.sla)}, {int(c.intrusions_only)}, "
            f"{_REQUIRED[c.required_on_close]}, {alias}.{c.milestone})"
            for c in clocks
        )
        return (
            f"CROSS JOIN LATERAL (VALUES {rows}) AS k(ord, sla, intrusions_only, required, m)",
            "k.m",
        )

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})"

    def floor_int(self, value: str) -> str:
        return f"CAST(FLOOR({value}) AS BIGINT)"

    def json_int(self, column: str, key: str) -> str:
        value = f"({column} ->> '{key}')"
        return f"CASE WHEN {value} ~ '^[0-9]{{1,18}}$' THEN CAST({value} AS BIGINT) END"

    def string_agg(self, table: str, where: str, expr: str, order: str) -> str:
        return f"(SELECT string_agg({expr}, '; ' ORDER BY {order}) FROM {table} WHERE {where})"

    def percentiles(self, value: str, fractions: Sequence[float]) -> str:
        array = ", ".join(repr(f) for f in fractions)
        return (
            f"percentile_cont(CAST(ARRAY[{array}] AS DOUBLE PRECISION[])) "
            f"WITHIN GROUP (ORDER BY {value})"
        )


class Sqlite(Dialect):
    vendor = "sqlite"

    @staticmethod
    def _micros(moment: str) -> str:
        # '%%s' is strftime's epoch seconds ('%' doubled for the parameter style).
        return (
            f"(CAST(strftime('%%s', {moment}) AS INTEGER) * 1000000 "
            f"+ CAST(substr(({moment}) || '.000000', 21, 6) AS INTEGER))"
        )

    def units_between(self, later: str, earlier: str) -> str:
        return f"({self._micros(later)} - {self._micros(earlier)})"

    def epoch_micros(self, moment: str) -> str:
        return self._micros(moment)

    def seconds(self, units: str) -> str:
        return f"(({units}) / 1000000.0)"

    def greatest(self, a: str, b: str) -> str:
        return f"MAX({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"MIN({a}, {b})"

    def floor_int(self, value: str) -> str:
        return f"CAST({value} AS INTEGER)"  # truncation: the values are never negative

    def bucket(self, moment: str, granularity: str, zone: str) -> str:
        return f"stopclock_bucket({moment}, '{zone}', '{granularity}')"

    def json_int(self, column: str, key: str) -> str:
        return f"CAST(json_extract({column}, '$.{key}') AS INTEGER)"

    def string_agg(self, table: str, where: str, expr: str, order: str) -> str:
        return (
            f"(SELECT group_concat(r, '; ') FROM "
            f"(SELECT {expr} AS r FROM {table} WHERE {where} ORDER BY {order}))"
        )

    def unpivot(self, alias: str, clocks: Sequence) -> tuple[str, str]:
        """SQLite has no LATERAL: join the `clocks` CTE and pick the milestone by index."""
        whens = " ".join(f"WHEN {CLOCKS.index(c)} THEN {alias}.{c.milestone}" for c in clocks)
        return "CROSS JOIN clocks k", f"CASE k.ord {whens} END"


def dialect(window: bool = False) -> Dialect:
    """The dialect of the default database; `window=True` forces the portable percentile
    path (used by tests to compare it with percentile_cont on PostgreSQL)."""
    if connection.vendor == "postgresql":
        pg = Postgres()
        if window:
            pg.native_percentiles = False
        return pg
    if connection.vendor == "sqlite":
        return Sqlite()
    raise NotImplementedError(f"metrics aggregation has no {connection.vendor} dialect")


def _bucket_py(moment: str | None, zone: str, granularity: str) -> str | None:
    """SQLite's stopclock_bucket(): the local bucket start of a stored UTC timestamp."""
    if moment is None:
        return None
    instant = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    local = instant.astimezone(zoneinfo.ZoneInfo(zone)).date()
    return bucket_of(local, granularity).isoformat()


def bucket_intervals(
    lo: datetime, hi: datetime, split: datetime, granularity: str, zone: str
) -> list[tuple[datetime, date, int]]:
    """[lo, hi) cut at every trend-bucket boundary (local midnight in `zone`) and at `split`:
    per piece, its first instant, its bucket's first local day and 1 when it is at or after
    `split`. Each piece lies in one bucket and one period."""
    tz = zoneinfo.ZoneInfo(zone)
    cuts = {lo, split}
    day = bucket_of(lo.astimezone(tz).date(), granularity)
    while True:
        day = next_bucket(day, granularity)
        instant = datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
        if instant >= hi:
            break
        if instant > lo:
            cuts.add(instant)
    starts = sorted(cut for cut in cuts if lo <= cut < hi)
    return [
        (start, bucket_of(start.astimezone(tz).date(), granularity), int(start >= split))
        for start in starts
    ]


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: the functions the SQLite path needs."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("stopclock_bucket", 3, _bucket_py, deterministic=True)


# --- building blocks ------------------------------------------------------------------------


class Sql:
    """SQL text and its parameters, built in textual order."""

    def __init__(self, d: Dialect) -> None:
        self.d = d
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, *params: Any) -> Sql:
        self.parts.append(text)
        self.params.extend(self.d.param(p) for p in params)
        return self

    @property
    def text(self) -> str:
        return "\n".join(self.parts)


def _tables() -> dict[str, str]:
    from cases.models import Alert, Case, CasePause, CaseTag, MilestoneChange, Tag
    from endpoints.models import Observation
    from metrics.models import CaseSpan, SpanBacklog

    return {
        "span": CaseSpan._meta.db_table,
        "backlog": SpanBacklog._meta.db_table,
        "case": Case._meta.db_table,
        "pause": CasePause._meta.db_table,
        "casetag": CaseTag._meta.db_table,
        "tag": Tag._meta.db_table,
        "alert": Alert._meta.db_table,
        "change": MilestoneChange._meta.db_table,
        "observation": Observation._meta.db_table,
    }


def _quote_list(values: Iterable[str]) -> str:
    """Constants from our own definitions (never user input) as SQL string literals."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


def _check_zone(zone: str) -> str:
    """Zone names are inlined in SQL: only names of the time-zone database pass."""
    if not _ZONE_NAME.match(zone) or zone not in _zones():
        raise ValueError(f"unknown time zone {zone!r}")
    return zone


def target_key(phase: str, severity: str, clock: str) -> int:
    """Phase, severity and clock as one integer: the join key of the targets (hashing one
    integer per span instead of three strings)."""
    return (
        PHASE_KEYS.index(phase) * 100
        + SEVERITY_KEYS.index(severity) * 10
        + [c.key for c in CLOCKS].index(clock)
    )


def _targets_cte(q: Sql, targets: Sequence[TargetInterval]) -> None:
    rows = []
    params: list[Any] = []
    for t in targets:
        rows.append("(%s, %s, %s, CAST(%s AS BIGINT))")
        params += [target_key(t.phase, t.severity, t.clock), t.valid_from, t.valid_to, t.seconds]
    if not rows:  # a VALUES list cannot be empty: one row that matches nothing
        rows.append("(-1, %s, %s, CAST(NULL AS BIGINT))")
        params += [FAR_PAST, FAR_PAST]
    q.add(
        "targets (tk, valid_from, valid_to, target_s) AS (VALUES " + ", ".join(rows) + ")",
        *params,
    )


def _target_lookup(d: Dialect, targets: Sequence[TargetInterval]) -> tuple[str, list[Any]]:
    """The target of a projection row `s` as an expression, not a join (PostgreSQL): an
    array indexed by the phase x severity x clock key for the keys whose target never
    changed, and a CASE on the detection time for the few that did. A hash join with a
    range filter cost a quarter of a year's aggregation."""
    by_key: dict[int, list[TargetInterval]] = {}
    for t in targets:
        by_key.setdefault(target_key(t.phase, t.severity, t.clock), []).append(t)
    size = len(PHASE_KEYS) * 100
    # -1 for "no target", not NULL: an array without NULLs is indexed in constant time, one
    # with NULLs is walked up to the element on every lookup.
    constant: list[int] = [-1] * size
    changed: list[str] = []
    params: list[Any] = []
    for key, intervals in sorted(by_key.items()):
        ordered = sorted(intervals, key=lambda t: t.valid_from)
        if len(ordered) == 1 and ordered[0].valid_from <= FAR_PAST:
            constant[key] = -1 if ordered[0].seconds is None else ordered[0].seconds
            continue
        whens = []
        for t in ordered:
            whens.append("WHEN s.detected_at >= %s AND s.detected_at < %s THEN CAST(%s AS BIGINT)")
            params += [d.param(t.valid_from), d.param(t.valid_to), t.seconds]
        changed.append(f"WHEN {key} THEN CASE {' '.join(whens)} END")
    tk = "(s.phase_key * 100 + s.severity_key * 10 + s.clock)"
    lookup = f"NULLIF((CAST(%s AS BIGINT[]))[{tk} + 1], -1)"
    if not changed:
        return lookup, [constant]
    return f"CASE {tk} {' '.join(changed)} ELSE {lookup} END", [*params, constant]


def _index_case(column: str, keys: Sequence[str]) -> str:
    """A vocabulary column as a small integer (grouping, sorting and joining on integers)."""
    whens = " ".join(f"WHEN '{key}' THEN {i}" for i, key in enumerate(keys))
    return f"CASE {column} {whens} ELSE {len(keys)} END"


def _case_filters(q: Sql, tenant_id: int, filters: Filters, alias: str = "c") -> None:
    tables = _tables()
    if filters.phases:
        q.add(f"AND {alias}.phase IN ({', '.join(['%s'] * len(filters.phases))})", *filters.phases)
    if filters.severities:
        marks = ", ".join(["%s"] * len(filters.severities))
        q.add(f"AND {alias}.severity IN ({marks})", *filters.severities)
    if filters.assignee_id is not None:
        q.add(f"AND {alias}.assignee_id = %s", filters.assignee_id)
    if filters.tag:
        q.add(
            f"AND EXISTS (SELECT 1 FROM {tables['casetag']} ct JOIN {tables['tag']} tg "
            f"ON tg.id = ct.tag_id WHERE ct.tenant_id = %s AND ct.case_id = {alias}.id "
            "AND tg.tenant_id = %s AND tg.name = %s)",
            tenant_id,
            tenant_id,
            filters.tag,
        )
    if filters.source:
        q.add(
            f"AND EXISTS (SELECT 1 FROM {tables['alert']} al WHERE al.tenant_id = %s "
            f"AND al.case_id = {alias}.id AND al.source = %s)",
            tenant_id,
            filters.source,
        )


def _clocks_cte(q: Sql, clocks: Sequence = CLOCKS) -> None:
    """The clocks as a table, for SQLite's unpivot (PostgreSQL unpivots with LATERAL)."""
    if isinstance(q.d, Postgres):
        return
    rows = ", ".join(
        f"({CLOCKS.index(c)}, {int(c.sla)}, {int(c.intrusions_only)}, "
        f"{_REQUIRED[c.required_on_close]})"
        for c in clocks
    )
    q.add(f", clocks (ord, sla, intrusions_only, required) AS (VALUES {rows})")


def _base_cte(
    q: Sql,
    tenant_id: int,
    filters: Filters,
    *,
    columns: str,
    where: str,
    join: str = "",
) -> None:
    """`base`: the tenant's cases in scope (not merged), their milestones and the phase and
    severity as small integers, plus `columns`, filtered by `where` and the filters."""
    q.add(
        ", base AS (SELECT c.id, c.number, c.phase, c.severity, c.detected_at, c.triaged_at, "
        "c.scoped_at, c.contained_at, c.remediated_at, c.closed_at, "
        f"{_index_case('c.phase', PHASE_KEYS)} AS pk, "
        f"{_index_case('c.severity', SEVERITY_KEYS)} AS sk, {columns} "
        f"FROM {_tables()['case']} c {join} WHERE c.tenant_id = %s "
        f"AND c.merged_into_id IS NULL AND {where}",
        tenant_id,
    )
    _case_filters(q, tenant_id, filters)
    q.add(")")


def _pause_pieces_cte(q: Sql, tenant_id: int, cases: str = "SELECT id FROM base") -> None:
    """The union of each case's pauses as disjoint pieces [s, e): a pause's start moves past
    the furthest end of the pauses before it, and a pause inside them disappears. Only the
    pauses of `cases` (a subquery of case ids: the cases in scope) are read.

    The furthest earlier end is a correlated subquery (an index probe per pause), not a
    window function: it keeps the whole aggregation parallel-safe on PostgreSQL.
    """
    table = _tables()["pause"]
    earlier = (
        f"SELECT MAX(COALESCE(r.ended_at, %s)) AS prev_e FROM {table} r "
        "WHERE r.tenant_id = p.tenant_id AND r.case_id = p.case_id "
        "AND (r.started_at < p.started_at OR (r.started_at = p.started_at AND r.id < p.id))"
    )
    if isinstance(q.d, Postgres):  # a LATERAL join, not a SubPlan: parallel-safe
        q.add(
            ", pp AS (SELECT p.case_id, p.started_at AS s0, COALESCE(p.ended_at, %s) AS e, "
            f"r.prev_e FROM {table} p LEFT JOIN LATERAL ({earlier}) r ON TRUE "
            f"WHERE p.tenant_id = %s AND p.case_id IN ({cases}))",
            FAR_FUTURE,
            FAR_FUTURE,
            tenant_id,
        )
    else:
        q.add(
            ", pp AS (SELECT p.case_id, p.started_at AS s0, COALESCE(p.ended_at, %s) AS e, "
            f"({earlier}) AS prev_e FROM {table} p WHERE p.tenant_id = %s "
            f"AND p.case_id IN ({cases}))",
            FAR_FUTURE,
            FAR_FUTURE,
            tenant_id,
        )
    q.add(
        ", pieces AS (SELECT case_id, CASE WHEN prev_e IS NOT NULL AND prev_e > s0 "
        "THEN prev_e ELSE s0 END AS s, e FROM pp WHERE prev_e IS NULL OR e > prev_e)"
    )


def _paused_sum(d: Dialect, end: str, start: str) -> str:
    """Paused time inside [start, end] summed over the case's disjoint pause pieces."""
    overlap = d.units_between(d.least("pieces.e", end), d.greatest("pieces.s", start))
    return f"SUM(CASE WHEN pieces.s < {end} AND pieces.e > {start} THEN {overlap} ELSE 0 END)"


def _paused_by_case_cte(q: Sql, tenant_id: int, ends: dict[str, str], also_from: str = "") -> None:
    """`pz`: per case with pauses, the paused time before each end (`p_<name>` columns,
    expressions over the case row `c`).

    Aggregated per case on an equality join of the (few) pause pieces with the cases, so
    the planner never nests a loop over every case x clock row.
    """
    d = q.d
    columns = ", ".join(
        f"{_paused_sum(d, end, 'c.detected_at')} AS p_{name}" for name, end in ends.items()
    )
    q.add(
        f", pz AS (SELECT c.id, {columns} FROM pieces JOIN {_tables()['case']} c "
        f"ON c.id = pieces.case_id AND c.tenant_id = %s{also_from} GROUP BY c.id)",
        tenant_id,
    )


# --- the spans of a window ------------------------------------------------------------------

STATUS_OK, STATUS_MISSING, STATUS_NEGATIVE = 0, 1, 2
STATUS_NAMES = {STATUS_OK: "ok", STATUS_MISSING: "missing", STATUS_NEGATIVE: "negative"}


def _computed_spans_ctes(q: Sql, *, tenant_id: int, claim: int) -> None:
    """`WITH ... y`: the spans of the cases queued under `claim`, computed from the case
    and pause rows — the definition the projection (`metrics_casespan`) stores.

    Columns of `y`: id, pk (phase index), sk (severity index), ord (clock index in CLOCKS),
    st (0 measured, 1 missing, 2 negative), detected_at, closed_at, m (the milestone), sla,
    pu (paused time before the milestone). Rows: every reached milestone, and a "missing"
    row for a closed case that needed the milestone and lacks it.
    """
    d = q.d
    backlog = _tables()["backlog"]
    q.add(
        f"WITH queued AS (SELECT DISTINCT bl.case_id FROM {backlog} bl "
        "WHERE bl.tenant_id = %s AND bl.claim = %s)",
        tenant_id,
        claim,
    )
    _base_cte(
        q,
        tenant_id,
        NO_FILTERS,
        columns="c.resolution",
        where=f"c.resolution NOT IN ({_quote_list(UNMEASURED_RESOLUTIONS)}) "
        "AND c.id IN (SELECT case_id FROM queued)",
    )
    _clocks_cte(q)
    _pause_pieces_cte(q, tenant_id)
    _paused_by_case_cte(q, tenant_id, {c.key: f"c.{c.milestone}" for c in SLA_CLOCKS})
    unpivot, milestone = d.unpivot("b", CLOCKS)
    paused = " ".join(f"WHEN {i} THEN pz.p_{c.key}" for i, c in enumerate(CLOCKS) if c.sla)
    q.add(
        ", x AS (SELECT b.id, b.pk, b.sk, b.resolution, "
        "b.detected_at, b.closed_at, k.ord, k.sla, k.required, "
        f"{milestone} AS m, CASE k.ord {paused} END AS pu FROM base b {unpivot} "
        "LEFT JOIN pz ON pz.id = b.id WHERE k.intrusions_only = 0 "
        f"OR b.resolution NOT IN ({_quote_list(NOT_INTRUSION_RESOLUTIONS)}))"
    )
    q.add(
        f", y AS (SELECT x.*, CASE WHEN x.m IS NULL THEN {STATUS_MISSING} "
        f"WHEN x.m < x.detected_at THEN {STATUS_NEGATIVE} ELSE {STATUS_OK} END AS st FROM x "
        "WHERE x.m IS NOT NULL OR (x.closed_at IS NOT NULL "
        f"AND (x.required = {_REQUIRED['all']} OR (x.required = "
        f"{_REQUIRED['true_positive']} AND x.resolution = '{TRUE_POSITIVE}'))))"
    )


def projection_insert(cursor, *, tenant_id: int, claim: int) -> None:
    """Insert the spans of the cases queued under `claim` into `metrics_casespan`
    (`metrics.projection.catch_up` deletes their old rows first)."""
    d = dialect()
    q = Sql(d)
    q.add(
        f"INSERT INTO {_tables()['span']} (tenant_id, case_id, clock, phase_key, severity_key, "
        "status, at, detected_at, raw_u, paused_u)"
    )
    _computed_spans_ctes(q, tenant_id=tenant_id, claim=claim)
    q.add(
        "SELECT %s, y.id, y.ord, y.pk, y.sk, y.st, COALESCE(y.m, y.closed_at), y.detected_at, "
        f"{d.units_between('y.m', 'y.detected_at')}, "
        f"CASE WHEN y.sla = 1 AND y.st = {STATUS_OK} THEN COALESCE(y.pu, 0) END FROM y",
        tenant_id,
    )
    _settings(cursor, d)
    cursor.execute(q.text, q.params)


def _span_filters(q: Sql, tenant_id: int, filters: Filters) -> None:
    """The filters on the projection: phase and severity on its own integer columns, the
    rest (assignee, tag, alert source) through the case rows."""
    if filters.phases:
        keys = [PHASE_KEYS.index(p) if p in PHASE_KEYS else -1 for p in filters.phases]
        q.add(f"AND s.phase_key IN ({', '.join(str(k) for k in keys)})")
    if filters.severities:
        keys = [SEVERITY_KEYS.index(v) if v in SEVERITY_KEYS else -1 for v in filters.severities]
        q.add(f"AND s.severity_key IN ({', '.join(str(k) for k in keys)})")
    rest = Filters(assignee_id=filters.assignee_id, tag=filters.tag, source=filters.source)
    if not rest.empty:
        q.add(
            f"AND s.case_id IN (SELECT c.id FROM {_tables()['case']} c WHERE c.tenant_id = %s",
            tenant_id,
        )
        _case_filters(q, tenant_id, rest)
        q.add(")")


def spans_ctes(
    q: Sql,
    *,
    tenant_id: int,
    filters: Filters,
    lo: datetime,
    hi: datetime,
    split: datetime,
    targets: Sequence[TargetInterval],
    materialized: bool = False,
    measured_only: bool = False,
) -> None:
    """`WITH ... spans`: one row per case x clock measured (or found wanting) in [lo, hi),
    read from the projection (`metrics.projection` keeps it equal to the case rows; call
    `catch_up` first).

    Columns of `spans`: id (the case), pk (phase index), sk (severity index), ord (clock
    index in CLOCKS), cur (1 when the milestone, or the closure of a "missing" row, is at or
    after `split`), st (0 measured, 1 missing, 2 negative), detected_at, at (the moment that
    places the row in a period), m (the milestone, NULL when missing), raw_u (exact span,
    microseconds), paused_u (exact paused time, SLA clocks only), target_s (seconds, NULL
    when there is none). `measured_only`: only the measured rows, without their targets
    (what the percentiles read: no join to pay for).
    """
    q.add("WITH")
    _targets_cte(q, targets)
    join, where, target_params = "", "", []
    if measured_only:
        target, where = "CAST(NULL AS BIGINT)", f" AND s.status = {STATUS_OK}"
    elif isinstance(q.d, Postgres):
        target, target_params = _target_lookup(q.d, targets)
    else:
        target = "t.target_s"
        join = (
            "LEFT JOIN targets t ON t.tk = s.phase_key * 100 + s.severity_key * 10 + s.clock "
            "AND s.detected_at >= t.valid_from AND s.detected_at < t.valid_to "
        )
    q.add(
        f", spans AS {'MATERIALIZED ' if materialized else ''}(SELECT s.case_id AS id, "
        "s.phase_key AS pk, s.severity_key AS sk, s.clock AS ord, "
        "CASE WHEN s.at >= %s THEN 1 ELSE 0 END AS cur, s.status AS st, s.detected_at, s.at, "
        f"CASE WHEN s.status = {STATUS_MISSING} THEN NULL ELSE s.at END AS m, s.raw_u, "
        f"s.paused_u, {target} AS target_s FROM {_tables()['span']} s {join}"
        f"WHERE s.tenant_id = %s AND s.at >= %s AND s.at < %s{where}",
        split,
        *target_params,
        tenant_id,
        lo,
        hi,
    )
    _span_filters(q, tenant_id, filters)
    q.add(")")


def _caught_up(tenant_id: int) -> None:
    """Bring the projection up to date with every committed case write before reading it."""
    from metrics.projection import catch_up

    catch_up(tenant_id)


def _ord_case(column: str, values: Sequence[str]) -> str:
    """A clock index back to one of its names (for the lists: a few rows, not millions)."""
    whens = " ".join(f"WHEN {i} THEN '{value}'" for i, value in enumerate(values))
    return f"CASE {column} {whens} END"


def _met(d: Dialect, alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    return f"({p}raw_u - {p}paused_u <= {p}target_s * {d.units_per_second})"


def _percentile_columns(d: Dialect, fractions: Sequence[float]) -> str:
    """Window-path interpolation over `ranked` (columns rn, n, v), one column per fraction."""
    columns = []
    for i, fraction in enumerate(fractions):
        pos = f"({d.float_lit(fraction)} * (n - 1))"
        low = d.floor_int(pos)
        lo_v = f"MAX(CASE WHEN rn = {low} THEN v END)"
        hi_v = f"MAX(CASE WHEN rn = {low} + 1 THEN v END)"
        columns.append(f"{lo_v} + ({pos} - {low}) * (COALESCE({hi_v}, {lo_v}) - {lo_v}) AS p{i}")
    return ", ".join(columns)


def _stats_select(
    q: Sql,
    *,
    source: str,
    groups: Sequence[str],
    measured: str,
    units: str,
    extra: Sequence[str],
    fractions: Sequence[float],
    columns: Sequence[str] = (),
    percentiles_only: bool = False,
) -> None:
    """The final SELECT over `source`: per group, n (measured rows), mean/min/max seconds,
    the `extra` aggregate columns, and p0..pk for `fractions`.

    Rows of `source` where `measured` is false take part only in the `extra` columns, which
    read `columns` of it. PostgreSQL: `percentile_cont`, over input sorted by the group keys
    and the value (only the columns needed, so the sort stays narrow and in memory): the
    groups arrive in order and each one's own sort finds its values already in order.
    Elsewhere: the window-function interpolation. No fractions: one hashed GROUP BY.
    """
    d = q.d
    value = d.seconds(units)
    keys = ", ".join(groups)
    aggregates = [
        f"SUM(CASE WHEN {measured} THEN 1 ELSE 0 END) AS n",
        *(
            []
            if percentiles_only
            else [
                f"AVG(CASE WHEN {measured} THEN {value} END) AS mean",
                f"MIN(CASE WHEN {measured} THEN {value} END) AS lo",
                f"MAX(CASE WHEN {measured} THEN {value} END) AS hi",
            ]
        ),
        *extra,
    ]
    if not fractions:
        q.add(f"SELECT {keys}, {', '.join(aggregates)} FROM {source} GROUP BY {keys}")
        return
    if isinstance(d, Postgres) and d.native_percentiles:
        # One integer group key: the rows are sorted on it alone, and each group's
        # percentile_cont sorts its own values (a datum sort), much cheaper than one sort of
        # every row on (keys, value).
        key = " + ".join(f"{g} * {10 ** (len(groups) - 1 - i)}" for i, g in enumerate(groups))
        percentiles = d.percentiles(value, fractions)
        narrow = ", ".join(dict.fromkeys([*groups, units, *columns]))
        representatives = ", ".join(f"MIN({g}) AS {g}" for g in groups)
        q.add(
            f"SELECT {representatives}, {', '.join(aggregates)}, "
            f"{percentiles} FILTER (WHERE {measured}) AS ps "
            f"FROM (SELECT {narrow}, {key} AS gk FROM {source}) keyed "
            "GROUP BY gk"
        )
        return
    q.add(f", agg AS (SELECT {keys}, {', '.join(aggregates)} FROM {source} GROUP BY {keys})")
    q.add(
        f", ranked AS (SELECT {keys}, {value} AS v, "
        f"ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {units}) - 1 AS rn, "
        f"COUNT(*) OVER (PARTITION BY {keys}) AS n FROM {source} WHERE {measured})"
    )
    q.add(
        f", pct AS (SELECT {keys}, {_percentile_columns(d, fractions)} "
        f"FROM ranked GROUP BY {keys}, n)"
    )
    join = " AND ".join(f"pct.{g} = agg.{g}" for g in groups)
    p_columns = ", ".join(f"pct.p{i}" for i in range(len(fractions)))
    q.add(f"SELECT agg.*, {p_columns} FROM agg LEFT JOIN pct ON {join}")


# Memory PostgreSQL may use for the sorts and hashes of one aggregation, so a year of spans
# is sorted in memory rather than on disk (SET LOCAL: this transaction only).
WORK_MEM = "256MB"


def _settings(cursor, d: Dialect, *, parallel: bool = False) -> None:
    """Planner settings for one aggregation (PostgreSQL, this transaction only).

    JIT compilation of these wide expressions costs more than it saves. For the
    percentiles (`parallel`), handing rows between processes is made free: the planner
    then sorts the spans in parallel workers and merges them, instead of scanning and
    sorting millions of rows in one process.
    """
    if isinstance(d, Postgres):
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'; SET LOCAL jit = off")
        if parallel:
            cursor.execute("SET LOCAL parallel_tuple_cost = 0")


def _rows(q: Sql, *, parallel: bool = False) -> list[dict[str, Any]]:
    postgres = isinstance(q.d, Postgres)
    with transaction.atomic() if postgres else nullcontext(), connection.cursor() as cursor:
        _settings(cursor, q.d, parallel=parallel)
        cursor.execute(q.text, q.params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _with_percentiles(rows: list[dict[str, Any]], fractions: Sequence[float]) -> None:
    """Name the percentile columns `pNN` (p10, p25, p50, ...) whichever path made them."""
    for row in rows:
        values = row.pop("ps", None)
        if values is None:
            values = [row.pop(f"p{i}", None) for i in range(len(fractions))]
        elif isinstance(values, str):  # a driver that returns arrays as text
            values = [float(v) for v in values.strip("{}").split(",")]
        values = list(values) if values is not None else [None] * len(fractions)
        for fraction, value in zip(fractions, values, strict=True):
            row[f"p{round(fraction * 100):02d}"] = None if value is None else float(value)
        for key in ("mean", "lo", "hi"):
            if row.get(key) is not None:
                row[key] = float(row[key])


# --- the questions ----------------------------------------------------------------------------


def _keys_to_names(rows: list[dict[str, Any]], clocks: Sequence = CLOCKS) -> None:
    """Integer group keys back to phase and clock keys."""
    for row in rows:
        row["phase"] = PHASE_KEYS[int(row.pop("pk"))]
        row["clock"] = clocks[int(row.pop("ord"))].key


def clock_sums(
    *,
    tenant_id: int,
    filters: Filters,
    lo: datetime,
    hi: datetime,
    split: datetime,
    targets: Sequence[TargetInterval],
    granularity: str,
    zone: str,
) -> list[dict[str, Any]]:
    """Per (cur, phase, clock, trend bucket): n, total, lo and hi (exact microseconds),
    judged, met, excluded, paused — one hashed GROUP BY (parallel on PostgreSQL).

    Sums, counts and extremes add up, so the period's figures and the trend both come from
    these rows (rolled up by the caller) without a second pass over the spans; the totals
    are exact integers, so the means are the same on every database.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown granularity {granularity!r}")
    _caught_up(tenant_id)
    d = dialect()
    q = Sql(d)
    spans_ctes(q, tenant_id=tenant_id, filters=filters, lo=lo, hi=hi, split=split, targets=targets)
    ok = f"st = {STATUS_OK}"
    sums = (
        f"SUM(CASE WHEN {ok} THEN 1 ELSE 0 END) AS n, "
        f"SUM(CASE WHEN {ok} THEN raw_u END) AS total_u, "
        f"MIN(CASE WHEN {ok} THEN raw_u END) AS lo_u, "
        f"MAX(CASE WHEN {ok} THEN raw_u END) AS hi_u, "
        f"SUM(CASE WHEN st <> {STATUS_OK} THEN 1 ELSE 0 END) AS excluded, "
        f"SUM(CASE WHEN {ok} AND target_s IS NOT NULL THEN 1 ELSE 0 END) AS judged, "
        f"SUM(CASE WHEN {ok} AND target_s IS NOT NULL AND {_met(d)} THEN 1 ELSE 0 END) AS met, "
        f"SUM(CASE WHEN {ok} AND paused_u > 0 THEN 1 ELSE 0 END) AS paused"
    )
    if isinstance(d, Postgres):
        # The bucket and the period of a row come from a join with the (few) bucket
        # intervals, found by binary search (width_bucket): the planner then knows there
        # are a few hundred groups and aggregates in parallel workers, where grouping on
        # expressions of the timestamp made it expect a group per row.
        intervals = bucket_intervals(lo, hi, split, granularity, _check_zone(zone))
        values = ", ".join(["(%s, %s, CAST(%s AS DATE))"] * len(intervals))
        thresholds = [start for start, _, _ in intervals] + [hi]
        params: list[Any] = []
        for index, (_, bucket_day, cur) in enumerate(intervals, start=1):
            params += [index, cur, bucket_day]
        q.add(f", bk (idx, cur, bucket) AS (VALUES {values})", *params)
        # Grouped by status too, so each aggregate is plain (no CASE per row and aggregate);
        # the measured and excluded rows of a group are put together below.
        q.add(
            "SELECT bk.cur, spans.pk, spans.ord, bk.bucket, spans.st, COUNT(*) AS n, "
            "SUM(raw_u) AS total_u, MIN(raw_u) AS lo_u, MAX(raw_u) AS hi_u, "
            f"COUNT(target_s) AS judged, COUNT(*) FILTER (WHERE {_met(d)}) AS met, "
            "COUNT(*) FILTER (WHERE paused_u > 0) AS paused FROM spans JOIN bk "
            "ON bk.idx = width_bucket(spans.at, CAST(%s AS TIMESTAMPTZ[])) "
            "GROUP BY bk.cur, spans.pk, spans.ord, bk.bucket, spans.st",
            [d.param(t) for t in thresholds],
        )
        rows = _by_status(_rows(q))
    else:
        bucket = d.bucket("m", granularity, _check_zone(zone))
        q.add(
            f", sb AS (SELECT cur, pk, ord, st, raw_u, paused_u, target_s, "
            f"CASE WHEN st = {STATUS_OK} THEN {bucket} END AS bucket FROM spans)"
        )
        q.add(f"SELECT cur, pk, ord, bucket, {sums} FROM sb GROUP BY cur, pk, ord, bucket")
        rows = _rows(q)
    _keys_to_names(rows)
    for row in rows:
        row["bucket"] = None if row["bucket"] is None else _as_date(row["bucket"])
        for key in ("n", "total_u", "lo_u", "hi_u", "excluded", "judged", "met", "paused"):
            row[key] = None if row[key] is None else int(row[key])
    return rows


def _by_status(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows per (cur, pk, ord, bucket, status) as `clock_sums` rows: the measured row's
    figures, and the count of the others as `excluded`."""
    merged: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["cur"], row["pk"], row["ord"], row["bucket"])
        into = merged.setdefault(
            key,
            dict(zip(("cur", "pk", "ord", "bucket"), key, strict=True))
            | dict.fromkeys(("n", "total_u", "lo_u", "hi_u", "judged", "met", "paused"))
            | {"excluded": 0},
        )
        if int(row["st"]) == STATUS_OK:
            for name in ("n", "total_u", "lo_u", "hi_u", "judged", "met", "paused"):
                into[name] = row[name]
        else:
            into["excluded"] += int(row["n"])
    for row in merged.values():
        row["n"] = row["n"] or 0
        for name in ("judged", "met", "paused"):
            row[name] = row[name] or 0
    return list(merged.values())


def clock_percentiles(
    *,
    tenant_id: int,
    filters: Filters,
    lo: datetime,
    hi: datetime,
    split: datetime,
    targets: Sequence[TargetInterval],
    window: bool = False,
) -> list[dict[str, Any]]:
    """Per (cur, phase, clock): p10, p25, p50, p75, p90 of the measured raw spans (seconds)."""
    _caught_up(tenant_id)
    d = dialect(window)
    q = Sql(d)
    spans_ctes(
        q,
        tenant_id=tenant_id,
        filters=filters,
        lo=lo,
        hi=hi,
        split=split,
        targets=targets,
        materialized=not d.native_percentiles,
        measured_only=True,
    )
    q.add(", ms AS (SELECT cur, pk, ord, raw_u FROM spans)")
    _stats_select(
        q,
        source="ms",
        groups=("cur", "pk", "ord"),
        measured="1 = 1",
        units="raw_u",
        extra=(),
        fractions=FRACTIONS,
        percentiles_only=True,
    )
    rows = _rows(q, parallel=True)
    _with_percentiles(rows, FRACTIONS)
    _keys_to_names(rows)
    return rows


def lateral_percentiles_apply(filters: Filters, window: bool = False) -> bool:
    """Whether `lateral_percentiles` can answer: PostgreSQL, and no filter but phases and
    severities (what the `case_span_values` index holds)."""
    return (
        not window
        and connection.vendor == "postgresql"
        and Filters(phases=filters.phases, severities=filters.severities) == filters
    )


def lateral_percentiles(
    *, tenant_id: int, filters: Filters, lo: datetime, hi: datetime, split: datetime
) -> list[dict[str, Any]]:
    """`clock_percentiles` by one `percentile_cont` per (period, phase, clock), each fed by
    an index-only range scan of its own spans (`case_span_values`): no sort of every span
    of the window by group, no hand-over of millions of rows between processes, and the
    work is proportional to the window, not to the tenant's history. The same aggregate,
    so exactly the same figures."""
    _caught_up(tenant_id)
    d = dialect()
    phases = [PHASE_KEYS.index(p) for p in filters.phases if p in PHASE_KEYS]
    if not filters.phases:
        phases = list(range(len(PHASE_KEYS)))
    groups, params = [], []
    for cur, (start, end) in ((0, (lo, split)), (1, (split, hi))):
        for pk in phases:
            for ord_ in range(len(CLOCKS)):
                groups.append("(%s, %s, %s, CAST(%s AS TIMESTAMPTZ), CAST(%s AS TIMESTAMPTZ))")
                params += [cur, pk, ord_, d.param(start), d.param(end)]
    if not groups:
        return []
    severity = ""
    if filters.severities:
        keys = [SEVERITY_KEYS.index(v) if v in SEVERITY_KEYS else -1 for v in filters.severities]
        severity = f" AND s.severity_key IN ({', '.join(str(k) for k in keys)})"
    q = Sql(d)
    q.add(f"WITH g (cur, pk, ord, lo, hi) AS (VALUES {', '.join(groups)})", *params)
    q.add(
        "SELECT g.cur, g.pk, g.ord, v.n, v.ps FROM g CROSS JOIN LATERAL (SELECT COUNT(*) AS n, "
        f"{d.percentiles(d.seconds('s.raw_u'), FRACTIONS)} AS ps "
        f"FROM {_tables()['span']} s WHERE s.tenant_id = %s AND s.status = {STATUS_OK} "
        f"AND s.clock = g.ord AND s.phase_key = g.pk AND s.at >= g.lo AND s.at < g.hi{severity}"
        ") v WHERE v.n > 0",
        tenant_id,
    )
    rows = _rows(q)
    _with_percentiles(rows, FRACTIONS)
    _keys_to_names(rows)
    return rows


def _as_date(value: Any) -> date:
    """A trend bucket as read back: a timestamp (PostgreSQL) or ISO text (SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _span_query(
    *,
    tenant_id: int,
    filters: Filters,
    start: datetime,
    end: datetime,
    targets: Sequence[TargetInterval],
    only: str = "",
    limit: int | None = None,
    with_reasons: bool = False,
) -> Sql:
    _caught_up(tenant_id)
    d = dialect()
    q = Sql(d)
    spans_ctes(
        q, tenant_id=tenant_id, filters=filters, lo=start, hi=end, split=start, targets=targets
    )
    tables = _tables()
    reasons = ""
    params: list[Any] = []
    if with_reasons:
        changes = d.string_agg(
            f"{tables['change']} mc",
            "mc.tenant_id = %s AND mc.case_id = s.id "
            f"AND mc.milestone = {_ord_case('s.ord', [c.milestone for c in CLOCKS])} "
            "AND mc.kind IN ('corrected', 'reopened') AND mc.reason <> ''",
            "mc.kind || ': ' || mc.reason",
            "mc.at, mc.id",
        )
        pauses = d.string_agg(
            f"{tables['pause']} pr",
            "pr.tenant_id = %s AND pr.case_id = s.id AND pr.started_at < s.m AND pr.reason <> ''",
            "'paused: ' || pr.reason",
            "pr.started_at, pr.id",
        )
        reasons = f", {changes} AS change_reasons, {pauses} AS pause_reasons"
        params = [tenant_id, tenant_id]
    where = "s.cur = 1"
    order = "c.number, s.ord"
    if only == "breaches":
        where += f" AND s.st = {STATUS_OK} AND s.target_s IS NOT NULL AND NOT {_met(d, 's')}"
        order = f"(s.raw_u - s.paused_u) - s.target_s * {d.units_per_second} DESC, c.number, s.ord"
    elif only == "findings":
        where += f" AND s.st <> {STATUS_OK}"
    elif only:
        raise ValueError(f"unknown selection {only!r}")
    q.add(
        "SELECT s.id, c.number, c.phase, c.severity, "
        f"{_ord_case('s.ord', [c.key for c in CLOCKS])} AS clock, s.st AS status, "
        f"{d.epoch_micros('s.detected_at')} AS detected_at, "
        f"{d.epoch_micros('s.m')} AS milestone_at, {d.seconds('s.raw_u')} AS raw_seconds, "
        f"{d.seconds('s.paused_u')} AS paused_seconds, "
        f"{d.seconds('s.raw_u - s.paused_u')} AS sla_seconds, s.target_s AS target_seconds, "
        f"CASE WHEN s.st = {STATUS_OK} AND s.target_s IS NOT NULL THEN "
        f"CASE WHEN {_met(d, 's')} THEN 1 ELSE 0 END END AS met{reasons} "
        f"FROM spans s JOIN {tables['case']} c ON c.id = s.id AND c.tenant_id = %s "
        f"WHERE {where} ORDER BY {order}",
        *params,
        tenant_id,
    )
    if limit is not None:
        q.add("LIMIT %s", limit)
    return q


def _span_dict(names: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    item = dict(zip(names, row, strict=True))
    item["status"] = STATUS_NAMES[int(item["status"])]
    for key in ("detected_at", "milestone_at"):
        item[key] = _as_datetime(item[key])
    return item


def span_rows(**kwargs: Any) -> list[dict[str, Any]]:
    """The per-case spans behind the figures of [start, end), for the report's lists.

    `only`: "" (every row), "breaches" (measured, judged, target missed, worst first),
    "findings" (missing and negative rows); `with_reasons` adds the reasons recorded on the
    case (corrections and reopenings of the milestone, pauses before it)."""
    q = _span_query(**kwargs)
    return [_span_dict(list(row), list(row.values())) for row in _rows(q)]


def iter_span_rows(*, chunk: int = 5000, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """`span_rows`, streamed from a server-side cursor (a year of cases for the CSV export
    never sits in memory at once)."""
    q = _span_query(**kwargs)
    # PostgreSQL needs the transaction for SET LOCAL; on SQLite it would take the write lock
    # for the length of a download.
    postgres = isinstance(q.d, Postgres)
    with transaction.atomic() if postgres else nullcontext(), connection.chunked_cursor() as cursor:
        with connection.cursor() as settings:
            _settings(settings, q.d)
        cursor.execute(q.text, q.params)
        names = [column[0] for column in cursor.description]
        while rows := cursor.fetchmany(chunk):
            for row in rows:
                yield _span_dict(names, row)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _as_datetime(value: Any) -> datetime | None:
    """A timestamp as read back from raw SQL: microseconds since the epoch (the lists:
    `Dialect.epoch_micros`, exact and many times cheaper for the driver than a timestamp),
    aware on PostgreSQL, UTC text on SQLite."""
    if isinstance(value, int):
        return EPOCH + timedelta(microseconds=value)
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def _open_ctes(
    q: Sql, *, tenant_id: int, filters: Filters, now: datetime, targets: Sequence[TargetInterval]
) -> None:
    """`WITH ... run`: every running SLA clock of the open cases, with its SLA span at `now`
    (paused time subtracted) and its target (clocks without a target are left out)."""
    d = q.d
    q.add("WITH")
    _targets_cte(q, targets)
    q.add(
        # `now_at` is a column so that expressions repeating it carry no extra parameters.
        ", nowc AS (SELECT %s AS now_at)"
        if isinstance(d, Sqlite)
        else ", nowc AS (SELECT CAST(%s AS TIMESTAMPTZ) AS now_at)",
        now,
    )
    _base_cte(
        q,
        tenant_id,
        filters,
        columns="c.title, c.paused_at, nowc.now_at",
        where="c.status <> 'closed' AND c.detected_at <= nowc.now_at",
        join="CROSS JOIN nowc",
    )
    _clocks_cte(q, SLA_CLOCKS)
    _pause_pieces_cte(q, tenant_id)
    _paused_by_case_cte(q, tenant_id, {"now": "nowc.now_at"}, also_from=" CROSS JOIN nowc")
    unpivot, milestone = d.unpivot("b", SLA_CLOCKS)
    q.add(
        ", x AS (SELECT b.id, b.number, b.title, b.phase, b.pk, b.severity, b.sk, "
        f"b.detected_at, b.paused_at, b.now_at, k.ord FROM base b {unpivot} "
        f"WHERE {milestone} IS NULL)"
    )
    q.add(
        ", run AS (SELECT x.*, "
        f"{d.units_between('x.now_at', 'x.detected_at')} - COALESCE(pz.p_now, 0) AS sla_u, "
        "COALESCE(pz.p_now, 0) AS paused_u, t.target_s "
        "FROM x LEFT JOIN pz ON pz.id = x.id "
        "JOIN targets t ON t.tk = x.pk * 100 + x.sk * 10 + x.ord "
        "AND x.detected_at >= t.valid_from AND x.detected_at < t.valid_to "
        "WHERE t.target_s IS NOT NULL)"
    )


def open_breach_counts(
    *, tenant_id: int, filters: Filters, now: datetime, targets: Sequence[TargetInterval]
) -> dict[tuple[str, str], int]:
    """{(phase, clock): open cases whose running SLA clock is past its target at `now`}."""
    d = dialect()
    q = Sql(d)
    _open_ctes(q, tenant_id=tenant_id, filters=filters, now=now, targets=targets)
    q.add(
        "SELECT pk, ord, COUNT(*) AS n FROM run "
        f"WHERE sla_u > target_s * {d.units_per_second} GROUP BY pk, ord"
    )
    rows = _rows(q)
    _keys_to_names(rows)
    return {(row["phase"], row["clock"]): int(row["n"]) for row in rows}


def open_clock_rows(
    *,
    tenant_id: int,
    filters: Filters,
    now: datetime,
    targets: Sequence[TargetInterval],
    fraction: float,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Running clocks at or past `fraction` of their target at `now`, most overdue first:
    breaches in progress (past 100 %) and clocks at risk."""
    d = dialect()
    q = Sql(d)
    _open_ctes(q, tenant_id=tenant_id, filters=filters, now=now, targets=targets)
    ratio = f"({d.seconds('sla_u')} / NULLIF(target_s, 0))"
    q.add(
        "SELECT id, number, title, phase, severity, "
        f"{_ord_case('ord', [c.key for c in CLOCKS])} AS clock, "
        f"{d.epoch_micros('detected_at')} AS detected_at, "
        f"{d.epoch_micros('paused_at')} AS paused_at, target_s, "
        f"{d.seconds('sla_u')} AS elapsed_seconds, {d.seconds('paused_u')} AS paused_seconds, "
        f"CASE WHEN sla_u > target_s * {d.units_per_second} THEN 1 ELSE 0 END AS breached "
        f"FROM run WHERE sla_u >= {d.float_lit(fraction)} * target_s * {d.units_per_second} "
        f"ORDER BY {ratio} DESC, number, ord"
    )
    if limit is not None:
        q.add("LIMIT %s", limit)
    rows = _rows(q)
    for row in rows:
        row["detected_at"] = _as_datetime(row["detected_at"])
        row["paused_at"] = _as_datetime(row["paused_at"])
        row["breached"] = bool(row["breached"])
    return rows


def dwell_stats(
    *,
    tenant_id: int,
    filters: Filters,
    lo: datetime,
    hi: datetime,
    split: datetime,
    window: bool = False,
) -> list[dict[str, Any]]:
    """Per (cur, phase): dwell time of the cases detected in [lo, hi) whose earliest
    observation referenced by their alerts precedes detection."""
    d = dialect(window)
    q = Sql(d)
    tables = _tables()
    q.add(
        f"WITH base AS (SELECT c.id, {_index_case('c.phase', PHASE_KEYS)} AS pk, c.detected_at, "
        "CASE WHEN c.detected_at >= %s THEN 1 ELSE 0 END AS cur "
        f"FROM {tables['case']} c WHERE c.tenant_id = %s AND c.merged_into_id IS NULL "
        f"AND c.resolution NOT IN ({_quote_list(UNMEASURED_RESOLUTIONS)}) "
        "AND c.detected_at >= %s AND c.detected_at < %s",
        split,
        tenant_id,
        lo,
        hi,
    )
    _case_filters(q, tenant_id, filters)
    q.add(
        "), fa AS (SELECT al.case_id, MIN(o.observed_at) AS first_at "
        f"FROM {tables['alert']} al JOIN {tables['observation']} o ON o.tenant_id = %s "
        f"AND o.id = {d.json_int('al.raw', 'observation_id')} "
        "WHERE al.tenant_id = %s AND al.case_id IN (SELECT id FROM base) GROUP BY al.case_id)",
        tenant_id,
        tenant_id,
    )
    q.add(
        f", dw AS {'MATERIALIZED ' if not d.native_percentiles else ''}(SELECT b.cur, b.pk, "
        f"{d.units_between('b.detected_at', 'fa.first_at')} AS u "
        "FROM base b JOIN fa ON fa.case_id = b.id WHERE fa.first_at <= b.detected_at)"
    )
    _stats_select(
        q,
        source="dw",
        groups=("cur", "pk"),
        measured="1 = 1",
        units="u",
        extra=(),
        fractions=(0.5, 0.9),
    )
    rows = _rows(q)
    _with_percentiles(rows, (0.5, 0.9))
    for row in rows:
        row["phase"] = PHASE_KEYS[int(row.pop("pk"))]
    return rows
