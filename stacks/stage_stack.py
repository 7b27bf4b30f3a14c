"""What every stack of a stage shares: its config, tags and description, and the storage it keeps data in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import aws_cdk as cdk
from constructs import Construct

from stacks.config import StageConfig
from stacks.storage import StorageStack, data_bucket_name


def stage_tags(config: StageConfig) -> dict[str, str]:
    """Stack tags: CloudFormation applies them to every resource of the stack that takes tags."""
    return {"project": "rl-autoscaler", "stage": config.name}


def stage_description(config: StageConfig, what: str) -> str:
    return f"RL autoscaler {config.name}: {what}"


@dataclass(frozen=True)
class StageProps:
    """What the stage hands each stack built on its storage."""

    config: StageConfig
    storage: StorageStack


class StageStack(cdk.Stack):
    """A stack of one stage, deployed after the stage's storage stack, whose key and bucket it uses.

    A subclass says what it holds in `DESCRIPTION` (the stack's description in CloudFormation), as the storage
    stack does."""

    DESCRIPTION: ClassVar[str]

    def __init__(self, scope: Construct, construct_id: str, props: StageProps) -> None:
        config = props.config
        super().__init__(
            scope,
            construct_id,
            description=stage_description(config, self.DESCRIPTION),
            tags=stage_tags(config),
        )
        self.config = config
        self.key = props.storage.key
        self.bucket_name = data_bucket_name(config.name, self.account)
        self.add_stack_dependency(props.storage)
