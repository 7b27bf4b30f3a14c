"""Model lifecycle on the SageMaker Python SDK 3.x: train, follow, list, approve or reject, deploy, roll back.

Runs in its own venv (`make .venv-sdk/.installed`; requirements-sdk.txt), never in the serving image, the
controller Lambda or synth:

    S=.venv-sdk/bin/python scripts/lifecycle.py
    $S train --stage Dev --follow          # start the stage's training state machine, stream the job's logs
    $S follow --execution ARN              # follow a run already started
    $S packages                            # every version of the group: status, gate verdict and figures, sha256
    $S approve 7 --note "beats target tracking on all groups"      # or: $S reject 7 --note ...
    $S release --version 7 --release-bucket BUCKET                 # publish an approved version (promote.yml)
    $S deploy --stage Staging --version 7 --release-bucket BUCKET  # release it and cdk deploy the stage
    $S rollback --stage Prod --release-bucket BUCKET               # deploy the approved version before the served one

`deploy` without `--version` takes the stage's `serving.model_package_version` from cdk.json ("latest": the newest
approved version). Both print the `npx cdk deploy` they run; `--dry-run` prints it without running it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from sagemaker.core.resources import ModelPackage, TrainingJob

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import release_artifact  # noqa: E402

from stacks.config import MODEL_PACKAGE_GROUP as GROUP_NAME  # noqa: E402
from stacks.config import REGION, StageConfig, select_stages  # noqa: E402


class LifecycleError(SystemExit):
    """A command that cannot go on; the message says why and what to do."""


def stage_config(stage: str) -> StageConfig:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return select_stages(context["stages"], stage, os.environ)[0]


def registry_account(session: boto3.Session) -> str:
    """The group's account: the stages' `registry_account` (synth makes them agree), else the caller's."""
    stages = json.loads((ROOT / "cdk.json").read_text())["context"]["stages"]
    named = [stage_config(name).registry_account for name in stages]
    return next((a for a in named if a), None) or session.client("sts").get_caller_identity()["Account"]


def group_ref(session: boto3.Session) -> str:
    """The group's name in the caller's account, its ARN when the registry is another account's."""
    account = registry_account(session)
    if account == session.client("sts").get_caller_identity()["Account"]:
        return GROUP_NAME
    return f"arn:aws:sagemaker:{REGION}:{account}:model-package-group/{GROUP_NAME}"


