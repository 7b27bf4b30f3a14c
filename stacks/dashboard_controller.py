"""The dashboard's controller row and one decisions row per fleet, from the controller's metrics (coord contract).

Namespace `RLAutoscaler/Controller`: per stage `Runs`, `RunDurationMs`, `FleetsDeciding`, `Fallbacks`,
`ShieldOverrides`, `StaleDataHolds`, `ConflictHolds`, `EndpointLatencyMs`, `ApplyErrors`; per fleet `LoadRPM`,
`FailedRPM`, `ServingMachines`, `WarmingMachines`, `PolicyDesired`, `AppliedDesired`, `Mode`, `Fallback`,
`ShieldOverride`, `StaleDataHold`, `ConflictHold`; the shadow scorecard per fleet (`PolicyProfit`, `FleetProfit`,
`PolicyFailedRequests`, `FleetFailedRequests`, `PolicyMachineMinutes`, `FleetMachineMinutes`) and the model version
from the controller's run log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw

from stacks.config import StageConfig
from stacks.metrics import CONTROLLER_NAMESPACE, ONE_MINUTE, controller_metric
from stacks.monitoring_controller import lambda_metric

MAX_FLEET_ROWS = 20
"""Decision rows drawn (in config order); the controller row's mode graph still shows every fleet."""
MODES = ((0, "off"), (1, "shadow"), (2, "active"))


def _graph(title: str, left: list[cw.IMetric], width: int = 6, **options: Any) -> cw.GraphWidget:
    return cw.GraphWidget(title=title, left=left, width=width, height=6, **options)


def _fleet_machines(stage: str, fleet: str, statistic: str, period: cdk.Duration = ONE_MINUTE) -> cw.MathExpression:
    return cw.MathExpression(
        expression="serving + warming",
        using_metrics={
            "serving": controller_metric(stage, "ServingMachines", statistic, fleet).with_(period=period),
            "warming": controller_metric(stage, "WarmingMachines", statistic, fleet).with_(period=period),
        },
        label="Real fleet: serving + warming",
        period=period,
    )


def controller_row(config: StageConfig) -> list[cw.IWidget]:
    stage = config.name
    mode_lines: list[cw.IMetric] = [
        controller_metric(stage, "Mode", "Maximum", fleet["name"], label=fleet["name"]) for fleet in config.fleets
    ]
    if len(mode_lines) > MAX_FLEET_ROWS:  # one search, not a line per fleet: a graph holds at most 500 metrics
        mode_lines = [
            cw.MathExpression(
                expression=f'SEARCH(\'{{{CONTROLLER_NAMESPACE},Stage,Fleet}} MetricName="Mode" Stage="{stage}"\', '
                "'Maximum', 60)",
                label="",
                period=ONE_MINUTE,
            )
        ]
    modes: cw.IWidget = (
        _graph(
            "Mode per fleet (0 off, 1 shadow, 2 active)",
            mode_lines,
            left_y_axis=cw.YAxisProps(min=0, max=2, show_units=False),
            left_annotations=[cw.HorizontalAnnotation(value=v, label=name) for v, name in MODES],
        )
        if mode_lines
        else cw.TextWidget(
            markdown=f"### Mode per fleet\nNo fleet configured for {stage}: the controller runs and idles "
            "(`fleets` in cdk.json).",
            width=6,
            height=6,
        )
    )
    return [
        _graph(
            "Runs, errors, throttles (per minute)",
            [
                controller_metric(stage, "Runs", "Sum"),
                lambda_metric(config, "Errors"),
                lambda_metric(config, "Throttles"),
                controller_metric(stage, "ApplyErrors", "Sum"),
            ],
        ),
        _graph(
            "Run duration and endpoint call (ms)",
            [
                controller_metric(stage, "RunDurationMs", "Maximum", label="Run duration (max)"),
                controller_metric(stage, "EndpointLatencyMs", "Average", label="Endpoint call (avg)"),
            ],
            left_annotations=[
                cw.HorizontalAnnotation(value=config.controller.timeout_s * 1000, label="timeout", color=cw.Color.RED)
            ],
        ),
        _graph(
            "Fleets deciding, fallbacks, shield overrides, holds",
            [
                controller_metric(stage, "FleetsDeciding", "Maximum"),
                controller_metric(stage, "Fallbacks", "Sum"),
                controller_metric(stage, "ShieldOverrides", "Sum"),
                controller_metric(stage, "StaleDataHolds", "Sum"),
                controller_metric(stage, "ConflictHolds", "Sum"),
            ],
        ),
        modes,
    ]


