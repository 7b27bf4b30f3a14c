"""scripts/release_artifact.py: publish once, fetch and verify by sha256 at each promotion step (S3 via moto)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from scripts import release_artifact
from stacks.artifact import file_sha256, resolve_artifact
from tests.infra.helpers import ROOT


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        for bucket in ("release", "stage-data"):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert release_artifact.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_publish_then_fetch_gives_the_deployable_context(
    s3, tmp_path: Path, capsys: pytest.CaptureFixture[str], policy_artifacts: dict[str, Path]
) -> None:
    tarball = policy_artifacts["passed"]
    sha = file_sha256(tarball)
    published = _run(capsys, "publish", "--artifact", str(tarball), "--bucket", "release")
    assert published == {
        "model_s3_uri": f"s3://release/releases/{sha}/model.tar.gz",
        "model_sha256": sha,
        "model_version": "infra-test-policy",
        "gate_passed": True,
    }
    fetched = _run(capsys, "fetch", "--uri", published["model_s3_uri"], "--sha256", sha, "--out", str(tmp_path))
    assert file_sha256(tmp_path / "model.tar.gz") == sha
    assert fetched["cdk_context"].startswith(f"-c model_s3_uri={published['model_s3_uri']} -c model_sha256={sha}")
    context = {k: fetched[k] for k in ("model_s3_uri", "model_sha256", "model_metadata")}
    artifact = resolve_artifact(context, ROOT)  # what synth then does with these flags
    assert artifact.s3_uri == published["model_s3_uri"] and artifact.gate_passed


def test_fetch_refuses_a_different_artifact(
    s3, tmp_path: Path, capsys: pytest.CaptureFixture[str], policy_artifacts: dict[str, Path]
) -> None:
    published = _run(capsys, "publish", "--artifact", str(policy_artifacts["passed"]), "--bucket", "release")
    with pytest.raises(SystemExit, match="not the promoted 0000"):
        release_artifact.main(
            ["fetch", "--uri", published["model_s3_uri"], "--sha256", "0" * 64, "--out", str(tmp_path)]
        )
    assert not (tmp_path / "model.tar.gz").exists()


def test_publish_from_a_training_job_output_reads_the_metadata_inside(
    s3, capsys: pytest.CaptureFixture[str], policy_artifacts: dict[str, Path]
) -> None:
    key = "training-output/dev-ppo-1/output/model.tar.gz"  # SageMaker's tarball of SM_MODEL_DIR, no sidecar
    s3.upload_file(str(policy_artifacts["failed"]), "stage-data", key)
    published = _run(capsys, "publish", "--artifact", f"s3://stage-data/{key}", "--bucket", "release")
    assert published["model_sha256"] == file_sha256(policy_artifacts["failed"])
    assert published["model_version"] == "infra-test-policy-failed-gate" and published["gate_passed"] is False
