"""The agents' action poll under 10,000 idle agents, against gunicorn on PostgreSQL + Redis.

    createdb -h 127.0.0.1 -U stopclock_owner stopclock_actions_bench      # once
    DATABASE_URL=postgres://stopclock_owner@127.0.0.1:5432/stopclock_actions_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/6 \\
        python -m bench actions [--agents=10000] [--web-workers=4] [--rate=400] \\
                                [--seconds=20] [--wait=25] [--hold-seconds=75]

The database's name must contain "bench" (the bench tenant's endpoints are replaced). What
it does, in one run, every figure next to a baseline measured in the same run:

1. creates `--agents` enrolled endpoints (tokens hashed as enrolment does), outside the
   timings;
2. **short polls** (gunicorn `--web-workers` gthread processes, 16 threads, persistent
   database connections): each agent's first poll (a database look-up, it has no cursor
   yet); then the fleet polling *at a steady rate* (`--rate` requests/s, open loop, latency
   from the scheduled send time) with its cursor: an empty poll costs the token look-up
   and a Redis read, no actions query; then flat out (closed loop, 32 connections). The
   baseline is `GET /healthz` (a `SELECT 1` and a broker check) at the same rate / flat out,
   in alternating rounds with the poll (3 each), so the machine's other load hits both;
3. **long polls** (gunicorn restarted with enough threads to hold every agent: gthread,
   database connections closed while a poll waits): every agent keeps a `--wait` second
   long poll open, re-polling as soon as it is answered, starts staggered over one wait,
   for `--hold-seconds`. Reported over the steady part: answers/s, the p95 of (latency -
   wait) for full waits, polls answered early (no free slot), database transactions,
   Redis commands and web CPU per poll; and, meanwhile, an action queued for a random
   waiting agent every 2 s: commit-to-delivery latency (the Redis pub/sub doorbell).

Figures are printed as ratios to the baseline, so a slower machine changes the absolute
numbers but not the conclusions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.support import Http, enrol_bench_agents, stop_process

ROOT = Path(__file__).resolve().parent.parent


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench actions")
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--rate", type=int, default=400, help="steady polls/s (agents/25 s)")
    parser.add_argument("--seconds", type=float, default=30, help="each short-poll phase")
    parser.add_argument("--wait", type=float, default=25, help="long-poll wait")
    parser.add_argument("--hold-seconds", type=float, default=75, help="the long-poll phase")
    parser.add_argument("--connections", type=int, default=32, help="closed loop")
    return parser.parse_known_args(argv)[0]


def _say(text: str) -> None:
    print(text, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str]) -> int:
    args = _parse(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql" or "bench" not in connection.settings_dict["NAME"]:
        _say("needs DATABASE_URL on PostgreSQL, a database whose name contains 'bench'")
        return 2
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        _say("needs CELERY_BROKER_URL=redis://… (its db + 1 is the shared cache)")
        return 2
    return Bench(args).run()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.logs = Path(os.environ.get("STOPCLOCK_VAR_DIR", ROOT / "var")) / "bench"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, object] = {}

    # -- set-up --------------------------------------------------------------------------
    def prepare(self) -> list[tuple[int, str]]:
        """`--agents` enrolled endpoints of the bench tenant: [(endpoint id, token)]."""
        from django.core.management import call_command
        from django.utils import timezone

        from endpoints.models import Endpoint
        from tenancy.context import tenant_context
        from tenancy.models import Tenant
        from tenancy.services import tenant_create

        call_command("migrate", verbosity=0)
        tenant = Tenant.objects.filter(slug="bench-actions").first() or tenant_create(
            slug="bench-actions", name="Bench Actions"
        )
        self.tenant = tenant
        started = time.monotonic()
        with tenant_context(tenant):
            from cases.models import ResponseAction

            ResponseAction.objects.all().delete()
            Endpoint.objects.all().delete()
            agents = enrol_bench_agents(self.args.agents, name="bench", seen_at=timezone.now())
        _say(f"enrolled {len(agents):,} endpoints in {time.monotonic() - started:.1f} s")
        return agents

    def start_web(self, *, threads: int, slots: int, conn_max_age: int, connections: int):
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(self.args.web_workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--worker-connections",
            str(connections),
            "--keep-alive",
            "60",
            "--timeout",
            "120",
            "--backlog",
            "8192",
        ]
        env = dict(os.environ)
        env.update(
            {
                "DEBUG": "0",
                "SECRET_KEY": env.get("SECRET_KEY", "bench-secret-key-" + "x" * 40),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "0",
                "DB_CONN_MAX_AGE": str(conn_max_age),
                "LOG_LEVEL": "ERROR",
                "PYTHONPATH": str(ROOT),
                "ACTIONS_LONG_POLL_SLOTS": str(slots),
                "API_THROTTLE_RATE": "100000/min",
            }
        )
        log = (self.logs / "actions-gunicorn.log").open("ab")
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        import requests

        for _ in range(120):
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    self.port = port
                    return process
            except requests.RequestException:
                pass
            time.sleep(0.5)
        stop_process(process)
        raise SystemExit(f"gunicorn did not start; see {self.logs / 'actions-gunicorn.log'}")

    # -- measurements ----------------------------------------------------------------------
    async def first_polls(self, agents) -> dict[int, str]:
        """Each agent's first poll (no cursor: it looks in the database); their cursors."""
        queue = list(agents)
        cursors: dict[int, str] = {}
        latencies: list[float] = []

        async def client():
            http = Http("127.0.0.1", self.port)
            while queue:
                endpoint_id, token = queue.pop()
                started = time.perf_counter()
                status, body = await http.get(
                    "/api/v1/agent/actions/?wait=0", {"Authorization": f"Agent {token}"}
                )
                latencies.append(time.perf_counter() - started)
                assert status == 200, (status, body[:200])
                cursors[endpoint_id] = json.loads(body)["cursor"]
            http.close()

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(self.args.connections)))
        elapsed = time.monotonic() - started
        _say(
            f"first poll of each agent (actions looked up): {len(cursors):,} in {elapsed:.1f} s "
            f"= {len(cursors) / elapsed:,.0f}/s, p95 {_pct(latencies, 0.95) * 1000:.1f} ms"
        )
        return cursors

    async def steady(self, label: str, requests_: list[tuple[str, dict]], rate: float) -> dict:
        """Open loop: request i is due at start + i/rate; latency from when it was due."""
        pool: asyncio.Queue[Http] = asyncio.Queue()
        for _ in range(64):
            pool.put_nowait(Http("127.0.0.1", self.port))
        latencies: list[float] = []
        errors = 0
        start = time.perf_counter() + 0.2

        async def one(index: int, path: str, headers: dict) -> None:
            nonlocal errors
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            http = await pool.get() if not pool.empty() else Http("127.0.0.1", self.port)
            try:
                status, _ = await http.get(path, headers)
                if status != 200:
                    errors += 1
            except Exception:
                errors += 1
                http.close()
            latencies.append(time.perf_counter() - due)
            pool.put_nowait(http)

        await asyncio.gather(*(one(i, p, h) for i, (p, h) in enumerate(requests_)))
        elapsed = time.perf_counter() - start
        figures = {
            "rps": len(requests_) / elapsed,
            "p50": _pct(latencies, 0.5),
            "p95": _pct(latencies, 0.95),
            "p99": _pct(latencies, 0.99),
            "errors": errors,
            "latencies": latencies,
            "count": len(requests_),
            "elapsed": elapsed,
        }
        _say(
            f"{label:46s} {figures['rps']:8,.0f} req/s (asked {rate:,.0f}), p50 "
            f"{figures['p50'] * 1000:6.1f} ms, p95 {figures['p95'] * 1000:6.1f} ms, "
            f"p99 {figures['p99'] * 1000:6.1f} ms, {errors} errors"
        )
        return figures

    async def flat_out(self, label: str, make, seconds: float) -> dict:
        """Closed loop: `--connections` clients, each sending as soon as it is answered."""
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + seconds

        async def client(n: int):
            nonlocal errors
            http, i = Http("127.0.0.1", self.port), n
            while time.perf_counter() < deadline:
                path, headers = make(i)
                i += self.args.connections
                started = time.perf_counter()
                status, _ = await http.get(path, headers)
                latencies.append(time.perf_counter() - started)
                errors += status != 200
            http.close()

        started = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(self.args.connections)))
        elapsed = time.perf_counter() - started
        figures = {
            "rps": len(latencies) / elapsed,
            "p50": _pct(latencies, 0.5),
            "p95": _pct(latencies, 0.95),
            "errors": errors,
            "latencies": latencies,
            "count": len(latencies),
            "elapsed": elapsed,
        }
        _say(
            f"{label:46s} {figures['rps']:8,.0f} req/s flat out ({self.args.connections} "
            f"connections), p50 {figures['p50'] * 1000:6.1f} ms, p95 "
            f"{figures['p95'] * 1000:6.1f} ms, {errors} errors"
        )
        return figures

    # -- the long-poll phase ----------------------------------------------------------------
    def _server_counters(self, web: subprocess.Popen) -> dict[str, float]:
        import redis
        from django.conf import settings
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                [connection.settings_dict["NAME"]],
            )
            xacts = cursor.fetchone()[0]
        stats = redis.Redis.from_url(settings.CELERY_BROKER_URL).info("stats")
        return {
            "xacts": xacts,
            "redis": stats["total_commands_processed"],
            "cpu": _cpu_seconds(web.pid),
            "at": time.monotonic(),
        }

    async def hold(self, agents, cursors, web) -> dict:
        args = self.args
        wait, stop_at = args.wait, time.monotonic() + args.hold_seconds
        steady_from = time.monotonic() + wait + 2
        answers: list[tuple[float, float, bool]] = []  # (finished at, latency, early)
        probes: dict[int, float] = {}  # action id -> committed at (perf_counter)
        delivered: list[float] = []
        waiting: set[int] = set()
        counters: dict[str, dict] = {}

        async def agent(endpoint_id: int, token: str) -> None:
            http = Http("127.0.0.1", self.port)
            auth = {"Authorization": f"Agent {token}"}
            cursor = cursors.get(endpoint_id, "")
            await asyncio.sleep(random.uniform(0, wait))
            while time.monotonic() < stop_at:
                waiting.add(endpoint_id)
                started = time.perf_counter()
                try:
                    status, body = await http.get(
                        f"/api/v1/agent/actions/?wait={wait:g}&cursor={cursor}", auth
                    )
                except Exception:
                    http.close()
                    await asyncio.sleep(1)
                    continue
                finally:
                    waiting.discard(endpoint_id)
                now = time.perf_counter()
                if status != 200:
                    await asyncio.sleep(1)
                    continue
                answer = json.loads(body)
                cursor = answer.get("cursor") or ""
                early = bool(answer.get("poll_after"))
                answers.append((time.monotonic(), now - started, early))
                for payload in answer["actions"]:
                    if payload["id"] in probes:
                        delivered.append(now - probes.pop(payload["id"]))
                    await http.post(
                        f"/api/v1/agent/actions/{payload['id']}/result/",
                        b'{"status": "succeeded", "output": "bench"}',
                        auth,
                    )
                if early:
                    await asyncio.sleep(answer["poll_after"])
            http.close()

        async def probe() -> None:
            """Queue an action for a waiting agent every 2 s; time its delivery."""
            from asgiref.sync import sync_to_async

            await asyncio.sleep(wait + 3)
            while time.monotonic() < stop_at - 5:
                if waiting:
                    target = random.choice(sorted(waiting))
                    action_id, committed = await sync_to_async(self._queue_action)(target)
                    probes[action_id] = committed
                await asyncio.sleep(2)

        async def sample() -> None:
            from asgiref.sync import sync_to_async

            await asyncio.sleep(max(0.0, steady_from - time.monotonic()))
            counters["from"] = await sync_to_async(self._server_counters)(web)
            await asyncio.sleep(max(0.0, stop_at - 3 - time.monotonic()))
            counters["to"] = await sync_to_async(self._server_counters)(web)

        _say(f"holding {len(agents):,} long polls of {wait:g} s for {args.hold_seconds:g} s…")
        await asyncio.gather(*(agent(e, t) for e, t in agents), probe(), sample())
        a, b = counters["from"], counters["to"]
        window = b["at"] - a["at"]
        steady = [x for x in answers if a["at"] <= x[0] <= b["at"]]
        full = [lat - wait for _, lat, early in steady if not early and lat >= wait - 0.5]
        polls = len(steady)
        figures = {
            "answers_per_s": polls / window,
            "early_share": sum(1 for *_, early in steady if early) / max(1, polls),
            "overhead_p50": _pct(full, 0.5),
            "overhead_p95": _pct(full, 0.95),
            "db_xacts_per_poll": (b["xacts"] - a["xacts"]) / max(1, polls),
            "redis_cmds_per_poll": (b["redis"] - a["redis"]) / max(1, polls),
            "web_cpu_ms_per_poll": (b["cpu"] - a["cpu"]) * 1000 / max(1, polls),
            "web_cpu_share": (b["cpu"] - a["cpu"]) / window,
            "delivery_p50": _pct(delivered, 0.5),
            "delivery_p95": _pct(delivered, 0.95),
            "deliveries": len(delivered),
        }
        _say(
            f"long poll, {len(agents):,} idle agents:  {figures['answers_per_s']:,.0f} answers/s "
            f"over {window:.0f} s steady, p50/p95 of (latency - {wait:g} s wait) "
            f"{figures['overhead_p50'] * 1000:.1f} / {figures['overhead_p95'] * 1000:.1f} ms, "
            f"{figures['early_share']:.1%} answered early (no free slot)"
        )
        _say(
            f"  per poll: {figures['db_xacts_per_poll']:.2f} database transactions, "
            f"{figures['redis_cmds_per_poll']:.1f} Redis commands, "
            f"{figures['web_cpu_ms_per_poll']:.2f} ms web CPU "
            f"({figures['web_cpu_share']:.0%} of one core for the whole fleet)"
        )
        _say(
            f"  an action queued for a waiting agent reached it in p50 "
            f"{figures['delivery_p50'] * 1000:.0f} ms, p95 {figures['delivery_p95'] * 1000:.0f} ms "
            f"({len(delivered)} actions)"
        )
        return figures

    def _queue_action(self, endpoint_id: int) -> tuple[int, float]:
        from django.db import transaction

        from cases.actions.services import action_request
        from tenancy.context import tenant_context

        with tenant_context(self.tenant), transaction.atomic():
            action = action_request(type="release_isolation", endpoint=endpoint_id)
        return action.pk, time.perf_counter()

    def short_polls(self, agents, cursors):
        """Baseline and empty poll in alternating rounds (the machine's other load hits both
        alike), at the steady rate and flat out; each figure over all its rounds."""
        args, rounds = self.args, 3
        per_round = args.seconds / rounds
        poll = "/api/v1/agent/actions/?wait=0&cursor={}"

        def poll_request(i):
            endpoint_id, token = agents[i % len(agents)]
            return poll.format(cursors[endpoint_id]), {"Authorization": f"Agent {token}"}

        count = int(args.rate * per_round)
        runs: dict[str, list[dict]] = {"healthz": [], "poll": [], "healthz_max": [], "poll_max": []}
        offset = 0
        for n in range(rounds):
            _say(f"round {n + 1} of {rounds}:")
            runs["healthz"].append(
                asyncio.run(
                    self.steady(
                        "  baseline GET /healthz, steady", [("/healthz", {})] * count, args.rate
                    )
                )
            )
            runs["poll"].append(
                asyncio.run(
                    self.steady(
                        f"  empty poll, {len(agents):,} agents, steady",
                        [poll_request(offset + i) for i in range(count)],
                        args.rate,
                    )
                )
            )
            offset += count
            runs["healthz_max"].append(
                asyncio.run(
                    self.flat_out("  baseline GET /healthz", lambda i: ("/healthz", {}), per_round)
                )
            )
            runs["poll_max"].append(
                asyncio.run(self.flat_out("  empty poll", poll_request, per_round))
            )
        merged = {name: _merge(results) for name, results in runs.items()}
        for name, label in (
            ("healthz", "baseline /healthz, steady"),
            ("poll", "empty poll, steady"),
            ("healthz_max", "baseline /healthz, flat out"),
            ("poll_max", "empty poll, flat out"),
        ):
            figures = merged[name]
            _say(
                f"{label:30s} {figures['rps']:8,.0f} req/s, p50 {figures['p50'] * 1000:6.1f} ms, "
                f"p95 {figures['p95'] * 1000:6.1f} ms, {figures['errors']} errors"
            )
        return merged["healthz"], merged["poll"], merged["healthz_max"], merged["poll_max"]

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> int:
        args = self.args
        agents = self.prepare()
        web = self.start_web(threads=16, slots=0, conn_max_age=60, connections=1000)
        try:
            cursors = asyncio.run(self.first_polls(agents))
            healthz, polls, healthz_max, polls_max = self.short_polls(agents, cursors)
        finally:
            stop_process(web)
        per_worker = -(-len(agents) // args.web_workers) + 200
        # gthread keeps a connection alive only while threads < worker_connections
        web = self.start_web(
            threads=per_worker + 50,
            slots=per_worker,
            conn_max_age=0,
            connections=2 * per_worker + 200,
        )
        try:
            held = asyncio.run(self.hold(agents, cursors, web))
        finally:
            stop_process(web)
        _say(
            f"==> empty poll vs /healthz: steady {polls['rps'] / healthz['rps']:.2f}x the "
            f"throughput, p95 {polls['p95'] / healthz['p95']:.2f}x; flat out "
            f"{polls_max['rps'] / healthz_max['rps']:.2f}x the throughput "
            f"({polls_max['rps']:,.0f} vs {healthz_max['rps']:,.0f} req/s), p95 "
            f"{polls_max['p95'] / healthz_max['p95']:.2f}x"
        )
        _say(
            f"==> {len(agents):,} agents each polling every {len(agents) / args.rate:.0f} s need "
            f"{args.rate} req/s = {args.rate / polls_max['rps']:.0%} of the empty-poll capacity; "
            f"long-polling instead: {held['answers_per_s']:,.0f} answers/s, "
            f"{held['web_cpu_share']:.0%} of a core"
        )
        self.results = {
            "agents": len(agents),
            "steady": {"healthz": healthz, "poll": polls},
            "flat_out": {"healthz": healthz_max, "poll": polls_max},
            "long_poll": held,
        }
        _say("RESULT " + json.dumps(_rounded(self.results)))
        return 0


def _merge(runs: list[dict]) -> dict:
    """One figure from several rounds: requests over time, percentiles over every latency."""
    latencies = [value for run in runs for value in run["latencies"]]
    return {
        "rps": sum(run["count"] for run in runs) / sum(run["elapsed"] for run in runs),
        "p50": _pct(latencies, 0.5),
        "p95": _pct(latencies, 0.95),
        "p99": _pct(latencies, 0.99),
        "errors": sum(run["errors"] for run in runs),
    }


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


def _cpu_seconds(root_pid: int) -> float:
    """User + system CPU of a process and its children (the gunicorn master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root_pid or ppid == root_pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
