"""Monitoring stack: the alarm topic, every alarm with a description saying what to do, and the dashboard."""

from __future__ import annotations

import json

import pytest

from tests.infra.helpers import STAGES, Synthesised, joined, only, resources

ALARMS = (
    "5xx-rate",
    "4xx-rate",
    "model-latency-p99",
    "fallback-rate",
    "shield-override-rate",
    "overhead-latency-p99",
    "cpu",
    "memory",
    "no-invocations",
    "training-failed",
    "controller-errors",
    "controller-not-running",
    "controller-fallback-rate",
    "controller-stale-data",
    "controller-dlq",
    "controller-read-errors",
    "controller-apply-errors",
    "controller-conflict-holds",
    "controller-config-errors",
    "controller-modes-errors",
    "controller-hand-back-errors",
    "controller-handed-back",
    "controller-throttles",
    "controller-duration",
)


def _alarms(app: Synthesised, stage: str) -> dict[str, dict]:
    found = resources(app.template(stage, "Monitoring"), "AWS::CloudWatch::Alarm")
    return {a["Properties"]["AlarmName"].removeprefix(f"rl-autoscaler-{stage.lower()}-"): a for a in found.values()}


def _dashboard(app: Synthesised, stage: str) -> dict:
    dashboard = only(app.template(stage, "Monitoring"), "AWS::CloudWatch::Dashboard")
    return json.loads(joined(dashboard["Properties"]["DashboardBody"]))


def _metric_names(widget: dict) -> list[str]:
    return [m[1] for m in widget["properties"].get("metrics", []) if len(m) > 1 and isinstance(m[1], str)]


@pytest.mark.parametrize("stage", STAGES)
def test_every_alarm_exists_says_what_it_means_and_what_to_do_first(app: Synthesised, stage: str) -> None:
    alarms = _alarms(app, stage)
    assert sorted(alarms) == sorted(ALARMS)
    for name, alarm in alarms.items():
        description = alarm["Properties"]["AlarmDescription"]
        assert "First:" in description and len(description) > 120, name
        assert alarm["Properties"].get("ActionsEnabled", True) is True
        (action,) = alarm["Properties"]["AlarmActions"]
        assert action == alarm["Properties"]["OKActions"][0] == {"Ref": next(iter(_topics(app, stage)))}


def _topics(app: Synthesised, stage: str) -> dict:
    return resources(app.template(stage, "Monitoring"), "AWS::SNS::Topic")


@pytest.mark.parametrize("stage", STAGES)
def test_one_topic_with_kms_and_tls_enforced(app: Synthesised, stage: str) -> None:
    template = app.template(stage, "Monitoring")
    topic = only(template, "AWS::SNS::Topic")["Properties"]
    assert topic["KmsMasterKeyId"]["Fn::GetStackOutput"]["StackName"] == f"{stage}-Storage"
    statements = only(template, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )
    subscriptions = [s["Properties"] for s in resources(template, "AWS::SNS::Subscription").values()]
    if stage == "Dev":
        assert subscriptions == []  # Dev may run without; synth says so (test_alarm_subscribers.py)
    else:  # the address lives in the stage account's SSM parameter, resolved by CloudFormation at deploy
        assert subscriptions == [
            {
                "Protocol": "email",
                "Endpoint": f"{{{{resolve:ssm:/rl-autoscaler/{stage.lower()}/alarm-email}}}}",
                "TopicArn": {"Ref": next(iter(_topics(app, stage)))},
            }
        ]


def test_thresholds_come_from_the_stage_config(app: Synthesised) -> None:
    for stage in STAGES:
        limits = app.stages[stage].config.alarms
        alarms = {name: a["Properties"] for name, a in _alarms(app, stage).items()}
        assert alarms["5xx-rate"]["Threshold"] == limits.error_5xx_percent
        assert alarms["4xx-rate"]["Threshold"] == limits.error_4xx_percent
        assert alarms["model-latency-p99"]["Threshold"] == limits.model_latency_p99_ms
        assert alarms["overhead-latency-p99"]["Threshold"] == limits.overhead_latency_p99_ms
        assert alarms["cpu"]["Threshold"] == limits.cpu_percent
        assert alarms["memory"]["Threshold"] == limits.memory_percent
        for name in ("model-latency-p99", "cpu"):
            assert alarms[name]["EvaluationPeriods"] == limits.evaluation_minutes
            assert alarms[name]["DatapointsToAlarm"] == limits.datapoints_to_alarm


