"""The whole platform under a mixed load: what two cores sustain, and where the time goes.

    createdb -h 127.0.0.1 -U postgres -O stopclock_owner stopclock_load     # once
    DATABASE_URL=postgres://stopclock_owner@127.0.0.1:5432/stopclock_load \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/10 \\
        python -m bench load [--seconds=60] [--agents=10000] [--cases=10000] \\
                             [--web-workers=4] [--threads=4] [--analysts=8] \\
                             [--start-rate=30] [--step-seconds=8] [--profile-seconds=15]

The database's name must contain "load" or "bench": it is emptied (every table) and
seeded afresh. Redis: the broker is CELERY_BROKER_URL's database, the cache the next one
(db 11 above), so nothing else on that Redis is touched. What it does, in one run:

1. seeds one tenant: `--cases` cases with their alerts, notes and timelines (COPY, as the
   cases bench does), `--agents` enrolled endpoints (tokens hashed as enrolment does),
   `--analysts` signed-in analysts (browser sessions) and a SIEM integration token;
   pre-encodes 2,003 telemetry batches of 20 benign records (`bench.datagen`);
2. starts gunicorn (`--web-workers` gthread processes, persistent database connections,
   DEBUG off) and a Celery worker (processing the telemetry: inventory, Sigma, matching);
3. **baseline**: `GET /healthz` flat out (32 connections) — a `SELECT 1` and a broker
   check; every rate below is also given as a ratio to it;
4. **the mix**, open loop (request i is due at start + i/rate; latency from when it was
   due, so a server falling behind shows as latency, not as a lower rate): agents
   heartbeating (55 %) and sending telemetry (15 %), cycling through all `--agents`
   tokens; integrations posting alerts (5 %); analysts browsing the case list page (8 %),
   case pages (10 %) and the case API (7 %). First flat out (32 connections, closed loop):
   the ceiling whatever the latency. Then a ramp (`--step-seconds` per step, the rate x1.5
   each step from `--start-rate`, a missed step run once more since the machine is shared,
   one midpoint between the last good and the first bad rate) finds the highest rate
   meeting the targets — no error, case pages' p95 under 200 ms, the asked rate achieved
   — and the mix runs for `--seconds` at that rate: the sustained figure (if that
   longer run misses the targets, again at 3/4 of the rate, at most twice);
5. **where the time goes**: the same rate for `--profile-seconds` more, while one
   gunicorn worker profiles what it serves with pyinstrument (wall time per request, by
   operation, split by layer: PostgreSQL round trips, the ORM, templates, DRF, Django,
   Redis, Stopclock's code); and the CPU each process used during the sustained run;
6. waits for the worker to drain the telemetry backlog, and says how long it took.

The load generator runs on the same two cores (one asyncio thread); its CPU is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.support import Http, enrol_bench_agents, stop_process

ROOT = Path(__file__).resolve().parent.parent
SLUG = "bench-load"
BATCH_RECORDS = 20
BODIES = 2003  # prime to the agent count: an agent does not resend the batch it sent
CASE_PAGE_P95 = 0.200
# operation -> share of the requests (the mix)
MIX = {
    "heartbeat": 0.55,
    "telemetry": 0.15,
    "alert": 0.05,
    "case list page": 0.08,
    "case page": 0.10,
    "case API": 0.07,
}
CASE_PAGES = ("case list page", "case page")
OK = {"heartbeat": {200}, "telemetry": {202}, "alert": {200, 201}}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench load")
    parser.add_argument("--seconds", type=float, default=60, help="the sustained run")
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--analysts", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--start-rate", type=float, default=30)
    parser.add_argument("--max-rate", type=float, default=3000)
    parser.add_argument("--step-seconds", type=float, default=8)
    parser.add_argument("--profile-seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=256, help="client connection cap")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_known_args(argv)[0]


def _say(text: str = "") -> None:
    print(text, flush=True)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str]) -> int:
    args = _parse(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Sessions are made here and checked by gunicorn: one secret for both.
    os.environ.setdefault("SECRET_KEY", "bench-load-secret-key-" + "x" * 40)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or not ("load" in name or "bench" in name):
        _say("needs DATABASE_URL on PostgreSQL, a database whose name contains 'load'")
        return 2
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        _say("needs CELERY_BROKER_URL=redis://…/N (db N is the broker, N+1 the cache)")
        return 2
    return Bench(args).run()


@dataclass
class Figures:
    """What one phase measured, per operation."""

    asked: float
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def case_p95(self) -> float:
        return _pct([x for op in CASE_PAGES for x in self.latencies[op]], 0.95)

    def meets_targets(self) -> bool:
        return (
            self.error_count == 0
            and self.case_p95() < CASE_PAGE_P95
            and self.rate >= 0.95 * self.asked
        )


# --- profiling one gunicorn worker (this module is also its WSGI application) ------------------
PROFILE_DIR_ENV = "BENCH_LOAD_PROFILE_DIR"


def operation_of(method: str, path: str) -> str:
    """The mix's name for a request (the profiler files sessions under it)."""
    if path.startswith("/api/v1/agent/heartbeat"):
        return "heartbeat"
    if path.startswith("/api/v1/agent/telemetry"):
        return "telemetry"
    if path.startswith("/api/v1/alerts"):
        return "alert"
    if path.startswith("/api/v1/cases"):
        return "case API"
    if "/cases/" in path:
        return "case list page" if path.rstrip("/").endswith("cases") else "case page"
    return "other"


