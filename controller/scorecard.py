"""The shadow scorecard's verdict: would the policy have beaten the fleet's own scaler, in dollars and failed requests?

    python -m controller.scorecard --stage Prod [--fleet checkout] [--days 14] [--region eu-west-1]

Reads the scorecard metrics the controller publishes for shadow fleets (``controller.publish.SCORECARD_METRICS``,
plus ``Fallback`` and ``StaleDataHold``) with batched GetMetricData (within its 500 queries and 100,800 datapoints
per call), one Sum per day, and prints per fleet the days observed, the dollar difference policy minus fleet with
a 95 % interval over the paired per-day differences (Student's t), the failed-request difference, the machine-minutes
and the minutes on the fallback rule, counted apart, and the verdict (``RULE``). Without ``--fleet``: every fleet
of the stage that published a scorecard in the window (ListMetrics).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.observe import MAX_DATAPOINTS_PER_CALL, MAX_QUERIES_PER_CALL
from controller.publish import NAMESPACE, SCORECARD_METRICS

MIN_DAYS = 7
MAX_FALLBACK_SHARE = 0.05
RULE = (
    f"ready to activate: the 95 % interval of the daily dollar difference (policy minus your scaler) is above zero "
    f"over at least {MIN_DAYS} days, the policy failed no more requests, and at most {MAX_FALLBACK_SHARE * 100:g} % of "
    "its minutes ran on the fallback rule; worse than your scaler: the interval is below zero; not yet: otherwise"
)
READY, NOT_YET, WORSE = "ready to activate", "not yet", "worse than your scaler"
SERIES = (*SCORECARD_METRICS, "Fallback", "StaleDataHold")
"""Summed per day; ``Minutes`` (the priced minutes) is PolicyProfit's SampleCount."""


@dataclass(frozen=True)
class Day:
    """One period of one fleet: sums of the scorecard's series, and the minutes priced."""

    start: datetime
    minutes: float
    sums: Mapping[str, float]

    @property
    def difference(self) -> float:
        return self.sums.get("PolicyProfit", 0.0) - self.sums.get("FleetProfit", 0.0)


@dataclass(frozen=True)
class Verdict:
    fleet: str
    days: int
    minutes: float
    policy_profit: float
    fleet_profit: float
    mean_difference: float | None
    """Dollars per day, policy minus fleet."""
    interval: tuple[float, float] | None
    """95 % interval of the mean daily difference (None under two days)."""
    policy_failed: float
    fleet_failed: float
    policy_machine_minutes: float
    fleet_machine_minutes: float
    fallback_minutes: float
    stale_minutes: float
    verdict: str
    why: str


def judge(fleet: str, days: Sequence[Day]) -> Verdict:
    """The verdict on a fleet's observed days (``RULE``)."""
    days = [d for d in days if d.minutes > 0]
    total = {k: sum(d.sums.get(k, 0.0) for d in days) for k in SERIES}
    minutes = sum(d.minutes for d in days)
    diffs = [d.difference for d in days]
    mean = sum(diffs) / len(diffs) if diffs else None
    interval = None
    if len(diffs) >= 2:
        from scipy import stats

        sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (len(diffs) - 1))
        half = float(stats.t.ppf(0.975, len(diffs) - 1)) * sd / math.sqrt(len(diffs))
        interval = (mean - half, mean + half)
    fallback_share = total["Fallback"] / minutes if minutes else 0.0
    more_failed = total["PolicyFailedRequests"] > total["FleetFailedRequests"]
    if interval is not None and interval[1] < 0:
        verdict, why = WORSE, "the interval is below zero"
    elif interval is None:
        verdict, why = NOT_YET, f"{len(diffs)} day(s) observed: an interval needs two, the rule {MIN_DAYS}"
    elif interval[0] <= 0:
        verdict, why = NOT_YET, "the interval includes zero"
    elif len(diffs) < MIN_DAYS:
        verdict, why = NOT_YET, f"the interval is above zero, over {len(diffs)} of the {MIN_DAYS} days required"
    elif more_failed:
        verdict, why = NOT_YET, "the policy earned more but failed more requests than your scaler"
    elif fallback_share > MAX_FALLBACK_SHARE:
        verdict, why = NOT_YET, f"{100 * fallback_share:.1f} % of the minutes ran on the fallback rule, not the policy"
    else:
        verdict, why = READY, f"the interval is above zero over {len(diffs)} days, no more failed requests"
    return Verdict(
        fleet=fleet, days=len(diffs), minutes=minutes, policy_profit=total["PolicyProfit"],
        fleet_profit=total["FleetProfit"], mean_difference=mean, interval=interval,
        policy_failed=total["PolicyFailedRequests"], fleet_failed=total["FleetFailedRequests"],
        policy_machine_minutes=total["PolicyMachineMinutes"], fleet_machine_minutes=total["FleetMachineMinutes"],
        fallback_minutes=total["Fallback"], stale_minutes=total["StaleDataHold"], verdict=verdict, why=why,
    )  # fmt: skip


# -- reading CloudWatch ----------------------------------------------------------------------------------------


def fleets_with_scorecard(cloudwatch: Any, stage: str) -> list[str]:
    """Fleets of the stage that published PolicyProfit (ListMetrics, every page)."""
    names: set[str] = set()
    request: dict[str, Any] = {
        "Namespace": NAMESPACE,
        "MetricName": "PolicyProfit",
        "Dimensions": [{"Name": "Stage", "Value": stage}],
    }
    while True:
        page = cloudwatch.list_metrics(**request)
        for metric in page.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if dims.get("Stage") == stage and "Fleet" in dims:
                names.add(dims["Fleet"])
        if not page.get("NextToken"):
            return sorted(names)
        request["NextToken"] = page["NextToken"]


