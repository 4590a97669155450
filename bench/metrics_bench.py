"""Metrics at scale: a year of 1,000,000 cases, the full metrics query and a 12-month PDF.

    createdb -h 127.0.0.1 -U stopclock_owner stopclock_bench_metrics          # once
    DATABASE_URL=postgres://stopclock_owner@127.0.0.1:5432/stopclock_bench_metrics \\
        python -m bench metrics [--cases=1000000] [--runs=5] [--regenerate]

What it does, in one run on one PostgreSQL database (its name must contain "bench"):

1. migrates, then generates N cases spread over the last 365 days in the tenant
   "bench-metrics" with one `INSERT ... SELECT FROM generate_series` (outside the timings;
   reused by later runs unless `--regenerate`): 80 % closed at triage as false positive or
   benign, 19 % true positives through remediation and closure, 0.5 % duplicates, 0.5 %
   still open; severities and phases mixed; exponential step durations that breach their
   targets a few per cent of the time; 3 % of true positives paused once; 1 % without a
   scoping milestone and 0.05 % with containment before detection (data-quality findings);
   then brings the span projection up to date (after a bulk reload: VACUUM FULL and
   VACUUM ANALYZE of it, as after any bulk load) and times the catch-up after 1,000 case
   writes;
2. **the full metrics query for the year** — what `GET /api/v1/metrics/mttr/` computes:
   every phase x clock with the previous year, breaches in progress, the monthly trend and
   dwell — median of `--runs` runs;
3. **its baseline**: the same figures computed by loading every case's milestones and
   pauses into Python and measuring them with `metrics.clocks` (one run), then checks that
   both give the same counts, medians, 90th percentiles, means and compliance;
4. **a 12-month PDF report** as the worker renders it (figures, breach list, findings,
   clocks at risk, regulatory deadlines, charts, WeasyPrint PDF/A-3b with the complete lists
   attached) — median of 3 — next to its baseline (the baseline figures plus the same
   rendering).

Figures are printed as seconds and as ratios to the baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

TENANT_SLUG = "bench-metrics"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench metrics")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    return parser.parse_known_args(argv)[0]


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    import django

    django.setup()


# --- data -------------------------------------------------------------------------------------

GENERATE_SQL = """
WITH g AS (
    SELECT n,
           %(start)s::timestamptz + (n::float8 / %(count)s) * interval '365 days'
               + random() * interval '20 minutes' AS d,
           random() AS r_phase, random() AS r_sev, random() AS r_kind, random() AS r_fp,
           -ln(1 - random()) AS e1, -ln(1 - random()) AS e2, -ln(1 - random()) AS e3,
           -ln(1 - random()) AS e4, -ln(1 - random()) AS e5, random() AS r_odd
    FROM generate_series(1, %(count)s) AS n
), c AS (
    SELECT g.*,
           CASE WHEN r_phase < 0.6 THEN 'initial_infection'
                WHEN r_phase < 0.85 THEN 'persistence' ELSE 'lateral_movement' END AS phase,
           CASE WHEN r_sev < 0.05 THEN 'critical' WHEN r_sev < 0.25 THEN 'high'
                WHEN r_sev < 0.6 THEN 'medium' WHEN r_sev < 0.9 THEN 'low' ELSE 'info' END
               AS severity,
           CASE WHEN r_kind < 0.8 THEN 'fp' WHEN r_kind < 0.99 THEN 'tp'
                WHEN r_kind < 0.995 THEN 'dup' ELSE 'open' END AS kind
    FROM g
), t AS (
    SELECT c.*,
           CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 8 WHEN 'medium' THEN 24
                WHEN 'low' THEN 72 ELSE 168 END AS contain_h,
           CASE severity WHEN 'critical' THEN 24 WHEN 'high' THEN 72 WHEN 'medium' THEN 168
                WHEN 'low' THEN 720 ELSE 2160 END AS remediate_h,
           CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2
                WHEN 'low' THEN 1 ELSE 0 END AS rank,
           d + (2 + 4 * e1) * interval '1 minute' AS tri
    FROM c
), m AS (
    SELECT t.*,
           tri + (8 + 13 * e2) * interval '1 minute' AS sco,
           CASE WHEN kind = 'tp' AND r_odd < 0.0005 THEN d - interval '1 hour'
                ELSE tri + (8 + 13 * e2) * interval '1 minute'
                     + contain_h * 0.3 * e3 * interval '1 hour' END AS con
    FROM t
), f AS (
    SELECT m.*,
           GREATEST(con, sco) + remediate_h * 0.22 * e4 * interval '1 hour' AS rem
    FROM m
)
INSERT INTO cases_case (
    tenant_id, number, year, seq, title, description, severity, severity_rank, tlp, phase,
    status, resolution, detected_at, triaged_at, scoped_at, contained_at, remediated_at,
    closed_at, paused_at, sla_due_at, sla_risk_at, sla_breached, version, created_at,
    updated_at
)
SELECT %(tenant)s, 'BENCH-' || n, 2026, n, 'bench case ' || n, '', severity, rank, 'amber',
       phase,
       CASE WHEN kind = 'open' OR (kind = 'tp' AND rem + 2 * e5 * interval '1 hour' > %(now)s)
            THEN 'investigating' ELSE 'closed' END,
       CASE WHEN kind = 'open' OR (kind = 'tp' AND rem + 2 * e5 * interval '1 hour' > %(now)s)
            THEN ''
            WHEN kind = 'fp' THEN CASE WHEN r_fp < 0.7 THEN 'false_positive' ELSE 'benign' END
            WHEN kind = 'dup' THEN 'duplicate' ELSE 'true_positive' END,
       d,
       CASE WHEN kind = 'open' THEN NULL ELSE tri END,
       CASE WHEN kind = 'tp' AND r_odd BETWEEN 0.001 AND 0.011 THEN NULL
            WHEN kind = 'tp' AND sco <= %(now)s THEN sco END,
       CASE WHEN kind = 'tp' AND con <= %(now)s THEN con END,
       CASE WHEN kind = 'tp' AND rem + 2 * e5 * interval '1 hour' <= %(now)s THEN rem END,
       CASE WHEN kind = 'tp' AND rem + 2 * e5 * interval '1 hour' <= %(now)s
                THEN rem + 2 * e5 * interval '1 hour'
            WHEN kind IN ('fp', 'dup') THEN tri + 30 * e5 * interval '1 minute' END,
       NULL, NULL, NULL, false, 1, d, d
