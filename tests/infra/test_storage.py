"""Stateful stack: KMS key with rotation; data bucket with TLS only, KMS, versioning, access logs, lifecycle."""

from __future__ import annotations

import pytest

from tests.infra.helpers import STAGES, Synthesised, only, resources


def _data_bucket(app: Synthesised, stage: str) -> dict:
    buckets = resources(app.template(stage, "Storage"), "AWS::S3::Bucket")
    (data,) = [b for b in buckets.values() if "LoggingConfiguration" in b["Properties"]]
    return data


@pytest.mark.parametrize("stage", STAGES)
def test_key_rotates(app: Synthesised, stage: str) -> None:
    app.template(stage, "Storage").has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


@pytest.mark.parametrize("stage", STAGES)
def test_data_bucket_is_private_encrypted_versioned_and_logged(app: Synthesised, stage: str) -> None:
    props = _data_bucket(app, stage)["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    (key_id,) = resources(app.template(stage, "Storage"), "AWS::KMS::Key")
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert rule["BucketKeyEnabled"] is True
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketName"]["Fn::Join"][1][0] == f"rl-autoscaler-{stage.lower()}-data-"
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "data-bucket/"
    assert "Ref" in props["LoggingConfiguration"]["DestinationBucketName"]


@pytest.mark.parametrize("stage", STAGES)
def test_buckets_refuse_plain_http(app: Synthesised, stage: str) -> None:
    policies = resources(app.template(stage, "Storage"), "AWS::S3::BucketPolicy")
    assert len(policies) == 2  # the data bucket and its access-log bucket
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


@pytest.mark.parametrize("stage", STAGES)
def test_lifecycle_rules_cover_checkpoints_data_capture_and_old_artifacts(app: Synthesised, stage: str) -> None:
    config = app.stages[stage].config.retention
    rules = {r["Id"]: r for r in _data_bucket(app, stage)["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-checkpoints"]["Prefix"] == "checkpoints/"
    assert rules["expire-checkpoints"]["ExpirationInDays"] == config.checkpoint_days
    assert rules["expire-data-capture"]["Prefix"] == "data-capture/"
    assert rules["expire-data-capture"]["ExpirationInDays"] == config.data_capture_days
    assert rules["expire-training-output"]["ExpirationInDays"] == config.training_output_days
    old = rules["expire-old-artifact-versions"]
    assert old["Prefix"] == "artifacts/"
    assert old["NoncurrentVersionExpiration"] == {"NoncurrentDays": config.noncurrent_version_days}
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert all(r["Status"] == "Enabled" for r in rules.values())


@pytest.mark.parametrize("stage", STAGES)
def test_access_log_bucket_uses_s3_managed_encryption_and_expires_logs(app: Synthesised, stage: str) -> None:
    buckets = resources(app.template(stage, "Storage"), "AWS::S3::Bucket")
    (logs,) = [b for b in buckets.values() if "LoggingConfiguration" not in b["Properties"]]
    (rule,) = logs["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    (expire,) = logs["Properties"]["LifecycleConfiguration"]["Rules"]
    assert expire["ExpirationInDays"] == app.stages[stage].config.retention.access_log_days


def test_prod_retains_data_and_dev_destroys_it(app: Synthesised) -> None:
    for stage, policy in (("Dev", "Delete"), ("Prod", "Retain")):
        template = app.template(stage, "Storage")
        for kind in ("AWS::S3::Bucket", "AWS::KMS::Key"):
            for resource in resources(template, kind).values():
                assert resource["DeletionPolicy"] == policy, f"{stage} {kind}"
                assert resource["UpdateReplacePolicy"] == policy, f"{stage} {kind}"
    assert app.stack("Prod", "Storage").termination_protection
    assert not app.stack("Dev", "Storage").termination_protection
    assert only(app.template("Dev", "Storage"), "AWS::KMS::Key")["Properties"]["PendingWindowInDays"] == 7


def test_key_lets_cloudwatch_alarms_publish_to_the_encrypted_topic(app: Synthesised) -> None:
    statements = only(app.template("Dev", "Storage"), "AWS::KMS::Key")["Properties"]["KeyPolicy"]["Statement"]
    (alarms,) = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert sorted(alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert "aws:SourceAccount" in alarms["Condition"]["StringEquals"]
