"""Issue 12, one test per defect: alarms reach a person, a broken model and a broken canary are caught, serving
owns its model, least exposure (key policy, log encryption), teardown, and Serverless Inference as a choice."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.config import StageConfigError, select_stages, with_alarm_subscribers
from stacks.storage import KEY_ADMIN_ACTIONS, KEY_USER_ACTIONS
from tests.infra.helpers import CDK_CONTEXT, STAGES, Synthesised, build_app, joined, only, resources

TOPIC = "arn:aws:sns:eu-west-1:111122223333:team-chatbot-alerts"


def _stages() -> dict[str, Any]:
    return copy.deepcopy(CDK_CONTEXT["stages"])


def _alarm(app: Synthesised, stage: str, name: str) -> dict[str, Any]:
    found = resources(app.template(stage, "Monitoring"), "AWS::CloudWatch::Alarm")
    wanted = f"rl-autoscaler-{stage.lower()}-{name}"
    (alarm,) = [a["Properties"] for a in found.values() if a["Properties"]["AlarmName"] == wanted]
    return alarm


# Alarms reach a person ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["Staging", "Prod"])
def test_staging_and_prod_refuse_to_synth_without_a_subscriber(stage: str) -> None:
    stages = _stages()
    stages[stage]["alarm_subscribers"] = []
    with pytest.raises(StageConfigError, match=rf"stage '{stage}'.*alarm_subscribers: stage {stage} needs at least"):
        select_stages(stages, stage, {})


def test_dev_synthesises_without_subscribers_and_says_so(app: Synthesised) -> None:
    assert app.stages["Dev"].config.alarm_subscribers == ()
    warnings = [
        m
        for m in app.stages["Dev"].monitoring.node.metadata
        if m.type == "aws:cdk:warning" and "has no alarm_subscribers" in json.dumps(m.data)
    ]
    assert len(warnings) == 1


def test_shipped_config_names_no_address_only_ssm_parameters_of_the_stage_accounts() -> None:
    for stage in ("Staging", "Prod"):
        assert CDK_CONTEXT["stages"][stage]["alarm_subscribers"] == [f"ssm:/rl-autoscaler/{stage.lower()}/alarm-email"]
    assert "@" not in json.dumps(CDK_CONTEXT["stages"])


def test_context_override_names_subscribers_without_committing_them() -> None:
    override = json.dumps({"Prod": ["oncall@example.com", TOPIC]})
    (prod,) = select_stages(with_alarm_subscribers(_stages(), override), "Prod", {})
    assert prod.alarm_subscribers == ("oncall@example.com", TOPIC)
    with pytest.raises(StageConfigError, match="unknown stage"):
        with_alarm_subscribers(_stages(), '{"Qa": []}')
    with pytest.raises(StageConfigError, match="not JSON"):
        with_alarm_subscribers(_stages(), "oncall@example.com")


def test_emails_subscribe_and_existing_topics_receive_every_alarm(
    tmp_path: Path, policy_artifacts: dict[str, Path]
) -> None:
    subscribers = json.dumps({"Prod": ["oncall@example.com", TOPIC]})
    _, (prod,) = build_app(
        tmp_path, stage="Prod", alarm_subscribers=subscribers, model_artifact=policy_artifacts["passed"]
    )
    template = Template.from_stack(prod.monitoring)
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"})
    (own_topic,) = resources(template, "AWS::SNS::Topic")
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        actions = alarm["Properties"]["AlarmActions"]
        assert actions == [{"Ref": own_topic}, TOPIC] == alarm["Properties"]["OKActions"]


# A broken model is caught ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "metric"), [("fallback-rate", "Fallbacks"), ("shield-override-rate", "ShieldOverrides")]
)
def test_fallback_and_shield_override_rates_are_alarmed(app: Synthesised, name: str, metric: str) -> None:
    for stage in STAGES:
        alarm = _alarm(app, stage, name)
        (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
        ident = metric.lower()
        assert expression["Expression"] == f"100 * FILL({ident}, 0) / decisions"
        stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
        for ident_, metric_name in ((ident, metric), ("decisions", "Decisions")):
            stat = stats[ident_]
            assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"]) == (
                "RLAutoscaler",
                metric_name,
                "Sum",
            )
            assert stat["Metric"]["Dimensions"] == [{"Name": "Stage", "Value": stage}]
        limits = app.stages[stage].config.alarms
        expected = limits.fallback_percent if name == "fallback-rate" else limits.shield_override_percent
        assert alarm["Threshold"] == expected
        assert "First:" in alarm["AlarmDescription"]


def test_emf_metric_names_the_alarms_read_are_the_handlers() -> None:
    from inference.metrics import METRICS, NAMESPACE_ENV

    assert {"Fallbacks", "ShieldOverrides", "Decisions"} <= {name for name, _ in METRICS}
    assert NAMESPACE_ENV == "AUTOSCALER_METRICS_NAMESPACE"


# The canary can fail --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["Staging", "Prod"])
def test_rollback_alarms_treat_no_data_as_breaching_and_bake_outlasts_them(app: Synthesised, stage: str) -> None:
    """One call a minute reaches the canary or the old fleet: the 5XX and fallback alarms sum their whole window
    and alarm on one breaching window, so a broken canary that got any call in the bake rolls it back (per-minute
    "3 of 5" rules would miss one that got fewer than 3); a window without calls counts as breaching."""
    config = app.stages[stage].config
    window = config.alarms.evaluation_minutes
    assert config.serving.canary_wait_minutes >= window + config.controller.publication_lag_minutes
    for name in ("5xx-rate", "fallback-rate"):
        alarm = _alarm(app, stage, name)
        assert alarm["TreatMissingData"] == "breaching"
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)
        stats = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
        assert len(stats) == 2 and {s["Period"] for s in stats} == {window * 60}
        assert {s["Stat"] for s in stats} == {"Sum"}
    latency = _alarm(app, stage, "model-latency-p99")
    assert latency["EvaluationPeriods"] == window and latency["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"canary_wait_minutes": 5}, r"canary_wait_minutes \(5\) must be at least .*evaluation_minutes \(5\) plus"),
        ({"canary_instances": 2}, r"canary_instances \(2\) must be at most half of min_instances \(2\)"),
    ],
)
def test_bake_shorter_than_window_plus_lag_or_a_canary_over_half_the_fleet_is_refused(
    changes: dict[str, int], message: str
) -> None:
    stages = _stages()
    stages["Prod"]["serving"].update(changes)
    with pytest.raises(StageConfigError, match=rf"stage 'Prod'.*{message}"):
        select_stages(stages, "Prod", {})


# Least exposure -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_key_policy_separates_administrators_from_users(app: Synthesised, stage: str) -> None:
    key = only(app.template(stage, "Storage"), "AWS::KMS::Key")["Properties"]["KeyPolicy"]
    statements = {s["Sid"]: s for s in key["Statement"]}
    assert not any(s["Action"] in ("kms:*", ["kms:*"]) for s in key["Statement"]), "no principal may do everything"
    admin = statements["KeyAdministrators"]
    assert set(admin["Action"]) == set(KEY_ADMIN_ACTIONS)
    crypto = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:CreateGrant"}
    assert not crypto & set(admin["Action"]), "administrators cannot use the key"
    users = statements["KeyUsersStageRoles"]
    assert set(users["Action"]) == set(KEY_USER_ACTIONS)
    assert not {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"} & set(users["Action"])
    assert [joined(p) for p in users["Condition"]["ArnLike"]["aws:PrincipalArn"]] == [
        f"arn:aws:iam::<Ref:AWS::AccountId>:role/{stage}-*"
    ]
    logs = statements["LetLogsEncryptStageLogGroups"]
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    arns = [joined(a) for a in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]]
    low = stage.lower()
    assert [a.split(":log-group:")[1] for a in arns] == [
        f"/aws/sagemaker/Endpoints/rl-autoscaler-{low}",
        f"/aws/vendedlogs/states/rl-autoscaler-{low}-*",
        f"/aws/lambda/rl-autoscaler-{low}-*",
    ]


def test_named_key_administrators_narrow_who_administers(tmp_path: Path, policy_artifacts: dict[str, Path]) -> None:
    stages = _stages()
    stages["Dev"]["key_admins"] = ["arn:aws:iam::111122223333:role/platform-key-admins"]
    _, (dev,) = build_app(tmp_path, stage="Dev", stages=stages, model_artifact=policy_artifacts["passed"])
    key = only(Template.from_stack(dev.storage), "AWS::KMS::Key")["Properties"]["KeyPolicy"]
    (admin,) = [s for s in key["Statement"] if s["Sid"] == "KeyAdministrators"]
    assert [joined(p) for p in admin["Condition"]["ArnLike"]["aws:PrincipalArn"]] == [
        "arn:aws:iam::111122223333:role/platform-key-admins",
        # the deploy role keeps kms:PutKeyPolicy, or KMS would refuse the policy as a lock-out
        "arn:aws:iam::<Ref:AWS::AccountId>:role/cdk-*-cfn-exec-role-<Ref:AWS::AccountId>-eu-west-1",
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_every_log_group_of_the_stage_is_encrypted_with_the_stage_key(app: Synthesised, stage: str) -> None:
    for stack in ("Training", "Serving"):
        for logical_id, group in resources(app.template(stage, stack), "AWS::Logs::LogGroup").items():
            assert group["Properties"]["KmsKeyId"]["Fn::GetStackOutput"]["StackName"] == f"{stage}-Storage", logical_id


# Teardown -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_destroyed_stages_empty_their_buckets_prod_keeps_them(app: Synthesised, stage: str) -> None:
    template = app.template(stage, "Storage")
    emptied = resources(template, "Custom::S3AutoDeleteObjects")
    buckets = resources(template, "AWS::S3::Bucket")
    if app.stages[stage].config.removal_policy == "destroy":
        assert len(emptied) == len(buckets) == 2
        assert all(b["DeletionPolicy"] == "Delete" for b in buckets.values())
    else:
        assert emptied == {} and all(b["DeletionPolicy"] == "Retain" for b in buckets.values())


# Cost: Serverless Inference as a stage's choice -----------------------------------------------------------------


def test_serverless_stage_has_no_instances_no_scaling_no_capture(
    tmp_path: Path, policy_artifacts: dict[str, Path]
) -> None:
    stages = _stages()
    stages["Dev"]["serving"].update(
        serverless_memory_mb=2048, serverless_max_concurrency=2, data_capture_percent=0, max_instances=1
    )
    _, (dev,) = build_app(tmp_path, stage="Dev", stages=stages, model_artifact=policy_artifacts["passed"])
    template = Template.from_stack(dev.serving)
    config = only(template, "AWS::SageMaker::EndpointConfig")["Properties"]
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 2}
    assert "InstanceType" not in variant and "DataCaptureConfig" not in config
    assert resources(template, "AWS::ApplicationAutoScaling::ScalableTarget") == {}
    assert only(template, "AWS::SageMaker::Model")["Properties"]["EnableNetworkIsolation"] is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data_capture_percent": 100}, r"data_capture_percent \(100\) must be 0 with serverless_memory_mb"),
        ({"serverless_memory_mb": 1500, "data_capture_percent": 0}, r"serverless_memory_mb: Input should be"),
    ],
)
def test_serverless_refuses_what_it_cannot_do(changes: dict[str, int], message: str) -> None:
    stages = _stages()
    stages["Dev"]["serving"].update(changes)
    with pytest.raises(StageConfigError, match=message):
        select_stages(stages, "Dev", {})
