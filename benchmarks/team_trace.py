"""Benchmark of a team's verdict: ``python -m training.evaluate --trace FILE --fleet FILE --policy ...`` on a
14-day, 1-minute trace with 10 paired draws, timed from outside.

    .venv/bin/python -m benchmarks.team_trace [--runs 3] [--days 14] [--draws 10] [--policy model.tar.gz]
    .venv/bin/python -m benchmarks.team_trace --economics-table [--policy model.tar.gz]

``--economics-table`` instead scores the same trace at the README's three economics rows (``ECONOMICS_ROWS``,
requests priced so that a busy 2-rpm machine earns what a 300-rpm one does at 0.90 $ per 1,000): one draw, every
rule, the oracle and ``--policy`` when given; prints each row's total profits.

The trace is a small web service drawn here (seeded): a daily and weekly cycle, mean about 18 machines' worth at
2 requests per minute per machine, Poisson counts; the fleet file is one controller fleet object with its own
economics. Without ``--policy`` a random policy is packaged (its decisions cost the same to compute as a trained
one's). Each run is a fresh ``python -m training.evaluate`` process (imports included, plots off); prints one JSON
object with the median wall and CPU seconds (children included) and the cores used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FLEET = {
    "name": "small-web",
    "capacity_rpm_per_machine": 2,
    "min_machines": 1,
    "max_machines": 400,
    "max_change_per_minute": 100,
    "requests": {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount", "dimensions": {}},
    "target": {"kind": "ecs", "cluster": "web", "service": "small-web"},
    "economics": {"warmup_latency": 10, "downtime_cost": 1000, "machine_cost": 0.02},
}


ECONOMICS_ROWS: dict[str, dict[str, float]] = {
    "default prices": {"request_value": 135.0},
    "warm-up 10 min, outage 1,000 $/min, machine 0.02 $/min": {
        "request_value": 135.0, "warmup_latency": 10, "downtime_cost": 1000.0, "machine_cost": 0.02,
    },
    "warm-up 1 min, outage 20 $/min, machine 0.2 $/min": {
        "request_value": 135.0, "warmup_latency": 1, "downtime_cost": 20.0, "machine_cost": 0.2,
    },
}  # fmt: skip


def economics_table(work: Path, trace: Path, policy: Path | None) -> list[dict]:
    rows = []
    for label, economics in ECONOMICS_ROWS.items():
        fleet = work / "fleet.json"
        fleet.write_text(json.dumps({**FLEET, "economics": economics}))
        out = work / "eval"
        command = [sys.executable, "-m", "training.evaluate", "--trace", str(trace), "--fleet", str(fleet)]
        command += ["--no-plots", "--out", str(out), *(["--policy", str(policy)] if policy else [])]
        result = subprocess.run(command, cwd=ROOT, env={**os.environ, "TQDM_DISABLE": "1"}, capture_output=True)
        if result.returncode != 0:
            raise SystemExit(f"evaluate failed ({result.returncode}):\n{result.stderr.decode()[-2000:]}")
        report = json.loads((out / "report.json").read_text())
        profit = {s["name"]: round(s["total_profit"]) for s in report["summary"]}
        rows.append({"economics": label, "profit": profit, "verdicts": report.get("team_verdicts", [])})
    return rows


def write_trace(path: Path, days: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    minute = np.arange(days * 1440)
    weekday = (minute // 1440) % 7 < 5
    rate = 36.0 * (1.0 + 0.8 * np.sin(2 * np.pi * (minute / 1440 - 0.3))) * np.where(weekday, 1.0, 0.7)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    rows = (
        f"{(start + timedelta(minutes=int(m))).strftime('%Y-%m-%dT%H:%M:%SZ')},{n}"
        for m, n in zip(minute, rng.poisson(rate))
    )
    path.write_text("timestamp,requests\n" + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--economics-table", action="store_true", help="the README's table instead of timings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trace, fleet = work / "trace.csv", work / "fleet.json"
        write_trace(trace, args.days)
        if args.economics_table:
            print(json.dumps(economics_table(work, trace, args.policy), indent=1))
            return
        fleet.write_text(json.dumps(FLEET))
        policy = args.policy
        if policy is None:
            sys.path.insert(0, str(ROOT))
            from inference.artifact import package_policy, random_policy, untrained_metadata

            policy = package_policy(random_policy(0), work / "model", metadata=untrained_metadata("bench-random"))
        command = [
            sys.executable, "-m", "training.evaluate", "--trace", str(trace), "--fleet", str(fleet),
            "--policy", str(policy), "--draws", str(args.draws), "--no-plots", "--out", str(work / "eval"),
        ]  # fmt: skip
        env = {**os.environ, "TQDM_DISABLE": "1"}
        walls, cpus = [], []
        for _ in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            if result.returncode != 0:
                raise SystemExit(f"evaluate failed ({result.returncode}):\n{result.stderr[-2000:]}")
        printed = [line for line in result.stdout.splitlines() if not line.startswith("- ")]  # report.md repeats
        verdicts = [line for line in printed if " beats " in line or " ties " in line or " loses " in line]
    print(
        json.dumps(
            {
                "benchmark": "team_trace",
                "days": args.days,
                "draws": args.draws,
                "runs": args.runs,
                "median_wall_s": round(statistics.median(walls), 1),
                "median_cpu_s": round(statistics.median(cpus), 1),
                "wall_s": [round(w, 1) for w in walls],
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "verdicts": verdicts,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
