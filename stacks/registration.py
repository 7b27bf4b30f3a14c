"""The training state machine's `RegisterModel` step: a Lambda (inline code, stacks/lambdas/register_model.py)
that registers the model a training job wrote as a `PendingManualApproval` package of the project's group."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.common import allow
from stacks.config import StageConfig
from stacks.images import inference_image
from stacks.inline_function import inline_function
from stacks.registry import GROUP_NAME, group_arn, packages_arn
from stacks.roles import acknowledge, acknowledge_wildcards, nag_resource
from stacks.storage import ARTIFACTS, TRAINING_OUTPUT, data_bucket_arn, data_bucket_name

CODE = Path(__file__).with_name("lambdas") / "register_model.py"


class ModelRegistration(Construct):
    """`self.task` registers `$.ModelArtifacts.S3ModelArtifacts` and puts the package ARN at `$.registered`."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        registry_account = config.registry_account or stack.account
        output = data_bucket_arn(config.name, self, f"{TRAINING_OUTPUT}*")
        artifacts = data_bucket_arn(config.name, self, f"{ARTIFACTS}*")
        packages = packages_arn(stack.partition, registry_account)
        built = inline_function(
            self,
            config=config,
            key=key,
            purpose="register-model",
            code=CODE,
            role_description="register trained models in the model registry",
            description="register a trained model (training state machine step)",
            statements=[
                allow("ReadTrainingOutput", ["s3:GetObject"], [output]),
                allow("WriteArtifacts", ["s3:PutObject"], [artifacts]),
                allow(
                    "CreateModelPackage",
                    ["sagemaker:CreateModelPackage"],
                    [group_arn(stack.partition, registry_account), packages],
                ),
            ],
            # No dead-letter queue: Step Functions invokes it synchronously and takes a failure to RegistrationFailed.
            environment={
                "BUCKET": data_bucket_name(config.name, stack.account),
                "PREFIX": ARTIFACTS,
                "KMS_KEY_ARN": key.key_arn,
                # The group's name in the stage's own account; its ARN when the registry is another account's.
                "GROUP": group_arn(stack.partition, registry_account) if config.registry_account else GROUP_NAME,
                "IMAGE": inference_image(stack.region),
                "STAGE": config.name,
            },
        )
        self.function = built.function
        acknowledge_wildcards(
            built.policy,
            {
                nag_resource(self, output): "SageMaker writes model.tar.gz under training-output/<job name>/.",
                nag_resource(self, artifacts): "Registered artifacts go to artifacts/<sha256>/, known after hashing.",
                nag_resource(self, packages): "SageMaker numbers a group's package versions as it creates them.",
            },
        )
        self.task = tasks.LambdaInvoke(
            self,
            "RegisterModel",
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object(
                {
                    "model_data": sfn.JsonPath.string_at("$.ModelArtifacts.S3ModelArtifacts"),
                    "training_job_name": sfn.JsonPath.string_at("$.TrainingJobName"),
                }
            ),
            payload_response_only=True,
            result_path="$.registered",
            retry_on_service_exceptions=True,
        )

    def acknowledge_invoke(self, machine_policy: Construct) -> None:
        """The state machine's role may invoke the function's versions and aliases (`<arn>:*`), as CDK grants."""
        acknowledge(
            machine_policy,
            f"AwsSolutions-IAM5[{nag_resource(self, f'{self.function.function_arn}:*')}]",
            "Step Functions' Lambda integration may invoke the registration function's versions and aliases.",
        )
