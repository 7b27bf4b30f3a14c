"""A deploy-time custom resource that writes into the stage's own bucket: inline Lambda code, no Docker.

The code (stacks/lambdas/stage_files.py, under Lambda's 4 KiB inline limit) is tested in-process against moto.
One function per stack that needs it, with exactly that stack's permissions, its (empty) environment encrypted with
the stage key and the stage's reserved concurrency. No dead-letter queue, on purpose: CloudFormation is the only
caller and learns of every failure through the response the function sends (the stack rolls back and shows the
reason); a failure that sends none times out the stack operation, and the function's log group keeps the error.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.common import stage_log_group
from stacks.config import StageConfig

CODE = Path(__file__).with_name("lambdas") / "stage_files.py"
RUNTIME = lambda_.Runtime.PYTHON_3_14


class StageFiles(Construct):
    """`resource(...)` makes one object in the stage bucket, written (or copied and checked) at deploy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        key: kms.IKey,
        purpose: str,
        statements: list[iam.PolicyStatement],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = key
        function_name = f"rl-autoscaler-{config.name.lower()}-{purpose}"
        self.log_group = stage_log_group(self, "Logs", name=f"/aws/lambda/{function_name}", config=config, key=key)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"RL autoscaler {config.name}: {purpose} at deploy time",
        )
        policy = iam.Policy(
            self,
            "Policy",
            statements=[
                *statements,
                iam.PolicyStatement(
                    sid="UseStageKey",
                    actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                ),
                iam.PolicyStatement(
                    sid="WriteOwnLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[f"{self.log_group.log_group_arn}"],
                ),
            ],
        )
        policy.attach_to_role(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=f"RL autoscaler {config.name}: {purpose} (CloudFormation custom resource)",
            runtime=RUNTIME,
            handler="index.handler",
            code=lambda_.Code.from_inline(CODE.read_text(encoding="utf-8")),
            role=self.role,
            memory_size=512,
            timeout=cdk.Duration.minutes(5),
            log_group=self.log_group,
            environment_encryption=key,
            reserved_concurrent_executions=config.controller.reserved_concurrency,
        )
        # The policy before the function (its first call has its permissions); the role is already a GetAtt.
        function_resource = self.function.node.default_child
        assert isinstance(function_resource, lambda_.CfnFunction)
        function_resource.add_override("DependsOn", [stack.get_logical_id(policy.node.default_child)])  # type: ignore[arg-type]

    def resource(
        self, construct_id: str, action: str, bucket: str, object_key: str, **props: str
    ) -> cdk.CustomResource:
        return cdk.CustomResource(
            self,
            construct_id,
            service_token=self.function.function_arn,
            resource_type="Custom::StageFile",
            properties={"Action": action, "Bucket": bucket, "Key": object_key, "KmsKeyArn": self.key.key_arn, **props},
        )
