"""The controller function's IAM policy: exactly what one run needs, mutating actions only on the named fleets.

No mutating action has `*` as its resource. The read-only calls without resource-level permissions
(cloudwatch:GetMetricData, autoscaling:Describe*, application-autoscaling:Describe*) and
cloudwatch:PutMetricData (limited by its cloudwatch:namespace condition) are the only `*`.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import StageConfig
from stacks.metrics import CONTROLLER_NAMESPACE, SIMULATED_FLEET_NAMESPACE
from stacks.roles import acknowledge, acknowledge_wildcards, nag_resource
from stacks.storage import data_bucket_arn

STATE_PREFIX = "controller/"
"""The controller's own objects in the stage bucket (simulated fleets' state)."""


def controller_policy(
    scope: Construct, config: StageConfig, *, key_arn: str, dead_letters_arn: str, arn: str, where: str
) -> iam.Policy:
    """Exactly what one run needs; mutating actions only on the fleets the stage config names."""
    log_group = f"{arn}:logs:{where}:log-group:/aws/lambda/{config.controller_function_name}"
    state_objects = data_bucket_arn(config.name, scope, f"{STATE_PREFIX}*")
    namespaces = [CONTROLLER_NAMESPACE]
    if any(fleet["target"]["kind"] == "simulated" for fleet in config.fleets):
        namespaces.append(SIMULATED_FLEET_NAMESPACE)
    statements = [
        iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[f"{log_group}:log-stream:*"],
        ),
        iam.PolicyStatement(
            sid="ReadModes",
            actions=["ssm:GetParameter"],
            resources=[f"{arn}:ssm:{where}:parameter{config.modes_parameter_name}"],
        ),
        iam.PolicyStatement(
            sid="ReadWriteOwnState", actions=["s3:GetObject", "s3:PutObject"], resources=[state_objects]
        ),
        iam.PolicyStatement(
            sid="ListOwnState",
            actions=["s3:ListBucket"],
            resources=[data_bucket_arn(config.name, scope)],
            conditions={"StringLike": {"s3:prefix": [f"{STATE_PREFIX}*"]}},
        ),
        iam.PolicyStatement(sid="UseStageKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key_arn]),
        iam.PolicyStatement(sid="DeadLetterFailedRuns", actions=["sqs:SendMessage"], resources=[dead_letters_arn]),
        iam.PolicyStatement(
            sid="AskStageEndpoint",
            actions=["sagemaker:InvokeEndpoint"],
            resources=[f"{arn}:sagemaker:{where}:endpoint/{config.endpoint_name}"],
        ),
        iam.PolicyStatement(sid="ReadFleetMetrics", actions=["cloudwatch:GetMetricData"], resources=["*"]),
        iam.PolicyStatement(
            sid="PublishDecisionMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": namespaces}},
        ),
    ]
    statements += fleet_statements(config, arn=arn, where=where)
    policy = iam.Policy(scope, "Policy", statements=statements)
    findings = {
        nag_resource(scope, f"{log_group}:log-stream:*"): (
            "Lambda names one log stream per execution environment inside the function's own log group; "
            "the names are made at run time."
        ),
        nag_resource(scope, state_objects): (
            "The controller keeps its state (simulated fleets' minute-by-minute state) under the bucket's "
            "controller/ prefix; object names are per fleet and made at run time."
        ),
    }
    for group in asg_groups(config):
        findings[nag_resource(scope, asg_group_arn(arn, where, group))] = (
            f"An Auto Scaling group's ARN holds a generated id; the statement names group {group} exactly "
            "by autoScalingGroupName."
        )
    acknowledge_wildcards(policy, findings)
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "Only read-only calls without resource-level permissions use *: cloudwatch:GetMetricData, "
        "autoscaling:DescribeAutoScalingGroups/DescribePolicies, application-autoscaling:Describe*; and "
        "cloudwatch:PutMetricData, limited to the controller's namespaces by the cloudwatch:namespace condition.",
    )
    return policy


def asg_groups(config: StageConfig) -> list[str]:
    return sorted({f["target"]["group"] for f in config.fleets if f["target"]["kind"] == "asg"})


def asg_group_arn(arn: str, where: str, group: str) -> str:
    return f"{arn}:autoscaling:{where}:autoScalingGroup:*:autoScalingGroupName/{group}"


def fleet_statements(config: StageConfig, *, arn: str, where: str) -> list[iam.PolicyStatement]:
    """Read and scale each named target; conflict checks read the other scalers (read-only, no resource ARNs)."""
    fleets = list(config.fleets)
    ecs = sorted(
        {
            f"{arn}:ecs:{where}:service/{f['target']['cluster']}/{f['target']['service']}"
            for f in fleets
            if f["target"]["kind"] == "ecs"
        }
    )
    endpoints = sorted(
        {
            f"{arn}:sagemaker:{where}:endpoint/{f['target']['endpoint'].lower()}"
            for f in fleets
            if f["target"]["kind"] == "sagemaker"
        }
    )
    groups = [asg_group_arn(arn, where, group) for group in asg_groups(config)]
    statements = []
    if ecs:
        statements.append(
            iam.PolicyStatement(
                sid="ScaleEcsServices", actions=["ecs:DescribeServices", "ecs:UpdateService"], resources=ecs
            )
        )
    if groups:
        statements += [
            iam.PolicyStatement(
                sid="ScaleAutoScalingGroups", actions=["autoscaling:SetDesiredCapacity"], resources=groups
            ),
            iam.PolicyStatement(
                sid="ReadAutoScalingGroups",
                actions=["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribePolicies"],
                resources=["*"],
            ),
        ]
    if endpoints:
        statements.append(
            iam.PolicyStatement(
                sid="ScaleEndpointVariants",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
                resources=endpoints,
            )
        )
    if ecs or endpoints:
        statements.append(
            iam.PolicyStatement(
                sid="FindOtherScalers",
                actions=[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                resources=["*"],
            )
        )
    return statements
