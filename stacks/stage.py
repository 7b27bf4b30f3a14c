"""One deployable environment: storage, training, monitoring and serving stacks built from one StageConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from stacks.artifact import ModelArtifact, check_gate
from stacks.config import REGION, StageConfig
from stacks.controller import ControllerStack
from stacks.monitoring import MonitoringStack
from stacks.serving import ServingStack
from stacks.storage import StorageStack
from stacks.training import TrainingStack


class AutoscalerStage(cdk.Stage):
    """`cdk deploy 'Dev/*'` deploys the stacks of one stage, in dependency order."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: StageConfig,
        artifact: ModelArtifact,
        sourcedir: Path,
        controller_package: Path,
        **kwargs: Any,
    ) -> None:
        check_gate(artifact, config.name, config.require_passed_gate)
        super().__init__(scope, config.name, env=cdk.Environment(account=config.account, region=REGION), **kwargs)
        self.config = config
        # Stack tags: CloudFormation applies them to every resource of the stack that takes tags.
        tags = {"project": "rl-autoscaler", "stage": config.name}

        def props(what: str) -> dict[str, Any]:
            """What every stack of the stage gets: the config, a description saying what it holds, the tags."""
            return {"config": config, "description": f"RL autoscaler {config.name}: {what}", "tags": tags}

        self.storage = StorageStack(
            self,
            "Storage",
            termination_protection=config.removal_policy == "retain",
            **props("KMS key and data bucket (stateful)"),
        )
        self.training = TrainingStack(
            self,
            "Training",
            storage=self.storage,
            sourcedir=sourcedir,
            **props("training role, code and job definition (Step Functions)"),
        )
        self.monitoring = MonitoringStack(
            self,
            "Monitoring",
            storage=self.storage,
            training=self.training,
            **props("alarm topic, alarms and dashboard"),
        )
        self.serving = ServingStack(
            self,
            "Serving",
            storage=self.storage,
            artifact=artifact,
            monitoring=self.monitoring,
            **props("model, endpoint config, endpoint and auto scaling"),
        )
        self.controller = ControllerStack(
            self,
            "Controller",
            storage=self.storage,
            serving=self.serving,
            artifact=artifact,
            package=controller_package,
            **props("the controller that scales the stage's fleets every minute"),
        )

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [self.storage, self.training, self.monitoring, self.serving, self.controller]
