"""The case list at scale: API and browser page, first page and deep page, 100 vs 100,000.

    createdb -h 127.0.0.1 -U stopclock_owner stopclock_cases_bench        # once
    DATABASE_URL=postgres://stopclock_owner@127.0.0.1:5432/stopclock_cases_bench \\
        python -m bench cases [--cases=100000] [--other=10000] [--runs=40] [--reseed]

The database's name must contain "bench" (it is migrated here and filled with generated
tenants; nothing else is touched). What it does:

1. seeds three tenants with COPY, outside the timings: "bench-big" (`--cases`, default
   100,000 cases with their alerts, notes, tags and timeline), "bench-other" (`--other`,
   10,000, so the big tenant shares its tables with a neighbour) and "bench-tiny" (100). A
   second run reuses them (`--reseed` starts again);
2. for each tenant and scenario, times `--runs` requests through the whole Django stack
   in this process (token or session authentication, tenant context, filters, pagination,
   serialisation or template rendering) after a warm-up, and counts their SQL queries;
3. **baseline**: the page's main query alone (the same SQL the ORM sends for the rows of
   that page), run bare on the same connection; figures are printed as ratios to it.

The deep page is the middle page (page 1,000 of 2,000 at 100,000 cases: OFFSET 49,950).

Targets (issue 3): p95 under 100 ms for a first page on PostgreSQL, and the same number of
queries per request at 100 and at 100,000 cases.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = 50
SCENARIOS = (
    # (label, kind, path, params for a big tenant, params for the tiny one)
    (
        "API first page, filtered",
        "api",
        "/api/v1/cases/",
        {"status": "investigating", "severity": "high"},
        None,
    ),
    (
        "API first page, SLA breached",
        "api",
        "/api/v1/cases/",
        {"sla_state": "breached", "ordering": "-severity"},
        None,
    ),
    ("API deep page (middle)", "api", "/api/v1/cases/", {"page": "deep"}, None),
    (
        "page first page, filtered",
        "web",
        "cases/",
        {"status": "investigating", "severity": "high"},
        None,
    ),
    ("page deep page (middle)", "web", "cases/", {"status": "any", "page": "deep"}, None),
)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench cases")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--other", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--reseed", action="store_true")
    return parser.parse_known_args(argv)[0]


def _say(text: str) -> None:
    print(text, flush=True)


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


# --- seeding --------------------------------------------------------------------------------
def _copy(model, rows: list[dict], columns: list[str]) -> None:
    """Rows (dicts of column -> Python value) into the model's table at COPY speed.

    PostgreSQL refuses COPY FROM into a table with Row-Level Security, so the rows are
    COPYed into a temporary table, then moved with one INSERT … SELECT (which the tenant
    policy checks like any insert).
    """
    import json

    from django.db import connection

    connection.apply_tenant_setting()
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE bench_stage AS SELECT {cols} FROM {table} WITH NO DATA")
        with cursor.copy(f"COPY bench_stage ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        json.dumps(v) if isinstance(v, dict | list) else v
                        for v in (row[c] for c in columns)
                    ]
                )
        cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM bench_stage")
        cursor.execute("DROP TABLE bench_stage")


def _ids(model, count: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _seed_tenant(slug: str, count: int, seed: int, reseed: bool):
    """A tenant with `count` cases and what hangs off them; returns (tenant, user, key)."""
    from django.contrib.auth import get_user_model

    from cases import sla
    from cases.models import (
        Alert,
        Case,
        CaseTag,
        Note,
        Tag,
        TimelineEntry,
    )
    from metrics.clocks import PHASE_KEYS
    from metrics.targets import SEVERITIES_BY_KEY
    from tenancy import roles
    from tenancy.context import tenant_context
    from tenancy.models import Membership, Tenant
    from tenancy.services import api_token_create, membership_set, tenant_create, user_create

    User = get_user_model()
    tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(slug=slug, name=slug)
    username = f"{slug}-analyst"
    user = User.objects.filter(username=username).first() or user_create(
        username=username, password=None
    )
    with tenant_context(tenant):
        if not Membership.objects.filter(user=user).exists():
            membership_set(user=user, role=roles.ANALYST)
        _token, key = api_token_create(user=user, name="bench")
        existing = Case.objects.count()
        if existing == count and not reseed:
            return tenant, user, key, 0.0
        started = time.perf_counter()
        for model in (TimelineEntry, Note, CaseTag, Alert, Case, Tag):
            model.objects.all()._raw_delete(model.objects.db)
        rng = random.Random(f"{seed}-{slug}")
        now = datetime.now(UTC)
        tags = [
            Tag(name=name)
            for name in (
                "phishing",
                "ransomware",
                "macro",
                "vip",
                "c2",
                "usb",
                "credential-theft",
                "commodity",
                "apt",
                "insider",
                "cloud",
                "exfiltration",
                "persistence",
                "psexec",
                "webshell",
                "supply-chain",
                "false-alarm",
                "pentest",
                "red-team",
                "hygiene",
            )
        ]
        Tag.objects.bulk_create(tags)
        severities = ["info", "low", "medium", "high", "critical"]
        statuses = ["new", "triage", "investigating", "contained", "remediated", "closed"]
        status_weights = [3, 3, 10, 5, 4, 75]
        case_ids = _ids(Case, count)
        cases, alerts, notes, timeline, case_tags = [], [], [], [], []
        alert_ids = _ids(Alert, count * 2)
        next_alert = iter(alert_ids)
        for index, case_id in enumerate(case_ids):
            # the first ten of every tenant match the filtered scenarios
            status = "investigating" if index < 10 else rng.choices(statuses, status_weights)[0]
            severity = "high" if index < 10 else rng.choices(severities, [5, 20, 40, 25, 10])[0]
            phase = rng.choice(PHASE_KEYS)
            detected = now - timedelta(minutes=rng.randint(5, 365 * 24 * 60))
            # A believable SOC: most triage within the 15-minute target, some late, and
            # scoping, containment and remediation spread over minutes, hours and days.
            minutes = rng.randint(2, 14) if rng.random() < 0.8 else rng.randint(16, 60)
            step = timedelta(minutes=minutes)
            spans = [
                step,
                step + timedelta(minutes=rng.randint(10, 90)),
                step + timedelta(minutes=rng.randint(60, 900)),
                step + timedelta(minutes=rng.randint(300, 6000)),
            ]
            spans.append(spans[-1] + timedelta(minutes=rng.randint(10, 600)))
            case = Case(
                id=case_id,
                tenant_id=tenant.pk,
                number=f"CASE-2026-{index + 1:05d}",
                year=2026,
                seq=index + 1,
                title=f"{rng.choice(TITLES)} on ws-{rng.randint(1, 9999):04d}",
                description="",
                severity=severity,
                severity_rank=SEVERITIES_BY_KEY[severity].rank,
                tlp="amber",
                phase=phase,
                status=status,
                detected_at=detected,
                created_at=detected + timedelta(minutes=1),
                updated_at=detected + spans[4],
                version=1,
                assignee_id=user.pk if rng.random() < 0.3 else None,
            )
            position = statuses.index(status)
            if position >= 1:
                case.triaged_at = detected + spans[0]
            if position >= 2 and rng.random() < 0.8:
                case.scoped_at = detected + spans[1]
            if 3 <= position <= 4 or (status == "closed" and rng.random() < 0.5):
                case.contained_at = detected + spans[2]
            if position == 4 or (status == "closed" and case.contained_at):
                case.remediated_at = detected + spans[3]
            if status == "closed":
                case.closed_at = detected + spans[4]
                case.resolution = "true_positive" if case.remediated_at else "false_positive"
            else:
                case.resolution = ""
            sla.refresh(case, (), now)
            cases.append(case)
            for _ in range(1 if rng.random() < 0.5 else 2):
                alerts.append(
                    {
                        "id": next(next_alert),
                        "tenant_id": tenant.pk,
                        "title": case.title,
                        "severity": severity,
                        "severity_rank": case.severity_rank,
                        "source": "detection_rule",
                        "phase": phase,
                        "attack_techniques": [],
                        "observed_at": detected,
                        "first_seen_at": detected,
                        "last_seen_at": detected,
                        "received_at": detected,
                        "count": 1,
                        "external_id": "",
                        "dedup_key": "",
                        "rule_id": "bench",
                        "ioc_key": "",
                        "raw": {},
                        "endpoint_id": None,
                        "status": "promoted",
                        "dismiss_reason": "",
                        "acknowledged_by_id": None,
                        "acknowledged_at": None,
                        "case_id": case_id,
                        "updated_at": detected,
                    }
                )
            if rng.random() < 0.5:
                notes.append(
                    {
                        "tenant_id": tenant.pk,
                        "case_id": case_id,
                        "body": "Process tree traced; hash swept.",
                        "author_id": user.pk,
                        "created_at": detected + step,
                        "updated_at": detected + step,
                    }
                )
            for offset, (kind, summary) in enumerate(
                (
                    ("created", "Case opened"),
                    ("alert", "1 alert joined"),
                    ("status", f"Status → {status}"),
                )
            ):
                timeline.append(
                    {
                        "tenant_id": tenant.pk,
                        "case_id": case_id,
                        "occurred_at": detected + step * offset,
                        "kind": kind,
                        "summary": summary,
                        "data": {},
                        "actor_id": None,
                        "actor_label": "bench",
                    }
                )
            for tag in rng.sample(tags, rng.choice((0, 1, 1, 2))):
                case_tags.append({"tenant_id": tenant.pk, "case_id": case_id, "tag_id": tag.pk})
        case_columns = [f.column for f in Case._meta.concrete_fields]
        _copy(
            Case,
            [{f.column: getattr(c, f.attname) for f in Case._meta.concrete_fields} for c in cases],
            case_columns,
        )
        _copy(Alert, alerts, list(alerts[0]))
        if notes:
            _copy(Note, notes, list(notes[0]))
        _copy(TimelineEntry, timeline, list(timeline[0]))
        if case_tags:
            _copy(CaseTag, case_tags, list(case_tags[0]))
        from django.db import connection

        with connection.cursor() as cursor:
            for table in (
                "cases_case",
                "cases_alert",
                "cases_timelineentry",
                "cases_note",
                "cases_casetag",
            ):
                cursor.execute(f"ANALYZE {table}")
        elapsed = time.perf_counter() - started
        rows = len(cases) + len(alerts) + len(notes) + len(timeline) + len(case_tags)
        _say(
            f"  seeded {slug}: {len(cases):,} cases, {rows:,} rows in {elapsed:.1f} s "
            f"({rows / elapsed:,.0f} rows/s)"
        )
        return tenant, user, key, elapsed


TITLES = (
    "Office macro spawned PowerShell",
    "Known-bad hash executed",
    "New service installed",
    "Scheduled task from a user profile",
    "PsExec service on a server",
    "LSASS memory read",
    "Encoded PowerShell download cradle",
    "Rare autorun in %TEMP%",
    "Logon type 3 from a workstation",
    "Archive written to a staging path",
    "WMI event subscription",
)


# --- measuring ---------------------------------------------------------------------------------
def _percentile(values: list[float], fraction: float) -> float:
    from metrics.clocks import percentile

    return percentile(values, fraction) or 0.0


def _time(call, runs: int, cpu: list[float] | None = None) -> list[float]:
    """Wall-clock milliseconds of `runs` calls after 3 warm-ups (CPU ms into `cpu`)."""
    for _ in range(3):
        call()
    samples = []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        samples.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - started_cpu) * 1000)
    return samples


def _main_query(tenant, params: dict, kind: str):
    """The SQL and parameters of the rows query the view sends for this page."""
    from django.http import QueryDict

    from cases.api.filters import CaseFilterSet
    from cases.models import Case
    from cases.pagination import DeferredJoinPaginator
    from tenancy.context import tenant_context

    data = QueryDict(mutable=True)
    for key, value in params.items():
        if key != "page":
            data[key] = str(value)
    if kind == "web":
        if data.get("status") == "any":
            del data["status"]
        elif "status" not in data:
            data["status"] = "open"
        data.setdefault("ordering", "-detected_at")
    page = int(params.get("page", 1))
    with tenant_context(tenant):
        filterset = CaseFilterSet(data, queryset=Case.objects.all())
        assert filterset.is_valid(), filterset.errors
        queryset = filterset.qs
        paginator = DeferredJoinPaginator(queryset, PAGE)
        rows = paginator.get_page(page).object_list
        return rows.query.sql_with_params()


def _baseline(tenant, sql: str, params, runs: int) -> list[float]:
    from django.db import connection

    from tenancy.context import tenant_context

    def run():
        with tenant_context(tenant), connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    return _time(run, runs)


def _measure(tenant, user, key, runs: int, tiny: bool) -> dict[str, dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    web = Client()
    web.force_login(user)
    from cases.models import Case
    from tenancy.context import tenant_context

    with tenant_context(tenant):
        pages = -(-Case.objects.count() // PAGE)
    # the deep page is the middle one, page 1000 of 2000 at 100,000 cases (offset 49,950)
    deep = max(1, min(1000, pages // 2))
    results = {}
    for label, kind, path, params, tiny_params in SCENARIOS:
        chosen = dict((tiny_params or params) if tiny else params)
        if chosen.get("page") == "deep":
            chosen["page"] = deep
        url = path if kind == "api" else f"/t/{tenant.slug}/{path}"
        client = api if kind == "api" else web

        def call(client=client, url=url, chosen=chosen):
            response = client.get(url, chosen)
            assert response.status_code == 200, (url, chosen, response.status_code)
            return response

        call()  # the token's last-use stamp and caches: not part of the steady state
        with CaptureQueriesContext(connection) as captured:
            call()
        query_count = len(captured.captured_queries)
        cpu: list[float] = []
        samples = _time(call, runs, cpu)
        sql, sql_params = _main_query(tenant, chosen, kind)
        base = _baseline(tenant, sql, sql_params, runs)
        results[label] = {
            "queries": query_count,
            "p50": statistics.median(samples),
            "p95": _percentile(samples, 0.95),
            "cpu": statistics.median(cpu),
            "base_p50": statistics.median(base),
            "base_p95": _percentile(base, 0.95),
        }
    return results


def main(argv: list[str]) -> int:
    args = _parse(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or "bench" not in url.rsplit("/", 1)[-1]:
        _say(
            "cases bench: needs DATABASE_URL=postgres://…/<a database whose name contains "
            "'bench'> (see the docstring); skipped"
        )
        return 0
    _setup()
    from django.conf import settings
    from django.core.management import call_command

    _say("migrating …")
    call_command("migrate", verbosity=0)
    settings.DEBUG = False
    # Persistent connection, as production runs with DB_CONN_MAX_AGE > 0 (otherwise every
    # request would pay a new PostgreSQL connection, which is not what we measure here).
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    _say("seeding (COPY, outside the timings) …")
    tenants = {
        "100,000": _seed_tenant("bench-big", args.cases, args.seed, args.reseed),
        "10,000 (neighbour)": _seed_tenant("bench-other", args.other, args.seed, args.reseed),
        "100": _seed_tenant("bench-tiny", 100, args.seed, args.reseed),
    }
    tenants = {
        (f"{args.cases:,}" if name == "100,000" else name): value for name, value in tenants.items()
    }
    from django.db import connection

    with connection.cursor() as cursor:  # a steady-state database: visibility map, stats
        for table in ("cases_case", "cases_alert", "cases_casetag", "cases_casewatcher"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    load = os.getloadavg()[0]
    _say(
        f"\n{args.runs} timed requests per scenario after 3 warm-ups; in-process Django "
        "client, one persistent connection; times in ms (CPU = this process's CPU time per "
        "request); ratio = request p50 / bare main query p50; load average "
        f"{load:.1f} on {os.cpu_count()} cores\n"
    )
    header = (
        f"{'scenario':30} {'cases':>18} {'queries':>7} {'p50':>7} {'p95':>7} "
        f"{'CPU p50':>8} {'SQL p50':>8} {'ratio':>6}"
    )
    _say(header)
    _say("-" * len(header))
    everything = {}
    for name, (tenant, user, key, _seconds) in tenants.items():
        everything[name] = _measure(tenant, user, key, args.runs, tiny=name == "100")
        for label, row in everything[name].items():
            _say(
                f"{label:30} {name:>18} {row['queries']:>7} {row['p50']:>7.1f} "
                f"{row['p95']:>7.1f} {row['cpu']:>8.1f} {row['base_p50']:>8.2f} "
                f"{row['p50'] / max(row['base_p50'], 0.001):>6.1f}"
            )
    big, tiny = everything[f"{args.cases:,}"], everything["100"]
    same = all(big[label]["queries"] == tiny[label]["queries"] for label in big)
    first_pages = [row["p95"] for label, row in big.items() if "first page" in label]
    _say("")
    _say(f"same query count at 100 and at {args.cases:,} cases: {'yes' if same else 'NO'}")
    _say(
        f"first-page p95 at {args.cases:,} cases: worst {max(first_pages):.1f} ms "
        f"(target < 100 ms): {'met' if max(first_pages) < 100 else 'MISSED'}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
