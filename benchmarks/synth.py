"""Benchmark of the CDK app: time to synthesise all three stages, and to run the infrastructure tests.

    .venv/bin/python -m benchmarks.synth [--runs 3] [--test-runs 1] [--model-artifact PATH/model.tar.gz]

Synth is `npx cdk synth -q` exactly as a developer runs it (the CLI starts `python app.py`, which builds Dev,
Staging and Prod, runs cdk-nag and writes cdk.out), timed from outside, `--runs` times; the tests are
`pytest tests/infra -q`, `--test-runs` times. Without --model-artifact a random policy is packaged with a passed
gate in a temporary directory (Staging and Prod refuse any other). Prints one JSON object; figures are medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def passed_gate_artifact(out_dir: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from inference.artifact import package_policy, random_policy, untrained_metadata

    metadata = untrained_metadata("bench-random")
    metadata["gate"] = {"passed": True, "forced": False, "reason": "benchmark input: recorded as passed"}
    return package_policy(random_policy(0), out_dir, metadata=metadata)


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def summary(samples: list[float]) -> dict[str, object]:
    return {"median_s": round(statistics.median(samples), 2), "runs_s": [round(s, 2) for s in samples]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3, help="synth runs")
    parser.add_argument("--test-runs", type=int, default=1, help="runs of the infrastructure test suite (0: skip)")
    parser.add_argument("--model-artifact", default=None)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.test_runs < 0:
        parser.error("--runs must be >= 1 and --test-runs >= 0")

    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1"}
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        raise SystemExit(f"{cdk} not found: run `npm ci` first")
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        artifact = Path(args.model_artifact).resolve() if args.model_artifact else passed_gate_artifact(Path(tmp))
        synth = [
            timed(
                [str(cdk), "synth", "-q", "-c", f"model_artifact={artifact}", "--output", f"{tmp}/cdk.out.{i}"],
                env,
            )
            for i in range(args.runs)
        ]
        tests = [
            timed([sys.executable, "-m", "pytest", "tests/infra", "-q", "-p", "no:cacheprovider"], env)
            for _ in range(args.test_runs)
        ]
    report = {
        "synth_all_stages": {**summary(synth), "target_s": 30, "command": "npx cdk synth -q"},
        "infra_tests": summary(tests) if tests else None,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
