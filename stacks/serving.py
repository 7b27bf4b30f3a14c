"""Serving stack: the model, endpoint config and endpoint, with data capture, guardrails and auto scaling.

Model and endpoint-config names are generated (a new artifact makes new ones, and CloudFormation updates the
endpoint to them); only the endpoint name is stable, because callers and alarms find the endpoint by it.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.artifact import ModelArtifact
from stacks.common import allow, stage_log_group
from stacks.images import INFERENCE, inference_image
from stacks.metrics import DECISION_NAMESPACE
from stacks.monitoring import ROLLBACK_ALARMS, MonitoringStack, alarm_name
from stacks.roles import acknowledge_wildcards, nag_resource, sagemaker_base_policy
from stacks.serving_variant import data_capture, production_variant
from stacks.stage_files import checked_copy
from stacks.stage_stack import StageProps, StageStack
from stacks.storage import ARTIFACTS, DATA_CAPTURE, data_bucket_arn


class ServingStack(StageStack):
    DESCRIPTION = "model, endpoint config, endpoint and auto scaling"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: StageProps,
        *,
        artifact: ModelArtifact,
        monitoring: MonitoringStack,
    ) -> None:
        super().__init__(scope, construct_id, props)
        config, key, bucket_name = self.config, self.key, self.bucket_name
        serving = config.serving
        capture_objects = data_bucket_arn(config.name, self, f"{DATA_CAPTURE}*")
        self.add_stack_dependency(monitoring)  # the rollback alarms exist before the endpoint refers to them
        rollback_alarms = [alarm_name(config, alarm_id) for alarm_id in ROLLBACK_ALARMS]
        log_group_name = f"/aws/sagemaker/Endpoints/{config.endpoint_name}"

        if artifact.local_path is not None:
            asset = s3_assets.Asset(self, "ModelArtifact", path=str(artifact.local_path))
            source_bucket, source_key = asset.s3_bucket_name, asset.s3_object_key
        else:
            source_bucket, source_key = artifact.s3_bucket_and_key
        # Serving owns its model: SageMaker re-reads the model data on every scale-out and instance replacement, so
        # it is copied (sha256 checked) into the stage bucket, out of reach of `cdk gc` and of the release bucket.
        model_key = f"{ARTIFACTS}{artifact.sha256}/model.tar.gz"
        model_object = data_bucket_arn(config.name, self, model_key)
        self.model_copy = checked_copy(
            self,
            "ArtifactCopy",
            config=config,
            key=key,
            purpose="artifact-copy",
            source=(source_bucket, source_key),
            target_key=model_key,
            sha256=artifact.sha256,
            sids=("ReadReleasedArtifact", "WriteAndCheckStageCopy"),
        )

        self.role = iam.Role(
            self,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker endpoint of the RL autoscaler ({config.name})",
        )
        policy = sagemaker_base_policy(self, "ModelPolicy", INFERENCE, log_group_name, key)
        policy.add_statements(
            allow("ReadModelArtifact", ["s3:GetObject"], [model_object]),
            allow("LocateBucket", ["s3:GetBucketLocation"], [data_bucket_arn(config.name, self)]),
            allow("WriteDataCapture", ["s3:PutObject", "s3:AbortMultipartUpload"], [capture_objects]),
        )
        if serving.deployment_guardrails:
            # SageMaker reads the rollback alarms' state with the model's role during a blue/green update.
            policy.add_statements(
                allow(
                    "DescribeRollbackAlarms",
                    ["cloudwatch:DescribeAlarms"],
                    [
                        f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:{name}"
                        for name in rollback_alarms
                    ],
                )
            )
        policy.attach_to_role(self.role)
        acknowledge_wildcards(
            policy,
            {
                nag_resource(self, capture_objects): (
                    "SageMaker writes captured requests under data-capture/<endpoint>/<variant>/<date>/, names "
                    "it makes as it captures."
                ),
            },
        )
        self.log_group = stage_log_group(self, "EndpointLogs", name=log_group_name, config=config, key=key)

        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            # Nothing in the container needs the network (code/requirements.txt is empty); Serverless Inference
            # does not support isolation (docs/infra.md).
            enable_network_isolation=not serving.serverless,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=inference_image(self.region),
                model_data_source=sagemaker.CfnModel.ModelDataSourceProperty(
                    s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                        s3_uri=f"s3://{bucket_name}/{model_key}", s3_data_type="S3Object", compression_type="Gzip"
                    )
                ),
                environment={
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                    "SAGEMAKER_REGION": self.region,
                    "AUTOSCALER_METRICS_NAMESPACE": DECISION_NAMESPACE,
                    "AUTOSCALER_STAGE": config.name,
                    # The model server prefixes worker stdout; EMF must reach the log stream as pure JSON lines.
                    "AUTOSCALER_METRICS_PATH": "/proc/1/fd/1",
                    "AUTOSCALER_MODEL_SHA256": artifact.sha256,
                },
            ),
            tags=[
                cdk.CfnTag(key="model_version", value=artifact.model_version),
                cdk.CfnTag(key="model_sha256", value=artifact.sha256),
                # The registry version it is (scripts/lifecycle.py rollback reads it back from the endpoint's model).
                *([cdk.CfnTag(key="model_package_version", value=str(v))] if (v := artifact.package_version) else []),
            ],
        )
        self.model.node.add_dependency(policy, self.model_copy)

        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            kms_key_id=key.key_arn,
            production_variants=[production_variant(config, self.model.attr_model_name)],
            # Serverless Inference supports no data capture (validated in the stage config).
            data_capture_config=None if serving.serverless else data_capture(config, bucket_name, key.key_arn),
        )

        deployment_config = None
        if serving.deployment_guardrails:
            deployment_config = sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                        type="CANARY",
                        # An instance count: a percentage of a small fleet rounds to whatever SageMaker decides.
                        canary_size=sagemaker.CfnEndpoint.CapacitySizeProperty(
                            type="INSTANCE_COUNT", value=serving.canary_instances
                        ),
                        wait_interval_in_seconds=serving.canary_wait_minutes * 60,
                    ),
                    termination_wait_in_seconds=serving.termination_wait_minutes * 60,
                    maximum_execution_timeout_in_seconds=serving.max_deployment_minutes * 60,
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=name) for name in rollback_alarms]
                ),
            )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=config.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            # Keep the auto-scaled instance count across updates; apply data capture changes.
            retain_all_variant_properties=True,
            exclude_retained_variant_properties=[
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DataCaptureConfig")
            ],
            deployment_config=deployment_config,
        )
        self.endpoint.node.add_dependency(self.log_group)

        cdk.CfnOutput(self, "EndpointName", value=self.endpoint.attr_endpoint_name)
        cdk.CfnOutput(self, "ModelSha256", value=artifact.sha256)
        cdk.CfnOutput(self, "ModelData", value=f"s3://{bucket_name}/{model_key}")
        if serving.serverless:
            return  # a serverless endpoint scales by concurrency, without Application Auto Scaling
        self.scaling_target = appscaling.CfnScalableTarget(
            self,
            "ScalingTarget",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{config.endpoint_name}/variant/{config.variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=serving.min_instances,
            max_capacity=serving.max_instances,
        )  # no RoleARN: Application Auto Scaling uses its service-linked role for SageMaker
        self.scaling_target.node.add_dependency(self.endpoint)
        self.scaling_policy = appscaling.CfnScalingPolicy(
            self,
            "InvocationsPerInstance",
            policy_name=f"{config.endpoint_name}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.scaling_target.ref,
            target_tracking_scaling_policy_configuration=appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=serving.target_invocations_per_instance,
                predefined_metric_specification=appscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_in_cooldown=serving.scale_in_cooldown_s,
                scale_out_cooldown=serving.scale_out_cooldown_s,
            ),
        )
