"""`make run`: start the web server, a Celery worker and the beat scheduler; stop all on Ctrl-C.

Usage: python -m config.runstack [--port 8000]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commands(port: int) -> dict[str, list[str]]:
    python = sys.executable
    bind = f"127.0.0.1:{port}"
    return {
        "web": [
            python,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            bind,
            "--workers",
            os.environ.get("WEB_WORKERS", "2"),
            "--threads",
            "4",
            "--timeout",
            "60",
            "--access-logfile",
            "-",
        ],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            os.environ.get("WORKER_CONCURRENCY", "2"),
            "--hostname",
            f"worker-{os.getpid()}@%h",
        ],
        "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()
    processes: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, command in commands(args.port).items():
        processes[name] = subprocess.Popen(command, cwd=HERE, start_new_session=True)  # noqa: S603 - our own fixed argv
    print(f"\n  Stopclock is up at http://127.0.0.1:{args.port}/", flush=True)
    print("  demo login: admin / stopclock-demo  (also lead, analyst, auditor)", flush=True)
    print("  Ctrl-C stops the web server, the worker and the scheduler.\n", flush=True)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping", flush=True)
                exit_code, stopping = 1, True
                break
        time.sleep(0.5)
    for process in processes.values():
        if process.poll() is None:
            process.terminate()  # the main process shuts its children down gracefully
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    print("stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
