"""Intel at fleet scale: 100,000 IOCs swept over 1,000,000 observations on 10,000 endpoints.

    createdb -h 127.0.0.1 -U stopclock_owner stopclock_intel_bench            # once
    DATABASE_URL=postgres://stopclock_owner@127.0.0.1:5432/stopclock_intel_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/6 \\
        python -m bench intel [--observations=1000000] [--endpoints=10000] [--iocs=100000] \\
                              [--worker-concurrency=2] [--chunk-endpoints=500] [--orm-sample=0.01]

It needs PostgreSQL and a database whose name contains "bench" (it TRUNCATEs the intel and
endpoints tables), and Redis (a database number of its own). In one run:

1. generates the fleet, a day of benign telemetry and the intrusion with `bench.datagen`,
   validated like agent batches, stored with COPY (outside the timings);
2. builds 100,000 IOCs of every type — the planted ones, a few hundred values that do
   occur in the telemetry, the rest absent — and imports them through the import service
   (timed: it is what a feed costs);
3. **the sweep**: all active IOCs x all endpoints, launched like the API does, run by a real
   Celery worker (`--worker-concurrency` processes), from launch to `succeeded`; then the
   same sweep in one process, chunk after chunk (`sweep_run_inline`);
4. **baseline (a), the floor**: ONE bare SQL statement producing the same (IOC, endpoint)
   matches for the SQL families, plus the one RE2-set pass over all command lines that the
   cmdline family needs in any design (a SQL join on substrings is a nested loop of every
   command line x every needle: timed on a 1% sample and extrapolated, for the record);
5. **baseline (b), the naive tool**: one ORM query per IOC, timed on a stratified sample
   (`--orm-sample` of each type, at least 20) and extrapolated per type;
6. the time from adding one new IOC (`ioc_create`, as the API does) to its retro-hunt hit,
   with the worker running; and the ad-hoc search ("is this anywhere else?") at this size.

Figures are printed as times and as ratios measured in the same run; the JSON summary is
written to var/bench/intel.json.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.endpoints_bench import _child_env, _copy_text, _say, _stop

ROOT = Path(__file__).resolve().parent.parent


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench intel")
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--iocs", type=int, default=100_000)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--chunk-endpoints", type=int, default=500)
    parser.add_argument("--orm-sample", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=17)
    return parser.parse_known_args(argv)[0]


def _environment_problem(connection) -> str | None:
    if connection.vendor != "postgresql" or "bench" not in connection.settings_dict["NAME"]:
        return "needs DATABASE_URL on PostgreSQL, a database whose name contains 'bench'"
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        return "needs CELERY_BROKER_URL=redis://… (a database number of its own, e.g. /6)"
    return None


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    problem = _environment_problem(connection)
    if problem:
        _say(problem)
        return 2
    return IntelBench(_parse(argv)).run()


class IntelBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.logs = Path(os.environ.get("STOPCLOCK_VAR_DIR", ROOT / "var")) / "bench"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, object] = {}

    # -- data -------------------------------------------------------------------------------
    def prepare(self):
        from django.core.management import call_command
        from django.db import connection

        from config.celery import app
        from tenancy.models import Tenant
        from tenancy.services import tenant_create

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE intel_hit, intel_sweepchunk, intel_sweepterm, intel_importjob, "
                "intel_sweep, intel_ioctag, intel_iocsource, intel_ioc, intel_tag, "
                "intel_reputation, intel_source, endpoints_observation, "
                "endpoints_telemetrybatch, endpoints_endpoint CASCADE"
            )
        app.control.purge()
        tenant = Tenant.objects.filter(slug="intel-bench").first()
        tenant = tenant or tenant_create(slug="intel-bench", name="Intel Bench Corp")
        tenant.settings = {
            "intel": {
                "chunk_endpoints": self.args.chunk_endpoints,
                "alert_severity_floor": "critical",
            }  # hits are the figure, not alerts
        }
        tenant.save(update_fields=["settings"])
        return tenant

    def generate(self, tenant):
        from django.db import connection

        from bench.datagen import fleet_telemetry, generate_fleet, intrusion_scenario
        from endpoints.models import Endpoint
        from endpoints.observation_fields import FIELDS
        from endpoints.telemetry import validate_records
        from tenancy.context import tenant_context

        args = self.args
        started = time.monotonic()
        fleet = generate_fleet(args.endpoints, args.seed, "bench.example")
        now = datetime.now(UTC).replace(microsecond=0)
        start = now - timedelta(hours=25)
        scenario = intrusion_scenario(fleet, start + timedelta(hours=3), args.seed)
        per_endpoint: dict[str, list[dict]] = defaultdict(list)
        for spec, record in fleet_telemetry(fleet, args.observations, start, args.seed):
            per_endpoint[spec.agent_id].append(record)
        for spec, record in scenario.records():
            per_endpoint[spec.agent_id].append(record)
        columns = ("kind", "event_id", "observed_at", *(f.name for f in FIELDS))
        with tenant_context(tenant):
            Endpoint.objects.bulk_create(
                [
                    Endpoint(
                        hostname=s.hostname.lower(),
                        os_family=s.os_family,
                        agent_id=s.agent_id,
                        privileged_admin_logons=s.privileged_admin_logons,
                    )
                    for s in fleet
                ],
                batch_size=2000,
            )
            ids = dict(Endpoint.objects.values_list("agent_id", "id"))
            chunks, lines, rows = [], [], 0
            for agent_id, records in per_endpoint.items():
                head = f"{tenant.pk}\t{ids[agent_id]}\t0\t{now.isoformat()}"
                for record in validate_records(records, now=now, max_future=timedelta(hours=1)):
                    lines.append(
                        head + "".join("\t" + _copy_text(record.get(c)) for c in columns) + "\n"
                    )
                    rows += 1
                    if len(lines) == 5000:
                        chunks.append("".join(lines).encode())
                        lines = []
            chunks.append("".join(lines).encode())
            connection.ensure_connection()
            connection.apply_tenant_setting()
            raw = connection.connection
            table = "endpoints_observation"
            with raw.transaction(), raw.cursor() as cursor:
                # RLS refuses COPY FROM; the owner lifts FORCE inside this transaction only
                cursor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
                target = ", ".join(
                    ("tenant_id", "endpoint_id", "batch_id", "received_at", *columns)
                )
                with cursor.copy(f"COPY {table} ({target}) FROM STDIN") as copy:
                    for chunk in chunks:
                        copy.write(chunk)
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred FK checks
                cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            with raw.cursor() as cursor:
                cursor.execute(f"ANALYZE {table}")
                cursor.execute("ANALYZE endpoints_endpoint")
        _say(
            f"data      {rows:,} observations on {len(fleet):,} endpoints, stored with COPY "
            f"in {time.monotonic() - started:.1f} s (not timed below)"
        )
        self.results["observations"] = rows
        self.results["endpoints"] = len(fleet)
        return scenario

    def sample_values(self, tenant) -> dict[str, list[str]]:
        """Values that do occur in the telemetry, a few hundred per type (realistic hits)."""
        from django.db import connection

        from tenancy.context import tenant_context

        # Values seen on at most a few endpoints: what a targeted intrusion leaves (a feed of
        # hashes of svchost.exe would light up the whole fleet, and nobody ships one).
        rare = (
            "SELECT {expr} FROM endpoints_observation WHERE {column} IS NOT NULL "
            "GROUP BY 1 HAVING count(DISTINCT endpoint_id) <= 3 LIMIT 20000"
        )
        columns = {
            "sha256": ("sha256", "sha256"),
            "md5": ("md5", "md5"),
            "sha1": ("sha1", "sha1"),
            "ipv4": ("host(remote_ip)", "remote_ip"),
            "domain": ("dns_query", "dns_query"),
            "file_name": ("file_name", "file_name"),
            "file_path": ("process_path", "process_path"),
            "registry_key": ("registry_key", "registry_key"),
            "header_bytes": ("substr(header_hex, 1, 8)", "header_hex"),
            "cmdline": ("command_line", "command_line"),
        }
        queries = {
            kind: rare.format(expr=expr, column=column) for kind, (expr, column) in columns.items()
        }
        found: dict[str, list[str]] = {}
        with tenant_context(tenant), connection.cursor() as cursor:
            for kind, sql in queries.items():
                cursor.execute(sql)
                values = sorted(row[0] for row in cursor.fetchall() if row[0])
                found[kind] = values
        return found

    def build_iocs(self, scenario, present: dict[str, list[str]]):
        """100,000 candidates of every type: planted, occurring, and (mostly) absent."""
        from intel.parsing import InvalidIOC, IOCCandidate, normalize_address, normalize_ioc

        rng = self.rng
        mix = {
            "sha256": 0.34,
            "md5": 0.12,
            "sha1": 0.10,
            "ipv4": 0.10,
            "ipv6": 0.01,
            "cidr": 0.02,
            "domain": 0.12,
            "url": 0.05,
            "file_name": 0.05,
            "file_path": 0.03,
            "registry_key": 0.02,
            "cmdline": 0.02,
            "header_bytes": 0.02,
        }
        occurring = {
            "sha256": 300,
            "md5": 100,
            "sha1": 100,
            "ipv4": 100,
            "domain": 60,
            "file_name": 60,
            "file_path": 40,
            "registry_key": 30,
            "header_bytes": 10,
            "cmdline": 30,
        }
        candidates: dict[tuple[str, str], IOCCandidate] = {}

        def add(kind: str, value: str) -> None:
            try:
                kind, value = normalize_ioc(kind, value)
            except InvalidIOC:
                return
            candidates.setdefault((kind, value), IOCCandidate(kind, value, value))

        for kind, value in scenario.iocs.items():
            if kind != "ip":
                add(kind, value)
        for kind, count in occurring.items():
            values = present.get(kind, [])
            for value in rng.sample(values, min(count, len(values))):
                if kind == "cmdline":
                    words = value.split()
                    value = " ".join(words[1:3]) if len(words) > 2 else ""
                    if len(value) < 8:
                        continue
                add(kind, value)
        hexdigits = "0123456789abcdef"
        word = lambda n: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))  # noqa: E731
        makers = {
            "sha256": lambda: "".join(rng.choice(hexdigits) for _ in range(64)),
            "md5": lambda: "".join(rng.choice(hexdigits) for _ in range(32)),
            "sha1": lambda: "".join(rng.choice(hexdigits) for _ in range(40)),
            "ipv4": lambda: str(ipaddress.IPv4Address(rng.randrange(0x0B000000, 0xDF000000))),
            "ipv6": lambda: str(ipaddress.IPv6Address((0x2A00 << 112) | rng.getrandbits(100))),
            "cidr": lambda: (
                f"{ipaddress.IPv4Address(rng.randrange(0x0B000000, 0xDF000000) & ~0xFF)}/24"
            ),
            "domain": lambda: (
                f"{word(rng.randint(5, 12))}.{rng.choice(['com', 'net', 'ru', 'top', 'xyz', 'io'])}"
            ),
            "url": lambda: (
                f"http://{word(8)}.{rng.choice(['com', 'net', 'biz'])}/{word(6)}/{word(4)}.php"
            ),
            "file_name": lambda: (
                f"{word(rng.randint(5, 10))}.{rng.choice(['exe', 'dll', 'ps1', 'vbs'])}"
            ),
            "file_path": lambda: rng.choice(
                [
                    f"c:\\users\\*\\appdata\\roaming\\{word(6)}\\{word(7)}.exe",
                    f"c:\\programdata\\{word(8)}\\{word(6)}.dll",
                ]
            ),
            "registry_key": lambda: f"hkcu\\software\\{word(8)}\\{word(6)}",
            "cmdline": lambda: (
                f"re:{word(5)}\\s+-[a-z]+\\s+{word(4)}"
                if rng.random() < 0.07
                else f"-{word(6)} {word(8)}"
            ),
            "header_bytes": lambda: "".join(
                rng.choice(hexdigits) for _ in range(rng.choice([8, 12, 16]))
            ),
        }
        for kind, value in scenario.iocs.items():
            if kind == "ip":
                kind, value = normalize_address(value)
                candidates.setdefault((kind, value), IOCCandidate(kind, value, value))
        target = self.args.iocs
        quotas = {kind: int(target * share) for kind, share in mix.items()}
        quotas["sha256"] += target - sum(quotas.values())
        have = Counter(kind for kind, _ in candidates)
        for kind, quota in quotas.items():
            for _ in range(max(0, quota - have[kind])):
                add(kind, makers[kind]())
        return list(candidates.values())[: target + 50]

    def import_iocs(self, tenant, scenario, candidates) -> None:
        from intel.models import IOC
        from intel.parsing import normalize_address
        from intel.services import ioc_create, ioc_upsert_many, source_for_name
        from tenancy.context import tenant_context

        with tenant_context(tenant):
            source = source_for_name("bench feed")
            started = time.monotonic()
            for start in range(0, len(candidates), 2000):
                ioc_upsert_many(candidates[start : start + 2000], source=source)
            elapsed = time.monotonic() - started
            # the planted C2 domain and address sit in reserved ranges (warning-listed): the
            # analyst forces them, as the demo does
            for kind, value in scenario.iocs.items():
                if kind in {"domain", "ip"}:
                    kind, value = normalize_address(value) if kind == "ip" else (kind, value)
                    ioc_create(type=kind, value=value, force=True, retro_hunt=False)
            total = IOC.objects.count()
            matchable = IOC.objects.matchable().count()
            by_type = dict(Counter(IOC.objects.values_list("type", flat=True)))
        _say(
            f"iocs      {total:,} IOCs imported in {elapsed:.1f} s ({total / elapsed:,.0f}/s); "
            f"{matchable:,} matchable (the rest are on warning lists)"
        )
        _say(f"          by type: {json.dumps(by_type)}")
        self.results.update(
            iocs=total,
            iocs_matchable=matchable,
            ioc_import_s=round(elapsed, 2),
            iocs_by_type=by_type,
        )

    # -- the worker ------------------------------------------------------------------------
    def start_worker(self) -> subprocess.Popen:
        log = (self.logs / "intel-worker.log").open("wb")
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-c",
            str(self.args.worker_concurrency),
            "--without-mingle",
            "--without-gossip",
            "-l",
            "WARNING",
        ]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_child_env({}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        time.sleep(4)  # the pool forks and connects
        return process

    # -- the measurements --------------------------------------------------------------------
    def sweep_on_workers(self, tenant):
        from intel.models import Sweep, SweepChunk
        from intel.services import sweep_launch
        from tenancy.context import tenant_context

        with tenant_context(tenant):
            started = time.monotonic()
            sweep = sweep_launch(name="bench: all active IOCs")  # dispatched at once (autocommit)
            launched = time.monotonic() - started
            while True:
                status = Sweep.objects.filter(pk=sweep.pk).values_list("status", flat=True)[0]
                if status not in {"queued", "running"}:
                    break
                time.sleep(0.02)
            wall = time.monotonic() - started
            sweep.refresh_from_db()
            chunks = list(SweepChunk.objects.filter(sweep=sweep).values_list("hits", flat=True))
        _say(
            f"sweep     workers (c={self.args.worker_concurrency}): {sweep.status} in {wall:.2f} s "
            f"(launch incl. freezing {sweep.terms_count:,} terms: {launched:.2f} s); "
            f"{sweep.chunks_total} chunks, {sweep.endpoints_scanned:,} endpoints, "
            f"{sweep.hits_count:,} hits"
        )
        self.results.update(
            sweep_workers_s=round(wall, 3),
            sweep_launch_s=round(launched, 3),
            sweep_hits=sweep.hits_count,
            sweep_chunks=sweep.chunks_total,
            sweep_terms=sweep.terms_count,
            chunks_with_hits=sum(1 for h in chunks if h),
        )
        return sweep

    def sweep_inline(self, tenant):
        from intel.services import sweep_launch, sweep_run_inline
        from tenancy.context import tenant_context

        with tenant_context(tenant):
            started = time.monotonic()
            sweep = sweep_run_inline(
                sweep=sweep_launch(name="bench: inline", dispatch=False), alerts=False
            )
            wall = time.monotonic() - started
        _say(f"sweep     one process, chunk after chunk: {wall:.2f} s, {sweep.hits_count:,} hits")
        self.results["sweep_inline_s"] = round(wall, 3)
        return sweep

    def floor(self, tenant, sweep) -> float:
        """(a) One bare statement for the SQL families + the RE2 pass the cmdline family needs."""
        from django.db import connection

        from intel import sweepsql
        from intel.models import Hit
        from intel.services.sweeps import _cmdline_patterns, _distinct_pass, _glob_patterns
        from tenancy.context import tenant_context

        with tenant_context(tenant), connection.cursor() as cursor:
            # the floor gets the best plan: fresh statistics, the sweep's session settings
            cursor.execute("ANALYZE intel_sweepterm")
            cursor.execute("SET jit = off")
            cursor.execute("SET work_mem = '64MB'")
            terms = sweepsql.sweep_terms(tenant.pk, sweep.pk)
            scope = sweepsql.everything_scope(tenant.pk)
            sql, params = sweepsql.bare_join_sql(terms, scope, sweepsql.FAMILY_ORDER)
            started = time.monotonic()
            cursor.execute(sql, params)
            pairs = set(cursor.fetchall())
            statement = time.monotonic() - started
            started = time.monotonic()
            found: dict = {}
            cursor.execute(*sweepsql.cmdline_terms_sql(terms))
            patterns = cursor.fetchall()
            _distinct_pass(
                cursor, scope, "command_line", _cmdline_patterns(patterns), patterns, found
            )
            cursor.execute(*sweepsql.glob_terms_sql(terms))
            by_type: dict = defaultdict(list)
            for row in cursor.fetchall():
                by_type[row[2]].append(row)
            for kind, rows in by_type.items():
                for column in sweepsql.GLOB_COLUMNS[kind]:
                    _distinct_pass(cursor, scope, column, _glob_patterns(rows), rows, found)
            pairs |= set(found)
            cmdline_pass = time.monotonic() - started
            expected = set(Hit.objects.filter(sweep=sweep).values_list("ioc_key", "endpoint_id"))
            # what SQL would pay for the cmdline family: strpos join on a 1% sample
            cursor.execute(
                "SELECT count(*) FROM endpoints_observation WHERE command_line IS NOT NULL"
            )
            lines = cursor.fetchone()[0]
            needles = sum(1 for p in patterns if p[4] is not None)
            sample = (
                "SELECT count(*) FROM (SELECT command_line FROM endpoints_observation "
                "WHERE command_line IS NOT NULL LIMIT %s) o JOIN intel_sweepterm t "
                "ON t.sweep_id = %s AND t.family = 'cmdline' AND t.needle IS NOT NULL "
                "AND strpos(lower(o.command_line), t.needle) > 0"
            )
            cursor.execute(sample, [max(1, lines // 100), sweep.pk])  # warm the cache
            started = time.monotonic()
            cursor.execute(sample, [max(1, lines // 100), sweep.pk])
            sql_cmdline_estimate = (time.monotonic() - started) * 100
        total = statement + cmdline_pass
        same = pairs == expected
        _say(
            f"floor (a) one SQL statement {statement:.2f} s + the RE2 passes (globs; {lines:,} "
            f"command lines) {cmdline_pass:.2f} s = {total:.2f} s; same matches as the sweep: "
            f"{same} ({len(pairs):,} pairs)"
        )
        _say(
            f"          (for the record: the cmdline family as a SQL strpos join, {needles:,} "
            f"needles, would take ~{sql_cmdline_estimate:,.0f} s, from a 1% sample)"
        )
        self.results.update(
            floor_sql_s=round(statement, 3),
            floor_cmdline_s=round(cmdline_pass, 3),
            floor_s=round(total, 3),
            floor_same_matches=same,
            sql_cmdline_join_estimate_s=round(sql_cmdline_estimate, 1),
        )
        return total

    def orm_loop(self, tenant) -> float:
        """(b) What a naive tool does: one ORM query per IOC (a sample, extrapolated)."""
        from django.db.models import Q

        from endpoints.models import Observation
        from intel.models import IOC
        from tenancy.context import tenant_context

        def condition(ioc) -> Q:
            v, t = ioc.value, ioc.type
            if t in {"md5", "sha1", "sha256"}:
                return Q(**{t: v})
            if t in {"ipv4", "ipv6"}:
                return Q(remote_ip=v) | Q(source_ip=v)
            if t == "cidr":
                return Q(
                    pk__in=Observation.objects.extra(
                        where=["remote_ip <<= %s::cidr OR source_ip <<= %s::cidr"], params=[v, v]
                    ).values("pk")
                )
            if t == "domain":
                return (
                    Q(dns_query=v)
                    | Q(dns_query__endswith="." + v)
                    | Q(remote_hostname=v)
                    | Q(remote_hostname__endswith="." + v)
                )
            if t in {"file_name", "file_path", "registry_key"}:
                columns = {
                    "file_name": ("file_name", "process_name"),
                    "file_path": ("file_path", "process_path", "target_path"),
                    "registry_key": ("registry_key",),
                }[t]
                q = Q()
                for c in columns:
                    if "*" in v or "?" in v:
                        pattern = "^" + "".join(
                            ".*"
                            if ch == "*"
                            else "."
                            if ch == "?"
                            else "\\" + ch
                            if not ch.isalnum()
                            else ch
                            for ch in v
                        )
                        q |= Q(**{f"{c}__regex": pattern + "$"})
                    else:
                        q |= Q(**{c: v})
                return q
            if t == "header_bytes":
                return Q(header_hex__startswith=v)
            if t == "cmdline" and v.startswith("re:"):
                return Q(command_line__iregex=v[3:])
            return Q(command_line__icontains=v)  # cmdline substrings, URLs

        per_type: dict[str, float] = {}
        with tenant_context(tenant):
            by_type: dict[str, list] = defaultdict(list)
            for ioc in IOC.objects.matchable().only("id", "type", "value"):
                by_type[ioc.type].append(ioc)
            estimate = 0.0
            for kind, iocs in sorted(by_type.items()):
                sample = self.rng.sample(
                    iocs, min(len(iocs), max(20, int(len(iocs) * self.args.orm_sample)))
                )
                started = time.monotonic()
                for ioc in sample:
                    list(
                        Observation.objects.filter(condition(ioc))
                        .values_list("endpoint_id", flat=True)
                        .distinct()
                    )
                each = (time.monotonic() - started) / len(sample)
                per_type[kind] = round(each * 1000, 2)
                estimate += each * len(iocs)
        _say(
            f"naive (b) one ORM query per IOC: ~{estimate:,.0f} s extrapolated from a "
            f"{self.args.orm_sample:.0%} sample per type (ms per IOC: {json.dumps(per_type)})"
        )
        self.results.update(orm_loop_estimate_s=round(estimate, 1), orm_ms_per_ioc=per_type)
        return estimate

    def retro_hunt(self, tenant, present) -> float:
        from intel.models import IOC, Hit
        from intel.services import ioc_create
        from tenancy.context import tenant_context

        with tenant_context(tenant):
            known = set(IOC.objects.filter(type="sha256").values_list("value", flat=True))
            value = next(v for v in present["sha256"] if v not in known)
            started = time.monotonic()
            ioc, _, _ = ioc_create(type="sha256", value=value)  # the retro-hunt starts on commit
            while not Hit.objects.filter(ioc=ioc).exists():
                time.sleep(0.01)
                if time.monotonic() - started > 120:
                    raise RuntimeError("no retro-hunt hit within 2 minutes")
            latency = time.monotonic() - started
        _say(f"retro     new IOC -> its first retro-hunt hit: {latency:.2f} s (worker running)")
        self.results["retro_hunt_s"] = round(latency, 3)
        return latency

    def search(self, tenant, present) -> None:
        from bench.datagen import EVIL_DOMAIN
        from intel.selectors import observation_search
        from tenancy.context import tenant_context

        cases = {
            "sha256": present["sha256"][len(present["sha256"]) // 2],
            "domain and subdomains": EVIL_DOMAIN,
            "file name": "svchost32.exe",
            "cmdline substring": "-encodedcommand",
        }
        timings = {}
        with tenant_context(tenant):
            for label, query in cases.items():
                runs = []
                for _ in range(3):
                    started = time.monotonic()
                    result = observation_search(query)
                    runs.append(time.monotonic() - started)
                timings[label] = (round(statistics.median(runs), 3), len(result.endpoints))
        _say(
            "search    'is this anywhere else?' (median of 3, s, endpoints found): "
            + ", ".join(f"{k} {t} ({n})" for k, (t, n) in timings.items())
        )
        self.results["search_s"] = {k: t for k, (t, _) in timings.items()}

    def run(self) -> int:
        tenant = self.prepare()
        scenario = self.generate(tenant)
        present = self.sample_values(tenant)
        self.import_iocs(tenant, scenario, self.build_iocs(scenario, present))
        worker = self.start_worker()
        try:
            sweep = self.sweep_on_workers(tenant)
            retro = self.retro_hunt(tenant, present)
        finally:
            _stop(worker)
        self.sweep_inline(tenant)
        floor = self.floor(tenant, sweep)
        naive = self.orm_loop(tenant)
        self.search(tenant, present)
        wall = self.results["sweep_workers_s"]
        _say(
            f"==> sweep / floor (a) = {wall / floor:.2f}x (target <= 2x); "
            f"naive (b) / sweep = {naive / wall:,.0f}x faster (target >= 10x); "
            f"retro-hunt {retro:.2f} s"
        )
        self.results.update(
            sweep_vs_floor=round(wall / floor, 2), naive_vs_sweep=round(naive / wall, 1)
        )
        (self.logs / "intel.json").write_text(json.dumps(self.results, indent=2))
        return 0 if wall / floor <= 2 and naive / wall >= 10 else 1
