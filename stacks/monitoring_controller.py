"""The controller's alarms (in the monitoring stack, to the stage's one topic) and the endpoint's no-invocations rule.

They read the controller by its stable names (function, dead-letter queue) and its custom metrics (namespace
`RLAutoscaler/Controller`), so the monitoring stack needs no reference to the controller stack, which deploys
after it. Each description says what the alarm means and what to do first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw

from controller.config import SCALE_TAG
from stacks.config import REGION, StageConfig
from stacks.metrics import CONTROLLER_NAMESPACE, ONE_MINUTE, controller_metric

AlarmFactory = Callable[..., cw.Alarm]
"""The monitoring stack's `alarm(construct_id, metric, threshold, description, **options)`: unless the options say
otherwise, above the threshold in `alarms.datapoints_to_alarm` of the last `alarms.evaluation_minutes` datapoints,
missing data not breaching."""
ONE_DATAPOINT: dict[str, Any] = {"evaluation_periods": 1, "datapoints_to_alarm": 1}
"""Options of an alarm on its newest datapoint alone."""


def lambda_metric(config: StageConfig, name: str, statistic: str = "Sum") -> cw.Metric:
    return cw.Metric(
        namespace="AWS/Lambda",
        metric_name=name,
        dimensions_map={"FunctionName": config.controller_function_name},
        statistic=statistic,
        period=ONE_MINUTE,
        label=f"Lambda {name}",
    )


def no_invocations_expression(config: StageConfig) -> cw.MathExpression:
    """1 when, over the window, the controller reported no run, or fleets were deciding and no call arrived.

    A stage without fleets (or with every fleet off) runs the controller with FleetsDeciding = 0: 0, no alarm.
    Nothing at all published (the controller stopped) leaves no datapoint: missing data breaches.
    """
    window = cdk.Duration.minutes(config.alarms.no_invocations_minutes)
    return cw.MathExpression(
        expression="IF(FILL(runs, 0) == 0 OR (FILL(deciding, 0) > 0 AND FILL(invocations, 0) == 0), 1, 0)",
        using_metrics={
            "runs": controller_metric(config.name, "Runs", "Sum").with_(period=window),
            "deciding": controller_metric(config.name, "FleetsDeciding", "Maximum").with_(period=window),
            "invocations": cw.Metric(
                namespace="AWS/SageMaker",
                metric_name="Invocations",
                dimensions_map={"EndpointName": config.endpoint_name, "VariantName": config.variant_name},
                statistic="Sum",
                period=window,
            ),
        },
        label="Controller stopped asking the endpoint (1)",
        period=window,
    )


def controller_alarms(config: StageConfig, alarm: AlarmFactory) -> list[cw.Alarm]:
    limits, settings = config.alarms, config.controller
    function = config.controller_function_name
    logs = f"/aws/lambda/{function}"
    runbook = f"the function's log group {logs} (Logs Insights: filter level = 'ERROR')"
    errors = alarm(
        "controller-errors",
        lambda_metric(config, "Errors"),
        0,
        f"Controller runs of {function} fail (Lambda Errors in {limits.datapoints_to_alarm} of the last "
        f"{limits.evaluation_minutes} minutes): no decision is applied or published for any fleet while it lasts; "
        "fleets keep their last size. Failed runs land in the controller-dlq queue with the error. First: read "
        f"{runbook} for the traceback; if a fleet config or permission broke it, switch the stage to off in "
        f"{config.modes_parameter_name} and fix the config.",
    )
    not_running = alarm(
        "controller-not-running",
        controller_metric(config.name, "Runs", "Sum", label="Runs per minute"),
        1,
        f"The controller reported no run ({CONTROLLER_NAMESPACE} Runs missing or 0) in "
        f"{limits.datapoints_to_alarm} of the last {limits.evaluation_minutes} minutes: nothing scales the "
        "stage's fleets. First: check that the EventBridge schedule "
        f"{function} is ENABLED, the function's throttles (reserved concurrency 1) and the controller-errors alarm.",
        comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        treat_missing_data=cw.TreatMissingData.BREACHING,
    )
    fallback_rate = alarm(
        "controller-fallback-rate",
        cw.MathExpression(
            expression="IF(deciding > 0, 100 * FILL(fallbacks, 0) / deciding, 0)",
            using_metrics={
                "fallbacks": controller_metric(config.name, "Fallbacks", "Sum"),
                "deciding": controller_metric(config.name, "FleetsDeciding", "Sum"),
            },
            label="Fleets decided by the fallback rule (%)",
            period=ONE_MINUTE,
        ),
        settings.fallback_alarm_percent,
        f"More than {settings.fallback_alarm_percent:g}% of the deciding fleets were decided by the target-tracking "
        "fallback rule, not the policy (the endpoint call timed out, was throttled, failed or answered malformed), "
        f"in {limits.datapoints_to_alarm} of {limits.evaluation_minutes} minutes. Fleets stay safe on the rule. "
        f"First: check the endpoint's 5xx and latency alarms and EndpointLatencyMs on the dashboard, then {runbook}.",
    )
    stale = alarm(
        "controller-stale-data",
        controller_metric(config.name, "StaleDataHolds", "Sum", label="Fleets holding on stale data"),
        0,
        f"Some fleet held its size on stale data (its newest complete CloudWatch minute older than "
        f"{settings.stale_after_minutes} minutes) every minute for {settings.stale_alarm_minutes} minutes: the "
        "controller will not act on it until its request metric is published again. First: find the fleet on the "
        "dashboard (StaleDataHold per fleet) and check its requests metric (namespace, name, dimensions in the "
        "stage config) still receives data.",
        evaluation_periods=settings.stale_alarm_minutes,
        datapoints_to_alarm=settings.stale_alarm_minutes,
    )
    dead_letters = alarm(
        "controller-dlq",
        cw.Metric(
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions_map={"QueueName": config.controller_dlq_name},
            statistic="Maximum",
            period=cdk.Duration.minutes(5),
        ),
        0,
        f"The dead-letter queue {config.controller_dlq_name} holds failed or undelivered controller runs. First: "
        "read a message (its requestContext/responsePayload name the error), fix the cause, then purge the queue "
        "(a run is never replayed: the next minute's run decides afresh).",
        **ONE_DATAPOINT,
    )
    return [errors, not_running, fallback_rate, stale, dead_letters, *on_call_alarms(config, alarm, runbook)]


COUNTED_FAILURES: tuple[tuple[str, str, str], ...] = (
    (
        "controller-read-errors",
        "ReadErrors",
        "Some fleet's target could not be read (ECS service, Auto Scaling group or endpoint missing, misnamed, not "
        "ACTIVE, or access denied): the controller holds that fleet, deciding and applying nothing. First: find the "
        "fleet in {runbook} (message 'fleet state unreadable' names it and the error), then check its target names in "
        "the stage's fleets and that the resource carries the tag {tag}.",
    ),
    (
        "controller-apply-errors",
        "ApplyErrors",
        "The controller decided a new size for an active fleet and the target refused it (access denied: the "
        "resource lacks the tag {tag}; an endpoint busy updating; a throttled API after its retries): the fleet "
        "keeps its size. First: read 'apply failed' in {runbook}; if it persists, switch the fleet to shadow in "
        "{modes}.",
    ),
    (
        "controller-conflict-holds",
        "ConflictHolds",
        "An active fleet's target still has another scaler (a scaling policy the hand-back could not suspend, e.g. "
        "a predictive policy in ForecastAndScale mode), so the controller publishes its decision and applies nothing. "
        "First: read 'conflict hold' in {runbook}; remove that policy or switch the fleet to shadow in {modes}.",
    ),
    (
        "controller-hand-back-errors",
        "HandBackErrors",
        "The controller could not suspend (taking a fleet active) or restore (handing it back) a team's own scaling "
        "(Application Auto Scaling scalable target or Auto Scaling group processes): a fleet it could not suspend is "
        "not scaled; one it could not restore is retried every minute. First: read 'hand-back' in {runbook}; the "
        "resource needs the tag {tag}.",
    ),
    (
        "controller-handed-back",
        "HandedBack",
        "A fleet was handed back to its own scaling (after failed runs in a row, or by on-call) and is held in "
        "shadow. First: read 'handed back' in {runbook}; once fixed, set the fleet to shadow then active in {modes} "
        "to let the controller take it again.",
    ),
    (
        "controller-config-errors",
        "ConfigErrors",
        "The stage's fleets object (config/controller-fleets.json in the stage bucket) could not be read or refused "
        "by the schema: runs go on with the last good fleets, or fail when they have none. First: read 'fleets object "
        "unusable' in {runbook} (the message names the field), fix the stage's fleets and deploy.",
    ),
    (
        "controller-modes-errors",
        "ModesErrors",
        "The modes parameter {modes} is unreadable or names an unknown mode or fleet: every fleet is capped at "
        "shadow (nothing applied) until it is fixed. First: aws ssm get-parameter --region {region} --name {modes}, "
        'correct the JSON ({{"stage": ..., "fleets": {{"<fleet>": "off|shadow|active"}}}}) and put it back.',
    ),
)
"""(alarm id, controller metric, runbook): each alarms when the metric is above 0 (the window of the stage's alarms,
modes errors at once)."""


def on_call_alarms(config: StageConfig, alarm: AlarmFactory, runbook: str) -> list[cw.Alarm]:
    """The counted failures above, throttled runs and runs that near their timeout."""
    settings = config.controller
    words = {
        "runbook": runbook, "tag": f"{SCALE_TAG}={config.name}", "modes": config.modes_parameter_name,
        "region": REGION,
    }  # fmt: skip
    out = []
    for alarm_id, metric, text in COUNTED_FAILURES:
        once = ONE_DATAPOINT if metric == "ModesErrors" else {}
        out.append(alarm(alarm_id, controller_metric(config.name, metric, "Maximum"), 0, text.format(**words), **once))
    near = 0.8 * settings.timeout_s * 1000
    out.append(
        alarm(
            "controller-throttles",
            lambda_metric(config, "Throttles"),
            0,
            f"Invocations of {config.controller_function_name} were throttled: a run was still going when the next "
            "minute's started (reserved concurrency 1), or the account's Lambda concurrency is exhausted; throttled "
            "minutes are not decided. First: check the controller-duration alarm and RunDurationMs on the dashboard, "
            "then the account's concurrent executions.",
        )
    )
    out.append(
        alarm(
            "controller-duration",
            lambda_metric(config, "Duration", "Maximum"),
            near,
            f"Controller runs took more than 80% of their {settings.timeout_s} s timeout ({near / 1000:g} s): the next "
            "slow API call makes a run time out and decide nothing. First: read the run lines' duration_ms and "
            f"endpoint_latency_ms in {runbook}; a slow endpoint lowers endpoint_timeout_s, many fleets need "
            "controller.memory_mb (CPU grows with it).",
        )
    )
    return out
