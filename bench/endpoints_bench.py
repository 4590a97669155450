"""Endpoints at fleet scale: HTTP ingestion against a raw COPY, batch processing, stacking.

    createdb -h 127.0.0.1 -U postgres -O stopclock_owner stopclock_bench     # once
    DATABASE_URL=postgres://stopclock_owner@127.0.0.1:5432/stopclock_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/5 \\
        python -m bench endpoints [--observations=1000000] [--endpoints=10000] \\
                                  [--web-workers=3] [--clients=12] [--worker-concurrency=2]

What it does, in one run on one database (its name must contain "bench": it truncates the
endpoints tables):

1. generates a fleet and N benign observations with `bench.datagen` (outside the timings),
   one gzip NDJSON batch per endpoint (`endpoints.agent_client.encode_batch`);
2. starts gunicorn (`--web-workers` processes, DEBUG off, persistent DB connections) and
   enrols every endpoint through `POST /api/v1/agent/enrol/`;
3. **baseline**: a raw `COPY` of the same rows (validated, typed) into
   `endpoints_observation`, then the table is emptied;
4. **API**: every batch through `POST /api/v1/agent/telemetry/` from `--clients` threads,
   timed from the first request to the last answer (rows committed, one processing task
   per batch queued in Redis, no worker running);
5. starts a Celery worker and times it through the queue (inventory, Sigma, alerts);
6. stacking: median of 5 runs per category over the data, with and without filters;
7. Sigma evaluation alone, per 1,000-record batch, in this process.

Figures are printed as rates and as ratios to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.support import stop_process

ROOT = Path(__file__).resolve().parent.parent


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench endpoints")
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--skip-processing", action="store_true")
    return parser.parse_known_args(argv)[0]


def _copy_text(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))  # fmt: skip
    return text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _say(text: str) -> None:
    print(text, flush=True)


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": env.get("SECRET_KEY", "bench-secret-key-" + "x" * 40),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DB_CONN_MAX_AGE": "300",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            **extra,
        }
    )
    return env


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


_stop = stop_process


def main(argv: list[str]) -> int:
    args = _parse(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql" or "bench" not in connection.settings_dict["NAME"]:
        _say("needs DATABASE_URL on PostgreSQL, a database whose name contains 'bench'")
        return 2
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        _say("needs CELERY_BROKER_URL=redis://… (a database number of its own, e.g. /5)")
        return 2
    return Bench(args).run()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.logs = Path(os.environ.get("STOPCLOCK_VAR_DIR", ROOT / "var")) / "bench"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, float] = {}

    # -- set-up --------------------------------------------------------------------------

    def prepare_database(self):
        from django.core.management import call_command
        from django.db import connection

        from tenancy.models import Tenant
        from tenancy.services import tenant_create

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE endpoints_observation, endpoints_inventoryitem, "
                "endpoints_telemetrybatch, endpoints_endpoint CASCADE"
            )
        from config.celery import app

        app.control.purge()
        tenant = Tenant.objects.filter(slug="bench").first()
        return tenant or tenant_create(slug="bench", name="Bench Corp")

    def generate(self):
        """Records per endpoint, their encoded bodies, and the clean rows for COPY."""
        from bench.datagen import fleet_telemetry, generate_fleet
        from endpoints.agent_client import encode_batch
        from endpoints.telemetry import validate_records

        args = self.args
        started = time.monotonic()
        fleet = generate_fleet(args.endpoints, args.seed, "bench.example")
        start = datetime.now(UTC) - timedelta(hours=25)
        per_endpoint: dict[str, list[dict]] = defaultdict(list)
        for spec, record in fleet_telemetry(fleet, args.observations, start, args.seed):
            per_endpoint[spec.agent_id].append(record)
        generated = time.monotonic() - started
        bodies, clean, raw_bytes = {}, {}, 0
        now = datetime.now(UTC)
        for agent_id, records in per_endpoint.items():
            for offset in range(0, len(records), 10_000):
                chunk = records[offset : offset + 10_000]
                data, headers = encode_batch(chunk)
                bodies.setdefault(agent_id, []).append((data, headers, len(chunk)))
                raw_bytes += len(data)
            clean[agent_id] = validate_records(records, now=now, max_future=timedelta(hours=1))
        _say(
            f"generated {args.observations:,} observations for {len(fleet):,} endpoints in "
            f"{generated:.1f} s; {sum(len(b) for b in bodies.values()):,} gzip NDJSON batches, "
            f"{raw_bytes / 1e6:.1f} MB on the wire ({time.monotonic() - started:.1f} s)"
        )
        return fleet, bodies, clean

    def start_web(self) -> tuple[subprocess.Popen, str]:
        port = _free_port()
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", str(self.args.web_workers),
            "--worker-class", "sync", "--timeout", "120", "--backlog", "2048",
        ]  # fmt: skip
        process = _start(command, _child_env({}), self.logs / "gunicorn.log")
        url = f"http://127.0.0.1:{port}"
        import requests

        for _ in range(120):
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code in (200, 503):
                    return process, url
            except requests.RequestException:
                time.sleep(0.5)
        _stop(process)
        raise SystemExit(f"gunicorn did not start; see {self.logs / 'gunicorn.log'}")

    def enrol(self, tenant, fleet, url: str) -> dict[str, object]:
        from endpoints.agent_client import AgentClient
        from endpoints.services import enrolment_secret_reveal
        from endpoints.simulation import agent_facts
        from tenancy.context import tenant_context

        with tenant_context(tenant):
            secret = enrolment_secret_reveal()
        local = threading.local()

        def enrol_one(spec):
            import requests

            if not hasattr(local, "session"):
                local.session = requests.Session()
            client = AgentClient(url, session=local.session)
            client.enrol(secret, agent_id=spec.agent_id, facts=agent_facts(spec))
            return spec.agent_id, client

        started = time.monotonic()
        with ThreadPoolExecutor(self.args.clients) as pool:
            clients = dict(pool.map(enrol_one, fleet))
        elapsed = time.monotonic() - started
        _say(f"enrolled {len(clients):,} endpoints over HTTP in {elapsed:.1f} s "
             f"({len(clients) / elapsed:,.0f}/s)")  # fmt: skip
        return clients

    # -- ingestion -------------------------------------------------------------------------

    def copy_baseline(self, tenant, clients, clean) -> float:
        """A raw COPY of the same rows into endpoints_observation (then emptied).

        The rows are formatted as COPY text beforehand, so the timing is the database's
        own ingest rate (parsing, constraints, the same indexes), not Python's.
        """
        from django.db import connection

        from endpoints.models import Endpoint
        from endpoints.services import _COLUMN_ORDER
        from tenancy.context import tenant_context

        with tenant_context(tenant):
            ids = dict(Endpoint.objects.values_list("agent_id", "id"))
            received = datetime.now(UTC).isoformat()
            columns = ("tenant_id", "endpoint_id", "batch_id", "received_at", *_COLUMN_ORDER)
            chunks, lines, rows = [], [], 0
            for agent_id, records in clean.items():
                head = f"{tenant.pk}\t{ids[agent_id]}\t0\t{received}"
                for record in records:
                    lines.append(head + "".join("\t" + _copy_text(record.get(c))
                                                for c in _COLUMN_ORDER) + "\n")  # fmt: skip
                    rows += 1
                    if len(lines) == 2000:
                        chunks.append("".join(lines).encode())
                        lines = []
            chunks.append("".join(lines).encode())
            connection.ensure_connection()
            connection.apply_tenant_setting()
            raw = connection.connection
            table = "endpoints_observation"
            started = time.monotonic()
            with raw.transaction(), raw.cursor() as cursor:
                # RLS refuses COPY FROM; the owner lifts FORCE inside this transaction only
                cursor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for chunk in chunks:
                        copy.write(chunk)
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the FK checks, timed too
                cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            elapsed = time.monotonic() - started
            with raw.cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [tenant.pk])
                copied = cursor.fetchone()[0]
                cursor.execute(f"TRUNCATE {table}")
        rate = rows / elapsed
        _say(f"baseline  COPY   {copied:,} rows in {elapsed:6.1f} s = {rate:10,.0f} rows/s")
        return rate

    def api_ingest(self, clients, bodies) -> float:
        jobs = [
            (clients[agent_id], data, headers, count)
            for agent_id, parts in bodies.items()
            for data, headers, count in parts
        ]
        jobs.sort(key=lambda job: -job[3])  # the largest batches first: no long tail
        local = threading.local()
        totals = {"accepted": 0, "duplicates": 0, "errors": 0}
        lock = threading.Lock()

        def send(job):
            import requests

            client, data, headers, _count = job
            if not hasattr(local, "session"):
                local.session = requests.Session()
            client.session = local.session
            answer = client.send_raw(data, headers)
            with lock:
                totals["accepted"] += answer["accepted"]
                totals["duplicates"] += answer["duplicates"]

        started = time.monotonic()
        with ThreadPoolExecutor(self.args.clients) as pool:
            list(pool.map(send, jobs))
        elapsed = time.monotonic() - started
        rate = totals["accepted"] / elapsed
        _say(
            f"HTTP API  ingest {totals['accepted']:,} rows in {elapsed:6.1f} s = {rate:10,.0f} "
            f"rows/s ({len(jobs):,} requests, {len(jobs) / elapsed:,.0f} req/s, "
            f"{totals['duplicates']} duplicates)"
        )
        if totals["accepted"] != self.args.observations:
            raise SystemExit(f"expected {self.args.observations} rows accepted")
        return rate

    def resend_sample(self, clients, bodies) -> None:
        """Re-sending batches stores nothing twice."""
        sample = list(bodies.items())[:50]
        accepted = duplicates = 0
        for agent_id, parts in sample:
            for data, headers, _count in parts:
                answer = clients[agent_id].send_raw(data, headers)
                accepted += answer["accepted"]
                duplicates += answer["duplicates"]
        _say(f"re-sent {len(sample)} batches: {accepted} accepted, {duplicates:,} duplicates")

    # -- processing ------------------------------------------------------------------------

    def process(self, tenant) -> float:
        from endpoints.models import TelemetryBatch
        from tenancy.context import tenant_context

        with tenant_context(tenant):
            pending = TelemetryBatch.objects.filter(status=TelemetryBatch.PENDING)
            total = pending.count()
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
            "--concurrency", str(self.args.worker_concurrency), "--without-gossip",
            "--without-mingle", "--hostname", f"bench-{os.getpid()}@%h",
        ]  # fmt: skip
        started = time.monotonic()
        worker = _start(command, _child_env({}), self.logs / "worker.log")
        try:
            while True:
                time.sleep(1)
                with tenant_context(tenant):
                    left = pending.count()
                if not left:
                    break
                if worker.poll() is not None:
                    raise SystemExit(f"the worker died; see {self.logs / 'worker.log'}")
            elapsed = time.monotonic() - started
        finally:
            _stop(worker)
        rate = self.args.observations / elapsed
        _say(
            f"processed {total:,} batches (inventory, Sigma, alerts) with "
            f"{self.args.worker_concurrency} worker process(es) in {elapsed:.1f} s = "
            f"{rate:,.0f} observations/s (worker start-up included)"
        )
        return rate

    # -- stacking --------------------------------------------------------------------------

    def stacking(self, tenant) -> dict[str, float]:
        from django.db import connection

        from endpoints.models import InventoryItem
        from endpoints.selectors import stack
        from tenancy.context import tenant_context

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE endpoints_inventoryitem")
            cursor.execute("ANALYZE endpoints_endpoint")
        figures = {}
        with tenant_context(tenant):
            items = InventoryItem.objects.count()
            cases = [
                ("autorun", {}),
                ("driver", {}),
                ("process", {}),
                ("autorun, windows + group Finance", {"os_family": "windows",
                                                      "groups": ["Finance"]}),
                ("autorun, tag site:lon", {"tags": ["site:lon"]}),
            ]  # fmt: skip
            for label, kwargs in cases:
                category = label.split(",")[0]
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    page = stack(category=category, **kwargs)
                    times.append(time.perf_counter() - started)
                median = statistics.median(times)
                figures[label] = median
                rarest = page.rows[0] if page.rows else {}
                _say(
                    f"stacking {label:34s} median {median * 1000:7.1f} ms over {items:,} "
                    f"inventory items (rarest: {rarest.get('name')} on "
                    f"{rarest.get('endpoints')})"
                )
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT kind, item_name, target_path, sha256, count(DISTINCT endpoint_id) n "
                    "FROM endpoints_observation WHERE tenant_id = %s AND kind = 'autorun' "
                    "GROUP BY 1, 2, 3, 4 ORDER BY n LIMIT 50",
                    [tenant.pk],
                )
                cursor.fetchall()
            direct = time.perf_counter() - started
            _say(f"stacking autorun straight from observations (one run, for comparison): "
                 f"{direct * 1000:.1f} ms")  # fmt: skip
        return figures

    # -- Sigma alone -----------------------------------------------------------------------

    def sigma(self, clean) -> float:
        from endpoints.detection import Engine
        from endpoints.services import shipped_rules

        engine = Engine(shipped_rules())
        records = [r for rows in clean.values() for r in rows][:200_000]
        batches = [records[i : i + 1000] for i in range(0, len(records), 1000)]
        started = time.perf_counter()
        found = sum(len(engine.evaluate(batch)) for batch in batches)
        elapsed = time.perf_counter() - started
        rate = len(records) / elapsed
        _say(
            f"Sigma     {len(engine.rules)} shipped rules over {len(records):,} records in "
            f"1,000-record batches: {rate:,.0f} records/s, {elapsed / len(batches) * 1000:.1f} "
            f"ms per batch ({found} detections)"
        )
        return rate

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> int:
        from django.db import connection

        connection_cursor = connection.cursor
        args = self.args
        tenant = self.prepare_database()
        self._allowlist_servers(tenant)
        fleet, bodies, clean = self.generate()
        web, url = self.start_web()
        try:
            clients = self.enrol(tenant, fleet, url)
            copy_rate = self.copy_baseline(tenant, clients, clean)
            api_rate = self.api_ingest(clients, bodies)
            self.resend_sample(clients, bodies)
        finally:
            _stop(web)
        ratio = api_rate / copy_rate
        _say(f"==> HTTP API ingestion = {ratio:.0%} of raw COPY (target >= 25%)")
        results = {"copy_rows_per_s": round(copy_rate), "api_rows_per_s": round(api_rate),
                   "api_vs_copy": round(ratio, 3)}  # fmt: skip
        if not args.skip_processing:
            with connection_cursor() as cursor:  # autovacuum would, within a minute
                cursor.execute("ANALYZE endpoints_observation")
            results["processing_obs_per_s"] = round(self.process(tenant))
            stacking = self.stacking(tenant)
            results["stacking_median_ms"] = {k: round(v * 1000, 1) for k, v in stacking.items()}
            worst = max(stacking.values())
            _say(f"==> stacking median, slowest case: {worst * 1000:.0f} ms (target < 1000 ms)")
        results["sigma_records_per_s"] = round(self.sigma(clean))
        _say("RESULT " + json.dumps(results))
        return 0

    def _allowlist_servers(self, tenant) -> None:
        """As a real tenant would: network logons from its own servers are expected."""
        from endpoints.demo import NETWORK_LOGON_RULE, SERVER_RANGE
        from endpoints.models import DetectionRule
        from endpoints.services import rule_exception_add, rules_sync_builtin
        from tenancy.context import tenant_context

        with tenant_context(tenant):
            rules_sync_builtin()
            rule = DetectionRule.objects.get(rule_id=NETWORK_LOGON_RULE)
            rule_exception_add(rule=rule, field="source_ip", value=SERVER_RANGE, reason="servers")
