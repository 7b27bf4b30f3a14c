"""Controller stack: the function, its layers and environment, schedule, dead letters, modes and least-privilege IAM.

Also the stage config's `fleets` and `controller` sections (validated by the controller's own schema before any
construct exists) and the controller's alarms and dashboard rows in the monitoring stack.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from inference.features import CONTEXT_MINUTES
from stacks.artifact import ArtifactError, ModelArtifact
from stacks.config import StageConfigError, select_stages
from stacks.controller_environment import history_minutes, trained_lag_minutes
from stacks.layers import CONTROLLER_LAYERS
from tests.infra.helpers import CDK_CONTEXT, STAGES, Synthesised, build_app, joined, only, resources

READ_ONLY_ON_ANY_RESOURCE = {
    "cloudwatch:GetMetricData",
    "cloudwatch:PutMetricData",  # with a cloudwatch:namespace condition, checked below
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribePolicies",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
}


def _fleet(name: str, target: dict[str, Any], **extra: Any) -> dict[str, Any]:
    fleet = {
        "name": name,
        "mode": "shadow",
        "capacity_rpm_per_machine": 300,
        "min_machines": 2,
        "max_machines": 40,
        "max_change_per_minute": 10,
        "target": target,
    }
    if target["kind"] != "simulated":
        fleet["requests"] = {
            "namespace": "AWS/ApplicationELB",
            "metric_name": "RequestCount",
            "dimensions": {"TargetGroup": f"targetgroup/{name}/123", "LoadBalancer": "app/front/456"},
        }
    return {**fleet, **extra}


REAL_FLEETS = [
    _fleet("checkout", {"kind": "ecs", "cluster": "shop", "service": "checkout"}),
    _fleet("search", {"kind": "ecs", "cluster": "shop", "service": "search"}),
    _fleet("web", {"kind": "asg", "group": "web-asg"}),
    _fleet("ranker", {"kind": "sagemaker", "endpoint": "Ranker-Prod", "variant": "AllTraffic"}),
]


def _stages_with(stage: str, fleets: list[dict[str, Any]] | None = None, **controller: Any) -> dict[str, Any]:
    stages = copy.deepcopy(CDK_CONTEXT["stages"])
    if fleets is not None:
        stages[stage]["fleets"] = fleets
    stages[stage].setdefault("controller", {}).update(controller)
    return stages


@pytest.fixture(scope="module")
def real_fleets(tmp_path_factory: pytest.TempPathFactory, policy_artifacts: dict[str, Path]) -> Template:
    """Prod's controller with an ECS, an Auto Scaling and a SageMaker fleet (Prod ships only a simulated one)."""
    _, (prod,) = build_app(
        tmp_path_factory.mktemp("real-fleets"),
        stage="Prod",
        stages=_stages_with("Prod", REAL_FLEETS),
        model_artifact=policy_artifacts["passed"],
    )
    return Template.from_stack(prod.controller)


def _statements(template: Template) -> dict[str, dict[str, Any]]:
    """The controller function's policy, by statement id."""
    (policy,) = [p for p in resources(template, "AWS::IAM::Policy").values() if "AskStageEndpoint" in json.dumps(p)]
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def _function(template: Template) -> dict[str, Any]:
    """The controller function's properties (the stack's other function writes the fleets object at deploy)."""
    (function,) = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if str(f["Properties"].get("FunctionName", "")).endswith("-controller")
    ]
    return function


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def _resources(statement: dict[str, Any]) -> list[str]:
    value = statement["Resource"]
    return [joined(r) for r in (value if isinstance(value, list) else [value])]


@pytest.mark.parametrize("stage", STAGES)
def test_function_runs_the_handler_on_python312_with_the_pinned_public_layers(app: Synthesised, stage: str) -> None:
    config = app.stages[stage].config
    function = _function(app.template(stage, "Controller"))
    assert function["FunctionName"] == f"rl-autoscaler-{stage.lower()}-controller"
    assert function["Handler"] == "controller.handler.lambda_handler"
    assert function["Runtime"] == "python3.12" and function["Architectures"] == ["x86_64"]
    assert function["Layers"] == [layer.arn() for layer in CONTROLLER_LAYERS]
    assert function["ReservedConcurrentExecutions"] == 1  # runs never overlap
    assert function["Timeout"] == config.controller.timeout_s < 60
    assert function["MemorySize"] == config.controller.memory_mb
    assert "S3Key" in function["Code"]  # a zip asset, no container image


