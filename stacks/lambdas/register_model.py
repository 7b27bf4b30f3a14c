"""Training state machine step (inline Lambda code): register the gated model as a package of the project group.

Reads the model.tar.gz the training job wrote, computes its sha256, reads its metadata.json, copies the tarball,
the metadata and the gate report to artifacts/<sha256>/ of the stage bucket (outside the lifecycle rules that expire
training output), and creates a model package, PendingManualApproval, whose model metrics are the gate report and
whose customer metadata holds the sha256, the training data's sha256 and the gate's verdict.
"""

import hashlib
import json
import os
import tarfile
import tempfile

import boto3

s3 = boto3.client("s3")
sm = boto3.client("sagemaker")


def split(uri):
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def read_metadata(path):
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.lstrip("./") == "metadata.json":
                return json.loads(tar.extractfile(member).read())
    raise ValueError("model.tar.gz has no metadata.json: not a packaged policy")


def handler(event, context=None):
    env = os.environ
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.tar.gz")
        s3.download_file(*split(event["model_data"]), path)
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        sha = digest.hexdigest()
        meta = read_metadata(path)
        bucket, prefix = env["BUCKET"], f"{env['PREFIX']}{sha}/"
        enc = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": env["KMS_KEY_ARN"]}
        s3.upload_file(path, bucket, prefix + "model.tar.gz", ExtraArgs=enc)
    gate = meta.get("gate", {})
    report = {"gate": gate, "evaluation": meta.get("evaluation", {}), "model_version": meta.get("model_version")}
    for name, body in (("metadata.json", meta), ("gate.json", report)):
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=json.dumps(body, indent=2).encode(), **enc)
    base = f"s3://{bucket}/{prefix}"
    props = {
        "model_version": str(meta.get("model_version", "")),
        "model_sha256": sha,
        "data_sha256": str(meta.get("data_sha256", "")),
        "gate_passed": str(gate.get("passed") is True).lower(),
        "gate_forced": str(gate.get("forced") is True).lower(),
        "gate_reason": str(gate.get("reason", ""))[:256],
        "stage": env["STAGE"],
        "training_job": event.get("training_job_name", ""),
    }
    package = sm.create_model_package(
        ModelPackageGroupName=env["GROUP"],
        ModelPackageDescription=f"{props['model_version']} trained by {env['STAGE']}"[:1024],
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": env["IMAGE"], "ModelDataUrl": base + "model.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": base + "gate.json"}}},
        CustomerMetadataProperties=props,
    )
    return {"ModelPackageArn": package["ModelPackageArn"], "ModelSha256": sha, "ModelData": base + "model.tar.gz"}