def package_arn(session: boto3.Session, version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{registry_account(session)}:model-package/{GROUP_NAME}/{version}"


def describe(session: boto3.Session, version: int) -> ModelPackage:
    return ModelPackage.get(package_arn(session, version), session=session, region=REGION)


def summary(package: ModelPackage) -> dict[str, Any]:
    """One line of `packages`: the version, its approval, the gate's verdict, the sha256s (figures: --figures)."""
    props = dict(package.customer_metadata_properties or {})
    return {
        "version": package.model_package_version,
        "status": package.model_approval_status,
        "created": str(package.creation_time),
        **{k: props.get(k) for k in ("model_version", "gate_passed", "gate_forced", "gate_reason", "stage")},
        "model_sha256": props.get("model_sha256"),
        "data_sha256": props.get("data_sha256"),
    }


def gate_figures(session: boto3.Session, package: ModelPackage) -> dict[str, Any]:
    """The candidate's and the baseline's summary figures from the gate report the package's metrics point to."""
    uri = package.model_metrics.model_quality.statistics.s3_uri
    bucket, key = release_artifact.split_uri(uri)
    report = json.loads(session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return report.get("evaluation", {}).get("summary", {})


def packages(session: boto3.Session, status: str | None = None) -> list[dict[str, Any]]:
    found = ModelPackage.get_all(
        model_package_group_name=group_ref(session), sort_by="CreationTime", sort_order="Descending", session=session,
        region=REGION, **({"model_approval_status": status} if status else {}),
    )  # fmt: skip
    return [summary(ModelPackage.get(p.model_package_arn, session=session, region=REGION)) for p in found]


def set_status(session: boto3.Session, version: int, status: str, note: str) -> dict[str, Any]:
    package = describe(session, version)
    if status == "Approved" and (package.customer_metadata_properties or {}).get("gate_passed") != "true":
        raise LifecycleError(f"version {version} did not pass the evaluation gate: it cannot be approved")
    # The properties are sent back unchanged: SageMaker keeps them either way, moto (the tests) drops them unless sent.
    props = dict(package.customer_metadata_properties or {})
    package.update(model_approval_status=status, approval_description=note, customer_metadata_properties=props)
    return summary(describe(session, version))


def approved_versions(session: boto3.Session) -> list[int]:
    return sorted(int(row["version"]) for row in packages(session, "Approved"))


def resolve_version(session: boto3.Session, stage: str, version: int | None) -> int:
    """--version, else the stage's configured version ("latest": the newest approved)."""
    if version is None:
        pinned = stage_config(stage).serving.model_package_version
        if pinned is None:
            raise LifecycleError(f"{stage} names no serving.model_package_version in cdk.json: pass --version N")
        if pinned == "latest":
            approved = approved_versions(session)
            if not approved:
                raise LifecycleError(f"no approved version in {GROUP_NAME} for {stage} to follow")
            return approved[-1]
        version = int(pinned)
    return version


def served_version(session: boto3.Session, stage: str) -> int:
    """The package version the stage's endpoint serves now: its model's `model_package_version` tag."""
    sm = session.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName=stage_config(stage).endpoint_name)
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=model["ModelArn"])["Tags"]}
    if "model_package_version" not in tags:
        raise LifecycleError(f"{stage}'s model has no model_package_version tag: it was not deployed from the registry")
    return int(tags["model_package_version"])


def release(session: boto3.Session, version: int, bucket: str) -> dict[str, Any]:
    """Publish an approved version to the release bucket, refusing bytes whose sha256 is not the registered one."""
    package = describe(session, version)
    if package.model_approval_status != "Approved":
        raise LifecycleError(f"version {version} is {package.model_approval_status}: approve it first")
    expected = (package.customer_metadata_properties or {}).get("model_sha256")
    data_url = package.inference_specification.containers[0].model_data_url
    args = argparse.Namespace(artifact=data_url, bucket=bucket, prefix=release_artifact.PREFIX, sha256=expected)
    return {"version": version, **release_artifact.publish(args, session.client("s3"))}


def deploy(session: boto3.Session, stage: str, version: int, bucket: str, dry_run: bool) -> dict[str, Any]:
    """Release the version and `cdk deploy` the stage with it (the artifact fetched back and checked)."""
    released = release(session, version, bucket)
    out = Path(tempfile.mkdtemp(prefix="release-"))
    fetch_args = argparse.Namespace(uri=released["model_s3_uri"], sha256=released["model_sha256"], out=out)
    fetched = release_artifact.fetch(fetch_args, session.client("s3"))
    command = ["npx", "cdk", "deploy", f"{stage}/*", "--require-approval", "never", "-c", f"stage={stage}"]
    for key in ("model_s3_uri", "model_sha256", "model_metadata"):
        command += ["-c", f"{key}={fetched[key]}"]
    command += ["-c", f"model_package_version={version}"]
    print(" ".join(command), file=sys.stderr, flush=True)
    if not dry_run:
        subprocess.run(command, cwd=ROOT, check=True)
    return {"stage": stage, "command": command, **released}


def rollback(session: boto3.Session, stage: str, bucket: str, dry_run: bool) -> dict[str, Any]:
    current = served_version(session, stage)
    previous = [v for v in approved_versions(session) if v < current]
    if not previous:
        raise LifecycleError(f"{stage} serves version {current}; no approved version before it to roll back to")
    return {"rolled_back_from": current, **deploy(session, stage, previous[-1], bucket, dry_run)}


