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
from stacks.stage_stack import StageProps, stage_description, stage_tags
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
        self.storage = StorageStack(
            self,
            "Storage",
            config=config,
            termination_protection=config.removal_policy == "retain",
            description=stage_description(config, StorageStack.DESCRIPTION),
            tags=stage_tags(config),
        )
        props = StageProps(config=config, storage=self.storage)
        self.training = TrainingStack(self, "Training", props, sourcedir=sourcedir)
        self.monitoring = MonitoringStack(self, "Monitoring", props, training=self.training)
        self.serving = ServingStack(self, "Serving", props, artifact=artifact, monitoring=self.monitoring)
        self.controller = ControllerStack(
            self, "Controller", props, serving=self.serving, artifact=artifact, package=controller_package
        )

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [self.storage, self.training, self.monitoring, self.serving, self.controller]
