"""The controller function's IAM policy: what one run needs; mutating actions only on resources tagged for the stage.

Its size does not grow with the fleets (a stage of 1,000 fleets has the same policy as one of two): every mutating
action on a team's resources (ecs:UpdateService, autoscaling:SetDesiredCapacity/SuspendProcesses/ResumeProcesses,
sagemaker:UpdateEndpointWeightsAndCapacities, application-autoscaling:RegisterScalableTarget for the hand-back)
carries the condition `aws:ResourceTag/rl-autoscaler-stage = <Stage>`: a team opts a resource in by tagging it.
Statements appear only for the target kinds the stage's fleets use. The read-only calls without resource-level
permissions (cloudwatch:GetMetricData, autoscaling:Describe*, application-autoscaling:Describe*) and
cloudwatch:PutMetricData (limited by its cloudwatch:namespace condition) are the only `*`.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from controller.config import SCALE_TAG
from controller.fleets import FLEETS_KEY
from stacks.common import allow, publish_metrics, send_messages, use_key
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
    fleets_object = data_bucket_arn(config.name, scope, FLEETS_KEY)
    namespaces = [CONTROLLER_NAMESPACE]
    if any(fleet["target"]["kind"] == "simulated" for fleet in config.fleets):
        namespaces.append(SIMULATED_FLEET_NAMESPACE)
    statements = [
        allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:log-stream:*"]),
        allow("ReadModes", ["ssm:GetParameter"], [f"{arn}:ssm:{where}:parameter{config.modes_parameter_name}"]),
        allow("ReadWriteOwnState", ["s3:GetObject", "s3:PutObject"], [state_objects]),
        allow("ReadFleets", ["s3:GetObject"], [fleets_object]),
        allow(
            "ListOwnState",
            ["s3:ListBucket"],
            [data_bucket_arn(config.name, scope)],
            conditions={"StringLike": {"s3:prefix": [f"{STATE_PREFIX}*"]}},
        ),
        use_key("UseStageKey", key_arn),
        send_messages("DeadLetterFailedRuns", dead_letters_arn),
        allow(
            "AskStageEndpoint",
            ["sagemaker:InvokeEndpoint"],
            [f"{arn}:sagemaker:{where}:endpoint/{config.endpoint_name}"],
        ),
        allow("ReadFleetMetrics", ["cloudwatch:GetMetricData"], ["*"]),
        publish_metrics("PublishDecisionMetrics", namespaces),
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
    kinds = fleet_kinds(config)
    if kinds & {"ecs", "sagemaker"}:
        kinds.add("appscaling")  # the hand-back suspends and restores their scalable targets
    tagged = f"resources tagged {SCALE_TAG}={config.name} only (aws:ResourceTag condition): a team opts a resource in"
    for kind, pattern in tagged_resources(arn, where).items():
        if kind in kinds:
            findings[nag_resource(scope, pattern)] = (
                f"Any {kind} resource of the account and region, but mutating " + tagged
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


def fleet_kinds(config: StageConfig) -> set[str]:
    return {f["target"]["kind"] for f in config.fleets}


def tagged_resources(arn: str, where: str) -> dict[str, str]:
    """Target kind -> the ARN pattern of every resource of that kind (mutations carry the tag condition)."""
    return {
        "ecs": f"{arn}:ecs:{where}:service/*/*",
        "asg": f"{arn}:autoscaling:{where}:autoScalingGroup:*:autoScalingGroupName/*",
        "sagemaker": f"{arn}:sagemaker:{where}:endpoint/*",
        "appscaling": f"{arn}:application-autoscaling:{where}:scalable-target/*",
    }


def fleet_statements(config: StageConfig, *, arn: str, where: str) -> list[iam.PolicyStatement]:
    """Read the targets of the kinds in use; scale and hand back only those tagged for this stage."""
    kinds = fleet_kinds(config)
    resources = tagged_resources(arn, where)
    condition = {"StringEquals": {f"aws:ResourceTag/{SCALE_TAG}": config.name}}
    statements = []

    def tagged(sid: str, actions: list[str], kind: str) -> None:
        statements.append(allow(sid, actions, [resources[kind]], conditions=condition))

    if "ecs" in kinds:
        statements.append(allow("ReadEcsServices", ["ecs:DescribeServices"], [resources["ecs"]]))
        tagged("ScaleTaggedEcsServices", ["ecs:UpdateService"], "ecs")
    if "asg" in kinds:
        statements.append(
            allow(
                "ReadAutoScalingGroups",
                ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribePolicies"],
                ["*"],
            )
        )
        actions = ["autoscaling:ResumeProcesses", "autoscaling:SetDesiredCapacity", "autoscaling:SuspendProcesses"]
        tagged("ScaleTaggedAutoScalingGroups", actions, "asg")
    if "sagemaker" in kinds:
        statements.append(allow("ReadEndpoints", ["sagemaker:DescribeEndpoint"], [resources["sagemaker"]]))
        tagged("ScaleTaggedEndpointVariants", ["sagemaker:UpdateEndpointWeightsAndCapacities"], "sagemaker")
    if kinds & {"ecs", "sagemaker"}:
        statements.append(
            allow(
                "FindOtherScalers",
                [
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                ["*"],
            )
        )
        tagged("HandBackTaggedScalableTargets", ["application-autoscaling:RegisterScalableTarget"], "appscaling")
    return statements
