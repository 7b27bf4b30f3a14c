"""The model artifact from context: local asset or S3 URI + sha256, the evaluation gate, and clear refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from stacks.artifact import ArtifactError, file_sha256, resolve_artifact
from tests.infra.helpers import CDK_CONTEXT, ROOT, build_app, joined, only

URI = "s3://release-bucket/releases/abc/model.tar.gz"


def test_without_an_artifact_synth_stops_and_says_how_to_get_one(tmp_path: Path) -> None:
    context = {**CDK_CONTEXT, "model_artifact": str(tmp_path / "missing" / "model.tar.gz")}
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path / "out")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "synth stopped: no model artifact at" in result.stderr
    assert "make demo" in result.stderr


def test_local_artifact_is_hashed_and_its_metadata_read(policy_artifacts: dict[str, Path]) -> None:
    artifact = resolve_artifact({"model_artifact": str(policy_artifacts["passed"])}, ROOT)
    assert artifact.local_path == policy_artifacts["passed"]
    assert artifact.sha256 == file_sha256(policy_artifacts["passed"])
    assert artifact.model_version == "infra-test-policy" and artifact.gate_passed


def test_local_artifact_must_match_a_given_sha256(policy_artifacts: dict[str, Path]) -> None:
    with pytest.raises(ArtifactError, match=r"has sha256 .* but context model_sha256 is 0000"):
        resolve_artifact({"model_artifact": str(policy_artifacts["passed"]), "model_sha256": "0" * 64}, ROOT)


@pytest.mark.parametrize("stage", ["Staging", "Prod"])
def test_staging_and_prod_refuse_an_artifact_whose_gate_failed(
    stage: str, tmp_path: Path, policy_artifacts: dict[str, Path]
) -> None:
    with pytest.raises(ArtifactError, match=rf"stage {stage} refuses model .*evaluation gate did not pass.*lost to"):
        build_app(tmp_path, stage=stage, model_artifact=policy_artifacts["failed"])


def test_dev_accepts_an_artifact_whose_gate_failed(tmp_path: Path, policy_artifacts: dict[str, Path]) -> None:
    _, (dev,) = build_app(tmp_path, stage="Dev", model_artifact=policy_artifacts["failed"])
    model = only(Template.from_stack(dev.serving), "AWS::SageMaker::Model")
    tags = {t["Key"]: t["Value"] for t in model["Properties"]["Tags"]}
    assert tags["model_version"] == "infra-test-policy-failed-gate"


def test_s3_artifact_is_copied_into_the_stage_bucket_and_served_from_there(
    tmp_path: Path, policy_artifacts: dict[str, Path]
) -> None:
    """Serving owns its model: the release object is only read once, at deploy, by the sha256-checking copy."""
    metadata = policy_artifacts["passed"].with_name("metadata.json")
    sha = file_sha256(policy_artifacts["passed"])
    _, (prod,) = build_app(tmp_path, stage="Prod", model_s3_uri=URI, model_sha256=sha, model_metadata=str(metadata))
    template = Template.from_stack(prod.serving)
    container = only(template, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]
    served = f"s3://rl-autoscaler-prod-data-<Ref:AWS::AccountId>-eu-west-1/artifacts/{sha}/model.tar.gz"
    assert joined(container["ModelDataSource"]["S3DataSource"]["S3Uri"]) == served
    assert container["Environment"]["AUTOSCALER_MODEL_SHA256"] == sha
    assert prod.serving.node.try_find_child("ModelArtifact") is None  # no asset upload
    copy = only(template, "Custom::StageFile")["Properties"]
    assert (copy["Action"], copy["SourceBucket"], copy["SourceKey"]) == (
        "CopyArtifact",
        "release-bucket",
        "releases/abc/model.tar.gz",
    )
    assert (copy["Key"], copy["Sha256"]) == (f"artifacts/{sha}/model.tar.gz", sha)
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    (read,) = [s for s in statements if s.get("Sid") == "ReadModelArtifact"]
    assert joined(read["Resource"]) == f"arn:aws:s3:::{served.removeprefix('s3://')}"
    (release,) = [s for s in statements if s.get("Sid") == "ReadReleasedArtifact"]
    assert joined(release["Resource"]) == "arn:aws:s3:::release-bucket/releases/abc/model.tar.gz"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"model_s3_uri": URI}, "needs model_sha256"),
        ({"model_s3_uri": URI, "model_sha256": "ABC"}, "64 lowercase hex"),
        ({"model_s3_uri": URI, "model_sha256": "a" * 64}, "needs model_metadata"),
        ({"model_s3_uri": "https://example.com/model.tar.gz", "model_sha256": "a" * 64}, "must look like s3://"),
        ({"model_s3_uri": URI, "model_sha256": "a" * 64, "model_metadata": "nowhere.json"}, "metadata not found"),
    ],
)
def test_bad_s3_context_is_named(context: dict, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        resolve_artifact(context, ROOT)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"contract_version": "1", "gate": {"passed": true}}', "lacks 'model_version'"),
        ('{"contract_version": "1", "model_version": "v", "gate": {"passed": "yes"}}', "'gate.passed' must be"),
        ('{"contract_version": "1", "model_version": "", "gate": {"passed": true}}', "non-empty string"),
    ],
)
def test_bad_metadata_is_named(tmp_path: Path, metadata: str, message: str) -> None:
    (tmp_path / "model.tar.gz").write_bytes(b"not checked here")
    (tmp_path / "metadata.json").write_text(metadata)
    with pytest.raises(ArtifactError, match=message):
        resolve_artifact({"model_artifact": str(tmp_path / "model.tar.gz")}, ROOT)
