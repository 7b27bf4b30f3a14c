"""Serving stack: model, endpoint config and endpoint, data capture, guardrails, auto scaling, role."""

from __future__ import annotations

import pytest

from stacks.images import inference_image
from tests.infra.helpers import STAGES, Synthesised, joined, only, resources


def _props(app: Synthesised, stage: str, kind: str) -> dict:
    return only(app.template(stage, "Serving"), kind)["Properties"]


def _statements(app: Synthesised, stage: str) -> dict[str, dict]:
    policies = resources(app.template(stage, "Serving"), "AWS::IAM::Policy")
    (policy,) = [p for logical_id, p in policies.items() if logical_id.startswith("ModelPolicy")]
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


@pytest.mark.parametrize("stage", STAGES)
def test_model_serves_the_artifact_on_the_pinned_inference_image(app: Synthesised, stage: str) -> None:
    model = _props(app, stage, "AWS::SageMaker::Model")
    assert "ModelName" not in model  # generated: a new artifact makes a new model
    container = model["PrimaryContainer"]
    assert (
        container["Image"]
        == inference_image()
        == ("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3")
    )
    source = container["ModelDataSource"]["S3DataSource"]
    assert source["S3DataType"] == "S3Object" and source["CompressionType"] == "Gzip"
    env = container["Environment"]
    # Served from the stage's own bucket (a sha256-checked copy), never from the CDK asset bucket.
    assert joined(source["S3Uri"]) == (
        f"s3://rl-autoscaler-{stage.lower()}-data-<Ref:AWS::AccountId>-eu-west-1/artifacts/"
        f"{env['AUTOSCALER_MODEL_SHA256']}/model.tar.gz"
    )
    # Serverless Inference (Dev) does not support network isolation.
    assert model["EnableNetworkIsolation"] is (not app.stages[stage].config.serving.serverless)
    assert env["AUTOSCALER_METRICS_NAMESPACE"] == "RLAutoscaler"
    assert env["AUTOSCALER_STAGE"] == stage
    assert env["AUTOSCALER_METRICS_PATH"] == "/proc/1/fd/1"  # unprefixed container stdout, so EMF is extracted
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert env["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert len(env["AUTOSCALER_MODEL_SHA256"]) == 64
    tags = {t["Key"]: t["Value"] for t in model["Tags"]}
    assert tags["model_version"] == "infra-test-policy" and tags["model_sha256"] == env["AUTOSCALER_MODEL_SHA256"]


@pytest.mark.parametrize("stage", STAGES)
def test_endpoint_config_has_generated_name_kms_and_data_capture(app: Synthesised, stage: str) -> None:
    config = app.stages[stage].config.serving
    props = _props(app, stage, "AWS::SageMaker::EndpointConfig")
    assert "EndpointConfigName" not in props
    assert props["KmsKeyId"]["Fn::GetStackOutput"]["StackName"] == f"{stage}-Storage"
    (variant,) = props["ProductionVariants"]
    assert variant["VariantName"] == "primary"
    if config.serverless:  # Dev: no instances, no data capture (unsupported there)
        assert variant["ServerlessConfig"] == {
            "MemorySizeInMB": config.serverless_memory_mb,
            "MaxConcurrency": config.serverless_max_concurrency,
        }
        assert "InstanceType" not in variant and "DataCaptureConfig" not in props
        return
    assert variant["InstanceType"] == config.instance_type
    assert variant["InitialInstanceCount"] == config.instance_count
    assert variant["ModelName"] == {"Fn::GetAtt": ["Model", "ModelName"]}
    capture = props["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == config.data_capture_percent
    assert joined(capture["DestinationS3Uri"]) == (
        f"s3://rl-autoscaler-{stage.lower()}-data-<Ref:AWS::AccountId>-eu-west-1/data-capture"
    )
    assert capture["KmsKeyId"] == props["KmsKeyId"]
    assert sorted(o["CaptureMode"] for o in capture["CaptureOptions"]) == ["Input", "Output"]


@pytest.mark.parametrize("stage", STAGES)
def test_endpoint_name_is_stable_and_updates_keep_the_scaled_count(app: Synthesised, stage: str) -> None:
    props = _props(app, stage, "AWS::SageMaker::Endpoint")
    assert props["EndpointName"] == f"rl-autoscaler-{stage.lower()}"
    assert props["EndpointConfigName"] == {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]}
    assert props["RetainAllVariantProperties"] is True
    assert props["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DataCaptureConfig"}]