def test_latency_alarms_convert_microseconds_to_milliseconds(app: Synthesised) -> None:
    alarm = _alarms(app, "Prod")["model-latency-p99"]["Properties"]
    expression, metric = sorted(alarm["Metrics"], key=lambda m: "Expression" not in m)
    assert expression["Expression"] == f"{metric['Id']} / 1000" and expression["ReturnData"] is True
    stat = metric["MetricStat"]
    assert stat["Stat"] == "p99" and stat["Metric"]["MetricName"] == "ModelLatency"
    assert {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]} == {
        "EndpointName": "rl-autoscaler-prod",
        "VariantName": "primary",
    }


def test_error_rate_alarm_is_a_percentage_of_invocations(app: Synthesised) -> None:
    alarm = _alarms(app, "Dev")["5xx-rate"]["Properties"]
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    # No invocation in a minute gives no datapoint (SageMaker publishes none), which counts as breaching: a
    # canary that nobody calls cannot pass its bake.
    assert expression["Expression"] == "100 * FILL(e5xx, 0) / inv"
    names = {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"inv": "Invocations", "e5xx": "Invocation5XXErrors"}
    assert alarm["TreatMissingData"] == "breaching"


def test_no_invocations_alarm_means_the_controller_stopped(app: Synthesised) -> None:
    """Fires when the controller reports no run, or fleets decide and no call arrives; never for zero fleets."""
    alarm = _alarms(app, "Dev")["no-invocations"]["Properties"]
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    assert expression["Expression"] == (
        "IF(FILL(runs, 0) == 0 OR (FILL(deciding, 0) > 0 AND FILL(invocations, 0) == 0), 1, 0)"
    )
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert {k: (v["Metric"]["Namespace"], v["Metric"]["MetricName"], v["Stat"]) for k, v in stats.items()} == {
        "runs": ("RLAutoscaler/Controller", "Runs", "Sum"),
        "deciding": ("RLAutoscaler/Controller", "FleetsDeciding", "Maximum"),
        "invocations": ("AWS/SageMaker", "Invocations", "Sum"),
    }
    assert {v["Period"] for v in stats.values()} == {15 * 60}
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] == 1
    assert alarm["TreatMissingData"] == "breaching"  # nothing published at all: the controller stopped


def test_training_failed_alarm_counts_failed_and_timed_out_executions(app: Synthesised) -> None:
    alarm = _alarms(app, "Dev")["training-failed"]["Properties"]
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "FILL(failed, 0) + FILL(timedout, 0)"
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"ExecutionsFailed", "ExecutionsTimedOut"}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


@pytest.mark.parametrize("stage", STAGES)
def test_dashboard_rows_and_explanation(app: Synthesised, stage: str) -> None:
    body = _dashboard(app, stage)
    widgets = body["widgets"]
    texts = [w["properties"]["markdown"] for w in widgets if w["type"] == "text"]
    explanation = texts[0]
    for row in ("Endpoint traffic", "Latency", "Endpoint resources", "Training", "Controller"):
        assert f"**{row}**" in explanation and f"## {row}" in texts
    assert "**Decisions (one row per fleet)**" in explanation
    assert f"rl-autoscaler-{stage.lower()}" in explanation
    (alarm_status,) = [w for w in widgets if w["type"] == "alarm"]
    assert len(alarm_status["properties"]["alarms"]) == len(ALARMS)
    titles = {w["properties"].get("title"): w for w in widgets if w["type"] == "metric"}
    assert {
        "Invocations per minute",
        "4XX and 5XX rate (%)",
        "Instance count",
        "ModelLatency (ms)",
        "OverheadLatency (ms)",
        "CPU utilization",
        "Memory utilization (%)",
        "Training runs per hour",
        "Training run duration (minutes)",
        "Runs, errors, throttles (per minute)",
        "Run duration and endpoint call (ms)",
        "Fleets deciding, fallbacks, shield overrides, holds",
    } <= set(titles)
    latency = json.dumps(titles["ModelLatency (ms)"]["properties"]["metrics"])
    assert "/ 1000" in latency and '"stat": "p50"' in latency and '"stat": "p99"' in latency
    assert "SampleCount" in json.dumps(titles["Instance count"]["properties"]["metrics"])
    assert "DesiredMachines" not in json.dumps(body)  # the handler's EMF decision widgets are gone
    training = json.dumps(titles["Training runs per hour"]["properties"]["metrics"])
    assert all(m in training for m in ("ExecutionsStarted", "ExecutionsFailed", "ExecutionsTimedOut"))
    assert "/ 60000" in json.dumps(titles["Training run duration (minutes)"]["properties"]["metrics"])