@pytest.mark.parametrize("stage", STAGES)
def test_environment_follows_the_contract(app: Synthesised, stage: str) -> None:
    config = app.stages[stage].config
    env = _function(app.template(stage, "Controller"))["Environment"]["Variables"]
    assert env["FLEETS_KEY"] == "config/controller-fleets.json"  # the fleets travel as an object
    assert env["STAGE"] == stage and env["ENDPOINT_NAME"] == config.endpoint_name
    assert joined(env["STATE_BUCKET"]) == f"rl-autoscaler-{stage.lower()}-data-<Ref:AWS::AccountId>-eu-west-1"
    assert env["MODES_PARAMETER"] == f"/rl-autoscaler/{stage.lower()}/controller/modes"
    assert env["HISTORY_MINUTES"] == str(CONTEXT_MINUTES)  # the test policy's metadata: observation.history
    assert env["PUBLICATION_LAG_MINUTES"] == str(config.controller.publication_lag_minutes)
    assert env["STALE_AFTER_MINUTES"] == str(config.controller.stale_after_minutes)
    assert env["ENDPOINT_TIMEOUT_S"] == "2" and env["ENDPOINT_MAX_ATTEMPTS"] == "2"


def test_shipped_fleets_are_simulated_and_only_dev_acts(app: Synthesised) -> None:
    fleets = {
        stage: [(f["name"], f["mode"], f["target"]["kind"]) for f in app.stages[stage].config.fleets]
        for stage in STAGES
    }
    assert fleets["Dev"] == [("worldcup", "active", "simulated"), ("nasa", "shadow", "simulated")]
    assert fleets["Staging"] == [("worldcup", "shadow", "simulated")]
    # Prod's simulated shadow fleet only keeps the endpoint called, so that a blue/green canary can be judged.
    assert fleets["Prod"] == [("canary-traffic", "shadow", "simulated")]


@pytest.mark.parametrize("modes", [(), ("off",), ("off", "off")])
def test_blue_green_stage_without_a_deciding_fleet_is_refused(modes: tuple[str, ...]) -> None:
    """Rollback alarms treat no traffic as breaching: with no fleet calling the endpoint they would sit in ALARM
    and every update would roll back (or, were missing data OK, a canary would pass unjudged)."""
    fleets = [
        _fleet(f"f{i}", {"kind": "simulated", "trace": "nasa", "scale": 1.0, "seed": i, "start": None}, mode=mode)
        for i, mode in enumerate(modes)
    ]
    with pytest.raises(StageConfigError, match=r"fleets: stage Prod updates its endpoint blue/green"):
        select_stages(_stages_with("Prod", fleets), "Prod", {})


@pytest.mark.parametrize("stage", STAGES)
def test_log_group_encrypted_with_the_stage_key_and_the_stages_retention(app: Synthesised, stage: str) -> None:
    template = app.template(stage, "Controller")
    groups = resources(template, "AWS::Logs::LogGroup")
    (group_id,) = [k for k, g in groups.items() if g["Properties"]["LogGroupName"].endswith("-controller")]
    group = groups[group_id]["Properties"]
    assert group["KmsKeyId"]["Fn::GetStackOutput"]["StackName"] == f"{stage}-Storage"
    assert group["RetentionInDays"] == app.stages[stage].config.retention.log_retention_days
    function = _function(template)
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": group_id}
    key = only(app.template(stage, "Storage"), "AWS::KMS::Key")["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in key if s.get("Principal") == {"Service": "logs.eu-west-1.amazonaws.com"}]
    patterns = [joined(p) for p in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]]
    group = (
        f"arn:aws:logs:eu-west-1:<Ref:AWS::AccountId>:log-group:/aws/lambda/rl-autoscaler-{stage.lower()}-controller"
    )
    assert any(fnmatch.fnmatchcase(group, pattern) for pattern in patterns), patterns


