"""The project's SageMaker model package group: one lineage of gated policies, whatever stage trained them.

One group per project, not per stage: approval says "fit to serve" once, for the model, and which approved version
a stage serves is that stage's config (`serving.model_package_version`; Dev: "latest"). So promotion is approval
plus deploying that version stage by stage, and the version a reviewer sees in Prod is the one Staging ran. The
group lives in the `Registry` stack (`cdk deploy Registry`, once, before the stages' first training run), kept on
delete: it is the approval record. Stages in other accounts register and read through its resource policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import MODEL_PACKAGE_GROUP as GROUP_NAME
from stacks.config import REGION

STAGE_ACTIONS = ("sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages")


def group_arn(partition: str, account: str) -> str:
    return f"arn:{partition}:sagemaker:{REGION}:{account}:model-package-group/{GROUP_NAME}"


def packages_arn(partition: str, account: str) -> str:
    """Every version of the group: SageMaker names them model-package/<group>/<version>."""
    return f"arn:{partition}:sagemaker:{REGION}:{account}:model-package/{GROUP_NAME}/*"


class RegistryStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage_accounts: Sequence[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        others = sorted(set(stage_accounts) - {self.account})
        group, packages = group_arn(self.partition, self.account), packages_arn(self.partition, self.account)
        policy = None
        if others:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "StageAccountsRegisterAndRead",
                        "Effect": "Allow",
                        "Principal": {"AWS": [f"arn:{self.partition}:iam::{a}:root" for a in others]},
                        "Action": list(STAGE_ACTIONS),
                        "Resource": [group, packages],
                    }
                ],
            }
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=GROUP_NAME,
            model_package_group_description=(
                "RL autoscaler policies that passed the evaluation gate; a stage serves an approved version"
            ),
            model_package_group_policy=policy,
        )
        self.group.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        cdk.CfnOutput(self, "ModelPackageGroupArn", value=self.group.attr_model_package_group_arn)
