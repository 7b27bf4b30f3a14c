"""Monthly cost of each stage, read from the synthesised templates, for 1, 10 and 100 fleets; prints a table.

    npx cdk synth -q && .venv/bin/python scripts/costs.py --cdk-out cdk.out [--fleets 1 10 100] [--json]

What is counted, and where each quantity comes from:
- endpoint: instance-hours of the endpoint config's variant (the auto-scaling minimum, idle) or, serverless, GB-seconds
  of one batched call a minute plus the data it moves;
- controller Lambda: one run a minute (the schedule's rate), its memory, a duration growing with the fleets;
- CloudWatch: the controller's custom metrics (controller/publish.py names: per fleet and per stage) and the handler's
  (inference/metrics.py), their PutMetricData calls, the GetMetricData reads (two metrics per fleet per run), every
  alarm of the templates (priced per metric it evaluates, high resolution below 60 s), every dashboard;
- logs: what the controller and the endpoint write per run, stored for the stage's retention;
- KMS: every key of the templates and the requests of the S3 reads and writes;
- S3: data capture at the endpoint config's sampling percentage, kept for its retention, and the controller's state
  object read and written once a run.
Not counted: training runs (per run, by instance-hours: not idle), custom resources run at deploy, the simulated fleets'
own metrics (a real fleet's metrics are its own), data transfer, free tiers. Prices: scripts/prices-eu-west-1.json.
The per-run sizes and durations below are assumptions, named and used once; the latency figure is the measured one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.publish import FLEET_METRICS, MAX_DATUMS_PER_CALL, STAGE_METRICS  # noqa: E402
from inference.metrics import METRICS as HANDLER_METRICS  # noqa: E402

PRICES = Path(__file__).with_name("prices-eu-west-1.json")
HOURS = 730
RUNS = 43_800
"""Controller runs a month at one a minute (the schedule's rate(1 minute)); one batched endpoint call each."""
FLEETS = (1, 10, 100)


@dataclass(frozen=True)
class Usage:
    """Per-run assumptions (the only inputs not read from a template or the prices file)."""

    call_ms_base: float = 10.0
    """Serverless compute billed per batched call, fixed part (ms): request parsing, model overhead."""
    call_ms_per_fleet: float = 0.05
    """Per decision in a batch (ms): benchmarks/serving.py, in-process batch of 1,000, about 30 us per decision."""
    lambda_ms_base: float = 800.0
    """Controller run, fixed part (ms): config and state reads, the endpoint call, the metric writes."""
    lambda_ms_per_fleet: float = 15.0
    """Controller run, per fleet (ms): its CloudWatch read, its target's read and write."""
    request_bytes_per_fleet: int = 1_000
    """One instance of the decision contract: 16 minutes of load history and the fleet's state."""
    response_bytes_per_fleet: int = 200
    log_bytes_per_run: int = 2_000
    """Controller and endpoint log lines of one run, outside the per-fleet part."""
    log_bytes_per_fleet: int = 600
    s3_reads_per_run: int = 2
    """The fleets config object and the controller's state."""
    s3_writes_per_run: int = 1


def stage_templates(cdk_out: Path, stage: str) -> list[dict[str, Any]]:
    paths = sorted(cdk_out.glob(f"assembly-{stage}/*.template.json"))
    if not paths:
        raise SystemExit(f"no templates of stage {stage} under {cdk_out} (run `npx cdk synth` first)")
    return [json.loads(p.read_text()) for p in paths]


def _resources(templates: Sequence[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [r.get("Properties", {}) for t in templates for r in t.get("Resources", {}).values() if r["Type"] == kind]


def _retention_months(templates: Sequence[Mapping[str, Any]]) -> float:
    days = [p.get("RetentionInDays", 30) for p in _resources(templates, "AWS::Logs::LogGroup")]
    return max(days or [30]) / 30


def _capture_rules(templates: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The bucket lifecycle rules that expire data capture (their prefix or id names it)."""
    rules = [
        r
        for b in _resources(templates, "AWS::S3::Bucket")
        for r in b.get("LifecycleConfiguration", {}).get("Rules", [])
    ]
    return [r for r in rules if "capture" in str(r.get("Prefix", r.get("Id", ""))).lower()]


def _expiry(rule: Mapping[str, Any]) -> int:
    return int(rule.get("ExpirationInDays", 30))


def _alarm_metrics(props: Mapping[str, Any]) -> list[int]:
    """Periods of the metrics an alarm evaluates (a metric math alarm is billed per metric it reads)."""
    if "Metrics" in props:
        return [m["MetricStat"]["Period"] for m in props["Metrics"] if "MetricStat" in m]
    return [props.get("Period", 60)]


def stage_cost(
    templates: Sequence[Mapping[str, Any]], fleets: int, prices: Mapping[str, Any], usage: Usage = Usage()
) -> dict[str, float]:
    """Monthly dollars per item for one stage serving `fleets` fleets; every count comes from `templates`."""
    cost: dict[str, float] = {}
    (config,) = _resources(templates, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]
    if "ServerlessConfig" in variant:
        gb = variant["ServerlessConfig"]["MemorySizeInMB"] / 1024
        seconds = RUNS * (usage.call_ms_base + usage.call_ms_per_fleet * fleets) / 1000
        moved_gb = RUNS * fleets * (usage.request_bytes_per_fleet + usage.response_bytes_per_fleet) / 1e9
        cost["endpoint"] = seconds * gb * prices["sagemaker_serverless_per_gb_second"]
        cost["endpoint"] += moved_gb * prices["sagemaker_serverless_data_per_gb"]
    else:
        targets = _resources(templates, "AWS::ApplicationAutoScaling::ScalableTarget")
        count = targets[0]["MinCapacity"] if targets else variant["InitialInstanceCount"]
        hourly = prices["sagemaker_hosting_per_instance_hour"][variant["InstanceType"]]
        cost["endpoint"] = count * HOURS * hourly

    schedules = [
        p for p in _resources(templates, "AWS::Scheduler::Schedule") if p["ScheduleExpression"] == "rate(1 minute)"
    ]
    controller = [
        f
        for f in _resources(templates, "AWS::Lambda::Function")
        if str(f.get("FunctionName", "")).endswith("-controller")
    ]
    runs = RUNS * len(schedules)
    memory_gb = sum(f.get("MemorySize", 128) for f in controller) / 1024
    seconds = runs * (usage.lambda_ms_base + usage.lambda_ms_per_fleet * fleets) / 1000
    cost["lambda"] = seconds * memory_gb * prices["lambda_x86_per_gb_second"]
    cost["lambda"] += runs / 1e6 * prices["lambda_per_million_requests"]

    custom = len(FLEET_METRICS) * fleets + len(STAGE_METRICS) + len(HANDLER_METRICS)
    put_calls = runs * math.ceil((len(FLEET_METRICS) * fleets + len(STAGE_METRICS)) / MAX_DATUMS_PER_CALL)
    cost["metrics"] = custom * prices["cloudwatch_custom_metric_month"]
    cost["metrics"] += put_calls / 1000 * prices["cloudwatch_api_per_1000_requests"]
    cost["metrics"] += runs * 2 * fleets / 1000 * prices["cloudwatch_get_metric_data_per_1000_metrics"]

    periods = [p for a in _resources(templates, "AWS::CloudWatch::Alarm") for p in _alarm_metrics(a)]
    cost["alarms"] = (
        sum(
            prices[
                "cloudwatch_alarm_metric_month_high_resolution" if p < 60 else "cloudwatch_alarm_metric_month_standard"
            ]
            for p in periods
        )
        + len(_resources(templates, "AWS::CloudWatch::CompositeAlarm")) * prices["cloudwatch_composite_alarm_month"]
    )
    cost["dashboards"] = len(_resources(templates, "AWS::CloudWatch::Dashboard")) * prices["cloudwatch_dashboard_month"]

    log_gb = runs * (usage.log_bytes_per_run + usage.log_bytes_per_fleet * fleets) / 1e9
    cost["logs"] = log_gb * prices["logs_ingest_per_gb"]
    cost["logs"] += log_gb * _retention_months(templates) * prices["logs_store_per_gb_month"]

    capture = config.get("DataCaptureConfig", {})
    share = capture.get("InitialSamplingPercentage", 0) / 100 if capture.get("EnableCapture") else 0.0
    capture_gb = runs * share * fleets * (usage.request_bytes_per_fleet + usage.response_bytes_per_fleet) / 1e9
    capture_days = max((_expiry(rule) for rule in _capture_rules(templates)), default=30)
    gets, puts = runs * usage.s3_reads_per_run, runs * (usage.s3_writes_per_run + share)
    cost["s3"] = capture_gb * capture_days / 30 * prices["s3_standard_per_gb_month"]
    cost["s3"] += puts / 1000 * prices["s3_put_per_1000"] + gets / 1000 * prices["s3_get_per_1000"]

    keys = len(_resources(templates, "AWS::KMS::Key"))
    cost["kms"] = keys * prices["kms_key_month"] + (gets + puts) / 10_000 * prices["kms_per_10000_requests"]
    cost["total"] = sum(cost.values())
    return {k: round(v, 2) for k, v in cost.items()}


def configured_fleets(stage: str) -> int:
    """The fleets the stage's cdk.json config names (its idle figure as configured)."""
    from stacks.config import select_stages

    stages = json.loads((ROOT / "cdk.json").read_text())["context"]["stages"]
    return len(select_stages(stages, stage, {})[0].fleets)


def table(
    costs: Mapping[str, Mapping[int, Mapping[str, float]]], prices: Mapping[str, Any], configured: Mapping[str, int]
) -> str:
    items = ["endpoint", "lambda", "metrics", "alarms", "dashboards", "logs", "kms", "s3", "total"]
    lines = [
        f"Monthly cost (USD, {prices['region']} list prices of {prices['as_of']}; idle: no training runs)",
        "",
        "| stage | fleets | " + " | ".join(items) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in items) + " |",
    ]
    for stage, by_fleets in costs.items():
        for fleets, cost in by_fleets.items():
            cells = [f"{cost[i]:,.2f}" if i != "total" else f"**{cost[i]:,.2f}**" for i in items]
            mark = " (as configured)" if fleets == configured.get(stage) else ""
            lines.append(f"| {stage} | {fleets}{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def totals(
    costs: Mapping[str, Mapping[int, Mapping[str, float]]], configured: Mapping[str, int], counts: Sequence[int]
) -> str:
    """One row per stage: the monthly total as configured and for each of `counts` fleets (the README's table)."""
    lines = ["| stage | as configured | " + " | ".join(f"{n} fleet{'s' if n > 1 else ''}" for n in counts) + " |"]
    lines.append("| --- | ---: | " + " | ".join("---:" for _ in counts) + " |")
    for stage, by_fleets in costs.items():
        mine = f"${by_fleets[configured[stage]]['total']:,.0f} ({configured[stage]})"
        lines.append(f"| {stage} | {mine} | " + " | ".join(f"${by_fleets[n]['total']:,.0f}" for n in counts) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out")
    parser.add_argument("--stages", nargs="+", default=["Dev", "Staging", "Prod"])
    parser.add_argument("--fleets", nargs="+", type=int, default=list(FLEETS))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--totals", action="store_true", help="one row per stage, totals only")
    args = parser.parse_args(argv)
    prices = json.loads(PRICES.read_text())
    costs = {}
    for stage in args.stages:
        templates = stage_templates(args.cdk_out, stage)
        counts = sorted({*args.fleets, configured_fleets(stage)})
        costs[stage] = {n: stage_cost(templates, n, prices) for n in counts}
    configured = {stage: configured_fleets(stage) for stage in args.stages}
    if args.json:
        print(json.dumps(costs, indent=2))
    else:
        print(totals(costs, configured, args.fleets) if args.totals else table(costs, prices, configured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