@pytest.mark.parametrize("stage", STAGES)
def test_schedule_every_minute_with_retry_policy_and_dead_letters(app: Synthesised, stage: str) -> None:
    template = app.template(stage, "Controller")
    schedule = only(template, "AWS::Scheduler::Schedule")["Properties"]
    assert schedule["ScheduleExpression"] == "rate(1 minute)" and schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    (function_id,) = [
        k for k, f in resources(template, "AWS::Lambda::Function").items() if f["Properties"] == _function(template)
    ]
    (queue_id,) = resources(template, "AWS::SQS::Queue")
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 2}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert json.loads(target["Input"])["time"] == "<aws.scheduler.scheduled-time>"  # the run's minute
    invoke = only(template, "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert invoke["MaximumRetryAttempts"] == 0 and invoke["MaximumEventAgeInSeconds"] == 60
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    queue = only(template, "AWS::SQS::Queue")["Properties"]
    assert queue["QueueName"] == f"rl-autoscaler-{stage.lower()}-controller-dlq"
    assert queue["KmsMasterKeyId"]["Fn::GetStackOutput"]["StackName"] == f"{stage}-Storage"
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    (queue_policy,) = resources(template, "AWS::SQS::QueuePolicy").values()
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in queue_policy["Properties"]["PolicyDocument"]["Statement"]
    )


