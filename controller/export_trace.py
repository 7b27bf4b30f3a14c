"""Export a fleet's per-minute request counts from CloudWatch as a trace: `timestamp,requests`.

    python -m controller.export_trace --namespace AWS/ApplicationELB --metric RequestCount \\
        --dimension TargetGroup=targetgroup/checkout/0123 --dimension LoadBalancer=app/shop/4567 \\
        --days 14 --out trace.csv
    python -m controller.export_trace --stage Dev --fleet checkout --days 14 --out trace.csv   # from cdk.json

Then `python -m training.evaluate --trace trace.csv --capacity-rpm-per-machine N` scores every policy on it.

The reading is the controller's own (`controller.observe.Observer.fetch`: GetMetricData, statistic Sum over 60 s
periods, batched within the per-call limits, pages followed). CloudWatch keeps 1-minute datapoints for 15 days
(then only 5-minute aggregates), so `--days` is at most 15 and the window must end within them. The newest
minute exported is the last complete one (`PUBLICATION_LAG_MINUTES`, 2, before the current minute), unless
`--end` says otherwise.

The file holds one row per minute that has a datapoint, ISO-8601 UTC (`2026-11-14T09:30:00Z`). A minute without
one is left out: a gap, which `simulator.loads.load_trace` reads as 0 requests (ALB `RequestCount` publishes
nothing in a minute without requests; the controller reads such a minute as 0 too) and reports. The command
prints the gaps it wrote, so a metric outage is not mistaken for silence.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controller.aws import Clients
from controller.config import FleetConfigError, MetricSpec, parse_fleets
from controller.observe import Observer, epoch_minute, minute_time
from inference.contract import OBSERVATION_LAG_MINUTES

MAX_DAYS = 15
"""CloudWatch keeps 1-minute datapoints for 15 days."""
CHUNK_MINUTES = 1440
"""Minutes per progress step (one GetMetricData call each, well within 100,800 datapoints)."""
PUBLICATION_LAG_MINUTES = OBSERVATION_LAG_MINUTES
"""The last complete minute is this many minutes before the current one (the controller's default lag)."""
ROOT = Path(__file__).resolve().parents[1]


def fleet_metric(cdk_json: Path, stage: str, fleet: str) -> tuple[MetricSpec, float]:
    """The requests metric and capacity per machine of `fleet` in `stage`'s fleets (cdk.json `context.stages`)."""
    try:
        stages = json.loads(cdk_json.read_text())["context"]["stages"]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{cdk_json}: cannot read context.stages ({exc})") from None
    if stage not in stages:
        raise ValueError(f"{cdk_json}: no stage {stage!r} (known: {', '.join(stages)})")
    try:
        fleets = parse_fleets(stages[stage].get("fleets", []), stage)
    except FleetConfigError as exc:
        raise ValueError(f"{cdk_json}: stage {stage}: {exc}") from None
    for f in fleets:
        if f.name == fleet:
            return f.requests, f.capacity_rpm_per_machine
    raise ValueError(f"stage {stage} has no fleet {fleet!r} (its fleets: {', '.join(f.name for f in fleets)})")


def export(
    cloudwatch: Any, metric: MetricSpec, first: int, last: int, out: Path, *, progress: bool = True
) -> dict[str, Any]:
    """Write minutes `[first, last]` (epoch minutes) of `metric` to `out`; returns rows, gaps and calls."""
    from tqdm.auto import tqdm  # the exporter's own dependency; the Lambda never imports this module

    observer = Observer(cloudwatch, history_minutes=1)
    values: dict[int, float] = {}
    calls = 0
    chunks = range(first, last + 1, CHUNK_MINUTES)
    with tqdm(total=last - first + 1, desc=metric.metric_name, unit="min", disable=not progress) as bar:
        for start in chunks:
            end = min(start + CHUNK_MINUTES - 1, last)
            [got], stats = observer.fetch([metric], start, end)
            values.update(got)
            calls += stats.calls
            bar.update(end - start + 1)
    minutes = sorted(values)
    gaps = [b - a - 1 for a, b in itertools.pairwise(minutes) if b - a > 1]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as fh:
        fh.write("timestamp,requests\n")
        for m in minutes:
            value = values[m]
            fh.write(f"{minute_time(m).strftime('%Y-%m-%dT%H:%M:%SZ')},{int(value) if value.is_integer() else value}\n")
    return {
        "rows": len(minutes),
        "first": minute_time(minutes[0]).isoformat() if minutes else None,
        "last": minute_time(minutes[-1]).isoformat() if minutes else None,
        "gaps": len(gaps),
        "gap_minutes": sum(gaps),
        "longest_gap_minutes": max(gaps, default=0),
        "calls": calls,
    }


def _dimension(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _utc(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    if when.tzinfo is None or when.utcoffset() != timedelta(0):
        raise argparse.ArgumentTypeError(f"give the time in UTC (…Z or …+00:00): {text!r}")
    return when


def main(argv: list[str] | None = None, *, cloudwatch: Any = None, now: datetime | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.export_trace", description=__doc__.split("\n")[0])
    metric = parser.add_argument_group("the metric: name it, or take a fleet's `requests` from cdk.json")
    metric.add_argument("--namespace", help="e.g. AWS/ApplicationELB")
    metric.add_argument("--metric", help="e.g. RequestCount")
    metric.add_argument("--dimension", action="append", type=_dimension, default=[], metavar="NAME=VALUE")
    metric.add_argument("--stage", help="a stage of cdk.json's context.stages (with --fleet)")
    metric.add_argument("--fleet", help="a fleet of that stage: its `requests` metric")
    metric.add_argument("--cdk-json", type=Path, default=ROOT / "cdk.json", help="[default: the repository's]")
    parser.add_argument("--days", type=float, default=14.0, help=f"days back from --end, at most {MAX_DAYS}")
    parser.add_argument("--end", type=_utc, default=None, help="last minute exported, UTC [default: newest complete]")
    parser.add_argument("--region", default=None, help="[default: the AWS configuration's]")
    parser.add_argument("--out", type=Path, required=True, help="the trace file to write")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    now = now or datetime.now(UTC)
    capacity = None
    try:
        if args.stage or args.fleet:
            if not (args.stage and args.fleet) or args.namespace or args.metric or args.dimension:
                raise ValueError("give --stage with --fleet, or --namespace, --metric and --dimension, not both")
            spec, capacity = fleet_metric(args.cdk_json, args.stage, args.fleet)
        elif args.namespace and args.metric:
            spec = MetricSpec(args.namespace, args.metric, tuple(sorted(args.dimension)))
        else:
            raise ValueError("name the metric (--namespace and --metric) or a fleet (--stage and --fleet)")
        if not 0 < args.days <= MAX_DAYS:
            raise ValueError(
                f"--days {args.days:g}: CloudWatch keeps 1-minute data for {MAX_DAYS} days; ask for 0 < days <= 15"
            )
        newest = epoch_minute(now) - 1 - PUBLICATION_LAG_MINUTES
        last = min(newest, epoch_minute(args.end)) if args.end else newest
        first = last - round(args.days * 1440) + 1
        oldest = epoch_minute(now - timedelta(days=MAX_DAYS))
        if last < oldest:
            raise ValueError(
                f"--end {minute_time(last).isoformat()} is more than {MAX_DAYS} days ago: CloudWatch no longer holds "
                "1-minute data for it"
            )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if first < oldest:
        print(
            f"note: starting at {minute_time(oldest).isoformat()}, not {minute_time(first).isoformat()}: CloudWatch "
            f"holds 1-minute data for {MAX_DAYS} days",
            file=sys.stderr,
        )
        first = oldest
    cloudwatch = cloudwatch or Clients(region=args.region).cloudwatch
    summary = export(cloudwatch, spec, first, last, args.out, progress=not args.no_progress)
    print(
        f"wrote {args.out}: {summary['rows']:,} minutes with data from {summary['first']} to {summary['last']}; "
        f"{summary['gaps']} gaps ({summary['gap_minutes']:,} minutes without a datapoint, longest "
        f"{summary['longest_gap_minutes']:,}; read as 0 requests); {summary['calls']} GetMetricData calls"
    )
    hint = f" --capacity-rpm-per-machine {capacity:g}" if capacity else " --capacity-rpm-per-machine N"
    print(f"next: python -m training.evaluate --trace {args.out}{hint}")
    return 0 if summary["rows"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