class _Profiled:
    """While `<dir>/on` exists, the first worker process to lock `<dir>/lock` profiles the
    requests it serves (one at a time, pyinstrument, wall time) and saves one combined
    session per operation every few seconds. Other workers and requests run plain."""

    def __init__(self, app, directory: Path) -> None:
        self.app, self.directory = app, directory
        self.mine: bool | None = None
        self.busy = threading.Lock()
        self.sessions: dict = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.saved = time.monotonic()
        self.dirty = False

    def _owner(self) -> bool:
        if self.mine is None:
            self.lock_file = (self.directory / "lock").open("w")
            try:
                fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.mine = True
            except OSError:
                self.mine = False
        return self.mine

    def __call__(self, environ, start_response):
        if not (self.directory / "on").exists() or not self._owner():
            if self.dirty and self.busy.acquire(blocking=False):
                try:  # the profiled phase is over: what was profiled since the last save
                    self._save()
                finally:
                    self.busy.release()
            return self.app(environ, start_response)
        if not self.busy.acquire(blocking=False):
            return self.app(environ, start_response)
        from pyinstrument import Profiler
        from pyinstrument.session import Session

        try:
            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
            try:
                response = self.app(environ, start_response)
            finally:
                session = profiler.stop()
            op = operation_of(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
            known = self.sessions.get(op)
            self.sessions[op] = session if known is None else Session.combine(known, session)
            self.counts[op] += 1
            self.dirty = True
            if time.monotonic() - self.saved > 2:
                self._save()
            return response
        finally:
            self.busy.release()

    def _save(self) -> None:
        self.saved, self.dirty = time.monotonic(), False
        for op, session in self.sessions.items():
            session.save(self.directory / f"{op.replace(' ', '_')}.pyisession")
        (self.directory / "counts.json").write_text(json.dumps(self.counts))


_application = None


def application(environ, start_response):
    """gunicorn's entry point for the bench: Stopclock's WSGI app, maybe profiled."""
    global _application
    if _application is None:
        from config.wsgi import application as django_app

        directory = os.environ.get(PROFILE_DIR_ENV)
        _application = _Profiled(django_app, Path(directory)) if directory else django_app
    return _application(environ, start_response)


# --- CPU accounting -------------------------------------------------------------------------
def _cpu_seconds(pid: int) -> float:
    """user + system seconds of a process and its (live) descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            stack.extend(int(c) for c in children)
        except (OSError, IndexError, ValueError):
            continue
    return total


def _postgres_cpu() -> float:
    ticks, total = os.sysconf("SC_CLK_TCK"), 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# --- the bench --------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.logs = Path(os.environ.get("STOPCLOCK_VAR_DIR", ROOT / "var")) / "bench"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.profile_dir = self.logs / "load-profile"
        self.rng = random.Random(args.seed)

    # -- set-up --------------------------------------------------------------------------
    def prepare(self) -> None:
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        started = time.monotonic()
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:  # a fresh start: every table emptied
            tables = [t for t in connection.introspection.table_names() if t != "django_migrations"]
            cursor.execute(
                "TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " CASCADE"
            )
        call_command("migrate", verbosity=0)  # post_migrate: content types, permissions
        from config.celery import app

        app.control.purge()
        import redis

        redis.Redis.from_url(self._cache_url()).flushdb()
        self.seed()
        self.bodies = self.telemetry_bodies()
        _say(
            f"seeded in {time.monotonic() - started:.1f} s: {self.args.cases:,} cases, "
            f"{len(self.agents):,} agents, {len(self.sessions)} analysts, "
            f"{len(self.bodies):,} telemetry batches of {BATCH_RECORDS} records "
            f"(PostgreSQL {connection.settings_dict['NAME']}, Redis {settings.CELERY_BROKER_URL})"
        )

    def _cache_url(self) -> str:
        from django.conf import settings

        base, db = settings.CELERY_BROKER_URL.rsplit("/", 1)
        return f"{base}/{int(db or 0) + 1}"

    def seed(self) -> None:
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore
        from django.db.models import Max
        from django.utils import timezone

        from bench.cases_bench import _seed_tenant
        from cases.models import Case, CaseCounter
        from tenancy import roles
        from tenancy.context import tenant_context
        from tenancy.services import api_token_create, membership_set, user_create

        tenant, analyst, key, _ = _seed_tenant(SLUG, self.args.cases, self.args.seed, True)
        self.tenant, self.analyst_key = tenant, key
        now = timezone.now()
        with tenant_context(tenant):
            # The COPY above numbered the cases itself: new ones continue after them.
            for year, last in (
                Case.objects.values_list("year").annotate(last=Max("seq")).order_by("year")
            ):
                CaseCounter.objects.update_or_create(year=year, defaults={"last_number": last})
            siem = user_create(username=f"{SLUG}-siem", password=None)
            membership_set(user=siem, role=roles.INTEGRATION)
            _token, self.siem_key = api_token_create(user=siem, name="SIEM")
            self.case_ids = list(Case.objects.values_list("pk", flat=True))
            self.sessions = []
            for n in range(self.args.analysts):
                user = analyst if n == 0 else user_create(username=f"{SLUG}-a{n}", password=None)
                if n:
                    membership_set(user=user, role=roles.ANALYST)
                store = SessionStore()
                store[SESSION_KEY] = str(user.pk)
                store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
                store[HASH_SESSION_KEY] = user.get_session_auth_hash()
                store.create()
                self.sessions.append(store.session_key)
            agents = enrol_bench_agents(
                self.args.agents, name="load", seen_at=now - timedelta(minutes=5)
            )
        self.agents = [token for _, token in agents]

    def telemetry_bodies(self) -> list[tuple[bytes, dict[str, str]]]:
        from bench.datagen import fleet_telemetry, generate_fleet
        from endpoints.agent_client import encode_batch

        fleet = generate_fleet(200, self.args.seed, "load.example")
        start = datetime.now(UTC) - timedelta(hours=25)  # a day of records, all in the past
        records = [
            r for _, r in fleet_telemetry(fleet, BODIES * BATCH_RECORDS, start, self.args.seed)
        ]
        self.rng.shuffle(records)
        bodies = []
        for i in range(BODIES):
            batch = [
                {**record, "event_id": f"load-{i}-{j}"}
                for j, record in enumerate(records[i * BATCH_RECORDS : (i + 1) * BATCH_RECORDS])
            ]
            bodies.append(encode_batch(batch))
        return bodies

    # -- processes -------------------------------------------------------------------------
    def _env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DEBUG": "0",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "0",
                "DB_CONN_MAX_AGE": "300",
                "LOG_LEVEL": "ERROR",
                "PYTHONPATH": str(ROOT),
                "CACHE_URL": self._cache_url(),
                "CACHE_KEY_PREFIX": SLUG,
                "API_THROTTLE_RATE": "1000000/min",
                **extra,
            }
        )
        return env

    def _spawn(self, command: list[str], env: dict[str, str], log: str) -> subprocess.Popen:
        handle = (self.logs / log).open("wb")
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    _stop = staticmethod(stop_process)

    def collectstatic(self) -> None:
        """DEBUG off serves hashed static names from a manifest: collect once, as a deploy."""
        from django.conf import settings

        if (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
            return
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=self._env(),
            check=True,
        )
        _say(f"collected the static files (once) in {time.monotonic() - started:.0f} s")

    def start(self) -> None:
        import shutil

        import requests

        self.collectstatic()

        shutil.rmtree(self.profile_dir, ignore_errors=True)
        self.profile_dir.mkdir(parents=True)
        self.port = _free_port()
        command = [
            sys.executable, "-m", "gunicorn", "bench.load_bench:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.args.web_workers),
            "--worker-class", "gthread", "--threads", str(self.args.threads),
            "--keep-alive", "75", "--timeout", "120", "--backlog", "4096",
        ]  # fmt: skip
        env = self._env(**{PROFILE_DIR_ENV: str(self.profile_dir)})
        self.web = self._spawn(command, env, "load-gunicorn.log")
        worker = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "WARNING",
            "--concurrency", str(self.args.worker_concurrency), "--without-gossip",
            "--without-mingle", "--hostname", f"load-{os.getpid()}@%h",
        ]  # fmt: skip
        self.worker = self._spawn(worker, self._env(), "load-worker.log")
        for _ in range(240):
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise SystemExit(f"gunicorn did not start; see {self.logs / 'load-gunicorn.log'}")

    # -- the load --------------------------------------------------------------------------
    def _requests(self, count: int, offset: int) -> list[tuple[str, str, str, dict, bytes]]:
        """`count` requests of the mix: (operation, method, path, headers, body)."""
        ops = list(MIX)
        weights = [MIX[op] for op in ops]
        chosen = self.rng.choices(ops, weights, k=count)
        out = []
        for i, op in enumerate(chosen):
            n = offset + i
            if op in ("heartbeat", "telemetry"):
                token = self.agents[n % len(self.agents)]
                headers = {"Authorization": f"Agent {token}"}
                if op == "heartbeat":
                    headers["Content-Type"] = "application/json"
                    out.append((op, "POST", "/api/v1/agent/heartbeat/", headers, b"{}"))
                else:
                    data, extra = self.bodies[n % len(self.bodies)]
                    out.append((op, "POST", "/api/v1/agent/telemetry/", {**headers, **extra}, data))
            elif op == "alert":
                body = json.dumps(
                    {
                        "title": self.rng.choice(ALERT_TITLES),
                        "severity": self.rng.choice(["low", "medium", "high"]),
                        "source": "api",
                        "phase": self.rng.choice(
                            ["initial_infection", "persistence", "lateral_movement"]
                        ),
                        "observed_at": datetime.now(UTC).isoformat(),
                        "external_id": f"siem-{self.run_id}-{n}",
                        "raw": {"rule": "load", "host": f"load-{n % len(self.agents):05d}"},
                    }
                ).encode()
                headers = {"Authorization": f"Token {self.siem_key}"}
                headers["Content-Type"] = "application/json"
                out.append((op, "POST", "/api/v1/alerts/", headers, body))
            elif op == "case API":
                page = self.rng.randint(1, max(1, min(20, len(self.case_ids) // 50)))
                headers = {"Authorization": f"Token {self.analyst_key}"}
                out.append((op, "GET", f"/api/v1/cases/?page={page}", headers, b""))
            else:
                cookie = {"Cookie": f"sessionid={self.rng.choice(self.sessions)}"}
                if op == "case list page":
                    query = self.rng.choice(LIST_QUERIES)
                    out.append((op, "GET", f"/t/{SLUG}/cases/{query}", cookie, b""))
                else:
                    pk = self.rng.choice(self.case_ids)
                    out.append((op, "GET", f"/t/{SLUG}/cases/{pk}/", cookie, b""))
        return out

    async def _open_loop(self, rate: float, seconds: float, label: str) -> Figures:
        count = max(1, int(rate * seconds))
        plan = self._requests(count, self.sent)
        self.sent += count
        figures = Figures(asked=rate, seconds=seconds)
        idle: list[Http] = []
        open_connections = 0
        gate = asyncio.Semaphore(self.args.connections)
        start = time.perf_counter() + 0.1

        async def one(index: int, op: str, method: str, path: str, headers, body) -> None:
            nonlocal open_connections
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            async with gate:
                if idle:
                    http = idle.pop()
                else:
                    http = Http("127.0.0.1", self.port)
                    open_connections += 1
                try:
                    status, answer = await asyncio.wait_for(
                        http.request(method, path, headers, body), 60
                    )
                    good = OK.get(op, {200})
                    if status not in good:
                        figures.errors[op] += 1
                        if len(figures.samples[op]) < 3:
                            figures.samples[op].append(f"{status} {answer[:200]!r}")
                    idle.append(http)
                except Exception as exc:
                    figures.errors[op] += 1
                    if len(figures.samples[op]) < 3:
                        figures.samples[op].append(f"{type(exc).__name__}: {exc}")
                    http.close()
            figures.latencies[op].append(time.perf_counter() - due)

        await asyncio.gather(*(one(i, *request) for i, request in enumerate(plan)))
        figures.seconds = time.perf_counter() - start
        for http in idle:
            http.close()
        verdict = "meets the targets" if figures.meets_targets() else "misses"
        _say(
            f"  {label:24s} asked {rate:7.0f}/s, got {figures.rate:7.0f}/s, case pages p95 "
            f"{figures.case_p95() * 1000:7.1f} ms, {figures.error_count} errors: {verdict}"
        )
        return figures

    def _step_passes(self, rate: float) -> bool:
        """One ramp step at `rate`; a miss is run again once (the machine is shared)."""
        for attempt in ("ramp", "ramp (again)"):
            step = asyncio.run(self._open_loop(rate, self.args.step_seconds, attempt))
            if step.meets_targets():
                return True
        return False

    async def _mix_flat_out(self, seconds: float, connections: int = 32) -> Figures:
        """Closed loop: the mix as fast as `connections` clients get answers (the ceiling,
        whatever the latency)."""
        plan = self._requests(int(5000 * seconds), self.sent)
        self.sent += len(plan)
        figures = Figures(asked=0, seconds=seconds)
        deadline = time.perf_counter() + seconds
        cursor = iter(plan)

        async def client() -> None:
            http = Http("127.0.0.1", self.port)
            for op, method, path, headers, body in cursor:
                if time.perf_counter() > deadline:
                    break
                started = time.perf_counter()
                try:
                    status, _ = await http.request(method, path, headers, body)
                    if status not in OK.get(op, {200}):
                        figures.errors[op] += 1
                except Exception:
                    figures.errors[op] += 1
                    http.close()
                figures.latencies[op].append(time.perf_counter() - started)
            http.close()

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        figures.seconds = time.perf_counter() - started
        _say(
            f"the mix flat out ({connections} connections): {figures.rate:,.0f} req/s, case "
            f"pages p95 {figures.case_p95() * 1000:.0f} ms, {figures.error_count} errors"
        )
        return figures

    async def _flat_out(self, path: str, seconds: float, connections: int = 32) -> Figures:
        figures = Figures(asked=0, seconds=seconds)
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            http = Http("127.0.0.1", self.port)
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status, _ = await http.request("GET", path, {})
                    if status != 200:
                        figures.errors["healthz"] += 1
                except Exception:
                    figures.errors["healthz"] += 1
                    http.close()
                figures.latencies["healthz"].append(time.perf_counter() - started)
            http.close()

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        figures.seconds = time.perf_counter() - started
        return figures

    # -- reporting -------------------------------------------------------------------------
    def report(self, figures: Figures, baseline: Figures) -> dict:
        _say(
            f"\n{'operation':16s} {'req/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
            f"{'errors':>7s}"
        )
        rows = {}
        for op in [*MIX, "all"]:
            values = (
                [x for v in figures.latencies.values() for x in v]
                if op == "all"
                else figures.latencies[op]
            )
            errors = figures.error_count if op == "all" else figures.errors[op]
            row = {
                "rps": len(values) / figures.seconds,
                "p50_ms": _pct(values, 0.5) * 1000,
                "p95_ms": _pct(values, 0.95) * 1000,
                "p99_ms": _pct(values, 0.99) * 1000,
                "errors": errors,
            }
            rows[op] = row
            _say(
                f"{op:16s} {row['rps']:8.1f} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} "
                f"{row['p99_ms']:8.1f} {errors:7d}"
            )
        for op, samples in figures.samples.items():
            _say(f"  errors of {op}: {samples}")
        health = baseline.latencies["healthz"]
        _say(
            f"{'baseline /healthz':16s} {baseline.rate:8.1f} {_pct(health, 0.5) * 1000:8.1f} "
            f"{_pct(health, 0.95) * 1000:8.1f} {_pct(health, 0.99) * 1000:8.1f} "
            f"{baseline.error_count:7d}   (flat out, 32 connections)"
        )
        return rows

    def cpu_report(self, before: dict, after: dict, seconds: float) -> dict:
        out = {}
        _say(f"\nCPU during the sustained run ({seconds:.0f} s, 2 cores = {2 * seconds:.0f} s):")
        for name in ("gunicorn", "celery worker", "postgres (every backend)", "load generator"):
            used = after[name] - before[name]
            out[name] = used
            _say(f"  {name:26s} {used:6.1f} s  = {used / seconds:4.2f} cores")
        busy = (after["busy"][0] - before["busy"][0]) / (after["busy"][1] - before["busy"][1])
        _say(f"  machine busy {busy:.0%} (other work on the machine included)")
        out["machine_busy"] = busy
        return out

    def _cpu(self) -> dict:
        return {
            "gunicorn": _cpu_seconds(self.web.pid),
            "celery worker": _cpu_seconds(self.worker.pid),
            "postgres (every backend)": _postgres_cpu(),
            "load generator": time.process_time(),
            "busy": _machine_busy(),
        }

    def profile_report(self) -> dict:
        from pyinstrument.session import Session

        counts_file = self.profile_dir / "counts.json"
        if not counts_file.exists():
            _say("\n(no profile saved)")
            return {}
        counts = json.loads(counts_file.read_text())
        _say(
            "\nWhere the time goes (one gunicorn worker, pyinstrument, wall time per request "
            "in that worker):"
        )
        heads = "".join(f"{name:>9s}" for name in LAYER_NAMES)
        _say(f"{'operation':16s} {'profiled':>8s} {'ms/req':>8s}{heads}")
        summary = {}
        hot: dict[tuple[str, str], float] = defaultdict(float)
        for op in MIX:
            path = self.profile_dir / f"{op.replace(' ', '_')}.pyisession"
            if not path.exists() or not counts.get(op):
                continue
            session = Session.load(path)
            layers: dict[str, float] = defaultdict(float)
            root = session.root_frame()
            stack = [(root, root)] if root is not None else []
            while stack:
                frame, owner = stack.pop()
                # "[self]" frames and built-ins (socket.recv…) count for the Python code
                # that called them: a recv under redis-py is Redis time.
                real = not frame.is_synthetic
                if real and not (frame.file_path or "<").startswith("<"):
                    owner = frame
                stack.extend((child, owner) for child in frame.children)
                own = frame.time - sum(child.time for child in frame.children)
                if own <= 0:
                    continue
                layers[_layer(owner.file_path or "")] += own
                shown = frame if real else owner
                hot[(shown.function, shown.file_path_short or "")] += own
            total = sum(layers.values()) or 1.0
            per_request = total / counts[op] * 1000
            shares = {name: layers[name] / total for name in LAYER_NAMES}
            summary[op] = {"profiled": counts[op], "ms_per_request": per_request, **shares}
            cells = "".join(f"{shares[name]:9.0%}" for name in LAYER_NAMES)
            _say(f"{op:16s} {counts[op]:8d} {per_request:8.1f}{cells}")
        _say("hottest functions (own time, every operation):")
        overall = sum(hot.values()) or 1.0
        for (function, where), own in sorted(hot.items(), key=lambda kv: -kv[1])[:12]:
            _say(f"  {own / overall:5.1%}  {function}  ({where})")
        return summary

    def drain(self) -> float:
        from endpoints.models import TelemetryBatch
        from tenancy.context import tenant_context

        started = time.monotonic()
        with tenant_context(self.tenant):
            pending = TelemetryBatch.objects.filter(status=TelemetryBatch.PENDING)
            left = pending.count()
            _say(f"\ntelemetry batches still to process when the load stopped: {left:,}")
            while left and time.monotonic() - started < 180:
                time.sleep(1)
                left = pending.count()
            processed = TelemetryBatch.objects.exclude(status=TelemetryBatch.PENDING).count()
        elapsed = time.monotonic() - started
        _say(
            f"the worker drained them in {elapsed:.1f} s ({left:,} left); {processed:,} batches "
            "processed in all"
        )
        return elapsed

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> int:
        args = self.args
        self.run_id, self.sent = secrets.token_hex(3), 0
        self.prepare()
        self.start()
        results: dict = {}
        try:
            baseline = asyncio.run(self._flat_out("/healthz", 6))
            _say(
                f"baseline /healthz flat out: {baseline.rate:,.0f} req/s, p95 "
                f"{_pct(baseline.latencies['healthz'], 0.95) * 1000:.1f} ms"
            )
            asyncio.run(self._open_loop(args.start_rate, 4, "warm-up"))
            flat = asyncio.run(self._mix_flat_out(args.step_seconds + 2))
            results["flat_out_rps"] = round(flat.rate, 1)
            _say("ramp (the mix; targets: no error, case pages p95 < 200 ms, asked rate met):")
            good, bad = None, None
            rate = args.start_rate
            while rate <= args.max_rate:
                if self._step_passes(rate):
                    good, rate = rate, rate * 1.5
                else:
                    bad = rate
                    break
            if good and bad and self._step_passes((good + bad) / 2):
                good = (good + bad) / 2
            sustained = good or args.start_rate
            for attempt in range(3):  # a sustained run that misses: 3/4 of the rate, twice
                _say(f"\nsustained run: {sustained:.0f} req/s for {args.seconds:.0f} s")
                before = self._cpu()
                figures = asyncio.run(self._open_loop(sustained, args.seconds, "sustained"))
                after = self._cpu()
                if figures.meets_targets() or attempt == 2:
                    break
                sustained *= 0.75
            results["rows"] = self.report(figures, baseline)
            results["cpu"] = self.cpu_report(before, after, figures.seconds)
            ceiling = figures.rate / baseline.rate
            _say(
                f"\n==> the mix flat out: {flat.rate:,.0f} req/s = "
                f"{flat.rate / baseline.rate:.2f}x /healthz flat out (case pages p95 "
                f"{flat.case_p95() * 1000:.0f} ms there)"
            )
            _say(
                f"==> sustained {figures.rate:,.0f} req/s of the mix = {ceiling:.2f}x the "
                f"/healthz ceiling; case pages p95 {figures.case_p95() * 1000:.0f} ms (target "
                f"< 200), {figures.error_count} errors (target 0): "
                + ("targets met" if figures.meets_targets() else "targets MISSED")
            )
            agent_rate = (
                len(figures.latencies["heartbeat"]) + len(figures.latencies["telemetry"])
            ) / figures.seconds
            _say(
                f"==> {args.agents:,} agents at {agent_rate:,.0f} agent requests/s: each agent "
                f"calls in every {args.agents / agent_rate:,.0f} s"
            )
            if args.profile_seconds > 0:
                (self.profile_dir / "on").touch()
                asyncio.run(self._open_loop(sustained, args.profile_seconds, "profiled"))
                (self.profile_dir / "on").unlink()
                time.sleep(3)  # the profiled worker saves every 2 s
                results["profile"] = self.profile_report()
            results["drain_s"] = self.drain()
        finally:
            self._stop(self.web)
            self._stop(self.worker)
        results.update(
            {
                "sustained_rps": round(figures.rate, 1),
                "baseline_healthz_rps": round(baseline.rate, 1),
                "case_pages_p95_ms": round(figures.case_p95() * 1000, 1),
                "errors": figures.error_count,
            }
        )
        _say("RESULT " + json.dumps(results, default=lambda v: round(v, 3)))
        return 0


ALERT_TITLES = (
    "Beacon to a known C2",
    "Office macro spawned PowerShell",
    "Credential dumping tool",
    "Suspicious scheduled task",
    "Impossible travel sign-in",
)
LIST_QUERIES = ("", "?status=investigating", "?severity=high", "?status=any&page=3", "?q=ws-")
LAYER_NAMES = ("postgres", "orm", "templates", "drf", "django", "redis", "stopclock", "other")


def _layer(path: str) -> str:
    """The layer a frame's own time belongs to, by its file."""
    if "/psycopg" in path:
        return "postgres"
    if "/redis/" in path or "/kombu/" in path or "/celery/" in path:
        return "redis"
    if "/django/db/" in path:
        return "orm"
    if "/django/template" in path or path.endswith(".html"):
        return "templates"
    if "/rest_framework/" in path or "/django_filters/" in path:
        return "drf"
    if "/django/" in path:
        return "django"
    if str(ROOT) in path and "/.venv/" not in path:
        return "stopclock"
    return "other"
