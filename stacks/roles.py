"""What every SageMaker execution role of ours needs, and the cdk-nag acknowledgements it brings.

Each acknowledgement names one finding (`AwsSolutions-IAM5[<the wildcard>]`) on one policy, with the reason the
wildcard cannot be narrowed.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.common import allow, publish_metrics, use_key
from stacks.images import Image


def acknowledge(construct: Construct, finding: str, reason: str) -> None:
    """Acknowledge exactly one cdk-nag finding on one construct."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::{finding}", reason=reason))


def sagemaker_base_policy(
    scope: Construct, construct_id: str, image: Image, log_group_name: str, key: kms.IKey
) -> iam.Policy:
    """Pull the pinned DLC image, write the job's or endpoint's logs and metrics, use the stage's KMS key.

    `log_group_name` is SageMaker's log group: `/aws/sagemaker/TrainingJobs` or `/aws/sagemaker/Endpoints/<name>`.
    """
    stack = cdk.Stack.of(scope)
    log_group = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{log_group_name}"
    policy = iam.Policy(
        scope,
        construct_id,
        statements=[
            allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            allow(
                "PullPinnedImage",
                ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                [image.repository_arn(stack.partition, stack.region)],
            ),
            allow(
                "WriteOwnLogs",
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                [log_group, f"{log_group}:log-stream:*"],
            ),
            publish_metrics("PublishOwnMetrics", ["/aws/sagemaker/*", "aws/sagemaker/*"], match="StringLike"),
            use_key(
                "UseStageKey", key.key_arn, ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
            ),
            allow(
                "EncryptVolumesWithStageKey",
                ["kms:CreateGrant"],
                [key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
        ],
    )
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken has no resource-level permissions, and cloudwatch:PutMetricData supports none "
        "either (it is limited to SageMaker namespaces by a condition).",
    )
    acknowledge(
        policy,
        f"AwsSolutions-IAM5[{nag_resource(scope, f'{log_group}:log-stream:*')}]",
        f"SageMaker names one log stream per host and run inside {log_group_name}; names are not known in advance.",
    )
    return policy


def nag_resource(scope: Construct, value: str) -> str:
    """The `Resource::...` form cdk-nag gives a (possibly tokenised) resource ARN in an IAM5 finding."""
    resolved = cdk.Stack.of(scope).resolve(value)

    def part(item: object) -> str:
        if isinstance(item, str):
            return item
        if isinstance(item, dict) and set(item) == {"Ref"}:
            return f"<{item['Ref']}>"
        if isinstance(item, dict) and set(item) == {"Fn::GetAtt"}:
            return f"<{'.'.join(item['Fn::GetAtt'])}>"
        raise ValueError(f"cannot name the cdk-nag finding for {value!r}: unexpected {item!r}")

    if isinstance(resolved, dict) and "Fn::Join" in resolved:
        separator, items = resolved["Fn::Join"]
        return "Resource::" + separator.join(part(item) for item in items)
    return "Resource::" + part(resolved)


def acknowledge_wildcards(construct: Construct, findings: dict[str, str]) -> None:
    """Acknowledge several IAM5 wildcard findings, one acknowledgement and one reason each."""
    for resource, reason in findings.items():
        acknowledge(construct, f"AwsSolutions-IAM5[{resource}]", reason)