@pytest.mark.parametrize("stage", ["Staging", "Prod"])
def test_multi_instance_stages_update_blue_green_with_canary_and_rollback(app: Synthesised, stage: str) -> None:
    config = app.stages[stage].config.serving
    deployment = _props(app, stage, "AWS::SageMaker::Endpoint")["DeploymentConfig"]
    policy = deployment["BlueGreenUpdatePolicy"]
    routing = policy["TrafficRoutingConfiguration"]
    assert routing["Type"] == "CANARY"
    assert routing["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": config.canary_instances}
    assert 2 * config.canary_instances <= config.min_instances
    assert routing["WaitIntervalInSeconds"] == config.canary_wait_minutes * 60
    assert policy["TerminationWaitInSeconds"] == config.termination_wait_minutes * 60
    assert policy["MaximumExecutionTimeoutInSeconds"] == config.max_deployment_minutes * 60
    alarms = [a["AlarmName"] for a in deployment["AutoRollbackConfiguration"]["Alarms"]]
    prefix = f"rl-autoscaler-{stage.lower()}"
    assert alarms == [f"{prefix}-5xx-rate", f"{prefix}-model-latency-p99", f"{prefix}-fallback-rate"]
    monitoring = app.stages[stage].monitoring
    assert [a.node.id for a in monitoring.rollback_alarms] == ["5xx-rate", "model-latency-p99", "fallback-rate"]
    assert monitoring in app.stack(stage, "Serving").dependencies


def test_single_instance_dev_has_no_deployment_guardrails(app: Synthesised) -> None:
    assert app.stages["Dev"].config.serving.instance_count == 1
    assert "DeploymentConfig" not in _props(app, "Dev", "AWS::SageMaker::Endpoint")


@pytest.mark.parametrize("stage", STAGES)
def test_auto_scaling_tracks_invocations_per_instance_within_stage_bounds(app: Synthesised, stage: str) -> None:
    config = app.stages[stage].config.serving
    if config.serverless:  # scales by concurrency, without Application Auto Scaling
        assert resources(app.template(stage, "Serving"), "AWS::ApplicationAutoScaling::ScalableTarget") == {}
        return
    target = only(app.template(stage, "Serving"), "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["DependsOn"] == ["Endpoint"]
    props = target["Properties"]
    assert props["ResourceId"] == f"endpoint/rl-autoscaler-{stage.lower()}/variant/primary"
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (props["MinCapacity"], props["MaxCapacity"]) == (config.min_instances, config.max_instances)
    assert "RoleARN" not in props  # Application Auto Scaling's service-linked role
    policy = _props(app, stage, "AWS::ApplicationAutoScaling::ScalingPolicy")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert tracking["TargetValue"] == config.target_invocations_per_instance


@pytest.mark.parametrize("stage", STAGES)
def test_model_role_describes_exactly_the_rollback_alarms(app: Synthesised, stage: str) -> None:
    if not app.stages[stage].config.serving.deployment_guardrails:
        assert "DescribeRollbackAlarms" not in _statements(app, stage)  # no rollback alarms without guardrails
        return
    statement = _statements(app, stage)["DescribeRollbackAlarms"]
    assert statement["Action"] == "cloudwatch:DescribeAlarms"
    prefix = f"arn:aws:cloudwatch:eu-west-1:<Ref:AWS::AccountId>:alarm:rl-autoscaler-{stage.lower()}"
    assert sorted(joined(r) for r in statement["Resource"]) == [
        f"{prefix}-5xx-rate",
        f"{prefix}-fallback-rate",
        f"{prefix}-model-latency-p99",
    ]


def test_model_role_reads_only_its_artifact_and_writes_only_data_capture(app: Synthesised) -> None:
    statements = _statements(app, "Dev")
    sha = app.stages["Dev"].serving.model.primary_container.environment["AUTOSCALER_MODEL_SHA256"]
    assert joined(statements["ReadModelArtifact"]["Resource"]) == (
        f"arn:aws:s3:::rl-autoscaler-dev-data-<Ref:AWS::AccountId>-eu-west-1/artifacts/{sha}/model.tar.gz"
    )
    assert statements["ReadModelArtifact"]["Action"] == "s3:GetObject"
    assert joined(statements["WriteDataCapture"]["Resource"]) == (
        "arn:aws:s3:::rl-autoscaler-dev-data-<Ref:AWS::AccountId>-eu-west-1/data-capture/*"
    )
    assert statements["PullPinnedImage"]["Resource"] == (
        "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn"
    )
    assert joined(statements["WriteOwnLogs"]["Resource"][0]).endswith(
        ":log-group:/aws/sagemaker/Endpoints/rl-autoscaler-dev"
    )


@pytest.mark.parametrize("stage", STAGES)
def test_endpoint_log_group_has_retention_and_the_stage_key(app: Synthesised, stage: str) -> None:
    groups = resources(app.template(stage, "Serving"), "AWS::Logs::LogGroup")
    (group,) = [g["Properties"] for k, g in groups.items() if k.startswith("EndpointLogs")]
    assert group["LogGroupName"] == f"/aws/sagemaker/Endpoints/rl-autoscaler-{stage.lower()}"
    assert group["RetentionInDays"] == app.stages[stage].config.retention.log_retention_days
    assert group["KmsKeyId"]["Fn::GetStackOutput"]["StackName"] == f"{stage}-Storage"
