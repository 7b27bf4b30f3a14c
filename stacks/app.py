"""Build the CDK app from context: the stage configs, the model artifact and the training source dir."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.artifact import resolve_artifact
from stacks.config import REGION, StageConfigError, select_stages, with_alarm_subscribers
from stacks.controller_asset import build_controller_package
from stacks.registry import RegistryStack
from stacks.sourcedir import build_sourcedir
from stacks.stage import AutoscalerStage

ROOT = Path(__file__).resolve().parent.parent
CONTEXT_KEYS = (
    "stages",
    "stage",
    "alarm_subscribers",
    "model_artifact",
    "model_metadata",
    "model_s3_uri",
    "model_sha256",
    "model_package_version",
)


def build(app: cdk.App, *, root: Path = ROOT, environ: Mapping[str, str] | None = None) -> list[AutoscalerStage]:
    """Add one stage per selected config (`-c stage=Dev`, default all) and the cdk-nag AwsSolutions checks."""
    environ = os.environ if environ is None else environ
    context = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    stages_context = context["stages"]
    if isinstance(stages_context, Mapping):
        stages_context = with_alarm_subscribers(stages_context, context["alarm_subscribers"])
    configs = select_stages(stages_context, context["stage"], environ)
    registry_accounts = {c.registry_account for c in configs}
    if len(registry_accounts) > 1:
        names = sorted(map(str, registry_accounts))
        raise StageConfigError(f"registry_account: the stages name different accounts {names}: the group is one")
    (registry_account,) = registry_accounts or {None}
    artifact = resolve_artifact(context, root)
    sourcedir = build_sourcedir(root)
    package = build_controller_package(root)
    RegistryStack(
        app,
        "Registry",
        stage_accounts=[c.account for c in configs if c.account],
        env=cdk.Environment(account=registry_account, region=REGION),
        description="RL autoscaler: the model package group every stage registers its gated policies in",
        tags={"project": "rl-autoscaler"},
    )
    stages = [
        AutoscalerStage(app, config=config, artifact=artifact, sourcedir=sourcedir, controller_package=package)
        for config in configs
    ]
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stages