@pytest.mark.parametrize("stage", STAGES)
def test_scheduler_role_invokes_the_function_and_dead_letters_nothing_else(app: Synthesised, stage: str) -> None:
    template = app.template(stage, "Controller")
    (policy,) = [
        p for p in resources(template, "AWS::IAM::Policy").values() if "lambda:InvokeFunction" in json.dumps(p)
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(a for s in statements for a in _actions(s)) == [
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "lambda:InvokeFunction",
        "sqs:SendMessage",
    ]
    assert all("*" not in _resources(s) for s in statements)
    role = [
        r
        for r in resources(template, "AWS::IAM::Role").values()
        if "scheduler.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    (scheduler_role,) = role
    (trust,) = scheduler_role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


@pytest.mark.parametrize("stage", STAGES)
def test_modes_parameter_starts_empty(app: Synthesised, stage: str) -> None:
    parameter = only(app.template(stage, "Controller"), "AWS::SSM::Parameter")["Properties"]
    assert parameter["Name"] == f"/rl-autoscaler/{stage.lower()}/controller/modes"
    assert parameter["Type"] == "String"
    assert json.loads(parameter["Value"]) == {"stage": None, "fleets": {}}
    statements = _statements(app.template(stage, "Controller"))
    assert _actions(statements["ReadModes"]) == ["ssm:GetParameter"]
    assert _resources(statements["ReadModes"])[0].endswith(f":parameter/rl-autoscaler/{stage.lower()}/controller/modes")


TEAM_SERVICES = ("ecs:", "autoscaling:", "sagemaker:", "application-autoscaling:")
"""Services of the teams' resources: a mutating action there carries the stage's tag condition."""
READ_PREFIXES = ("Describe", "List", "Get")


def _assert_least_privilege(statements: dict[str, dict[str, Any]]) -> None:
    for sid, statement in statements.items():
        assert statement["Effect"] == "Allow"
        if "*" in _resources(statement):
            assert set(_actions(statement)) <= READ_ONLY_ON_ANY_RESOURCE, f"{sid}: {_actions(statement)} on *"
        mutating = [
            a
            for a in _actions(statement)
            if a.startswith(TEAM_SERVICES)
            and not a.split(":")[1].startswith(READ_PREFIXES)
            and a != "sagemaker:InvokeEndpoint"
        ]
        if mutating and any("*" in r for r in _resources(statement)):
            condition = statement.get("Condition", {}).get("StringEquals", {})
            assert "aws:ResourceTag/rl-autoscaler-stage" in condition, f"{sid}: {mutating} without a tag condition"
    put = statements["PublishDecisionMetrics"]
    assert "cloudwatch:namespace" in put["Condition"]["StringEquals"]


@pytest.mark.parametrize("stage", STAGES)
def test_iam_no_wildcard_on_a_mutating_action(app: Synthesised, stage: str) -> None:
    statements = _statements(app.template(stage, "Controller"))
    _assert_least_privilege(statements)
    assert _resources(statements["ReadWriteOwnState"]) == [
        f"arn:aws:s3:::rl-autoscaler-{stage.lower()}-data-<Ref:AWS::AccountId>-eu-west-1/controller/*"
    ]
    assert statements["ListOwnState"]["Condition"] == {"StringLike": {"s3:prefix": ["controller/*"]}}
    assert _resources(statements["AskStageEndpoint"]) == [
        f"arn:aws:sagemaker:eu-west-1:<Ref:AWS::AccountId>:endpoint/rl-autoscaler-{stage.lower()}"
    ]
    assert _actions(statements["UseStageKey"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    # Simulated fleets only: nothing of ECS, Auto Scaling or other endpoints.
    everything = json.dumps(statements)
    for action in ("ecs:UpdateService", "autoscaling:SetDesiredCapacity", "UpdateEndpointWeightsAndCapacities"):
        assert action not in everything
    namespaces = statements["PublishDecisionMetrics"]["Condition"]["StringEquals"]["cloudwatch:namespace"]
    simulated = any(f["target"]["kind"] == "simulated" for f in app.stages[stage].config.fleets)
    assert namespaces == (
        ["RLAutoscaler/Controller", "RLAutoscaler/SimulatedFleet"] if simulated else ["RLAutoscaler/Controller"]
    )


def test_iam_scales_only_resources_tagged_for_the_stage(real_fleets: Template) -> None:
    statements = _statements(real_fleets)
    _assert_least_privilege(statements)
    tagged = {"StringEquals": {"aws:ResourceTag/rl-autoscaler-stage": "Prod"}}
    where = "eu-west-1:<Ref:AWS::AccountId>"
    expected = {
        "ScaleTaggedEcsServices": (["ecs:UpdateService"], f"arn:aws:ecs:{where}:service/*/*"),
        "ScaleTaggedAutoScalingGroups": (
            ["autoscaling:ResumeProcesses", "autoscaling:SetDesiredCapacity", "autoscaling:SuspendProcesses"],
            f"arn:aws:autoscaling:{where}:autoScalingGroup:*:autoScalingGroupName/*",
        ),
        "ScaleTaggedEndpointVariants": (
            ["sagemaker:UpdateEndpointWeightsAndCapacities"],
            f"arn:aws:sagemaker:{where}:endpoint/*",
        ),
        "HandBackTaggedScalableTargets": (
            ["application-autoscaling:RegisterScalableTarget"],
            f"arn:aws:application-autoscaling:{where}:scalable-target/*",
        ),
    }
    for sid, (actions, resource) in expected.items():
        assert _actions(statements[sid]) == actions and _resources(statements[sid]) == [resource], sid
        assert statements[sid]["Condition"] == tagged, sid
    assert _actions(statements["ReadEcsServices"]) == ["ecs:DescribeServices"]
    assert _actions(statements["ReadEndpoints"]) == ["sagemaker:DescribeEndpoint"]
    assert set(_actions(statements["FindOtherScalers"])) <= READ_ONLY_ON_ANY_RESOURCE
    assert _resources(statements["ReadFleets"]) == [
        "arn:aws:s3:::rl-autoscaler-prod-data-<Ref:AWS::AccountId>-eu-west-1/config/controller-fleets.json"
    ]
    namespaces = statements["PublishDecisionMetrics"]["Condition"]["StringEquals"]["cloudwatch:namespace"]
    assert namespaces == ["RLAutoscaler/Controller"]


def test_stack_order_controller_after_storage_and_serving(app: Synthesised) -> None:
    stage = app.stages["Dev"]
    assert {d.stack_name for d in stage.controller.dependencies} == {"Dev-Storage", "Dev-Serving"}
    assert stage.controller not in stage.monitoring.dependencies  # monitoring reads it by its stable names


# --- stage config: fleets and controller settings, validated before any construct exists ---------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f[0]["target"].update(kind="ecss"), r"fleets\[0\]\.target\.kind: unknown target kind 'ecss'"),
        (lambda f: f[1].update(mood="shadow"), r"fleets\[1\].*mood"),
        (lambda f: f[0].update(mode="loud"), r"fleets\[0\]\.mode"),
        (
            lambda f: f[1].update(economics={"warmup_latency": 500}),
            r"fleets\[1\]\.economics\.warmup_latency: must be in \[0, 240\] \(minutes\), got 500",
        ),
    ],
)
def test_fleet_config_errors_name_the_field(mutate: Any, message: str) -> None:
    stages = copy.deepcopy(CDK_CONTEXT["stages"])
    mutate(stages["Dev"]["fleets"])
    with pytest.raises(StageConfigError, match=rf"stage 'Dev': .*{message}"):
        select_stages(stages, "Dev", {})


def test_a_fleet_naming_the_stages_own_endpoint_is_refused() -> None:
    own = _fleet("self", {"kind": "sagemaker", "endpoint": "rl-autoscaler-prod", "variant": "primary"})
    with pytest.raises(StageConfigError, match=r"fleets\[0\]\.target\.endpoint: rl-autoscaler-prod is this stage's"):
        select_stages(_stages_with("Prod", [own]), "Prod", {})


@pytest.mark.parametrize(
    "target",
    [
        {"kind": "ecs", "cluster": "shop", "service": "checkout"},
        {"kind": "asg", "group": "web-asg"},
        {"kind": "sagemaker", "endpoint": "ranker-prod", "variant": "AllTraffic"},  # names are case-insensitive
    ],
)
def test_two_fleets_on_one_target_are_refused(target: dict[str, Any]) -> None:
    fleets = [*REAL_FLEETS, _fleet("twin", target)]
    with pytest.raises(StageConfigError, match=r"fleets\[4\]\.target: fleet 'twin' names the same target"):
        select_stages(_stages_with("Prod", fleets), "Prod", {})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"timeout_s": 60}, r"controller\.timeout_s: Input should be less than or equal to 55"),
        ({"reserved_concurrency": 2}, r"controller\.reserved_concurrency"),
        ({"stale_after_minuts": 5}, r"controller\.stale_after_minuts: Extra inputs are not permitted"),
        ({"stale_after_minutes": 2}, r"controller: stale_after_minutes \(2\) must exceed publication_lag_minutes"),
        (
            {"endpoint_timeout_s": 20, "endpoint_max_attempts": 3},
            r"controller: endpoint_timeout_s x endpoint_max_attempts \(20 x 3\) must stay below timeout_s \(50\)",
        ),
    ],
)
def test_controller_settings_are_validated(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(StageConfigError, match=message):
        select_stages(_stages_with("Dev", **settings), "Dev", {})


def test_history_minutes_come_from_the_artifact_metadata() -> None:
    artifact = ModelArtifact(sha256="0" * 64, metadata={"observation": {"history": 60}})
    assert history_minutes(artifact) == 60
    for bad in ({}, {"observation": {"history": 0}}, {"observation": {"history": "16"}}):
        with pytest.raises(ArtifactError, match=r"observation\.history"):
            history_minutes(ModelArtifact(sha256="0" * 64, metadata=bad))


# --- monitoring: controller alarms and dashboard rows ----------------------------------------------------------


def _alarm(app: Synthesised, stage: str, name: str) -> dict[str, Any]:
    for alarm in resources(app.template(stage, "Monitoring"), "AWS::CloudWatch::Alarm").values():
        if alarm["Properties"]["AlarmName"] == f"rl-autoscaler-{stage.lower()}-{name}":
            return alarm["Properties"]
    raise AssertionError(f"no alarm {name}")


def _metric(alarm: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(namespace, name, dimensions) of a single-metric alarm, in either of CloudFormation's two forms."""
    if "MetricName" in alarm:
        namespace, name, dimensions = alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions", [])
    else:
        ((stat,),) = [[m["MetricStat"] for m in alarm["Metrics"]]]
        namespace, name = stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]
        dimensions = stat["Metric"].get("Dimensions", [])
    return namespace, name, {d["Name"]: d["Value"] for d in dimensions}


def test_controller_alarms_read_the_function_the_queue_and_the_contract_metrics(app: Synthesised) -> None:
    errors = _alarm(app, "Dev", "controller-errors")
    assert _metric(errors) == ("AWS/Lambda", "Errors", {"FunctionName": "rl-autoscaler-dev-controller"})
    not_running = _alarm(app, "Dev", "controller-not-running")
    assert _metric(not_running) == ("RLAutoscaler/Controller", "Runs", {"Stage": "Dev"})
    assert not_running["TreatMissingData"] == "breaching"
    assert not_running["ComparisonOperator"] == "LessThanThreshold" and not_running["Threshold"] == 1
    fallback = _alarm(app, "Dev", "controller-fallback-rate")
    (expression,) = [m for m in fallback["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "IF(deciding > 0, 100 * FILL(fallbacks, 0) / deciding, 0)"
    assert fallback["Threshold"] == app.stages["Dev"].config.controller.fallback_alarm_percent
    stale = _alarm(app, "Dev", "controller-stale-data")
    assert _metric(stale) == ("RLAutoscaler/Controller", "StaleDataHolds", {"Stage": "Dev"})
    assert stale["EvaluationPeriods"] == stale["DatapointsToAlarm"] == 10
    dlq = _alarm(app, "Dev", "controller-dlq")
    assert _metric(dlq) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": "rl-autoscaler-dev-controller-dlq"},
    )
    assert dlq["Threshold"] == 0
    for name in ("controller-errors", "controller-not-running", "controller-fallback-rate", "controller-dlq"):
        assert "First:" in _alarm(app, "Dev", name)["AlarmDescription"]


ON_CALL_ALARMS = {
    "controller-errors": ("AWS/Lambda", "Errors"),
    "controller-not-running": ("RLAutoscaler/Controller", "Runs"),
    "controller-stale-data": ("RLAutoscaler/Controller", "StaleDataHolds"),
    "controller-read-errors": ("RLAutoscaler/Controller", "ReadErrors"),
    "controller-apply-errors": ("RLAutoscaler/Controller", "ApplyErrors"),
    "controller-conflict-holds": ("RLAutoscaler/Controller", "ConflictHolds"),
    "controller-config-errors": ("RLAutoscaler/Controller", "ConfigErrors"),
    "controller-modes-errors": ("RLAutoscaler/Controller", "ModesErrors"),
    "controller-hand-back-errors": ("RLAutoscaler/Controller", "HandBackErrors"),
    "controller-handed-back": ("RLAutoscaler/Controller", "HandedBack"),
    "controller-throttles": ("AWS/Lambda", "Throttles"),
    "controller-duration": ("AWS/Lambda", "Duration"),
}


def _watched(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric an alarm reads, single-metric or math."""
    if "MetricName" in alarm:
        return [_metric(alarm)]
    stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    return [(m["Namespace"], m["MetricName"], {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}) for m in stats]


def _published_by_a_run(modes: str) -> set[str]:
    """Stage-level metric names one controller run publishes (fakes for AWS, one fleet)."""
    from tests.controller.fakes import World, fleets

    world = World(fleets("checkout"), modes=modes)
    world.fill("checkout", 900)
    world.step()
    return {d["MetricName"] for d in world.cloudwatch.put if len(d["Dimensions"]) == 1}


@pytest.mark.parametrize("stage", STAGES)
def test_every_on_call_failure_has_an_alarm_with_a_runbook(app: Synthesised, stage: str) -> None:
    for name, (namespace, metric) in ON_CALL_ALARMS.items():
        alarm = _alarm(app, stage, name)
        assert (namespace, metric) in [(n, m) for n, m, _ in _watched(alarm)], name
        description = alarm["AlarmDescription"]
        assert "First:" in description and len(description) > 150, name
    duration = _alarm(app, stage, "controller-duration")
    assert duration["Threshold"] == 0.8 * app.stages[stage].config.controller.timeout_s * 1000
    assert "--region eu-west-1" in _alarm(app, stage, "controller-modes-errors")["AlarmDescription"]


def test_every_controller_metric_an_alarm_watches_is_published_by_a_run(app: Synthesised) -> None:
    published = _published_by_a_run('{"stage": null, "fleets": {"checkuot": "off"}}')  # a modes error too
    alarms = resources(app.template("Dev", "Monitoring"), "AWS::CloudWatch::Alarm").values()
    watched = {
        (namespace, metric, tuple(sorted(dims.items())))
        for alarm in alarms
        for namespace, metric, dims in _watched(alarm["Properties"])
        if namespace in ("RLAutoscaler/Controller", "AWS/Lambda")
    }
    assert len({m for _, m, _ in watched}) >= 10
    for namespace, metric, dims in watched:
        if namespace == "AWS/Lambda":  # Lambda publishes these for the function
            assert dict(dims) == {"FunctionName": "rl-autoscaler-dev-controller"}, metric
        else:
            assert dict(dims) == {"Stage": "Dev"} and metric in published, metric


def _dashboard(app: Synthesised, stage: str) -> dict[str, Any]:
    dashboard = only(app.template(stage, "Monitoring"), "AWS::CloudWatch::Dashboard")
    return json.loads(joined(dashboard["Properties"]["DashboardBody"]))


def test_dashboard_has_a_decisions_row_per_fleet_with_the_shadow_comparison(app: Synthesised) -> None:
    widgets = _dashboard(app, "Dev")["widgets"]
    headers = [w["properties"]["markdown"] for w in widgets if w["type"] == "text"]
    assert "## Decisions: worldcup (simulated, configured active)" in headers
    assert "## Decisions: nasa (simulated, configured shadow)" in headers
    body = json.dumps(widgets)
    for metric in ("PolicyDesired", "AppliedDesired", "ServingMachines", "WarmingMachines", "LoadRPM", "Mode"):
        assert f'"RLAutoscaler/Controller", "{metric}"' in body
    single = [w for w in widgets if w["type"] == "metric" and w["properties"].get("view") == "singleValue"]
    assert len(single) == 4 and all(w["properties"]["setPeriodToTimeRange"] for w in single)
    assert "serving + warming" in json.dumps(single[0]["properties"]["metrics"])
    scorecard = json.dumps(single[1]["properties"]["metrics"])
    for metric in ("Profit", "FailedRequests", "MachineMinutes"):
        assert f'"Policy{metric}"' in scorecard and f'"Fleet{metric}"' in scorecard
    assert any(t.startswith("## Shadow scorecard: nasa") and "controller.scorecard" in t for t in headers)
    assert "RUNNING_SUM(p)" in body and "model_versions" in body


def test_dashboard_of_a_stage_without_fleets_says_so(tmp_path: Path, policy_artifacts: dict[str, Path]) -> None:
    """Dev (one endpoint instance, no blue/green) may run with no fleet; its dashboard says why nothing decides."""
    _, (dev,) = build_app(
        tmp_path, stage="Dev", stages=_stages_with("Dev", []), model_artifact=policy_artifacts["passed"]
    )
    dashboard = only(Template.from_stack(dev.monitoring), "AWS::CloudWatch::Dashboard")
    body = json.loads(joined(dashboard["Properties"]["DashboardBody"]))
    texts = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert any("No fleet configured for Dev" in t for t in texts)
    assert not any(t.startswith("## Decisions:") for t in texts)


def _lag_warnings(stage: Any) -> list[Any]:
    return [
        m
        for m in stage.controller.node.metadata
        if m.type == "aws:cdk:warning" and "observation-lag-mismatch" in json.dumps(m.data)
    ]


def test_synth_warns_when_the_controller_observes_later_or_earlier_than_the_policy_was_trained(
    app: Synthesised, tmp_path: Path
) -> None:
    from inference.artifact import observation_spec, package_policy, random_policy, untrained_metadata

    assert all(not _lag_warnings(s) for s in app.stages.values())  # the shipped stages match the policy (2 minutes)
    metadata = {**untrained_metadata("lag-0"), "observation": observation_spec(None, lag_minutes=0)}
    model = package_policy(random_policy(0), tmp_path / "model", metadata=metadata)
    _, stages = build_app(tmp_path / "out", stage="Dev", model_artifact=model)
    (warning,) = _lag_warnings(stages[0])
    assert "trained and scored on minutes 0 min old" in json.dumps(warning.data)
    assert trained_lag_minutes(ModelArtifact(sha256="0" * 64, metadata={"observation": {"history": 16}})) == 0
    with pytest.raises(ArtifactError, match=r"observation\.lag_minutes"):
        trained_lag_minutes(ModelArtifact(sha256="0" * 64, metadata={"observation": {"lag_minutes": "2"}}))


# --- fleets out of the environment; every function of a stage -------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_fleets_are_written_to_the_stage_bucket_at_deploy_sha256_checked(app: Synthesised, stage: str) -> None:
    from controller.fleets import document, parse_document

    config = app.stages[stage].config
    (copy_,) = [
        r["Properties"]
        for r in resources(app.template(stage, "Controller"), "Custom::StageFile").values()
        if r["Properties"]["Key"] == "config/controller-fleets.json"
    ]
    body = document(stage, [dict(f) for f in config.fleets])
    assert copy_["Action"] == "CopyArtifact" and copy_["Sha256"] == hashlib.sha256(body).hexdigest()
    assert joined(copy_["Bucket"]) == f"rl-autoscaler-{stage.lower()}-data-<Ref:AWS::AccountId>-eu-west-1"
    parsed = parse_document(body, stage, config.endpoint_name)  # what the controller will read parses
    assert [f.name for f in parsed] == [f["name"] for f in config.fleets]


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_has_the_stage_key_a_concurrency_limit_and_its_failures_go_somewhere(
    app: Synthesised, stage: str
) -> None:
    for name in ("Storage", "Training", "Monitoring", "Serving", "Controller"):
        template = app.template(stage, name)
        for logical, function in resources(template, "AWS::Lambda::Function").items():
            props = function["Properties"]
            if "FunctionName" not in props:  # CDK's own providers (bucket emptying): see docs/controller.md
                continue
            assert props["KmsKeyArn"]["Fn::GetStackOutput"]["StackName"] == f"{stage}-Storage", logical
            assert props["ReservedConcurrentExecutions"] == 1, logical
    invoke = only(app.template(stage, "Controller"), "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert "OnFailure" in invoke["DestinationConfig"]  # the controller's failed runs; deploy-time ones answer CFN


def test_fleets_from_a_yaml_file_named_in_cdk_json(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "prod-fleets.yaml").write_text(yaml.safe_dump(REAL_FLEETS))
    (config,) = select_stages(_stages_with("Prod", str(tmp_path / "prod-fleets.yaml")), "Prod", {})  # type: ignore[arg-type]
    assert [f["name"] for f in config.fleets] == ["checkout", "search", "web", "ranker"]
    (tmp_path / "bad.yaml").write_text("- name: [")
    with pytest.raises(StageConfigError, match=r"fleets: .*bad\.yaml is not valid YAML"):
        select_stages(_stages_with("Prod", str(tmp_path / "bad.yaml")), "Prod", {})  # type: ignore[arg-type]
    with pytest.raises(StageConfigError, match=r"fleets: 'fleets\.txt' must name a \.json, \.yaml or \.yml file"):
        select_stages(_stages_with("Prod", "fleets.txt"), "Prod", {})  # type: ignore[arg-type]


def test_an_arn_where_a_name_belongs_fails_synth_with_the_name_to_use() -> None:
    arn = _fleet(
        "web", {"kind": "ecs", "cluster": "shop", "service": "arn:aws:ecs:eu-west-1:123456789012:service/shop/web"}
    )
    with pytest.raises(
        StageConfigError, match=r"fleets\[0\]\.target\.service: must be the ECS service's name.*use 'web'"
    ):
        select_stages(_stages_with("Prod", [arn]), "Prod", {})


@pytest.mark.parametrize("stage", STAGES)
def test_the_stacks_removal_hands_the_fleets_back_before_the_schedule_goes(app: Synthesised, stage: str) -> None:
    template = app.template(stage, "Controller")
    ((logical, resource),) = resources(template, "Custom::HandBack").items()
    (function_id,) = [
        k for k, f in resources(template, "AWS::Lambda::Function").items() if f["Properties"] == _function(template)
    ]
    assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": [function_id, "Arn"]}
    schedule = next(iter(resources(template, "AWS::Scheduler::Schedule").values()))
    assert logical in schedule["DependsOn"]  # deleted after the schedule: no run takes a fleet again
    env = _function(template)["Environment"]["Variables"]
    assert env["HANDBACK_AFTER_FAILED_RUNS"] == str(app.stages[stage].config.controller.handback_after_failed_runs)
