"""A stage's Lambda function with inline code (stacks/lambdas/, no Docker) and exactly the permissions it names.

Every such function gets the same frame: a log group of the stage (stage key, stage retention), a role only
Lambda assumes, one policy with the caller's statements plus the stage key and its own log group, its (empty or
small) environment encrypted with the stage key, the stage's reserved concurrency, and the policy deployed before
the function so that its first call already has its permissions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.common import KEY_ENCRYPT_ACTIONS, allow, stage_log_group, use_key
from stacks.config import StageConfig

RUNTIME = lambda_.Runtime.PYTHON_3_14


@dataclass(frozen=True)
class InlineFunction:
    function: lambda_.Function
    role: iam.Role
    policy: iam.Policy
    log_group: logs.LogGroup


def inline_function(
    scope: Construct,
    *,
    config: StageConfig,
    key: kms.IKey,
    purpose: str,
    code: Path,
    role_description: str,
    description: str,
    statements: Iterable[iam.PolicyStatement],
    key_actions: Iterable[str] = KEY_ENCRYPT_ACTIONS,
    environment: Mapping[str, str] | None = None,
) -> InlineFunction:
    """`rl-autoscaler-<stage>-<purpose>`, built in `scope` as its children Logs, Role, Policy and Function."""
    stack = cdk.Stack.of(scope)
    function_name = f"rl-autoscaler-{config.name.lower()}-{purpose}"
    log_group = stage_log_group(scope, "Logs", name=f"/aws/lambda/{function_name}", config=config, key=key)
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"RL autoscaler {config.name}: {role_description}",
    )
    policy = iam.Policy(
        scope,
        "Policy",
        statements=[
            *statements,
            use_key("UseStageKey", key.key_arn, key_actions),
            allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group.log_group_arn]),
        ],
    )
    policy.attach_to_role(role)
    function = lambda_.Function(
        scope,
        "Function",
        function_name=function_name,
        description=f"RL autoscaler {config.name}: {description}",
        runtime=RUNTIME,
        handler="index.handler",
        code=lambda_.Code.from_inline(code.read_text(encoding="utf-8")),
        role=role,
        memory_size=512,
        timeout=cdk.Duration.minutes(5),
        log_group=log_group,
        environment_encryption=key,
        reserved_concurrent_executions=config.controller.reserved_concurrency,
        environment=dict(environment) if environment else None,
    )
    # The policy before the function (its first call has its permissions); the role is already a GetAtt.
    function_resource = function.node.default_child
    assert isinstance(function_resource, lambda_.CfnFunction)
    function_resource.add_override("DependsOn", [stack.get_logical_id(policy.node.default_child)])  # type: ignore[arg-type]
    return InlineFunction(function=function, role=role, policy=policy, log_group=log_group)
