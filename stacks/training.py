"""Training stack: the SageMaker training role, the training code asset and the training job definition.

The job definition is a Step Functions state machine whose `SageMakerCreateTrainingJob` task (run to
completion) runs `training/sagemaker_entry.py` on the pinned PyTorch training image. With more than one
instance, the entry point starts a Ray head on the first host of SM_HOSTS and the others join it, so RLlib's
env runners spread over one Ray cluster.

A team trains on its own data through the `TeamData` choice (stacks/training_task.py); every trained model is
registered by `RegisterModel` (stacks/registration.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.common import allow, stage_log_group
from stacks.images import TRAINING, training_image
from stacks.registration import ModelRegistration
from stacks.roles import acknowledge, acknowledge_wildcards, nag_resource, sagemaker_base_policy
from stacks.sourcedir import ENTRY_POINT
from stacks.stage_files import StageFiles
from stacks.stage_stack import StageProps, StageStack
from stacks.storage import CHECKPOINTS, TRAINING_OUTPUT, data_bucket_arn
from stacks.training_task import TEAM_DATA, S3Uri, TrainingJobTask, metric_definitions, team_channels

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
RAY_CHANNEL = "ray"
RAY_TOKEN_PREFIX = "ray/"
"""Prefix of the stage bucket holding only `auth_token`, written at deploy by a custom resource."""


class TrainingStack(StageStack):
    DESCRIPTION = "training role, code and job definition (Step Functions)"

    def __init__(self, scope: Construct, construct_id: str, props: StageProps, *, sourcedir: Path) -> None:
        super().__init__(scope, construct_id, props)
        config, key, bucket_name = self.config, self.key, self.bucket_name
        training = config.training

        self.code = s3_assets.Asset(self, "SourceDir", path=str(sourcedir))

        self.role = iam.Role(
            self,
            "TrainingRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker training jobs of the RL autoscaler ({config.name})",
        )
        policy = sagemaker_base_policy(self, "TrainingPolicy", TRAINING, "/aws/sagemaker/TrainingJobs", key)
        team_objects = data_bucket_arn(config.name, self, f"{TEAM_DATA}*")
        ray_token = f"{RAY_TOKEN_PREFIX}auth_token"
        ray_object = data_bucket_arn(config.name, self, ray_token)
        prefixes = [data_bucket_arn(config.name, self, f"{prefix}*") for prefix in (CHECKPOINTS, TRAINING_OUTPUT)]
        policy.add_statements(
            allow(
                "ReadTrainingCode",
                ["s3:GetObject"],
                [f"arn:{self.partition}:s3:::{self.code.s3_bucket_name}/{self.code.s3_object_key}"],
            ),
            allow(
                "ListOwnPrefixes",
                ["s3:ListBucket"],
                [data_bucket_arn(config.name, self)],
                conditions={
                    "StringLike": {
                        "s3:prefix": [f"{CHECKPOINTS}*", f"{TRAINING_OUTPUT}*", f"{RAY_TOKEN_PREFIX}*", f"{TEAM_DATA}*"]
                    }
                },
            ),
            allow(
                "ReadWriteCheckpointsAndOutput", ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], prefixes
            ),
            allow("ReadRayToken", ["s3:GetObject"], [ray_object]),
            allow("ReadTeamData", ["s3:GetObject"], [team_objects]),
        )
        policy.attach_to_role(self.role)
        self.ray_token = StageFiles(
            self,
            "RayToken",
            config=config,
            key=key,
            purpose="ray-token",
            statements=[allow("WriteRayToken", ["s3:PutObject"], [ray_object])],
        ).resource("Token", "RayToken", bucket_name, ray_token, Generation=str(training.ray_token_generation))
        acknowledge_wildcards(
            policy,
            {
                nag_resource(self, prefixes[0]): "Checkpoints: one object per file under checkpoints/, names unknown.",
                nag_resource(self, prefixes[1]): (
                    "SageMaker writes model.tar.gz under training-output/<job name>/, a name made per run."
                ),
                nag_resource(self, team_objects): (
                    "Teams' traces and fleet files, named per training run in the execution's input (read only)."
                ),
            },
        )

        # One name per execution, used for the job and for its own checkpoint prefix: a new run must not resume
        # from another run's checkpoints, while a spot-interrupted job resumes from its own.
        name_run = sfn.Pass(
            self,
            "NameTrainingJob",
            parameters={"job_name": sfn.JsonPath.format(f"{config.name.lower()}-ppo-{{}}", sfn.JsonPath.uuid())},
            result_path="$.run",
        )
        runtime = cdk.Duration.minutes(round(training.max_runtime_hours * 60))
        wait = cdk.Duration.minutes(round(training.max_wait_hours * 60)) if training.use_spot else runtime
        extra: dict[str, Any] = {
            "CheckpointConfig": {
                "LocalPath": CHECKPOINT_LOCAL_PATH,
                "S3Uri.$": f"States.Format('s3://{bucket_name}/{CHECKPOINTS}{{}}/', $.run.job_name)",
            },
            "EnableManagedSpotTraining": training.use_spot,
            # Set here rather than through the L2 props, which would also grant kms:ReEncrypt* and
            # kms:GenerateDataKey* to the role; sagemaker_base_policy grants the exact KMS actions.
            "OutputDataConfig": {"KmsKeyId": key.key_arn},
            "ResourceConfig": {"VolumeKmsKeyId": key.key_arn},
        }
        if training.use_spot:
            extra["StoppingCondition"] = {"MaxWaitTimeInSeconds": int(wait.to_seconds())}
        job: dict[str, Any] = dict(
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            training_job_name=sfn.JsonPath.string_at("$.run.job_name"),
            role=self.role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(training_image(self.region)),
                training_input_mode=tasks.InputMode.FILE,
                metric_definitions=metric_definitions(),
            ),
            hyperparameters={
                "sagemaker_program": ENTRY_POINT,
                "sagemaker_submit_directory": self.code.s3_object_url,
                "sagemaker_region": self.region,
                "sagemaker_container_log_level": "20",
                "preset": training.preset,
                "seed": str(training.seed),
            },
            environment={"PYTHONUNBUFFERED": "1", "AUTOSCALER_STAGE": config.name},
            # Ray token authentication: every host gets the stage's token as the file ray/auth_token of this input
            # channel (training/ray_cluster.py reads it), so it shows in no job description, execution history or
            # log; only the training role (and the stage key's users) can read it.
            input_data_config=[
                tasks.Channel(
                    channel_name=RAY_CHANNEL,
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            s3_location=S3Uri(f"s3://{bucket_name}/{RAY_TOKEN_PREFIX}"),
                            s3_data_type=tasks.S3DataType.S3_PREFIX,
                            s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
                        )
                    ),
                )
            ],
            resource_config=tasks.ResourceConfig(
                instance_count=training.instance_count,
                instance_type=ec2.InstanceType(training.instance_type.removeprefix("ml.")),
                volume_size=cdk.Size.gibibytes(training.volume_gb),
            ),
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=S3Uri(f"s3://{bucket_name}/{TRAINING_OUTPUT}")
            ),
            stopping_condition=tasks.StoppingCondition(max_runtime=runtime),
            task_timeout=sfn.Timeout.duration(wait.plus(cdk.Duration.minutes(30))),
            result_selector={"TrainingJobName.$": "$.TrainingJobName", "ModelArtifacts.$": "$.ModelArtifacts"},
        )
        train = TrainingJobTask(self, "Train", extra=extra, **job)
        train_team = TrainingJobTask(
            self, "TrainOnTeamData", extra={**extra, "InputDataConfig": team_channels(bucket_name)}, **job
        )
        failed = sfn.Fail(
            self, "TrainingFailed", error="TrainingJobFailed", cause_path="$.failure.Cause", comment="Alarms on-call"
        )
        for task in (train, train_team):
            task.add_catch(failed, errors=[sfn.Errors.ALL], result_path="$.failure")
        self.registration = ModelRegistration(self, "Registration", config=config, key=key)
        register = self.registration.task
        register.add_catch(
            sfn.Fail(self, "RegistrationFailed", error="ModelRegistrationFailed", cause_path="$.failure.Cause"),
            errors=[sfn.Errors.ALL],
            result_path="$.failure",
        )
        register.next(sfn.Succeed(self, "PolicyRegistered"))
        data = sfn.Choice(self, "TeamData", comment="A team's trace and fleet file named in the input?")
        data.when(sfn.Condition.is_present("$.team"), train_team.next(register)).otherwise(train.next(register))

        self.log_group = stage_log_group(
            self,
            "ExecutionLogs",
            name=f"/aws/vendedlogs/states/rl-autoscaler-{config.name.lower()}-training",
            config=config,
            key=key,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "TrainingJob",
            comment=f"Train the RL autoscaler policy with PPO on SageMaker ({config.name})",
            definition_body=sfn.DefinitionBody.from_chainable(name_run.next(data)),
            timeout=wait.plus(cdk.Duration.hours(1)),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        machine_policy = self.state_machine.role.node.find_child("DefaultPolicy")
        # The machine refers to its role by GetAtt already; CDK's extra DependsOn on it is redundant (cfn-lint W3005).
        self.state_machine.node.default_child.add_override(  # type: ignore[union-attr]
            "DependsOn",
            [
                self.get_logical_id(machine_policy.node.default_child),  # type: ignore[arg-type]
                # The Ray token exists before a first execution can start a job that reads it.
                self.get_logical_id(self.ray_token.node.default_child),  # type: ignore[arg-type]
            ],
        )
        training_jobs = f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:training-job/*"
        acknowledge(
            machine_policy,
            f"AwsSolutions-IAM5[{nag_resource(self, training_jobs)}]",
            "Step Functions' SageMaker integration scopes create/describe/stop to training-job/*: the job name is "
            "made per execution (<stage>-ppo-<uuid>), so no narrower ARN exists at deploy time.",
        )
        self.registration.acknowledge_invoke(machine_policy)
        acknowledge(
            machine_policy,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing, CloudWatch Logs delivery for the execution log and sagemaker:ListTags have no "
            "resource-level permissions; these are the actions Step Functions itself requires.",
        )
        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
