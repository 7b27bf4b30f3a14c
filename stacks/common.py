"""What the stacks share: StageConfig values as CDK types, and the one way they write an IAM statement.

Every IAM statement of the stacks is built by `allow` (or one of the named statements below, which call it), so a
statement reads as a declaration: who (`sid`), what (`actions`), on what (`resources`), when (`conditions`).
Prefer an L2 `grant_*` where one grants exactly what is needed; use these where it would grant more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import StageConfig

_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def removal_policy(config: StageConfig) -> cdk.RemovalPolicy:
    return cdk.RemovalPolicy.RETAIN if config.removal_policy == "retain" else cdk.RemovalPolicy.DESTROY


def log_retention(config: StageConfig) -> logs.RetentionDays:
    return _RETENTION[config.retention.log_retention_days]


def stage_log_group(
    scope: Construct, construct_id: str, *, name: str, config: StageConfig, key: kms.IKey
) -> logs.LogGroup:
    """A log group of the stage: encrypted with the stage key (whose policy admits CloudWatch Logs for the stage's
    group names), with the stage's retention and removal policy."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        encryption_key=key,
        retention=log_retention(config),
        removal_policy=removal_policy(config),
    )


def allow(
    sid: str,
    actions: Iterable[str],
    resources: Iterable[str],
    *,
    conditions: Mapping[str, Any] | None = None,
    principals: Sequence[iam.IPrincipal] | None = None,
) -> iam.PolicyStatement:
    """One Allow statement; `principals` only in a resource policy (a key's or a bucket's)."""
    return iam.PolicyStatement(
        sid=sid,
        actions=list(actions),
        resources=list(resources),
        conditions=dict(conditions) if conditions else None,
        principals=list(principals) if principals else None,
    )


KEY_ENCRYPT_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
"""What a writer of the stage's encrypted data needs of the key (reading it needs only kms:Decrypt)."""


def use_key(sid: str, key_arn: str, actions: Iterable[str] = KEY_ENCRYPT_ACTIONS) -> iam.PolicyStatement:
    """Use the stage's KMS key (encrypt and decrypt data keys), never administer it."""
    return allow(sid, actions, [key_arn])


def publish_metrics(sid: str, namespaces: Sequence[str], *, match: str = "StringEquals") -> iam.PolicyStatement:
    """cloudwatch:PutMetricData has no resource-level permissions: the `cloudwatch:namespace` condition limits it
    to `namespaces` (`match="StringLike"` for patterns)."""
    return allow(
        sid, ["cloudwatch:PutMetricData"], ["*"], conditions={match: {"cloudwatch:namespace": list(namespaces)}}
    )


def send_messages(sid: str, queue_arn: str) -> iam.PolicyStatement:
    """Send to one SQS queue (a dead-letter queue)."""
    return allow(sid, ["sqs:SendMessage"], [queue_arn])
