"""CloudFormation custom resource (inline Lambda code): the files a stage keeps in its own bucket.

Action `CopyArtifact`: copy the model artifact from where the deploy found it (CDK asset or release bucket) to
`artifacts/<sha256>/model.tar.gz` in the stage bucket, read the copy back and refuse it (deleting that version)
unless its sha256 is the expected one. Action `RayToken`: write a fresh random Ray auth token to `ray/auth_token`,
never returned nor logged. Delete keeps the objects: an old artifact serves a blue/green rollback; the bucket's
lifecycle rules and, for destroyed stages, emptying on delete take care of them.
"""

import hashlib
import json
import secrets
import urllib.request

import boto3

s3 = boto3.client("s3")


def copy_artifact(p):
    args = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": p["KmsKeyArn"]}
    src = {"Bucket": p["SourceBucket"], "Key": p["SourceKey"]}
    s3.copy(src, p["Bucket"], p["Key"], ExtraArgs=args)
    head = s3.head_object(Bucket=p["Bucket"], Key=p["Key"])
    version = head.get("VersionId")
    got = {"Bucket": p["Bucket"], "Key": p["Key"], **({"VersionId": version} if version else {})}
    digest = hashlib.sha256()
    body = s3.get_object(**got)["Body"]
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    if digest.hexdigest() != p["Sha256"]:
        s3.delete_object(**got)
        raise ValueError(f"sha256 of the copy is {digest.hexdigest()}, expected {p['Sha256']}: refused")
    return {"VersionId": version or "null", "Sha256": p["Sha256"]}


def ray_token(p):
    args = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": p["KmsKeyArn"]}
    s3.put_object(Bucket=p["Bucket"], Key=p["Key"], Body=secrets.token_hex(32).encode(), **args)
    return {}


ACTIONS = {"CopyArtifact": copy_artifact, "RayToken": ray_token}


def respond(event, status, reason, physical, data):
    body = {
        "Status": status,
        "Reason": reason[:900],
        "PhysicalResourceId": physical,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    request = urllib.request.Request(
        event["ResponseURL"], data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def handler(event, context):
    p = event["ResourceProperties"]
    physical = event.get("PhysicalResourceId") or f"s3://{p['Bucket']}/{p['Key']}"
    try:
        data = {}
        if event["RequestType"] in ("Create", "Update"):
            data = ACTIONS[p["Action"]](p)
            physical = f"s3://{p['Bucket']}/{p['Key']}"
        print(json.dumps({"request": event["RequestType"], "action": p["Action"], "object": physical, **data}))
        respond(event, "SUCCESS", "done", physical, data)
    except Exception as error:
        print(json.dumps({"request": event["RequestType"], "action": p.get("Action"), "error": repr(error)}))
        respond(event, "FAILED", f"{type(error).__name__}: {error}", physical, {})
