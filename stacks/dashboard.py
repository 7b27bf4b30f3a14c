"""The stage's dashboard: one row per question an on-call engineer asks, explained by the text widget on top."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import StageConfig
from stacks.dashboard_controller import controller_row, decision_rows
from stacks.metrics import CONTROLLER_NAMESPACE, EndpointMetrics

ROWS = {
    "Endpoint traffic": "calls per minute, the share rejected as bad input (4XX) or failed (5XX), and how many "
    "instances serve (auto scaling moves this between the stage's bounds).",
    "Latency": "time inside the model and SageMaker's overhead, p50 and p99, in milliseconds; dashed lines are "
    "the alarm thresholds.",
    "Endpoint resources": "CPU (100 per busy vCPU, summed) and memory per instance.",
    "Training": "runs of the training state machine started and failed per hour, and how long they took.",
    "Controller": f"the loop that asks the endpoint every minute ({CONTROLLER_NAMESPACE}): runs, errors and "
    "throttles, how long a run and its endpoint call take, how many fleets decide and how many fell back to the "
    "rule, had the shield override the policy or held on stale data, and each fleet's mode.",
    "Decisions (one row per fleet)": "the policy's fleet (PolicyDesired) beside the real one (serving + warming) "
    "and what was applied (active mode only), the load vs what serving machines can take, shield overrides, "
    "fallbacks and holds; below each, its shadow scorecard: the dollars, failed requests and machine-minutes of the "
    "policy's own fleet beside your scaler's over the period (shadow mode only), and the model version.",
}


def _explanation(config: StageConfig) -> str:
    lines = [
        f"# RL autoscaler: {config.name}",
        f"Endpoint `{config.endpoint_name}` (variant `{config.variant_name}`, {config.serving.instance_type}, "
        f"{config.serving.min_instances}-{config.serving.max_instances} instances). Rows, top to bottom:",
    ]
    lines += [f"- **{row}**: {text}" for row, text in ROWS.items()]
    lines.append("Every alarm's description says what it means and what to do first.")
    return "\n".join(lines)


def _graph(title: str, left: Sequence[cw.IMetric], *, width: int, **options: object) -> cw.GraphWidget:
    return cw.GraphWidget(title=title, left=list(left), width=width, height=6, **options)  # type: ignore[arg-type]


def _threshold(value: float, label: str) -> cw.HorizontalAnnotation:
    return cw.HorizontalAnnotation(value=value, label=label, color=cw.Color.RED)


def build_dashboard(
    scope: Construct,
    *,
    config: StageConfig,
    endpoint: EndpointMetrics,
    state_machine: sfn.StateMachine,
    alarms: Sequence[cw.IAlarm],
) -> cw.Dashboard:
    limits = config.alarms
    hourly = cdk.Duration.hours(1)
    dashboard = cw.Dashboard(
        scope,
        "Dashboard",
        dashboard_name=config.endpoint_name,
        default_interval=cdk.Duration.hours(6),
        period_override=cw.PeriodOverride.AUTO,
    )
    dashboard.add_widgets(
        cw.TextWidget(markdown=_explanation(config), width=16, height=7),
        cw.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=8, height=7),
    )

    def header(row: str) -> cw.TextWidget:
        return cw.TextWidget(markdown=f"## {row}", width=24, height=1)

    instances = cw.MathExpression(
        expression="cpu_samples",
        using_metrics={"cpu_samples": endpoint.utilization("CPUUtilization", "SampleCount")},
        label="Instances (reporting CPU each minute)",
        period=cdk.Duration.minutes(1),
    )
    dashboard.add_widgets(header("Endpoint traffic"))
    dashboard.add_widgets(
        _graph("Invocations per minute", [endpoint.invocation()], width=8),
        _graph(
            "4XX and 5XX rate (%)",
            [endpoint.error_rate("4XX"), endpoint.error_rate("5XX")],
            width=8,
            left_annotations=[
                _threshold(limits.error_4xx_percent, "4XX alarm"),
                _threshold(limits.error_5xx_percent, "5XX alarm"),
            ],
        ),
        _graph("Instance count", [instances], width=8),
    )
    dashboard.add_widgets(header("Latency"))
    dashboard.add_widgets(
        *(
            _graph(
                f"{name} (ms)",
                [endpoint.latency_ms(name, "p50"), endpoint.latency_ms(name, "p99")],
                width=12,
                left_annotations=[_threshold(limit, "p99 alarm")],
            )
            for name, limit in (
                ("ModelLatency", limits.model_latency_p99_ms),
                ("OverheadLatency", limits.overhead_latency_p99_ms),
            )
        )
    )
    dashboard.add_widgets(header("Endpoint resources"))
    dashboard.add_widgets(
        _graph(
            "CPU utilization",
            [endpoint.utilization("CPUUtilization")],
            width=12,
            left_annotations=[_threshold(limits.cpu_percent, "CPU alarm")],
        ),
        _graph(
            "Memory utilization (%)",
            [endpoint.utilization("MemoryUtilization")],
            width=12,
            left_annotations=[_threshold(limits.memory_percent, "memory alarm")],
        ),
    )
    dashboard.add_widgets(header("Training"))
    minutes = cw.MathExpression(
        expression="ms / 60000",
        using_metrics={"ms": state_machine.metric_time(statistic="Maximum", period=hourly)},
        label="Longest run (minutes)",
        period=hourly,
    )
    dashboard.add_widgets(
        _graph(
            "Training runs per hour",
            [
                state_machine.metric_started(period=hourly, label="Started"),
                state_machine.metric_failed(period=hourly, label="Failed"),
                state_machine.metric_timed_out(period=hourly, label="Timed out"),
            ],
            width=12,
        ),
        _graph("Training run duration (minutes)", [minutes], width=12),
    )
    dashboard.add_widgets(header("Controller"))
    dashboard.add_widgets(*controller_row(config))
    for title, widgets in decision_rows(config):
        dashboard.add_widgets(header(title))
        dashboard.add_widgets(*widgets)
    return dashboard
