"""Benchmark of the CDK app: time to synthesise all three stages, and to run the infrastructure tests; or, with
--fleets N, one stage of N fleets and how far it stays from AWS's deploy-time limits.

    .venv/bin/python -m benchmarks.synth [--runs 3] [--test-runs 1] [--model-artifact PATH/model.tar.gz]
    .venv/bin/python -m benchmarks.synth --fleets 1000      # Dev with 1,000 fleets from a YAML file: sizes, limits

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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LIMITS = {
    "template_bytes": 1_000_000,
    "resources_per_template": 500,
    "function_environment_bytes": 4_096,
    "policy_document_chars": 6_144,
    "role_inline_policy_chars": 10_240,
}
"""CloudFormation's template size (S3-uploaded) and resource count, Lambda's environment, IAM's managed-policy size
(stricter than an inline policy's) and a role's inline policies together."""
ACCOUNT = "123456789012"


def many_fleets(n: int) -> list[dict[str, Any]]:
    """ECS, Auto Scaling and SageMaker fleets behind load balancers, as a platform team would list them."""
    out = []
    for i in range(n):
        target = (
            {"kind": "ecs", "cluster": f"cluster-{i % 7}", "service": f"service-{i:04d}"},
            {"kind": "asg", "group": f"group-{i:04d}"},
            {"kind": "sagemaker", "endpoint": f"endpoint-{i:04d}", "variant": "AllTraffic"},
        )[i % 3]
        dims = {"TargetGroup": f"targetgroup/tg-{i:04d}/0123456789abcdef", "LoadBalancer": "app/front/0123456789abcdef"}
        metric = {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount", "dimensions": dims}
        failed = {**metric, "metric_name": "HTTPCode_Target_5XX_Count"}
        out.append(
            {
                "name": f"fleet-{i:04d}", "mode": "shadow", "capacity_rpm_per_machine": 300, "min_machines": 2,
                "max_machines": 400, "max_change_per_minute": 20, "requests": metric, "failed": [failed],
                "target": target,
            }
        )  # fmt: skip
    return out


def _resolved(value: Any) -> Any:
    """A CloudFormation value with intrinsics replaced by strings about as long as what they resolve to."""
    if isinstance(value, dict):
        if "Ref" in value or "Fn::GetAtt" in value or "Fn::ImportValue" in value or "Fn::GetStackOutput" in value:
            return ACCOUNT if value.get("Ref") == "AWS::AccountId" else "x" * 64
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(_resolved(p)) for p in parts)
        if "Fn::Sub" in value:
            return str(value["Fn::Sub"])
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    return value


def limits_report(outdir: Path) -> dict[str, Any]:
    """What a cloud assembly uses of each limit in LIMITS: per template, and the largest function and policy."""
    templates, environments, policies, roles = {}, {}, {}, {}
    for path in sorted(outdir.glob("assembly-*/*.template.json")):
        template = json.loads(path.read_text())
        name = path.name.removesuffix(".template.json")
        templates[name] = {"bytes": path.stat().st_size, "resources": len(template.get("Resources", {}))}
        for logical, resource in template.get("Resources", {}).items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::Lambda::Function":
                variables = _resolved(props.get("Environment", {}).get("Variables", {}))
                environments[f"{name}/{logical}"] = sum(len(k) + len(str(v).encode()) for k, v in variables.items())
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                size = len(json.dumps(_resolved(props["PolicyDocument"]), separators=(",", ":")))
                policies[f"{name}/{logical}"] = size
                for role in props.get("Roles", []):
                    key = f"{name}/{json.dumps(role, sort_keys=True)}"
                    roles[key] = roles.get(key, 0) + size
    return {
        "templates": templates,
        "function_environment_bytes": environments,
        "policy_document_chars": policies,
        "role_inline_policy_chars": roles,
    }


def fleets_stage(n: int, artifact: Path, out: Path) -> dict[str, Any]:
    """Synthesise Dev with `n` fleets (from a YAML file, as cdk.json may name one), in process; its limits report."""
    import aws_cdk as cdk
    import yaml

    sys.path.insert(0, str(ROOT))
    from stacks.app import build

    (out / "fleets.yaml").write_text(yaml.safe_dump(many_fleets(n)))
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["stages"]["Dev"]["fleets"] = str(out / "fleets.yaml")
    context.update(stage="Dev", model_artifact=str(artifact))
    start = time.perf_counter()
    app = cdk.App(context=context, outdir=str(out / "cdk.out"))
    build(app, environ={})
    app.synth()
    report = limits_report(out / "cdk.out")
    largest = {key: max(values.values()) for key, values in report.items() if key != "templates"}
    largest["template_bytes"] = max(t["bytes"] for t in report["templates"].values())
    largest["resources_per_template"] = max(t["resources"] for t in report["templates"].values())
    return {
        "fleets": n,
        "synth_s": round(time.perf_counter() - start, 1),
        "largest": largest,
        "limits": LIMITS,
        "within_limits": all(largest[k] <= v for k, v in LIMITS.items()),
        "templates": report["templates"],
    }


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
    parser.add_argument("--fleets", type=int, default=0, help="one stage of this many fleets: sizes against limits")
    args = parser.parse_args(argv)
    if args.fleets:
        with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
            artifact = Path(args.model_artifact).resolve() if args.model_artifact else passed_gate_artifact(Path(tmp))
            print(json.dumps(fleets_stage(args.fleets, artifact, Path(tmp)), indent=2))
        return 0
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
