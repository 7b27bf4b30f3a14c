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

from stacks.common import removal_policy
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


def data_bucket_arn(stage: str, scope: Construct, objects: str | None = None) -> str:
    """ARN of the stage's data bucket (or of `objects` in it), as seen from any stack of the stage."""
    stack = cdk.Stack.of(scope)
    arn = f"arn:{stack.partition}:s3:::{data_bucket_name(stage, stack.account)}"
    return f"{arn}/{objects}" if objects else arn


class StorageStack(cdk.Stack):
    """KMS key with rotation; data bucket with TLS only, KMS, versioning, access logs and lifecycle rules."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = removal_policy(config)
        retention = config.retention

        self.key = kms.Key(
            self,
            "Key",
            description=f"RL autoscaler {config.name}: data bucket, data capture, endpoint volumes, alarm topic",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=cdk.Duration.days(7 if removal == cdk.RemovalPolicy.DESTROY else 30),
        )
        # CloudWatch alarms publish to the KMS-encrypted alarm topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
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
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-checkpoints",
                    prefix=CHECKPOINTS,
                    expiration=cdk.Duration.days(retention.checkpoint_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-data-capture",
                    prefix=DATA_CAPTURE,
                    expiration=cdk.Duration.days(retention.data_capture_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-training-output",
                    prefix=TRAINING_OUTPUT,
                    expiration=cdk.Duration.days(retention.training_output_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
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
