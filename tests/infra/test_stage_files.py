"""The deploy-time custom resource (stacks/lambdas/stage_files.py), run in-process against moto's S3.

The deploy rehearsal cannot run it (moto runs Lambda code only in Docker), so its behaviour is proven here:
the artifact copy lands in the stage bucket with the expected sha256, a corrupted copy is refused and removed,
the Ray token is written and never returned, and a failure is reported to CloudFormation rather than raised.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stacks.stage_files import CODE

BUCKET = "rl-autoscaler-dev-data-123456789012-eu-west-1"
RELEASE = "release-bucket"


@pytest.fixture()
def lam(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, list[dict[str, Any]], Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        key_arn = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["Arn"]
        for bucket in (BUCKET, RELEASE):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        spec = importlib.util.spec_from_file_location("stage_files_lambda", CODE)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        responses: list[dict[str, Any]] = []
        monkeypatch.setattr(
            module,
            "respond",
            lambda event, status, reason, physical, data: responses.append(
                {"Status": status, "Reason": reason, "PhysicalResourceId": physical, "Data": data}
            ),
        )
        yield module, responses, (s3, key_arn)


def _event(request: str = "Create", **props: str) -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": "stack",
        "RequestId": "req",
        "LogicalResourceId": "Copy",
        "ResourceProperties": {"ServiceToken": "arn", **props},
    }


def test_inline_code_fits_lambdas_inline_limit() -> None:
    assert len(CODE.read_text(encoding="utf-8")) <= 4096


def test_artifact_is_copied_and_its_sha256_checked(lam: Any) -> None:
    module, responses, (s3, key_arn) = lam
    body = b"model bytes" * 1000
    s3.put_object(Bucket=RELEASE, Key="releases/x/model.tar.gz", Body=body)
    sha = hashlib.sha256(body).hexdigest()
    target = f"artifacts/{sha}/model.tar.gz"
    props = {"Action": "CopyArtifact", "Bucket": BUCKET, "Key": target, "KmsKeyArn": key_arn}
    module.handler(_event(**props, SourceBucket=RELEASE, SourceKey="releases/x/model.tar.gz", Sha256=sha), None)
    (response,) = responses
    assert response["Status"] == "SUCCESS", response
    assert response["PhysicalResourceId"] == f"s3://{BUCKET}/{target}"
    copied = s3.get_object(Bucket=BUCKET, Key=target)
    assert copied["Body"].read() == body and copied["ServerSideEncryption"] == "aws:kms"
    # Deleting the resource (a newer artifact replaced it) keeps the object: a rollback still serves it.
    module.handler(_event("Delete", **props, SourceBucket=RELEASE, SourceKey="x", Sha256=sha), None)
    assert responses[-1]["Status"] == "SUCCESS"
    assert s3.get_object(Bucket=BUCKET, Key=target)["Body"].read() == body


def test_a_copy_with_another_sha256_is_refused_and_removed(lam: Any) -> None:
    module, responses, (s3, key_arn) = lam
    s3.put_object(Bucket=RELEASE, Key="releases/x/model.tar.gz", Body=b"tampered")
    expected = hashlib.sha256(b"what was released").hexdigest()
    target = f"artifacts/{expected}/model.tar.gz"
    props = {"Action": "CopyArtifact", "Bucket": BUCKET, "Key": target, "KmsKeyArn": key_arn, "Sha256": expected}
    module.handler(_event(**props, SourceBucket=RELEASE, SourceKey="releases/x/model.tar.gz"), None)
    (response,) = responses
    assert response["Status"] == "FAILED" and "expected " + expected in response["Reason"]
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="artifacts/").get("Versions", [])
    assert versions == [], "the refused copy is deleted, version and all"


def test_ray_token_is_written_never_returned(lam: Any, capsys: pytest.CaptureFixture[str]) -> None:
    module, responses, (s3, key_arn) = lam
    props = {"Action": "RayToken", "Bucket": BUCKET, "Key": "ray/auth_token", "KmsKeyArn": key_arn}
    module.handler(_event(**props), None)
    token = s3.get_object(Bucket=BUCKET, Key="ray/auth_token")["Body"].read().decode()
    assert len(token) == 64 and int(token, 16) >= 0
    (response,) = responses
    assert response["Status"] == "SUCCESS" and token not in json.dumps(response)
    assert token not in capsys.readouterr().out