def fleet_row(config: StageConfig, fleet: Mapping[str, Any]) -> list[cw.IWidget]:
    stage, name = config.name, fleet["name"]
    capacity = float(fleet["capacity_rpm_per_machine"])
    return [
        _graph(
            "Desired vs real machines",
            [
                controller_metric(stage, "PolicyDesired", "Average", name, label="Policy's fleet (desired)"),
                controller_metric(stage, "AppliedDesired", "Average", name, label="Applied (active mode)"),
                _fleet_machines(stage, name, "Average"),
                controller_metric(stage, "ServingMachines", "Average", name, label="Serving"),
            ],
            left_annotations=[
                cw.HorizontalAnnotation(value=fleet["min_machines"], label="min"),
                cw.HorizontalAnnotation(value=fleet["max_machines"], label="max"),
            ],
        ),
        _graph(
            "Load vs capacity (requests per minute)",
            [
                controller_metric(stage, "LoadRPM", "Average", name, label="Load"),
                controller_metric(stage, "FailedRPM", "Average", name, label="Failed"),
                cw.MathExpression(
                    expression=f"serving * {capacity:g}",
                    using_metrics={"serving": controller_metric(stage, "ServingMachines", "Average", name)},
                    label=f"Capacity (serving x {capacity:g})",
                    period=ONE_MINUTE,
                ),
            ],
        ),
        _graph(
            "Shield overrides, fallbacks, holds (0/1)",
            [
                controller_metric(stage, "ShieldOverride", "Maximum", name),
                controller_metric(stage, "Fallback", "Maximum", name),
                controller_metric(stage, "StaleDataHold", "Maximum", name),
                controller_metric(stage, "ConflictHold", "Maximum", name),
            ],
        ),
        cw.SingleValueWidget(
            title="Machine-minutes over the dashboard's period",
            metrics=[_fleet_machines(stage, name, "Sum")],
            set_period_to_time_range=True,
            full_precision=False,
            width=6,
            height=6,
        ),
    ]


def scorecard_row(config: StageConfig, fleet: Mapping[str, Any]) -> list[cw.IWidget]:
    """The shadow scorecard of one fleet: what the policy's own fleet would have earned beside the team's scaler."""
    stage, name = config.name, fleet["name"]

    def pair(metric: str, statistic: str = "Sum") -> list[cw.IMetric]:
        return [
            controller_metric(stage, f"Policy{metric}", statistic, name, label="Policy"),
            controller_metric(stage, f"Fleet{metric}", statistic, name, label="Your scaler"),
        ]

    running = cw.GraphWidget(
        title="Dollars, cumulative over the period: policy vs your scaler",
        left=[
            cw.MathExpression(
                expression="RUNNING_SUM(p)", using_metrics={"p": pair("Profit")[0]}, label="Policy", period=ONE_MINUTE
            ),
            cw.MathExpression(
                expression="RUNNING_SUM(f)",
                using_metrics={"f": pair("Profit")[1]},
                label="Your scaler",
                period=ONE_MINUTE,
            ),
        ],
        width=8,
        height=6,
    )
    totals = cw.SingleValueWidget(
        title="Over the period: dollars, failed requests, machine-minutes (policy, your scaler)",
        metrics=[*pair("Profit"), *pair("FailedRequests"), *pair("MachineMinutes")],
        set_period_to_time_range=True,
        full_precision=False,
        width=10,
        height=6,
    )
    version = cw.LogQueryWidget(
        title="Model version (latest runs)",
        log_group_names=[f"/aws/lambda/{config.controller_function_name}"],
        query_lines=[
            "fields @timestamp, model_versions",
            'filter message = "run" and ispresent(model_versions)',
            "sort @timestamp desc",
            "limit 5",
        ],
        view=cw.LogQueryVisualizationType.TABLE,
        width=6,
        height=6,
    )
    return [running, totals, version]


def scorecard_header(fleet: Mapping[str, Any], stage: str) -> str:
    estimated = (
        ""
        if fleet.get("failed", True)
        else "; your scaler's failed requests estimated from capacity (no failed metric)"
    )
    return (
        f"Shadow scorecard: {fleet['name']} (shadow mode only; verdict: "
        f"`python -m controller.scorecard --stage {stage} --fleet {fleet['name']}`{estimated})"
    )


def decision_rows(config: StageConfig) -> list[tuple[str, list[cw.IWidget]]]:
    """(header, widgets) per fleet, in config order, at most MAX_FLEET_ROWS: its decisions, its shadow scorecard."""
    rows = []
    for fleet in list(config.fleets)[:MAX_FLEET_ROWS]:
        target = fleet["target"]
        header = f"Decisions: {fleet['name']} ({target['kind']}, configured {fleet['mode']})"
        rows.append((header, fleet_row(config, fleet)))
        rows.append((scorecard_header(fleet, config.name), scorecard_row(config, fleet)))
    return rows
