"""Hand-back against moto, through the Lambda handler: taking a fleet active suspends exactly the team's own scaling
(Application Auto Scaling suspended state, Auto Scaling group processes) and every way of leaving active (mode
change, kill switch, removal from the fleets, failed runs, on-call's command, the stack's removal) restores exactly
that."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from controller import handler
from controller.fleets import FLEETS_KEY, document
from controller.state import RUN_STATE_KEY, decode
from tests.controller.fakes import FakeRuntime, fleet_spec, put_ecs_cpu_tracking

REGION = "eu-west-1"
BUCKET = "rl-autoscaler-test-bucket"
PARAM = "/rl-autoscaler/test/controller/modes"
CONTEXT = SimpleNamespace(
    function_name="rl-autoscaler-test-controller", function_version="$LATEST", memory_limit_in_mb=512,
    invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:rl-autoscaler-test-controller",
    aws_request_id="req-1",
)  # fmt: skip
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
TEAM_STATE = {
    "DynamicScalingInSuspended": False,
    "DynamicScalingOutSuspended": False,
    "ScheduledScalingSuspended": True,
}
"""What the team had: dynamic scaling on, its scheduled actions suspended by itself."""
ALL = dict.fromkeys(TEAM_STATE, True)


class Stage:
    def __init__(self, clients: dict[str, Any], specs: list[dict[str, Any]]) -> None:
        self.c, self.specs, self.minute = clients, specs, 0

    def ship(self, specs: list[dict[str, Any]]) -> None:
        self.c["s3"].put_object(Bucket=BUCKET, Key=FLEETS_KEY, Body=document("Test", specs))

    def modes(self, stage: str | None = None, **fleets: str) -> None:
        value = json.dumps({"stage": stage, "fleets": fleets})
        self.c["ssm"].put_parameter(Name=PARAM, Type="String", Value=value, Overwrite=True)

    def run(self) -> dict[str, Any]:
        when = NOW + timedelta(minutes=self.minute)
        self.minute += 1
        event = {"source": "aws.scheduler", "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "id": "x"}
        return handler.lambda_handler(event, CONTEXT)

    def suspended_state(self, service: str = "web") -> dict[str, bool]:
        (target,) = self.c["aas"].describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[f"service/prod/{service}"]
        )["ScalableTargets"]
        return target["SuspendedState"]

    def processes(self, group: str = "api-asg") -> set[str]:
        (found,) = self.c["asg"].describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        return {p["ProcessName"] for p in found["SuspendedProcesses"]}

    def records(self) -> dict[str, Any]:
        body = self.c["s3"].get_object(Bucket=BUCKET, Key=f"controller/{RUN_STATE_KEY}")["Body"].read()
        return decode(body)["handback"]


@pytest.fixture()
def stage(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    web = fleet_spec("web", min_machines=2, max_machines=50, max_change_per_minute=4)
    api = fleet_spec("api", target={"kind": "asg", "group": "api-asg"})
    env = {"STAGE": "Test", "ENDPOINT_NAME": "rl-autoscaler-test", "STATE_BUCKET": BUCKET, "FLEETS_KEY": FLEETS_KEY,
           "MODES_PARAMETER": PARAM, "HISTORY_MINUTES": "16", "HANDBACK_AFTER_FAILED_RUNS": "2"}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        c = {n: boto3.client(s, region_name=REGION) for n, s in (
            ("s3", "s3"), ("ecs", "ecs"), ("cw", "cloudwatch"), ("ssm", "ssm"), ("aas", "application-autoscaling"),
            ("asg", "autoscaling"), ("ec2", "ec2"))}  # fmt: skip
        c["s3"].create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        c["ecs"].create_cluster(clusterName="prod")
        c["ecs"].create_service(cluster="prod", serviceName="web", desiredCount=3)
        c["aas"].register_scalable_target(
            ServiceNamespace="ecs", ResourceId="service/prod/web", ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=1, MaxCapacity=50, SuspendedState=TEAM_STATE,
        )  # fmt: skip
        put_ecs_cpu_tracking(c["aas"])
        image = c["ec2"].describe_images()["Images"][0]["ImageId"]
        c["ec2"].create_launch_template(
            LaunchTemplateName="api-lt", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
        )
        c["asg"].create_auto_scaling_group(
            AutoScalingGroupName="api-asg", LaunchTemplate={"LaunchTemplateName": "api-lt"}, MinSize=0, MaxSize=20,
            DesiredCapacity=2, AvailabilityZones=[f"{REGION}a"],
        )  # fmt: skip
        c["asg"].suspend_processes(AutoScalingGroupName="api-asg", ScalingProcesses=["ScheduledActions"])
        for spec in (web, api):
            metric = spec["requests"]
            dims = [{"Name": k, "Value": v} for k, v in sorted(metric["dimensions"].items())]
            data = [
                {"MetricName": metric["metric_name"], "Dimensions": dims, "Value": 1000.0, "Unit": "Count",
                 "Timestamp": NOW - timedelta(minutes=m)}
                for m in range(1, 30)
            ]  # fmt: skip
            c["cw"].put_metric_data(Namespace=metric["namespace"], MetricData=data)
        s = Stage(c, [web, api])
        s.ship(s.specs)
        handler.reset()
        handler.CLIENT_OVERRIDES.clear()
        handler.CLIENT_OVERRIDES["sagemaker-runtime"] = FakeRuntime()
        yield s
        handler.reset()
        handler.CLIENT_OVERRIDES.clear()


def test_taking_a_fleet_active_suspends_exactly_the_teams_scaling_and_a_mode_change_restores_it(stage: Stage) -> None:
    out = stage.run()
    assert stage.suspended_state() == ALL and stage.processes() == {"ScheduledActions", "AlarmNotification"}
    records = stage.records()
    assert records["web"]["suspended"] == {"scalable_target": "service/prod/web", "suspended_state": TEAM_STATE}
    assert records["api"]["suspended"] == {"suspended_processes": ["AlarmNotification"]}  # not the team's own
    assert out["conflict_holds"] == 0 and out["changed"] >= 1  # its policy is suspended: no conflict, applied
    stage.modes(web="shadow")
    stage.run()
    assert stage.suspended_state() == TEAM_STATE and "web" not in stage.records()  # exactly what the team had
    stage.modes(stage="off")  # the kill switch
    stage.run()
    assert stage.processes() == {"ScheduledActions"} and stage.records() == {}


def test_a_fleet_removed_from_the_fleets_is_handed_back(stage: Stage) -> None:
    stage.run()
    stage.ship(stage.specs[:1])  # api is gone from the stage
    stage.run()
    assert stage.processes() == {"ScheduledActions"} and set(stage.records()) == {"web"}


def test_consecutive_failed_runs_hand_back_and_latch_until_on_call_toggles_the_mode(stage: Stage) -> None:
    stage.run()
    stage.c["ecs"].delete_service(cluster="prod", service="web", force=True)  # web can no longer be read
    first = stage.run()
    assert first["read_errors"] == 1 and stage.suspended_state() == ALL  # one failure: not yet
    stage.run()
    assert stage.suspended_state() == TEAM_STATE  # two in a row (HANDBACK_AFTER_FAILED_RUNS=2): handed back
    assert stage.records()["web"] == {"latched": "handed back after 2 consecutive failed runs"}
    stage.run()
    assert stage.suspended_state() == TEAM_STATE  # latched in shadow: not taken again
    stage.modes(web="shadow")
    stage.run()
    assert "web" not in stage.records()  # on-call's toggle clears the latch; active again takes it again


def test_on_call_command_hands_back_now_and_latches(stage: Stage) -> None:
    stage.run()
    out = handler.lambda_handler({"action": "hand-back", "fleets": ["api"]}, CONTEXT)
    assert out == {"handed_back": ["api"], "errors": {}}
    assert stage.processes() == {"ScheduledActions"} and stage.suspended_state() == ALL
    stage.run()
    assert stage.processes() == {"ScheduledActions"}  # latched: the next run does not take it again
    with pytest.raises(ValueError, match="no fleet of stage Test is named nope"):
        handler.lambda_handler({"action": "hand-back", "fleets": ["nope"]}, CONTEXT)


def test_the_stacks_removal_hands_every_fleet_back(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    stage.run()
    answers: list[dict[str, Any]] = []

    class Sent:
        def __init__(self, request: urllib.request.Request, timeout: float) -> None:
            answers.append(json.loads(request.data))  # type: ignore[arg-type]

        def __enter__(self) -> Sent:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(urllib.request, "urlopen", Sent)
    event = {
        "RequestType": "Delete", "ResponseURL": "https://cloudformation-response", "StackId": "stack",
        "RequestId": "r", "LogicalResourceId": "HandBackOnRemoval", "ResourceType": "Custom::HandBack",
    }  # fmt: skip
    handler.lambda_handler(event, CONTEXT)
    assert stage.suspended_state() == TEAM_STATE and stage.processes() == {"ScheduledActions"}
    assert stage.records() == {}
    assert answers[0]["Status"] == "SUCCESS" and answers[0]["Data"] == {"HandedBack": 2, "Errors": 0}
