"""The model package group (Registry stack) and the training state machine's registration step."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint_file

from stacks.artifact import ArtifactError, resolve_artifact
from stacks.config import MODEL_PACKAGE_GROUP, StageConfigError
from stacks.registry import STAGE_ACTIONS, RegistryStack
from tests.infra.helpers import CDK_CONTEXT, STAGES, Synthesised, build_app, joined, only, state_machine_definition


def _registry(app: Synthesised) -> Template:
    return Template.from_stack(app.app.node.find_child("Registry"))  # type: ignore[arg-type]


def test_one_model_package_group_for_the_project_kept_on_delete(app: Synthesised) -> None:
    template = _registry(app)
    group = template.find_resources("AWS::SageMaker::ModelPackageGroup")
    ((_, resource),) = group.items()
    assert resource["Properties"]["ModelPackageGroupName"] == MODEL_PACKAGE_GROUP == "rl-autoscaler"
    assert resource["DeletionPolicy"] == "Retain" and "ModelPackageGroupPolicy" not in resource["Properties"]
    config = ManualArgs(regions=["eu-west-1"])
    assert list(lint_file(app.outdir / "Registry.template.json", config=config)) == []


def test_stages_in_other_accounts_may_register_and_read() -> None:
    stack = RegistryStack(
        cdk.App(),
        "Registry",
        stage_accounts=["111111111111", "222222222222"],
        env=cdk.Environment(account="111111111111", region="eu-west-1"),
    )
    props = only(Template.from_stack(stack), "AWS::SageMaker::ModelPackageGroup")["Properties"]
    (statement,) = props["ModelPackageGroupPolicy"]["Statement"]
    assert [joined(p) for p in statement["Principal"]["AWS"]] == ["arn:<Ref:AWS::Partition>:iam::222222222222:root"]
    assert statement["Action"] == list(STAGE_ACTIONS)
    assert joined(statement["Resource"][1]).endswith(":111111111111:model-package/rl-autoscaler/*")  # not its own


def test_stages_must_agree_on_the_registry_account(tmp_path: Path) -> None:
    stages = {name: dict(raw) for name, raw in CDK_CONTEXT["stages"].items()}
    stages["Prod"]["registry_account"] = "111111111111"
    with pytest.raises(StageConfigError, match="registry_account: the stages name different accounts"):
        build_app(tmp_path, stages=stages, model_artifact=tmp_path / "unused.tar.gz")


@pytest.mark.parametrize("stage", STAGES)
def test_training_registers_the_model_after_the_job(app: Synthesised, stage: str) -> None:
    definition = state_machine_definition(app.template(stage, "Training"))
    states = definition["States"]
    assert states["Train"]["Next"] == states["TrainOnTeamData"]["Next"] == "RegisterModel"
    register = states["RegisterModel"]
    assert (
        joined(register["Resource"]).startswith("<GetAtt:RegistrationFunction")
        and register["Next"] == "PolicyRegistered"
    )
    assert register["Parameters"] == {
        "model_data.$": "$.ModelArtifacts.S3ModelArtifacts",
        "training_job_name.$": "$.TrainingJobName",
    }
    assert register["ResultPath"] == "$.registered" and register["Catch"][0]["Next"] == "RegistrationFailed"
    assert states["PolicyRegistered"]["Type"] == "Succeed" and states["RegistrationFailed"]["Type"] == "Fail"


def test_registration_function_may_only_read_output_write_artifacts_and_create_packages(app: Synthesised) -> None:
    template = app.template("Dev", "Training")
    policies = template.find_resources("AWS::IAM::Policy")
    ((_, policy),) = [(k, v) for k, v in policies.items() if k.startswith("RegistrationPolicy")]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {
        "ReadTrainingOutput",
        "WriteArtifacts",
        "UseStageKey",
        "CreateModelPackage",
        "WriteOwnLogs",
    }
    assert joined(statements["ReadTrainingOutput"]["Resource"]).endswith("/training-output/*")
    assert joined(statements["WriteArtifacts"]["Resource"]).endswith("/artifacts/*")
    assert statements["CreateModelPackage"]["Action"] == "sagemaker:CreateModelPackage"
    resources = [joined(r) for r in statements["CreateModelPackage"]["Resource"]]
    assert [r.rsplit(":", 1)[1] for r in resources] == [
        "model-package-group/rl-autoscaler",
        "model-package/rl-autoscaler/*",
    ]
    function = [r for r in template.find_resources("AWS::Lambda::Function").values() if "register" in str(r)]
    env = function[0]["Properties"]["Environment"]["Variables"]
    assert env["GROUP"] == "rl-autoscaler" and env["PREFIX"] == "artifacts/" and env["STAGE"] == "Dev"
    assert env["IMAGE"].endswith("/sagemaker-scikit-learn:1.4-2-py312-cpu-py3")


def test_registration_code_fits_lambdas_inline_limit() -> None:
    code = Path(__file__).resolve().parents[2] / "stacks" / "lambdas" / "register_model.py"
    assert len(code.read_bytes()) < 4096


def test_a_deploy_records_the_package_version_it_serves(tmp_path: Path, policy_artifacts: dict[str, Path]) -> None:
    _, (dev,) = build_app(tmp_path, stage="Dev", model_artifact=policy_artifacts["passed"], model_package_version="7")
    tags = only(Template.from_stack(dev.serving), "AWS::SageMaker::Model")["Properties"]["Tags"]
    assert {"Key": "model_package_version", "Value": "7"} in tags


@pytest.mark.parametrize("value", ["0", "seven", "-1", "1.5"])
def test_a_deploy_names_a_package_version_or_nothing(value: str, policy_artifacts: dict[str, Path]) -> None:
    context = {"model_artifact": str(policy_artifacts["passed"]), "model_package_version": value}
    with pytest.raises(ArtifactError, match="model_package_version must be a package version"):
        resolve_artifact(context, Path("/"))
    assert resolve_artifact({**context, "model_package_version": "12"}, Path("/")).package_version == 12
