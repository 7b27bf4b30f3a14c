"""Publish what a run saw, decided and applied as CloudWatch custom metrics (PutMetricData, batched).

Namespace `RLAutoscaler/Controller`, every datum timestamped with the run's minute; the dashboard and the alarms
read exactly these names.

Per fleet, dimensions {Stage, Fleet}: `LoadRPM`, `FailedRPM`, `ServingMachines`, `WarmingMachines`,
`PolicyDesired`, `AppliedDesired` (active mode only), `Mode` (0 off, 1 shadow, 2 active), `Fallback`,
`ShieldOverride`, `StaleDataHold`, `ConflictHold`, `ShortHistory` (0/1; `ShortHistory`: the decision was asked
with fewer minutes of requests than the policy reads, HISTORY_MINUTES, e.g. a new fleet's first day); in shadow
mode the scorecard, timestamped with the minute priced (`controller.counterfactual`): `PolicyProfit`,
`FleetProfit` ($), `PolicyFailedRequests`, `FleetFailedRequests`, `PolicyMachineMinutes`, `FleetMachineMinutes`,
and `Unpriceable` (0/1).
Per stage, dimensions {Stage}: `Runs`, `RunDurationMs`, `FleetsDeciding`, `Fallbacks`, `ShieldOverrides`,
`StaleDataHolds`, `ConflictHolds`, `ShortHistories`, `EndpointLatencyMs`, `ApplyErrors`, `ReadErrors`,
`HandBackErrors` (fleets whose own scaling could not be suspended or restored), `HandedBack` (fleets held in shadow
after a hand-back), `ConfigErrors` (1: the fleets object could not be used), `ModesErrors` (1: the modes parameter
could not be used).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

NAMESPACE = "RLAutoscaler/Controller"
MAX_DATUMS_PER_CALL = 1000
"""PutMetricData: 1,000 metrics per request (and 1 MB; 1,000 of these datums are far below)."""
MAX_CONCURRENT_CALLS = 4

FLEET_METRICS: dict[str, str] = {
    "LoadRPM": "Count",
    "FailedRPM": "Count",
    "ServingMachines": "Count",
    "WarmingMachines": "Count",
    "PolicyDesired": "Count",
    "AppliedDesired": "Count",
    "Mode": "None",
    "Fallback": "Count",
    "ShieldOverride": "Count",
    "StaleDataHold": "Count",
    "ConflictHold": "Count",
    "ShortHistory": "Count",
    "Unpriceable": "Count",
}
SCORECARD_METRICS: dict[str, str] = {
    "PolicyProfit": "None",
    "FleetProfit": "None",
    "PolicyFailedRequests": "Count",
    "FleetFailedRequests": "Count",
    "PolicyMachineMinutes": "Count",
    "FleetMachineMinutes": "Count",
}
"""The shadow scorecard (`controller.counterfactual`), per fleet, timestamped with the minute priced."""
FLEET_METRICS.update(SCORECARD_METRICS)
STAGE_METRICS: dict[str, str] = {
    "Runs": "Count",
    "RunDurationMs": "Milliseconds",
    "FleetsDeciding": "Count",
    "Fallbacks": "Count",
    "ShieldOverrides": "Count",
    "StaleDataHolds": "Count",
    "ConflictHolds": "Count",
    "ShortHistories": "Count",
    "EndpointLatencyMs": "Milliseconds",
    "ApplyErrors": "Count",
    "ReadErrors": "Count",
    "HandBackErrors": "Count",
    "HandedBack": "Count",
    "ConfigErrors": "Count",
    "ModesErrors": "Count",
}


def datums(
    stage: str, when: datetime, per_fleet: Iterable[tuple[str, dict[str, float]]], per_stage: dict[str, float]
) -> list[dict[str, Any]]:
    """MetricData entries; a per-fleet value of None is left out (e.g. AppliedDesired outside active mode)."""
    out = []
    for fleet, values in per_fleet:
        dims = [{"Name": "Stage", "Value": stage}, {"Name": "Fleet", "Value": fleet}]
        for name, value in values.items():
            if value is not None:
                out.append(_datum(name, FLEET_METRICS[name], dims, when, value))
    dims = [{"Name": "Stage", "Value": stage}]
    for name, value in per_stage.items():
        if value is not None:
            out.append(_datum(name, STAGE_METRICS[name], dims, when, value))
    return out


def _datum(name: str, unit: str, dims: list[dict[str, str]], when: datetime, value: float) -> dict[str, Any]:
    return {"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": float(value), "Unit": unit}


def put(cloudwatch: Any, data: Sequence[dict[str, Any]], namespace: str = NAMESPACE) -> tuple[int, list[str]]:
    """PutMetricData in batches (concurrently); (calls made, error messages)."""
    batches = [data[i : i + MAX_DATUMS_PER_CALL] for i in range(0, len(data), MAX_DATUMS_PER_CALL)]

    def send(batch: Sequence[dict[str, Any]]) -> str | None:
        try:
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=list(batch))
        except Exception as err:  # metrics lost for this batch; the run itself goes on
            return f"PutMetricData failed ({len(batch)} metrics): {type(err).__name__}: {str(err)[:200]}"
        return None

    if len(batches) <= 1:
        results = [send(b) for b in batches]
    else:
        with ThreadPoolExecutor(min(MAX_CONCURRENT_CALLS, len(batches))) as pool:
            results = list(pool.map(send, batches))
    return len(batches), [r for r in results if r]
