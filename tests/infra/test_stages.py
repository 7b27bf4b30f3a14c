"""The app: one stage per environment in eu-west-1, stage selection, and how Dev and Prod differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.helpers import STACKS, STAGES, Synthesised, build_app, only, resources, state_machine_definition


def test_three_stages_in_eu_west_1_with_four_stacks_each(app: Synthesised) -> None:
    assert list(app.stages) == list(STAGES)
    for name, stage in app.stages.items():
        assert stage.region == "eu-west-1"
        assert [s.stack_name for s in stage.stacks] == [f"{name}-{s}" for s in STACKS]
        for stack in stage.stacks:
            assert stack.region == "eu-west-1"
            assert stack.tags.tag_values() == {"project": "rl-autoscaler", "stage": name}


def test_stacks_deploy_in_dependency_order(app: Synthesised) -> None:
    stage = app.stages["Dev"]
    assert stage.storage in stage.training.dependencies
    assert {stage.storage, stage.training} <= set(stage.monitoring.dependencies)
    assert {stage.storage, stage.monitoring} <= set(stage.serving.dependencies)


def test_one_stage_can_be_selected(tmp_path: Path, policy_artifacts: dict[str, Path]) -> None:
    _, stages = build_app(tmp_path, stage="Prod", model_artifact=policy_artifacts["passed"])
    assert [s.stage_name for s in stages] == ["Prod"]


def test_account_comes_from_the_environment_when_the_config_has_none(
    tmp_path: Path, policy_artifacts: dict[str, Path]
) -> None:
    import aws_cdk as cdk

    from stacks.app import build
    from tests.infra.helpers import CDK_CONTEXT

    app = cdk.App(context={**CDK_CONTEXT, "stage": "Dev", "model_artifact": str(policy_artifacts["passed"])})
    (dev,) = build(app, environ={"CDK_DEFAULT_ACCOUNT": "123456789012"})
    assert dev.account == "123456789012" and dev.storage.account == "123456789012"


DIFFERENCES = {
    # (stage config attribute path, Dev value, Prod value)
    "serving.instance_type": ("ml.c5.large", "ml.c5.xlarge"),
    "serving.instance_count": (1, 2),
    "serving.max_instances": (1, 8),
    "serving.serverless_memory_mb": (2048, None),
    "serving.data_capture_percent": (0, 20),
    "training.instance_count": (1, 2),
    "training.preset": ("quick", "full"),
    "removal_policy": ("destroy", "retain"),
    "require_passed_gate": (False, True),
    "alarms.error_5xx_percent": (1, 0.5),
    "retention.log_retention_days": (30, 365),
}


@pytest.mark.parametrize("path", DIFFERENCES)
def test_dev_and_prod_configs_differ_where_intended(app: Synthesised, path: str) -> None:
    def get(stage: str) -> object:
        value: object = app.stages[stage].config
        for part in path.split("."):
            value = getattr(value, part)
        return value

    assert (get("Dev"), get("Prod")) == DIFFERENCES[path]


def test_dev_and_prod_templates_differ_where_intended(app: Synthesised) -> None:
    dev, prod = (only(app.template(s, "Serving"), "AWS::SageMaker::EndpointConfig") for s in ("Dev", "Prod"))
    assert dev["Properties"]["ProductionVariants"][0]["ServerlessConfig"]["MemorySizeInMB"] == 2048  # Dev idle cost
    assert prod["Properties"]["ProductionVariants"][0]["InstanceType"] == "ml.c5.xlarge"
    assert prod["Properties"]["ProductionVariants"][0]["InitialInstanceCount"] == 2
    dev_ep, prod_ep = (only(app.template(s, "Serving"), "AWS::SageMaker::Endpoint") for s in ("Dev", "Prod"))
    assert "DeploymentConfig" not in dev_ep["Properties"] and "DeploymentConfig" in prod_ep["Properties"]
    assert resources(app.template("Dev", "Serving"), "AWS::ApplicationAutoScaling::ScalableTarget") == {}
    scaling = only(app.template("Prod", "Serving"), "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (scaling["MinCapacity"], scaling["MaxCapacity"]) == (2, 8)
    dev_train, prod_train = (
        state_machine_definition(app.template(s, "Training"))["States"]["Train"]["Parameters"] for s in ("Dev", "Prod")
    )
    assert dev_train["ResourceConfig"]["InstanceCount"] == 1 and prod_train["ResourceConfig"]["InstanceCount"] == 2
    assert dev_train["HyperParameters"]["preset"] == "quick" and prod_train["HyperParameters"]["preset"] == "full"
    dev_log, prod_log = (
        next(g for k, g in resources(app.template(s, "Serving"), "AWS::Logs::LogGroup").items() if "EndpointLogs" in k)
        for s in ("Dev", "Prod")
    )
    assert dev_log["DeletionPolicy"] == "Delete" and prod_log["DeletionPolicy"] == "Retain"