FROM f
"""

PAUSE_SQL = """
INSERT INTO cases_casepause (tenant_id, case_id, started_at, ended_at, reason)
SELECT c.tenant_id, c.id,
       c.detected_at + (c.contained_at - c.detected_at) * 0.3,
       c.detected_at + (c.contained_at - c.detected_at) * 0.3
           + (1 + 3 * random()) * interval '1 hour',
       'bench: waiting on a third party'
FROM cases_case c
WHERE c.tenant_id = %(tenant)s AND c.resolution = 'true_positive'
  AND c.contained_at > c.detected_at AND c.id %% 33 = 0
"""


def _tenant():
    from tenancy.models import Tenant
    from tenancy.services import tenant_create

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    return tenant or tenant_create(slug=TENANT_SLUG, name="Bench metrics")


def generate(count: int, regenerate: bool) -> tuple[object, float, bool]:
    """The bench tenant with `count` cases (made now, or reused)."""
    from django.db import connection, transaction

    from cases.models import Case, CasePause
    from tenancy.context import tenant_context

    tenant = _tenant()
    with tenant_context(tenant):
        existing = Case.objects.count()
        if existing == count and not regenerate:
            return tenant, 0.0, False
        started = time.perf_counter()
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        with transaction.atomic():
            CasePause.objects.all()._raw_delete(CasePause.objects.db)
            Case.objects.all()._raw_delete(Case.objects.db)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
                cursor.execute("SELECT setseed(0.42)")
                params = {
                    "tenant": tenant.pk,
                    "count": count,
                    "start": now - timedelta(days=365),
                    "now": now,
                }
                cursor.execute(GENERATE_SQL, params)
                cursor.execute(PAUSE_SQL, {"tenant": tenant.pk})
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cases_case")
            cursor.execute("ANALYZE cases_casepause")
        return tenant, time.perf_counter() - started, True


# --- the measured work ------------------------------------------------------------------------


def _year():
    from metrics.periods import parse_period

    today = datetime.now(UTC).date()
    first = today - timedelta(days=365)
    return parse_period(
        {"from": first.isoformat(), "to": today.isoformat(), "granularity": "month"}, "UTC"
    )


def full_query(period):
    from metrics import selectors
    from metrics.aggregation import NO_FILTERS

    return selectors.metrics_snapshot(period=period, filters=NO_FILTERS)


def python_baseline(period) -> dict[tuple[int, str, str], dict]:
    """The same figures from every case loaded into Python and measured with metrics.clocks."""
    from django.db import connection

    from metrics import selectors
    from metrics.clocks import (
        CLOCKS,
        NOT_INTRUSION_RESOLUTIONS,
        UNMEASURED_RESOLUTIONS,
        measure,
        percentile,
    )
    from tenancy.context import require_tenant

    table = selectors.target_table()
    tenant = require_tenant()
    pauses: dict[int, list] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT case_id, started_at, ended_at FROM cases_casepause WHERE tenant_id = %s",
            [tenant.pk],
        )
        for case_id, start, end in cursor.fetchall():
            pauses[case_id].append((start, end))
    values: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    judged: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    columns = ("phase", "severity", "resolution", "merged_into_id", "detected_at",
               "triaged_at", "scoped_at", "contained_at", "remediated_at", "closed_at")  # fmt: skip
    lo, hi, split = period.previous_start, period.end, period.start
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT id, {', '.join(columns)} FROM cases_case WHERE tenant_id = %s",
            [tenant.pk],
        )
        while rows := cursor.fetchmany(20_000):
            for row in rows:
                case_id, case = row[0], dict(zip(columns, row[1:], strict=True))
                if case["merged_into_id"] or case["resolution"] in UNMEASURED_RESOLUTIONS:
                    continue
                for clock in CLOCKS:
                    if clock.intrusions_only and case["resolution"] in NOT_INTRUSION_RESOLUTIONS:
                        continue
                    moment = case[clock.milestone]
                    if moment is None or not lo <= moment < hi:
                        continue
                    result = measure(clock, case, pauses.get(case_id, ()))
                    if result.status != "ok":
                        continue
                    key = (int(moment >= split), case["phase"], clock.key)
                    values[key].append(result.raw.total_seconds())
                    if clock.sla:
                        target = table.at(
                            case["phase"], case["severity"], clock.key, case["detected_at"]
                        )
                        if target is not None:
                            judged[key][0] += 1
                            judged[key][1] += result.sla <= target
    figures = {}
    for key, found in values.items():
        count, met = judged[key]
        figures[key] = {
            "count": len(found),
            "mean_seconds": round(sum(found) / len(found), 6),
            "median_seconds": round(percentile(found, 0.5), 6),
            "p90_seconds": round(percentile(found, 0.9), 6),
            "compliance_pct": round(100.0 * met / count, 6) if count else None,
        }
    return figures


def render_pdf(period):
    """A 12-month report, as the worker renders it (not stored: the row is not saved)."""
    from metrics import pdf
    from metrics.services import report_draft

    return pdf.render_report(report_draft(period=period))


def _compare(snapshot, baseline) -> list[str]:
    differences = []
    for row in snapshot["figures"]["rows"]:
        key = (1, row["phase"], row["clock"])
        expected = baseline.get(key)
        if expected is None:
            if row["count"]:
                differences.append(f"{key}: SQL {row['count']} cases, Python none")
            continue
        for name, value in expected.items():
            got = row[name]
            close = (
                got == value
                if not isinstance(value, float) or got is None
                else abs(got - value) <= 1e-6 * max(1.0, abs(value))
            )
            if not close:
                differences.append(f"{key} {name}: SQL {got}, Python {value}")
    return differences


def projection_steps(tenant) -> None:
    """The span projection: brought up to date after the bulk load (the cost paid once),
    then after 1,000 case writes (the cost the next read of the figures pays)."""
    from django.db import connection, transaction

    from metrics import projection

    took, queued = _timed(projection.catch_up, tenant.pk)
    print(f"span projection caught up with {queued:,} queued case writes in {took:.2f} s")
    if queued > 100_000:
        # A bulk reload replaced every span: compact the table as one would after any bulk
        # load (autovacuum alone leaves it at twice its size until rows are reused), then
        # VACUUM to set the visibility map the percentiles' index-only scans rely on (FULL
        # leaves it empty; autovacuum sets it in normal operation).
        def vacuum():
            with connection.cursor() as cursor:
                cursor.execute("VACUUM (FULL) metrics_casespan")
                cursor.execute("VACUUM (ANALYZE) metrics_casespan")

        took, _ = _timed(vacuum)
        print(f"  VACUUM FULL, then VACUUM ANALYZE of the projection: {took:.1f} s")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_case SET triaged_at = triaged_at + interval '1 second' WHERE id IN "
            "(SELECT id FROM cases_case WHERE tenant_id = %s AND triaged_at IS NOT NULL "
            "ORDER BY id LIMIT 1000)",
            [tenant.pk],
        )
        cursor.execute(
            "UPDATE cases_case SET triaged_at = triaged_at - interval '1 second' WHERE id IN "
            "(SELECT id FROM cases_case WHERE tenant_id = %s AND triaged_at IS NOT NULL "
            "ORDER BY id LIMIT 1000)",
            [tenant.pk],
        )
    took, queued = _timed(projection.catch_up, tenant.pk)
    print(
        f"  after 1,000 cases changed twice: {queued:,} queued writes recomputed in "
        f"{took * 1000:.0f} ms (paid by the next read of the figures)",
        flush=True,
    )


def _timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def main(argv: list[str]) -> int:
    options = _parse(argv)
    _setup()
    from django.db import connection

    from tenancy.context import tenant_context

    if connection.vendor != "postgresql" or "bench" not in connection.settings_dict["NAME"]:
        print("metrics bench: needs PostgreSQL and a database whose name contains 'bench'")
        return 2
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    tenant, took, made = generate(options.cases, options.regenerate)
    print(
        f"data: {options.cases:,} cases over 365 days in tenant {TENANT_SLUG}"
        + (f", generated in {took:.1f} s" if made else " (reused)"),
        flush=True,
    )
    period = _year()
    with tenant_context(tenant):
        from cases.models import Case, CasePause

        projection_steps(tenant)

        print(
            f"  {Case.objects.filter(status='closed').count():,} closed, "
            f"{Case.objects.exclude(status='closed').count():,} open, "
            f"{CasePause.objects.count():,} pauses; period {period.label}",
            flush=True,
        )
        full_query(period)  # warm-up: caches, plans, imports
        times = []
        for _ in range(options.runs):
            took, snapshot = _timed(full_query, period)
            times.append(took)
        query_median = statistics.median(times)
        rows = snapshot["figures"]["rows"]
        print(
            f"full metrics query, 1 year ({sum(r['count'] for r in rows):,} spans measured, "
            f"{len(snapshot['breaches_in_progress'])} breaches in progress listed): "
            f"median of {len(times)} = {query_median:.3f} s "
            f"[{', '.join(f'{t:.3f}' for t in times)}] (target < 2 s)",
            flush=True,
        )
        baseline_took = None
        if not options.skip_baseline:
            baseline_took, baseline = _timed(python_baseline, period)
            differences = _compare(snapshot, baseline)
            print(
                f"  baseline, spans loaded into Python: {baseline_took:.2f} s "
                f"-> the SQL aggregation is {baseline_took / query_median:.1f}x faster; "
                + ("same figures: yes" if not differences else f"DIFFERENT: {differences[:5]}"),
                flush=True,
            )
        pdf_times = []
        for _ in range(3):
            took, rendered = _timed(render_pdf, period)
            pdf_times.append(took)
        pdf_median = statistics.median(pdf_times)
        print(
            f"12-month PDF report ({rendered.pages} pages, {len(rendered.content) / 1e6:.1f} MB, "
            f"{rendered.figures['breaches']:,} breaches listed in full as an attachment): "
            f"median of 3 = {pdf_median:.2f} s [{', '.join(f'{t:.2f}' for t in pdf_times)}] "
            "(target < 10 s)",
            flush=True,
        )
        if baseline_took is not None:
            rendering = pdf_median - query_median
            estimate = baseline_took + max(rendering, 0)
            print(
                f"  baseline report (Python figures + the same lists and rendering): "
                f"~{estimate:.1f} s -> {estimate / pdf_median:.1f}x",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
