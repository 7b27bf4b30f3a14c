"""The endpoint's health alarms (in the monitoring stack, to the stage's one topic): one row each, one loop.

Each fires above a threshold of the stage's `alarms` section, on a metric of the endpoint (SageMaker's) or of
its decisions (the handler's, `RLAutoscaler`). Each description says what the alarm means and what to do first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw

from stacks.config import StageConfig
from stacks.metrics import EndpointDecisionMetrics, EndpointMetrics
from stacks.monitoring_controller import ONE_DATAPOINT, AlarmFactory

MetricOf = Callable[[EndpointMetrics, EndpointDecisionMetrics, cdk.Duration], cw.IMetric]
"""The alarm's metric from the endpoint's metrics, the decisions' metrics and the stage's alarm window."""

PER_WINDOW: dict[str, Any] = {"treat_missing_data": cw.TreatMissingData.BREACHING, **ONE_DATAPOINT}
"""One datapoint per window, no data breaching: a rollback alarm an uncalled canary cannot pass (the metric sums
the window)."""

ENDPOINT_ALARMS: tuple[tuple[str, str, bool, MetricOf, str], ...] = (
    (
        "5xx-rate",
        "error_5xx_percent",
        True,
        lambda endpoint, _, window: endpoint.error_rate("5XX", window),
        "More than {limits.error_5xx_percent}% of calls to endpoint {endpoint} fail with 5XX over "
        "{limits.evaluation_minutes} minutes: the model container errs, so the fleet gets no scaling "
        "decisions. During a blue/green update this alarm rolls the update back. No data counts as breaching "
        "(no invocation in {limits.evaluation_minutes} minutes: a canary nobody calls cannot pass). "
        "First: {first_look}; read /aws/sagemaker/Endpoints/{endpoint} logs for tracebacks; if there is no "
        "traffic at all, check the controller (every fleet off, or not running).",
    ),
    (
        "4xx-rate",
        "error_4xx_percent",
        False,
        lambda endpoint, _, window: endpoint.error_rate("4XX"),
        "More than {limits.error_4xx_percent}% of calls to {endpoint} are rejected as bad input (4XX): a caller "
        "sends requests that break the decision contract. First: find the caller that changed; the 4XX body "
        "names the offending field (see the endpoint logs).",
    ),
    (
        "model-latency-p99",
        "model_latency_p99_ms",
        False,
        lambda endpoint, _, window: endpoint.latency_ms("ModelLatency", "p99"),
        "p99 model latency of {endpoint} is above {limits.model_latency_p99_ms} ms: decisions arrive late. "
        "During a blue/green update this alarm rolls the update back. First: check CPU and instance count on "
        "the dashboard; if CPU is high, raise max_instances for stage {stage}.",
    ),
    (
        "fallback-rate",
        "fallback_percent",
        True,
        lambda _, decisions, window: decisions.share("Fallbacks", window),
        "More than {limits.fallback_percent}% of the decisions of endpoint {endpoint} came from the shield's "
        "fallback rule over "
        "{limits.evaluation_minutes} minutes: the policy network failed or returned NaN/inf, and the endpoint "
        "still answers HTTP 200 (a broken model). During a blue/green update this alarm rolls the update back; "
        "no data (no decision in {limits.evaluation_minutes} minutes) counts as breaching. First: {first_look}; "
        "search the endpoint logs for 'policy forward pass failed' and compare model_version with the last good "
        "one; redeploy the previous artifact.",
    ),
    (
        "shield-override-rate",
        "shield_override_percent",
        False,
        lambda _, decisions, window: decisions.share("ShieldOverrides"),
        "The shield overrode more than {limits.shield_override_percent}% of the policy's decisions on "
        "{endpoint}: the load is outside what the policy was trained on, or the policy scales against the "
        "load. Fleets are kept safe by the shield, not by the policy. First: compare LoadRPM on the dashboard "
        "with the training range (docs/serving.md, the shield); retrain on recent load if it moved.",
    ),
    (
        "overhead-latency-p99",
        "overhead_latency_p99_ms",
        False,
        lambda endpoint, _, window: endpoint.latency_ms("OverheadLatency", "p99"),
        "p99 SageMaker overhead latency of {endpoint} is above {limits.overhead_latency_p99_ms} ms: time is "
        "spent outside the model (request handling, payload size). First: check request sizes (batches) and "
        "the AWS Health Dashboard for SageMaker in eu-west-1.",
    ),
    (
        "cpu",
        "cpu_percent",
        False,
        lambda endpoint, _, window: endpoint.utilization("CPUUtilization"),
        "Average CPUUtilization of {endpoint} instances is above {limits.cpu_percent} (summed over vCPUs: "
        "100 per busy vCPU). Auto scaling should add instances. First: check the instance count on the "
        "dashboard; if it sits at max_instances, raise max_instances.",
    ),
    (
        "memory",
        "memory_percent",
        False,
        lambda endpoint, _, window: endpoint.utilization("MemoryUtilization"),
        "Memory use of {endpoint} instances is above {limits.memory_percent}%: workers may be killed. "
        "First: look for a growing trend since the last deployment (a leak) and roll back to the previous "
        "model if so.",
    ),
)
"""(alarm id, the `alarms` setting that is its threshold, whether it is ``PER_WINDOW``, its metric, its description:
a ``str.format`` template of ``endpoint``, ``stage``, ``limits`` (the stage's `alarms` section) and
``first_look``)."""


def endpoint_alarms(
    config: StageConfig, alarm: AlarmFactory, endpoint: EndpointMetrics, decisions: EndpointDecisionMetrics
) -> dict[str, cw.Alarm]:
    """The alarms of ``ENDPOINT_ALARMS``, by id."""
    limits = config.alarms
    window = cdk.Duration.minutes(limits.evaluation_minutes)
    words = {
        "endpoint": config.endpoint_name,
        "stage": config.name,
        "limits": limits,
        "first_look": f"Open the {config.endpoint_name} dashboard",
    }
    return {
        alarm_id: alarm(
            alarm_id,
            metric(endpoint, decisions, window),
            getattr(limits, limit),
            text.format(**words),
            **(PER_WINDOW if per_window else {}),
        )
        for alarm_id, limit, per_window, metric, text in ENDPOINT_ALARMS
    }
