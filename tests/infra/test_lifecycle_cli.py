"""The model registry end to end against moto: the state machine's registration step registers, the SDK CLI
(scripts/lifecycle.py in .venv-sdk) lists, approves, refuses a failed gate, follows the latest and rolls back.

moto runs as a server in this process; the CLI runs in its own venv (the SDK needs protobuf<7, ray here 7) and
reaches it through AWS_ENDPOINT_URL. Deploys are `--dry-run`: they publish for real and print the cdk command.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from stacks.config import MODEL_PACKAGE_GROUP as GROUP_NAME
from tests.infra.helpers import ROOT

SDK_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"
ACCOUNT = "123456789012"
STAGE_BUCKET = f"rl-autoscaler-dev-{ACCOUNT}"
RELEASE_BUCKET = "release-bucket"


def _sdk_python() -> Path:
    if not SDK_PYTHON.exists():
        pytest.fail(".venv-sdk is missing: `make .venv-sdk/.installed` builds it (requirements-sdk.txt)")
    return SDK_PYTHON


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(_sdk_python()), "scripts/lifecycle.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


_RUNNER = """
import contextlib, io, json, sys
sys.path.insert(0, "scripts")
import lifecycle
for argv in json.loads(sys.argv[1]):
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            lifecycle.main(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
            print(stop.code, file=err)
        except Exception as error:
            code = 1
            print(repr(error), file=err)
    print(json.dumps({"rc": code, "out": out.getvalue(), "err": err.getvalue()}))
"""


def _cli_batch(env: dict[str, str], *argvs: list[str]) -> list[subprocess.CompletedProcess]:
    """Several CLI commands in one SDK process (importing the SDK takes seconds), each with its own outcome."""
    run = subprocess.run(
        [str(_sdk_python()), "-c", _RUNNER, json.dumps(argvs)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = [json.loads(line) for line in run.stdout.splitlines()]
    return [subprocess.CompletedProcess(a, r["rc"], r["out"], r["err"]) for a, r in zip(argvs, results, strict=True)]


def _ok(result: subprocess.CompletedProcess) -> Any:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


def _policy(out: Path, seed: int, passed: bool) -> Path:
    from inference.artifact import package_policy, random_policy, untrained_metadata

    metadata = untrained_metadata(f"lifecycle-test-{seed}")
    metadata["gate"] = {"passed": passed, "forced": False, "reason": f"fixture {seed}"}
    metadata["evaluation"] = {"summary": {"policy": {"profit": 100.0 + seed}, "target_tracking": {"profit": 90.0}}}
    metadata["data_sha256"] = f"{seed:064x}"
    return package_policy(random_policy(seed), out / str(seed), metadata=metadata)


@pytest.fixture(scope="module")
def registered(aws: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Three training runs through the registration step: two passed the gate, the third did not."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    for bucket in (STAGE_BUCKET, RELEASE_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    key = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["Arn"]
    boto3.client("sagemaker", region_name="eu-west-1").create_model_package_group(ModelPackageGroupName=GROUP_NAME)
    env = {"BUCKET": STAGE_BUCKET, "PREFIX": "artifacts/", "KMS_KEY_ARN": key, "GROUP": GROUP_NAME}
    env |= {"IMAGE": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"}
    os.environ.update(env | {"STAGE": "Dev"})
    spec = importlib.util.spec_from_file_location("register_model", ROOT / "stacks/lambdas/register_model.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    out = tmp_path_factory.mktemp("policies")
    results = []
    for seed, passed in ((1, True), (2, True), (3, False)):
        job_key = f"training-output/dev-ppo-{seed}/output/model.tar.gz"
        s3.upload_file(str(_policy(out, seed, passed)), STAGE_BUCKET, job_key)
        event = {"model_data": f"s3://{STAGE_BUCKET}/{job_key}", "training_job_name": f"dev-ppo-{seed}"}
        results.append(module.handler(event))
    empty = out / "not-a-policy.tar.gz"
    with tarfile.open(empty, "w:gz") as tar:
        tar.add(out / "1" / "metadata.json", arcname="notes.json")
    s3.upload_file(str(empty), STAGE_BUCKET, "training-output/dev-ppo-4/output/model.tar.gz")
    with pytest.raises(ValueError, match=r"no metadata\.json: not a packaged policy"):
        module.handler({"model_data": f"s3://{STAGE_BUCKET}/training-output/dev-ppo-4/output/model.tar.gz"})
    for name in env:
        os.environ.pop(name)
    return results


def test_registration_records_sha256_training_data_gate_and_report(registered: list[dict[str, Any]]) -> None:
    sm = boto3.client("sagemaker", region_name="eu-west-1")
    package = sm.describe_model_package(ModelPackageName=registered[0]["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    props = package["CustomerMetadataProperties"]
    assert props["model_sha256"] == registered[0]["ModelSha256"] and props["data_sha256"] == f"{1:064x}"
    assert (props["gate_passed"], props["stage"], props["training_job"]) == ("true", "Dev", "dev-ppo-1")
    report_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert report_uri == f"s3://{STAGE_BUCKET}/artifacts/{props['model_sha256']}/gate.json"
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == registered[0]["ModelData"]


def test_cli_approves_refuses_a_failed_gate_follows_latest_and_rolls_back(
    aws: dict[str, str], registered: list[dict[str, Any]]
) -> None:
    deploy = ["deploy", "--stage", "Dev", "--release-bucket", RELEASE_BUCKET, "--dry-run"]
    listing, report, first, second, refused, rejected, latest = _cli_batch(
        aws,
        ["packages"],
        ["packages", "--figures", "1"],
        ["approve", "1", "--note", "gate passed"],
        ["approve", "2", "--note", "gate passed"],
        ["approve", "3", "--note", "try"],
        ["reject", "3", "--note", "lost to target tracking"],
        deploy,  # Dev follows the latest approved version (cdk.json: serving.model_package_version "latest")
    )
    assert [(p["version"], p["status"], p["gate_passed"]) for p in _ok(listing)] == [
        (3, "PendingManualApproval", "false"),
        (2, "PendingManualApproval", "true"),
        (1, "PendingManualApproval", "true"),
    ]
    assert _ok(report)["figures"]["policy"]["profit"] == 101.0
    assert _ok(first)["status"] == _ok(second)["status"] == "Approved"
    assert refused.returncode != 0 and "did not pass the evaluation gate" in refused.stderr
    assert _ok(rejected)["status"] == "Rejected"
    latest_deploy = _ok(latest)
    assert latest_deploy["version"] == 2 and "model_package_version=2" in latest_deploy["command"]
    assert latest_deploy["model_sha256"] == registered[1]["ModelSha256"]

    # Dev serves version 2 (the tag the serving stack writes); rollback deploys version 1.
    sm = boto3.client("sagemaker", region_name="eu-west-1")
    sm.create_model(
        ModelName="dev-model",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/model",
        PrimaryContainer={"Image": "image", "ModelDataUrl": registered[1]["ModelData"]},
        Tags=[{"Key": "model_package_version", "Value": "2"}],
    )
    sm.create_endpoint_config(
        EndpointConfigName="dev-config",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "dev-model", "InstanceType": "ml.c5.large"}],
    )
    sm.create_endpoint(EndpointName="rl-autoscaler-dev", EndpointConfigName="dev-config")
    rollback, unapproved = _cli_batch(
        aws,
        ["rollback", "--stage", "Dev", "--release-bucket", RELEASE_BUCKET, "--dry-run"],
        ["deploy", "--stage", "Dev", "--version", "3", "--release-bucket", RELEASE_BUCKET],
    )
    rolled = _ok(rollback)
    sha = registered[0]["ModelSha256"]
    assert (rolled["rolled_back_from"], rolled["version"], rolled["model_sha256"]) == (2, 1, sha)
    assert rolled["command"][:4] == ["npx", "cdk", "deploy", "Dev/*"]
    assert "model_package_version=1" in rolled["command"] and f"model_sha256={sha}" in rolled["command"]
    s3 = boto3.client("s3", region_name="eu-west-1")
    assert s3.head_object(Bucket=RELEASE_BUCKET, Key=f"releases/{sha}/model.tar.gz")["ContentLength"] > 0
    assert unapproved.returncode != 0 and "is Rejected: approve it first" in unapproved.stderr


def test_sdk_resolves_the_pinned_image_uris_offline() -> None:
    code = (
        "from sagemaker.core import image_uris as u; "
        "print(u.retrieve('pytorch-amzn2023', 'eu-west-1', '2.13', instance_type='ml.c5.4xlarge', "
        "image_scope='training')); "
        "print(u.retrieve('sklearn', 'eu-west-1', '1.4-2-py312', py_version='py3', instance_type='ml.c5.large', "
        "image_scope='inference'))"
    )
    from stacks.images import inference_image, training_image

    result = subprocess.run([str(_sdk_python()), "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == [training_image(), inference_image()]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


@pytest.mark.parametrize("package", ["inference", "controller", "stacks", "simulator"])
def test_nothing_deployed_or_synthesised_imports_the_sdk_or_the_cli(package: str) -> None:
    """The serving image (inference/), the controller Lambda, synth (stacks/, app.py) never import it."""
    files = [*sorted((ROOT / package).rglob("*.py")), *([ROOT / "app.py"] if package == "stacks" else [])]
    offending = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imports(path) if name.split(".")[0] in ("sagemaker", "lifecycle", "scripts")
        )
        for path in files
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_cli_starts_the_stages_training_state_machine(aws: dict[str, str]) -> None:
    definition = {"StartAt": "NameTrainingJob", "States": {"NameTrainingJob": {"Type": "Pass", "End": True}}}
    template = {
        "Resources": {
            "TrainingJob": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "DefinitionString": json.dumps(definition),
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/machine",
                },
            }
        },
        "Outputs": {"StateMachineArn": {"Value": {"Ref": "TrainingJob"}}},
    }
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    cloudformation.create_stack(StackName="Dev-Training", TemplateBody=json.dumps(template))
    started = _ok(_cli(aws, "train", "--stage", "Dev"))
    execution = boto3.client("stepfunctions", region_name="eu-west-1").describe_execution(
        executionArn=started["execution"]
    )
    assert execution["stateMachineArn"].split(":")[-1].startswith("Dev-Training-TrainingJob")
    (missing,) = _cli_batch(aws, ["train", "--stage", "Staging"])
    assert missing.returncode != 0 and "Staging-Training is not deployed" in missing.stderr