def read_days(
    cloudwatch: Any, stage: str, fleets: Sequence[str], start: datetime, end: datetime, period_s: int = 86_400
) -> dict[str, list[Day]]:
    """Per fleet, the periods of ``[start, end)`` with their sums (batched GetMetricData, pages followed)."""
    periods = max(1, math.ceil((end - start).total_seconds() / period_s))
    queries = [(f, name, "Sum") for f in fleets for name in SERIES]
    queries += [(f, "PolicyProfit", "SampleCount") for f in fleets]
    per_call = max(1, min(MAX_QUERIES_PER_CALL, MAX_DATAPOINTS_PER_CALL // periods))
    values: dict[tuple[str, str, str], dict[datetime, float]] = {}
    for i in range(0, len(queries), per_call):
        batch = queries[i : i + per_call]
        request: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": f"q{k}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": NAMESPACE,
                            "MetricName": name,
                            "Dimensions": [{"Name": "Stage", "Value": stage}, {"Name": "Fleet", "Value": fleet}],
                        },
                        "Period": period_s,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                }
                for k, (fleet, name, stat) in enumerate(batch)
            ],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            page = cloudwatch.get_metric_data(**request)
            for result in page.get("MetricDataResults", []):
                book = values.setdefault(batch[int(result["Id"][1:])], {})
                for when, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    stamp = when if when.tzinfo else when.replace(tzinfo=UTC)
                    book[stamp] = book.get(stamp, 0.0) + float(value)
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    out: dict[str, list[Day]] = {}
    for fleet in fleets:
        counts = values.get((fleet, "PolicyProfit", "SampleCount"), {})
        out[fleet] = [
            Day(start=t, minutes=n, sums={s: values.get((fleet, s, "Sum"), {}).get(t, 0.0) for s in SERIES})
            for t, n in sorted(counts.items())
        ]
    return out


# -- the command ----------------------------------------------------------------------------------------------


def render(v: Verdict, unit: str = "day") -> str:
    def money(x: float) -> str:
        return f"{'-' if x < 0 else '+'}${abs(x):,.2f}"

    if v.days == 0:
        return f"{v.fleet}: no scorecard in the window (not in shadow, or nothing priced yet)\n  verdict: {NOT_YET}"
    interval = (
        f"[95 % interval {money(v.interval[0])}, {money(v.interval[1])}]" if v.interval else "(no interval: one period)"
    )
    fallback = 100.0 * v.fallback_minutes / v.minutes if v.minutes else 0.0
    return "\n".join(
        [
            f"{v.fleet}: {v.days} {unit}(s) observed, {v.minutes:,.0f} minutes priced",
            f"  dollars: policy ${v.policy_profit:,.2f}, your scaler ${v.fleet_profit:,.2f}; difference "
            f"{money(v.policy_profit - v.fleet_profit)}, per {unit} {money(v.mean_difference or 0.0)} {interval}",
            f"  failed requests: policy {v.policy_failed:,.0f}, your scaler {v.fleet_failed:,.0f} "
            f"(difference {v.policy_failed - v.fleet_failed:+,.0f})",
            f"  machine-minutes: policy {v.policy_machine_minutes:,.0f}, your scaler {v.fleet_machine_minutes:,.0f}",
            f"  counted apart: {v.fallback_minutes:,.0f} minutes on the fallback rule ({fallback:.1f} %), "
            f"{v.stale_minutes:,.0f} held on stale data",
            f"  verdict: {v.verdict} ({v.why})",
        ]
    )


def main(argv: list[str] | None = None, cloudwatch: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", required=True, help="the stage (the metrics' Stage dimension)")
    parser.add_argument("--fleet", action="append", help="a fleet (repeatable; default: every shadow fleet)")
    parser.add_argument("--days", type=float, default=14, help="days back from --end (default 14)")
    parser.add_argument("--end", help="ISO time the window ends, rounded down to a period (default now)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument(
        "--period-minutes", type=int, default=1440, help="the paired period (default 1440: a day, as the rule)"
    )
    args = parser.parse_args(argv)
    if args.days <= 0 or not 1 <= args.period_minutes <= 1440 * 7:
        parser.error("--days must be positive and --period-minutes in 1..10080")
    if cloudwatch is None:
        import boto3

        cloudwatch = boto3.client("cloudwatch", region_name=args.region)
    end = datetime.fromisoformat(args.end) if args.end else datetime.now(UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    period = args.period_minutes * 60
    end = datetime.fromtimestamp(math.floor(end.timestamp() / period) * period, tz=UTC)  # complete periods only
    start = end - timedelta(days=args.days)
    fleets = args.fleet or fleets_with_scorecard(cloudwatch, args.stage)
    if not fleets:
        print(f"stage {args.stage}: no fleet published a scorecard (no fleet in shadow mode yet)")
        return 1
    days = read_days(cloudwatch, args.stage, fleets, start, end, period)
    unit = "day" if args.period_minutes == 1440 else f"{args.period_minutes}-minute period"
    print(f"stage {args.stage}, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
    for fleet in fleets:
        print(render(judge(fleet, days[fleet]), unit))
    print(f"rule: {RULE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
