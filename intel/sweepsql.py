# ruff: noqa: S608 - SQL is composed from our own table/column names; values are parameters
"""The set-wise matching SQL: per IOC family, one statement joining observations with terms.

A *term source* is where the values come from (a sweep's frozen `intel_sweepterm` rows, or
the tenant's matchable IOCs for continuous matching); a *scope* is which observations are
looked at (a chunk's endpoint id range and time window, or one telemetry batch). For each
family, `family_select` returns one statement that yields one aggregated row per
(IOC, endpoint): first and last seen, the first observation id, how many observations.
Nothing here loops over IOCs or rows. The cmdline family is the exception to SQL: its
substrings and `re:` patterns run as one RE2 set (bounded, linear time) over the chunk's
command lines, reading each line once (`intel.services.sweeps._cmdline_hits`).

Both databases get the same joins; only a few expressions differ (documented inline).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.db import connection

from intel.matching import MAX_DOMAIN_LABELS, MAX_HEADER_BYTES

# (IOC type, observation column) pairs compared on equality or LIKE, by family.
_HASH_COLUMNS = (("md5", "md5"), ("sha1", "sha1"), ("sha256", "sha256"))
_ADDRESS_COLUMNS = ("remote_ip", "source_ip")
_DOMAIN_COLUMNS = ("dns_query", "remote_hostname")
_NAME_COLUMNS = (
    ("file_name", "file_name"),
    ("file_name", "process_name"),
    ("file_path", "file_path"),
    ("file_path", "process_path"),
    ("file_path", "target_path"),
    ("registry_key", "registry_key"),
)
TERM_COLUMNS = "t.ioc_ref, t.key, t.type"


def observation_table() -> str:
    return apps.get_model("endpoints", "Observation")._meta.db_table


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _numbers(first: int, last: int) -> str:
    """A tiny inline table of integers (portable: no generate_series on SQLite)."""
    return "(" + " UNION ALL ".join(f"SELECT {i} AS i" for i in range(first, last + 1)) + ")"


@dataclass
class TermSource:
    """Where the looked-for values come from: a table and a filter on alias `t`.

    The table exposes `ioc_ref` (the IOC id or NULL), key, type, value and the match keys.
    """

    table: str
    where: str
    params: list = field(default_factory=list)


@dataclass
class Scope:
    """Which observations are looked at: a filter on alias `o` of `table` (the observation
    table, or a temporary copy of one chunk's rows)."""

    where: str
    params: list = field(default_factory=list)
    table: str = ""

    @property
    def relation(self) -> str:
        return self.table or _q(observation_table())


def sweep_terms(tenant_id: int, sweep_id: int) -> TermSource:
    table = f"(SELECT ioc_id AS ioc_ref, * FROM {_q('intel_sweepterm')})"
    return TermSource(table, "t.tenant_id = %s AND t.sweep_id = %s", [tenant_id, sweep_id])


def matchable_iocs(tenant_id: int, at: datetime) -> TermSource:
    table = f"(SELECT id AS ioc_ref, * FROM {_q('intel_ioc')})"
    return TermSource(
        table,
        "t.tenant_id = %s AND t.revoked = %s AND t.suppressed = %s AND t.valid_from <= %s "
        "AND (t.valid_until IS NULL OR t.valid_until > %s)",
        [tenant_id, False, False, at, at],
    )


def chunk_scope(
    tenant_id: int,
    endpoint_lo: int,
    endpoint_hi: int,
    endpoint_ids: Iterable[int] | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> Scope:
    where = ["o.tenant_id = %s", "o.endpoint_id BETWEEN %s AND %s"]
    params: list = [tenant_id, endpoint_lo, endpoint_hi]
    if endpoint_ids is not None:
        ids = list(endpoint_ids)
        where.append(f"o.endpoint_id IN ({', '.join(['%s'] * len(ids))})" if ids else "1 = 0")
        params += ids
    if window_start is not None:
        where.append("o.observed_at >= %s")
        params.append(window_start)
    if window_end is not None:
        where.append("o.observed_at < %s")
        params.append(window_end)
    return Scope(" AND ".join(where), params)


# The observation columns a chunk's matching reads (the temporary copy holds only these).
MATCH_COLUMNS = (
    "md5",
    "sha1",
    "sha256",
    "remote_ip",
    "source_ip",
    "dns_query",
    "remote_hostname",
    "file_name",
    "process_name",
    "file_path",
    "process_path",
    "target_path",
    "registry_key",
    "header_hex",
    "command_line",
)


def copy_rows_sql(name: str, scope: Scope) -> tuple[str, list]:
    """A temporary table of the scope's rows, with the columns matching reads."""
    columns = ", ".join(f"o.{c}" for c in MATCH_COLUMNS)
    return (
        f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS "
        f"SELECT o.id, o.endpoint_id, o.observed_at, {columns} "
        f"FROM {scope.relation} o WHERE {scope.where}",
        list(scope.params),
    )


def batch_scope(tenant_id: int, batch_id: int) -> Scope:
    return Scope("o.tenant_id = %s AND o.batch_id = %s", [tenant_id, batch_id])


def everything_scope(tenant_id: int) -> Scope:
    return Scope("o.tenant_id = %s", [tenant_id])


# --- one SELECT per (type, column) pair; a family statement is their UNION ALL ---------------
def _select(
    terms: TermSource, scope: Scope, column: str, join: str, extra: str = "", cross: str = ""
) -> tuple[str, list]:
    sql = (
        f"SELECT {TERM_COLUMNS}, o.endpoint_id, o.id AS obs_id, '{column}' AS field, "
        f"o.observed_at FROM {scope.relation} o {cross} "
        f"JOIN {terms.table} t ON {join} "
        f"WHERE {terms.where} AND {scope.where} AND o.{column} IS NOT NULL {extra}"
    )
    return sql, [*terms.params, *scope.params]


def _hash_selects(terms: TermSource, scope: Scope) -> list[tuple[str, list]]:
    return [
        _select(terms, scope, column, f"t.match_value = o.{column} AND t.type = '{ioc_type}'")
        for ioc_type, column in _HASH_COLUMNS
    ]


def _address_selects(terms: TermSource, scope: Scope) -> list[tuple[str, list]]:
    selects = []
    for column in _ADDRESS_COLUMNS:
        if _is_postgres():
            # inet = cidr(/32 or /128) for single addresses (hash-joinable), inet <<= cidr
            # for networks (the GiST index on the terms' network column serves it).
            exact = f"o.{column} = t.network AND t.type IN ('ipv4', 'ipv6')"
            within = f"o.{column} <<= t.network AND t.type = 'cidr'"
        else:
            # SQLite has no inet type: the same containment on fixed-width hex.
            exact = f"t.match_value = o.{column} AND t.type IN ('ipv4', 'ipv6')"
            within = f"sc_ip_hex(o.{column}) BETWEEN t.ip_lo AND t.ip_hi AND t.type = 'cidr'"
        selects.append(_select(terms, scope, column, exact))
        selects.append(_select(terms, scope, column, within))
    return selects


def _domain_suffix_sql(column: str) -> str:
    if _is_postgres():
        return f"array_to_string((string_to_array(o.{column}, '.'))[n.i + 1:], '.')"
    return f"sc_domain_suffix(o.{column}, n.i)"


def _domain_selects(terms: TermSource, scope: Scope) -> list[tuple[str, list]]:
    # Every suffix of the observed name (label boundaries only) is joined on equality, so
    # cdn.evil.example meets an IOC evil.example without a LIKE per pair.
    numbers = f"CROSS JOIN {_numbers(0, MAX_DOMAIN_LABELS - 1)} n"
    return [
        _select(
            terms,
            scope,
            column,
            f"t.match_value = {_domain_suffix_sql(column)} AND t.family = 'domain' "
            f"AND (n.i = 0 OR t.domain_exact = %s)",
            # only suffixes of two labels or more: i < the number of dots
            extra=f"AND n.i < length(o.{column}) - length(replace(o.{column}, '.', ''))",
            cross=numbers,
        )
        for column in _DOMAIN_COLUMNS
    ]


def _name_selects(terms: TermSource, scope: Scope) -> list[tuple[str, list]]:
    # Exact names, paths and keys; their globs run as one RE2 set (`glob_terms_sql`).
    return [
        _select(terms, scope, column, f"t.match_value = o.{column} AND t.type = '{ioc_type}'")
        for ioc_type, column in _NAME_COLUMNS
    ]


def _header_selects(terms: TermSource, scope: Scope) -> list[tuple[str, list]]:
    numbers = f"CROSS JOIN {_numbers(1, MAX_HEADER_BYTES)} n"
    return [
        _select(
            terms,
            scope,
            "header_hex",
            "t.match_value = substr(o.header_hex, 1, 2 * n.i) AND t.family = 'header'",
            extra="AND 2 * n.i <= length(o.header_hex)",
            cross=numbers,
        )
    ]


def _cmdline_selects(terms: TermSource, scope: Scope) -> list[tuple[str, list]]:
    find = "strpos" if _is_postgres() else "instr"
    return [
        _select(
            terms,
            scope,
            "command_line",
            f"t.family = 'cmdline' AND t.needle IS NOT NULL "
            f"AND {find}(lower(o.command_line), t.needle) > 0",
        )
    ]


_BUILDERS = {
    "hash": _hash_selects,
    "address": _address_selects,
    "domain": _domain_selects,
    "name": _name_selects,
    "header": _header_selects,
    "cmdline": _cmdline_selects,
}
# The families matched by a SQL join; cmdline is matched by one RE2 set pass over the
# distinct command lines (`cmdline_terms_sql`, `distinct_values_sql`): a join on substrings is a
# nested loop. `_cmdline_selects` stays for the benchmark's one-statement baseline.
FAMILY_ORDER = ("hash", "address", "domain", "name", "header")


def family_select(family: str, terms: TermSource, scope: Scope) -> tuple[str, list]:
    """One statement: the family's matches aggregated per (IOC key, endpoint)."""
    parts = _BUILDERS[family](terms, scope)
    union = " UNION ALL ".join(sql for sql, _ in parts)
    params: list = []
    for sql, part_params in parts:
        # The domain join carries one %s (domain_exact = false) before the WHERE params.
        if "t.domain_exact = %s" in sql:
            params.append(False)
        params.extend(part_params)
    sql = (
        "SELECT MAX(m.ioc_ref) AS ioc_id, m.key, m.type, m.endpoint_id, MIN(m.obs_id), "
        "MIN(m.field), MIN(m.observed_at), MAX(m.observed_at), COUNT(*) "
        f"FROM ({union}) m WHERE 1 = 1 GROUP BY m.key, m.type, m.endpoint_id"
    )
    return sql, params


HIT_COLUMNS = (
    "ioc_id, ioc_key, ioc_type, endpoint_id, observation_id, matched_field, "
    "first_seen, last_seen, observations_count"
)


def insert_hits_sql(
    family: str,
    terms: TermSource,
    scope: Scope,
    tenant_id: int,
    sweep_id: int,
    created_at: datetime,
) -> tuple[str, list]:
    """INSERT the family's matches as hits; a hit already there is left alone (idempotent)."""
    select, params = family_select(family, terms, scope)
    sql = (
        f"INSERT INTO {_q('intel_hit')} (tenant_id, sweep_id, created_at, {HIT_COLUMNS}) "
        f"SELECT %s, %s, %s, s.* FROM ({select}) s WHERE 1 = 1 "
        "ON CONFLICT (tenant_id, sweep_id, ioc_key, endpoint_id) DO NOTHING"
    )
    return sql, [tenant_id, sweep_id, created_at, *params]


# Glob terms by the observation columns their type is compared with.
GLOB_COLUMNS = {
    "file_name": ("file_name", "process_name"),
    "file_path": ("file_path", "process_path", "target_path"),
    "registry_key": ("registry_key",),
}


def glob_terms_sql(terms: TermSource) -> tuple[str, list]:
    return (
        f"SELECT t.ioc_ref, t.key, t.type, t.pattern FROM {terms.table} t "
        f"WHERE {terms.where} AND t.family = 'name' AND t.pattern IS NOT NULL ORDER BY t.id",
        list(terms.params),
    )


def distinct_values_sql(scope: Scope, column: str) -> tuple[str, list]:
    return (
        f"SELECT DISTINCT o.{column} FROM {scope.relation} o "
        f"WHERE {scope.where} AND o.{column} IS NOT NULL",
        list(scope.params),
    )


def value_rows_sql(scope: Scope, column: str, values: list[str]) -> tuple[str, list]:
    """The rows holding some of `values` in `column`, aggregated per (value, endpoint)."""
    marks = ", ".join(["%s"] * len(values))
    return (
        f"SELECT o.{column}, o.endpoint_id, MIN(o.id), MIN(o.observed_at), MAX(o.observed_at), "
        f"COUNT(*) FROM {scope.relation} o WHERE {scope.where} "
        f"AND o.{column} IN ({marks}) GROUP BY o.{column}, o.endpoint_id",
        [*scope.params, *values],
    )


def cmdline_terms_sql(terms: TermSource) -> tuple[str, list]:
    return (
        f"SELECT t.ioc_ref, t.key, t.type, t.value, t.needle FROM {terms.table} t "
        f"WHERE {terms.where} AND t.family = 'cmdline' ORDER BY t.id",
        list(terms.params),
    )


def bare_join_sql(terms: TermSource, scope: Scope, families: Iterable[str] = FAMILY_ORDER):
    """The distinct (IOC key, endpoint) matches of the families in ONE statement: the
    benchmark's floor (no chunks, no aggregation of first/last seen, nothing stored)."""
    parts = []
    params: list = []
    for family in families:
        for sql, part_params in _BUILDERS[family](terms, scope):
            if "t.domain_exact = %s" in sql:
                params.append(False)
            parts.append(sql)
            params.extend(part_params)
    union = " UNION ALL ".join(parts)
    return f"SELECT DISTINCT m.key, m.endpoint_id FROM ({union}) m", params