def start_training(session: boto3.Session, stage: str) -> str:
    stack = f"{stage}-Training"
    try:
        outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except ClientError as error:
        raise LifecycleError(f"{stack} is not deployed in this account and region: {error}") from None
    arn = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "StateMachineArn"), None)
    if arn is None:
        raise LifecycleError(f"{stack} has no StateMachineArn output: deploy the stage first")
    return session.client("stepfunctions").start_execution(stateMachineArn=arn)["executionArn"]


def follow(session: boto3.Session, execution: str, poll_s: float = 15) -> dict[str, Any]:
    """Wait for the run's training job, stream its logs (SDK), then report how the execution ended."""
    sfn = session.client("stepfunctions")
    job = None
    while job is None:
        for event in sfn.get_execution_history(executionArn=execution, reverseOrder=False)["events"]:
            details = event.get("stateExitedEventDetails", {})
            if details.get("name") == "NameTrainingJob":
                job = json.loads(details["output"])["run"]["job_name"]
        if job is None and sfn.describe_execution(executionArn=execution)["status"] != "RUNNING":
            break
        if job is None:
            time.sleep(poll_s)
    if job:
        print(f"training job {job}", flush=True)
        TrainingJob.get(job, session=session, region=REGION).wait(logs=True)
    result = sfn.describe_execution(executionArn=execution)
    while result["status"] == "RUNNING":
        time.sleep(poll_s)
        result = sfn.describe_execution(executionArn=execution)
    output = json.loads(result.get("output") or "{}")
    return {"status": result["status"], "training_job": job, "registered": output.get("registered")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="start the stage's training state machine")
    train.add_argument("--stage", required=True)
    train.add_argument("--follow", action="store_true")
    commands.add_parser("follow", help="follow a training run").add_argument("--execution", required=True)
    listing = commands.add_parser("packages", help="list the group's versions with their gate verdicts")
    listing.add_argument("--status", choices=["Approved", "Rejected", "PendingManualApproval"])
    listing.add_argument("--figures", type=int, help="also print this version's gate report figures")
    for name in ("approve", "reject"):
        sub = commands.add_parser(name, help=f"{name} one version")
        sub.add_argument("version", type=int)
        sub.add_argument("--note", required=True, help="why, recorded as the approval description")
    publish = commands.add_parser("release", help="publish an approved version to the release bucket")
    publish.add_argument("--version", type=int, required=True)
    publish.add_argument("--release-bucket", required=True)
    for name in ("deploy", "rollback"):
        sub = commands.add_parser(name, help=f"{name} a stage")
        sub.add_argument("--stage", required=True)
        sub.add_argument("--release-bucket", required=True)
        sub.add_argument("--dry-run", action="store_true", help="print the cdk deploy command, do not run it")
        if name == "deploy":
            sub.add_argument("--version", type=int)
    args = parser.parse_args(argv)
    session = boto3.Session(region_name=REGION)
    if args.command == "train":
        execution = start_training(session, args.stage)
        result: Any = follow(session, execution) if args.follow else {"execution": execution}
    elif args.command == "follow":
        result = follow(session, args.execution)
    elif args.command == "packages":
        result = packages(session, args.status)
        if args.figures:
            result = {"packages": result, "figures": gate_figures(session, describe(session, args.figures))}
    elif args.command in ("approve", "reject"):
        status = "Approved" if args.command == "approve" else "Rejected"
        result = set_status(session, args.version, status, args.note)
    elif args.command == "release":
        result = release(session, args.version, args.release_bucket)
    elif args.command == "deploy":
        version = resolve_version(session, args.stage, args.version)
        result = deploy(session, args.stage, version, args.release_bucket, args.dry_run)
    else:
        result = rollback(session, args.stage, args.release_bucket, args.dry_run)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
