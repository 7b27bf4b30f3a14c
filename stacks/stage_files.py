"""A deploy-time custom resource that writes into the stage's own bucket: inline Lambda code, no Docker.

The code (stacks/lambdas/stage_files.py, under Lambda's 4 KiB inline limit) is tested in-process against moto.
One function per stack that needs it (stacks/inline_function.py), with exactly that stack's permissions. No
dead-letter queue, on purpose: CloudFormation is the only caller and learns of every failure through the response
the function sends (the stack rolls back and shows the reason); a failure that sends none times out the stack
operation, and the function's log group keeps the error.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.common import allow
from stacks.config import StageConfig
from stacks.inline_function import inline_function
from stacks.storage import data_bucket_arn, data_bucket_name

CODE = Path(__file__).with_name("lambdas") / "stage_files.py"
COPY_TARGET_ACTIONS = ("s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObjectVersion")
"""What a checked copy needs of its target: write it, read it back for its sha256, delete a refused version."""


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
        self.key = key
        self.function = inline_function(
            self,
            config=config,
            key=key,
            purpose=purpose,
            code=CODE,
            role_description=f"{purpose} at deploy time",
            description=f"{purpose} (CloudFormation custom resource)",
            statements=statements,
            key_actions=("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
        ).function

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


def checked_copy(
    scope: Construct,
    construct_id: str,
    *,
    config: StageConfig,
    key: kms.IKey,
    purpose: str,
    source: tuple[str, str],
    target_key: str,
    sha256: str,
    sids: tuple[str, str],
) -> cdk.CustomResource:
    """Copy `source` (bucket, key) to `target_key` of the stage bucket at deploy, refused unless its sha256 is
    `sha256`; `sids` name the two statements (read the source, write and check the copy)."""
    stack = cdk.Stack.of(scope)
    source_bucket, source_key = source
    read_sid, write_sid = sids
    files = StageFiles(
        scope,
        construct_id,
        config=config,
        key=key,
        purpose=purpose,
        statements=[
            allow(read_sid, ["s3:GetObject"], [f"arn:{stack.partition}:s3:::{source_bucket}/{source_key}"]),
            allow(write_sid, COPY_TARGET_ACTIONS, [data_bucket_arn(config.name, scope, target_key)]),
        ],
    )
    return files.resource(
        "Copy",
        "CopyArtifact",
        data_bucket_name(config.name, stack.account),
        target_key,
        SourceBucket=source_bucket,
        SourceKey=source_key,
        Sha256=sha256,
    )
