"""Stateful stack: the KMS key and the data bucket (plus its access-log bucket).

Everything else in a stage can be destroyed and re-created; this stack holds data (checkpoints, training
output, captured requests) and is retained in Prod.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.common import allow, removal_policy
from stacks.config import StageConfig

CHECKPOINTS = "checkpoints/"
"""Training checkpoints synced from /opt/ml/checkpoints (resume after a spot interruption)."""
TRAINING_OUTPUT = "training-output/"
"""SageMaker training job output (the packaged policy and its report)."""
DATA_CAPTURE = "data-capture/"
"""Endpoint requests and responses captured by SageMaker."""
ARTIFACTS = "artifacts/"
"""Released model artifacts (model.tar.gz + metadata.json); old versions expire."""
ACCESS_LOGS = "data-bucket/"


def data_bucket_name(stage: str, account: str) -> str:
    """Deterministic, so the other stacks of the stage build ARNs from it without cross-stack references."""
    return f"rl-autoscaler-{stage.lower()}-data-{account}-eu-west-1"


KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
"""What a key administrator may do: manage the key, never use it (no Encrypt/Decrypt/GenerateDataKey/CreateGrant)."""
KEY_USER_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*")
"""What a key user may do: cryptographic use, never administration."""


def stage_log_group_names(stage: str) -> tuple[str, ...]:
    """The stage's log groups encrypted with its key (patterns, for the key policy's encryption-context condition)."""
    low = stage.lower()
    return (
        f"/aws/sagemaker/Endpoints/rl-autoscaler-{low}",
        f"/aws/vendedlogs/states/rl-autoscaler-{low}-*",
        f"/aws/lambda/rl-autoscaler-{low}-*",
    )


def stage_key_policy(stack: cdk.Stack, config: StageConfig) -> iam.PolicyDocument:
    """Key administrators apart from key users (AWS KMS best practice: separation of duties).

    - Administrators: `key_admins` of the stage config and the CDK deploy role, or else the account (so IAM
      policies decide who administers), with administrative actions only: an administrator cannot decrypt the
      stage's data.
    - Users: the roles of this stage's own stacks (`<Stage>-*`, the names CloudFormation gives them), the
      `key_users` of the stage config, the deploy role for the grants SageMaker makes when it creates encrypted
      volumes, and the AWS services that encrypt for the stage (CloudWatch alarms to the topic, CloudWatch Logs for
      exactly the stage's log groups).
    """
    account = stack.account
    arn = f"arn:{stack.partition}"
    account_root = iam.AccountRootPrincipal()
    stage_roles = [f"{arn}:iam::{account}:role/{config.name}-*", *config.key_users]
    deploy_role = f"{arn}:iam::{account}:role/cdk-*-cfn-exec-role-{account}-{stack.region}"
    log_groups = [
        f"{arn}:logs:{stack.region}:{account}:log-group:{name}" for name in stage_log_group_names(config.name)
    ]
    return iam.PolicyDocument(
        statements=[
            allow(
                "KeyAdministrators",
                KEY_ADMIN_ACTIONS,
                ["*"],
                principals=[account_root],
                # Named administrators and the CloudFormation deploy role, which must keep kms:PutKeyPolicy (KMS
                # refuses a policy that locks its caller out); without names, IAM policies decide.
                conditions={"ArnLike": {"aws:PrincipalArn": [*config.key_admins, deploy_role]}}
                if config.key_admins
                else None,
            ),
            allow(
                "KeyUsersStageRoles",
                KEY_USER_ACTIONS,
                ["*"],
                principals=[account_root],
                conditions={"ArnLike": {"aws:PrincipalArn": stage_roles}},
            ),
            allow(
                "KeyUsersGrantsForAwsResources",
                ["kms:CreateGrant", "kms:DescribeKey"],
                ["*"],
                principals=[account_root],
                conditions={
                    "ArnLike": {"aws:PrincipalArn": [*stage_roles, deploy_role]},
                    "Bool": {"kms:GrantIsForAWSResource": "true"},
                },
            ),
            allow(
                "AllowCloudWatchAlarmsToPublishToEncryptedTopic",
                ["kms:Decrypt", "kms:GenerateDataKey*"],
                ["*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            ),
            allow(
                "LetLogsEncryptStageLogGroups",
                ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                ["*"],
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            ),
        ]
    )


def data_bucket_arn(stage: str, scope: Construct, objects: str | None = None) -> str:
    """ARN of the stage's data bucket (or of `objects` in it), as seen from any stack of the stage."""
    stack = cdk.Stack.of(scope)
    arn = f"arn:{stack.partition}:s3:::{data_bucket_name(stage, stack.account)}"
    return f"{arn}/{objects}" if objects else arn


class StorageStack(cdk.Stack):
    """KMS key with rotation; data bucket with TLS only, KMS, versioning, access logs and lifecycle rules."""

    DESCRIPTION = "KMS key and data bucket (stateful)"

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = removal_policy(config)
        retention = config.retention

        self.key = kms.Key(
            self,
            "Key",
            description=f"RL autoscaler {config.name}: data bucket, data capture, endpoint volumes, alarm topic, logs",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=cdk.Duration.days(7 if removal == cdk.RemovalPolicy.DESTROY else 30),
            policy=stage_key_policy(self, config),
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            # S3 server access logging delivers only to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(retention.access_log_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                )
            ],
            removal_policy=removal,
            auto_delete_objects=removal == cdk.RemovalPolicy.DESTROY,
        )

        self.bucket = s3.Bucket(
            self,
            "Data",
            bucket_name=data_bucket_name(config.name, self.account),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=ACCESS_LOGS,
            # Dev and Staging: `cdk destroy` empties the versioned bucket first (every version), or deleting it fails.
            auto_delete_objects=removal == cdk.RemovalPolicy.DESTROY,
            lifecycle_rules=[
                *(
                    s3.LifecycleRule(
                        id=f"expire-{name}",
                        prefix=prefix,
                        expiration=cdk.Duration.days(days),
                        noncurrent_version_expiration=cdk.Duration.days(1),
                    )
                    for name, prefix, days in (
                        ("checkpoints", CHECKPOINTS, retention.checkpoint_days),
                        ("data-capture", DATA_CAPTURE, retention.data_capture_days),
                        ("training-output", TRAINING_OUTPUT, retention.training_output_days),
                    )
                ),
                s3.LifecycleRule(
                    id="expire-old-artifact-versions",
                    prefix=ARTIFACTS,
                    noncurrent_version_expiration=cdk.Duration.days(retention.noncurrent_version_days),
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(1)
                ),
            ],
            removal_policy=removal,
        )
        provider = self.node.try_find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
        if provider is not None:
            # CDK's provider adds a DependsOn on the role it already refers to by GetAtt (cfn-lint W3005).
            handler = provider.node.find_child("Handler")
            assert isinstance(handler, cdk.CfnResource)
            handler.add_deletion_override("DependsOn")
