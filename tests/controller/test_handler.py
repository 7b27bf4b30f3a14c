"""The Lambda entry point, in-process against moto (S3 state, CloudWatch, SSM, ECS) with the endpoint faked:
the event's time is the run's minute, runs are idempotent, logs are structured, and failures surface."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from controller import handler
from controller.config import SettingsError
from controller.fleets import FLEETS_KEY, FleetsUnavailable, document
from tests.controller.fakes import FakeRuntime, fleet_spec

REGION = "eu-west-1"
BUCKET = "rl-autoscaler-test-bucket"
PARAM = "/rl-autoscaler/test/controller/modes"
CONTEXT = SimpleNamespace(
    function_name="rl-autoscaler-test-controller",
    function_version="$LATEST",
    memory_limit_in_mb=512,
    invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:rl-autoscaler-test-controller",
    aws_request_id="req-1",
)
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture()
def stage(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    spec = fleet_spec("checkout", min_machines=2, max_machines=50, max_change_per_minute=4)
    env = {
        "STAGE": "Test",
        "ENDPOINT_NAME": "rl-autoscaler-test",
        "STATE_BUCKET": BUCKET,
        "FLEETS_KEY": FLEETS_KEY,
        "MODES_PARAMETER": PARAM,
        "HISTORY_MINUTES": "16",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    runtime = FakeRuntime()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=BUCKET, Key=FLEETS_KEY, Body=document("Test", [spec]))
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="prod")
        ecs.create_service(cluster="prod", serviceName="checkout", desiredCount=3)
        cw = boto3.client("cloudwatch", region_name=REGION)
        metric = spec["requests"]
        # sorted as the controller asks: moto (unlike CloudWatch) matches dimensions in order
        dims = [{"Name": k, "Value": v} for k, v in sorted(metric["dimensions"].items())]
        data = [
            {"MetricName": metric["metric_name"], "Dimensions": dims, "Timestamp": NOW - timedelta(minutes=m),
             "Value": 1000.0, "Unit": "Count"}
            for m in range(1, 30)
        ]  # fmt: skip
        cw.put_metric_data(Namespace=metric["namespace"], MetricData=data)
        handler.reset()
        handler.CLIENT_OVERRIDES.clear()
        handler.CLIENT_OVERRIDES["sagemaker-runtime"] = runtime
        yield {"ecs": ecs, "cw": cw, "runtime": runtime, "spec": spec}
        handler.reset()
        handler.CLIENT_OVERRIDES.clear()


def event(when: datetime) -> dict[str, Any]:
    return {"source": "aws.scheduler", "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "id": "x", "attempt": "1"}


def desired(stage: dict[str, Any]) -> int:
    return stage["ecs"].describe_services(cluster="prod", services=["checkout"])["services"][0]["desiredCount"]


class Collect(logging.Handler):
    """Keeps the Powertools Logger's JSON lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []
        self.setFormatter(handler.logger.registered_formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_a_run_scales_the_service_saves_state_and_publishes(stage: dict[str, Any]) -> None:
    collect = Collect()
    handler.logger.addHandler(collect)
    try:
        out = handler.lambda_handler(event(NOW), CONTEXT)
    finally:
        handler.logger.handlers.remove(collect)
    assert out["minute"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (out["fleets_deciding"], out["changed"], out["fallbacks"], out["state_saved"]) == (1, 1, 0, True)
    assert desired(stage) == 7  # the policy asks 13; 3 + 4 per minute
    sent = stage["runtime"].bodies[0]["instances"][0]
    assert sent["load_rpm"] == [1000.0] * 16 and sent["pending_machines"] + sent["active_machines"] <= 3
    keys = [o["Key"] for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert "controller/state.json.gz" in keys
    names = {m["MetricName"] for m in stage["cw"].list_metrics(Namespace="RLAutoscaler/Controller")["Metrics"]}
    assert {"Runs", "RunDurationMs", "PolicyDesired", "AppliedDesired", "Mode", "LoadRPM"} <= names
    lines = collect.lines
    run_line = next(x for x in lines if x.get("message") == "run")
    assert run_line["function_request_id"] == "req-1" and run_line["changed"] == 1
    assert any(x.get("message") == "fleet" and x.get("fleet") == "checkout" for x in lines)


def test_a_retried_event_decides_the_same_minute_and_does_not_compound(stage: dict[str, Any]) -> None:
    handler.lambda_handler(event(NOW), CONTEXT)
    again = handler.lambda_handler(event(NOW + timedelta(seconds=40)), CONTEXT)  # a retry within the minute
    assert desired(stage) == 7 and again["changed"] == 0 and again["minute"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    handler.lambda_handler(event(NOW + timedelta(minutes=1)), CONTEXT)
    assert desired(stage) == 11


def test_the_modes_parameter_switches_the_stage_to_shadow(stage: dict[str, Any]) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=PARAM, Type="String", Value='{"stage": "shadow", "fleets": {}}'
    )
    out = handler.lambda_handler(event(NOW), CONTEXT)
    assert desired(stage) == 3 and out["changed"] == 0 and out["fleets_deciding"] == 1


def test_an_event_without_time_decides_the_current_minute(stage: dict[str, Any]) -> None:
    out = handler.lambda_handler({}, CONTEXT)
    decided = datetime.strptime(out["minute"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((decided - datetime.now(UTC)).total_seconds()) < 120


def test_a_run_that_cannot_record_its_state_fails_so_the_minute_is_retried(stage: dict[str, Any]) -> None:
    handler._build(handler.os.environ)[2].load()  # the container has read its fleets
    s3 = boto3.client("s3", region_name=REGION)
    s3.delete_object(Bucket=BUCKET, Key=FLEETS_KEY)
    s3.delete_bucket(Bucket=BUCKET)
    with pytest.raises(handler.RunIncomplete, match="no change applied"):
        handler.lambda_handler(event(NOW), CONTEXT)
    assert desired(stage) == 3


def test_invalid_settings_fail_the_invocation(stage: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETS_KEY")
    handler.reset()
    with pytest.raises(SettingsError, match="FLEETS_KEY: environment variable missing"):
        handler.lambda_handler(event(NOW), CONTEXT)


def stage_metric(stage: dict[str, Any], name: str) -> list[float]:
    got = stage["cw"].get_metric_statistics(
        Namespace="RLAutoscaler/Controller", MetricName=name, Dimensions=[{"Name": "Stage", "Value": "Test"}],
        StartTime=NOW - timedelta(minutes=5), EndTime=NOW + timedelta(minutes=5), Period=60, Statistics=["Maximum"],
    )  # fmt: skip
    return [p["Maximum"] for p in got["Datapoints"]]


def test_no_readable_fleets_object_fails_the_run_and_counts_a_config_error(stage: dict[str, Any]) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=FLEETS_KEY, Body=b'{"stage": "Test"}')
    with pytest.raises(FleetsUnavailable, match=r"controller-fleets\.json \(ETag .*\): must be a JSON object"):
        handler.lambda_handler(event(NOW), CONTEXT)
    assert stage_metric(stage, "ConfigErrors") == [1.0]


def test_fleets_are_read_once_and_re_read_when_the_object_changes(stage: dict[str, Any]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    handler.lambda_handler(event(NOW), CONTEXT)
    source = handler._build(handler.os.environ)[2]
    handler.lambda_handler(event(NOW + timedelta(minutes=1)), CONTEXT)
    assert source.reads == 1  # unchanged: a 304, nothing parsed
    other = {**stage["spec"], "name": "search", "target": {"kind": "ecs", "cluster": "prod", "service": "search"}}
    s3.put_object(Bucket=BUCKET, Key=FLEETS_KEY, Body=document("Test", [stage["spec"], other]))
    out = handler.lambda_handler(event(NOW + timedelta(minutes=2)), CONTEXT)
    assert source.reads == 2 and out["fleets"] == 2 and out["read_errors"] == 1  # no such service yet
    twin = {**other, "target": stage["spec"]["target"]}
    s3.put_object(Bucket=BUCKET, Key=FLEETS_KEY, Body=document("Test", [stage["spec"], twin]))
    out = handler.lambda_handler(event(NOW + timedelta(minutes=3)), CONTEXT)
    assert out["fleets"] == 2 and "names the same target" in out["config_error"]  # the last good fleets run on
    assert sorted(stage_metric(stage, "ConfigErrors")) == [0.0, 0.0, 0.0, 1.0]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def test_a_throttled_api_is_retried_with_backoff_and_the_run_completes(stage: dict[str, Any]) -> None:
    """ECS answers ThrottlingException to the first DescribeServices and the first UpdateService; botocore's
    standard retry mode (bounded attempts, exponential backoff with jitter) retries both and the run applies."""
    from botocore.awsrequest import AWSResponse

    handler._build(handler.os.environ)
    ecs = handler._built["clients"].get("ecs")
    assert ecs.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    throttled: list[str] = []

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        operation = request.headers.get("X-Amz-Target", b"").decode().rsplit(".", 1)[-1]
        if operation in ("DescribeServices", "UpdateService") and operation not in throttled:
            throttled.append(operation)
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))
        return None

    ecs.meta.events.register_first("before-send.ecs", throttle)
    out = handler.lambda_handler(event(NOW), CONTEXT)
    assert throttled == ["DescribeServices", "UpdateService"]
    assert (out["read_errors"], out["apply_errors"], out["changed"]) == (0, 0, 1) and desired(stage) == 7


def test_out_of_range_economics_fail_the_invocation_and_change_no_fleet(stage: dict[str, Any]) -> None:
    spec = {**stage["spec"], "economics": {"machine_cost": 5000}}
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=FLEETS_KEY, Body=document("Test", [spec]))
    with pytest.raises(FleetsUnavailable, match=r"fleets\[0\]\.economics\.machine_cost: must be in \[0, 1000\]"):
        handler.lambda_handler(event(NOW), CONTEXT)
    assert desired(stage) == 3 and not stage["runtime"].bodies  # nothing asked, nothing changed
