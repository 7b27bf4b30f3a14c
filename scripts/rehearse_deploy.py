"""Deploy rehearsal: the Dev stage, deployed with the real CDK CLI against moto's AWS emulator on 127.0.0.1.

    .venv/bin/python scripts/rehearse_deploy.py [--model-artifact PATH/model.tar.gz] [--json report.json]

Starts `moto_server` on a free loopback port, bootstraps the emulated account with `cdk bootstrap`, deploys
`Dev/*` with `cdk deploy` (the CLI pinned in package.json), then asks the emulator through boto3 what exists.
It prints one JSON report: what was created, which template resources moto skipped (it reports
CREATE_COMPLETE for stacks whose alarms, scaling targets, bucket policies and topic policies it never made),
and which checked properties moto ignored. Nothing here is faked: a skipped resource is reported as skipped.

Then it runs the controller for four consecutive minutes, in this process: `controller.handler.lambda_handler`
with the deployed function's environment, its AWS calls going to moto and its InvokeEndpoint calls to the local
endpoint serving the deployed artifact (moto cannot serve sagemaker-runtime), and reads back what the runs
published.

Two settings exist only for the emulator: cross-stack references are synthesised `strong` (Fn::ImportValue)
because moto does not implement the recommended `weak` ones (Fn::GetStackOutput), and
AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION keeps moto from misreading the CLI's template URLs.

Without --model-artifact it uses artifacts/model/model.tar.gz when present, else packages a randomly
initialised policy (Dev accepts a failed evaluation gate). Exits 1 when the deployment fails or a resource
moto does support is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOT_RUN_PREFIX = "rehearsal: custom resource answered without running its function:"
"""What scripts/moto_custom_resources.py logs for a function it answers without running."""
ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
STACKS = ("Dev-Storage", "Dev-Training", "Dev-Monitoring", "Dev-Serving", "Dev-Controller")
ENDPOINT = "rl-autoscaler-dev"
DATA_BUCKET = f"rl-autoscaler-dev-data-{ACCOUNT}-{REGION}"
CONTROLLER = "rl-autoscaler-dev-controller"
CONTROLLER_DLQ = "rl-autoscaler-dev-controller-dlq"
MODES_PARAMETER = "/rl-autoscaler/dev/controller/modes"
CONTROLLER_NAMESPACE = "RLAutoscaler/Controller"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# moto 5.2.5's cloudwatch Dimension.__lt__ compares a value with the other's *name*, so GetMetricData matches a
# metric's dimensions only in some orders (get_metric_statistics is unaffected): the rehearsal's server runs with
# that comparison fixed, nothing else changed.
# CloudFormation custom resources (the stage's artifact copy and Ray token, CDK's bucket emptying) need their
# Lambda functions to answer, which moto runs only in Docker: scripts/moto_custom_resources.py runs our inline Python
# functions in the server process against the server itself, and answers the others without running them (listed in
# the report as custom_resources_not_run).
_MOTO_SERVER = (
    "import moto.cloudwatch.models as m; "
    "m.Dimension.__lt__ = lambda a, b: (a.name or '', a.value or '') < (b.name or '', b.value or ''); "
    f"import sys; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import moto_custom_resources; "
    "moto_custom_resources.install(int(sys.argv[sys.argv.index('-p') + 1])); "
    "from moto.server import main; main()"
)


def start_moto(port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-c", _MOTO_SERVER]
    with log.open("wb") as out:
        proc = subprocess.Popen([*command, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto_server did not listen within 30 s")


def model_artifact(given: str | None, workdir: Path) -> Path:
    if given:
        path = Path(given).resolve()
        if not path.is_file():
            raise SystemExit(f"--model-artifact {path} does not exist")
        return path
    default = ROOT / "artifacts" / "model" / "model.tar.gz"
    if default.is_file():
        return default
    sys.path.insert(0, str(ROOT))
    from inference.artifact import package_policy, random_policy, untrained_metadata

    return package_policy(random_policy(0), workdir / "model", metadata=untrained_metadata("rehearsal-random"))


def cdk(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    binary = ROOT / "node_modules" / ".bin" / "cdk"
    if not binary.exists():
        raise SystemExit(f"{binary} not found: run `npm ci` first (package.json pins the CDK CLI)")
    start = time.monotonic()
    with log.open("ab") as out:
        result = subprocess.run([str(binary), *args], cwd=cwd, env=env, stdout=out, stderr=out, timeout=900)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"cdk {args[0]} failed ({result.returncode}):\n{tail}")
    return round(time.monotonic() - start, 1)


def _try(call: Callable[[], Any]) -> Any:
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as error:
        return {"error": error.response["Error"]["Code"]}


def inspect_stage_files(s3: Any, model: dict[str, Any]) -> dict[str, Any]:
    """What the deploy-time custom resources wrote: the model data served from the stage bucket, the Ray token."""
    import hashlib

    container = model.get("PrimaryContainer", {})
    uri = container.get("ModelDataSource", {}).get("S3DataSource", {}).get("S3Uri") or container.get("ModelDataUrl")
    found: dict[str, Any] = {"model_data": uri}
    if uri and uri.startswith(f"s3://{DATA_BUCKET}/"):
        body = _try(lambda: s3.get_object(Bucket=DATA_BUCKET, Key=uri.split("/", 3)[3])["Body"].read())
        found["model_data_sha256"] = hashlib.sha256(body).hexdigest() if isinstance(body, bytes) else body
    token = _try(lambda: s3.get_object(Bucket=DATA_BUCKET, Key="ray/auth_token")["Body"].read())
    found["ray_token_chars"] = len(token) if isinstance(token, bytes) else token
    return found


def inspect(endpoint_url: str, outdir: Path) -> dict[str, Any]:
    """What the emulator holds after the deployment, compared with the synthesised templates."""
    import boto3

    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=endpoint_url, region_name=REGION)

    cfn, s3, sm, cw = client("cloudformation"), client("s3"), client("sagemaker"), client("cloudwatch")
    created: dict[str, dict[str, str]] = {}
    skipped: dict[str, list[str]] = {}
    for stack in STACKS:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        made = {
            r["LogicalResourceId"]: r["ResourceType"]
            for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
            if r["LogicalResourceId"]
        }
        (template_path,) = outdir.glob(f"assembly-Dev/{stack.replace('-', '')}*.template.json")
        template = json.loads(template_path.read_text())["Resources"]
        created[stack] = {"status": status, **{k: v for k, v in sorted(made.items())}}
        skipped[stack] = sorted(f"{v['Type']} {k}" for k, v in template.items() if k not in made)

    models = sm.list_models()["Models"]
    configs = sm.list_endpoint_configs()["EndpointConfigs"]
    endpoints = sm.list_endpoints()["Endpoints"]
    endpoint = sm.describe_endpoint(EndpointName=endpoints[0]["EndpointName"]) if endpoints else {}
    model = sm.describe_model(ModelName=models[0]["ModelName"]) if models else {}
    machines = client("stepfunctions").list_state_machines()["stateMachines"]
    definition = (
        json.loads(
            client("stepfunctions").describe_state_machine(stateMachineArn=machines[0]["stateMachineArn"])["definition"]
        )
        if machines
        else {}
    )
    topics = client("sns").list_topics()["Topics"]
    roles = [r["RoleName"] for r in client("iam").list_roles()["Roles"] if r["RoleName"].startswith("Dev-")]
    keys = [k["KeyId"] for k in client("kms").list_keys()["Keys"]]
    exists = {
        "bucket": DATA_BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]],
        "bucket_encryption": _try(lambda: s3.get_bucket_encryption(Bucket=DATA_BUCKET))
        .get("ServerSideEncryptionConfiguration", {})
        .get("Rules", [{}])[0]
        .get("ApplyServerSideEncryptionByDefault", {})
        .get("SSEAlgorithm"),
        "kms_key_rotation": [
            _try(lambda k=k: client("kms").get_key_rotation_status(KeyId=k)).get("KeyRotationEnabled") for k in keys
        ],
        "roles": sorted(roles),
        "state_machine": [m["name"] for m in machines],
        "state_machine_task": definition.get("States", {}).get("Train", {}).get("Resource"),
        "model": [m["ModelName"] for m in models],
        "model_image": model.get("PrimaryContainer", {}).get("Image"),
        "model_env_stage": model.get("PrimaryContainer", {}).get("Environment", {}).get("AUTOSCALER_STAGE"),
        "endpoint_config": [c["EndpointConfigName"] for c in configs],
        "endpoint": [e["EndpointName"] for e in endpoints],
        "endpoint_status": endpoint.get("EndpointStatus"),
        "data_capture": endpoint.get("DataCaptureConfig", {}).get("DestinationS3Uri"),
        "alarms": sorted(a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]),
        "dashboard": [d["DashboardName"] for d in cw.list_dashboards()["DashboardEntries"]],
        "topic": [t["TopicArn"].rsplit(":", 1)[1] for t in topics],
        "topic_kms": [
            bool(client("sns").get_topic_attributes(TopicArn=t["TopicArn"])["Attributes"].get("KmsMasterKeyId"))
            for t in topics
        ],
        "log_groups": sorted(g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]),
        "scalable_targets": client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")[
            "ScalableTargets"
        ],
    }
    exists["controller"] = inspect_controller(client)
    exists["stage_files"] = inspect_stage_files(s3, model)
    ignored = {
        "bucket versioning (template: Enabled)": _try(lambda: s3.get_bucket_versioning(Bucket=DATA_BUCKET)).get(
            "Status", "not set"
        ),
        "bucket access logging (template: to the log bucket)": "set"
        if _try(lambda: s3.get_bucket_logging(Bucket=DATA_BUCKET)).get("LoggingEnabled")
        else "not set",
        "bucket lifecycle rules (template: 5 rules)": _try(
            lambda: len(s3.get_bucket_lifecycle_configuration(Bucket=DATA_BUCKET)["Rules"])
        ),
        "bucket public access block (template: all blocked)": _try(
            lambda: s3.get_public_access_block(Bucket=DATA_BUCKET)["PublicAccessBlockConfiguration"]
        ),
        f"endpoint name (template: {ENDPOINT})": exists["endpoint"],
        "controller layers (template: the 2 pinned public layers)": exists["controller"]["layers"],
        "controller log group KMS key (template: the stage key)": exists["controller"]["log_group_kms"],
        "controller async invoke config (template: no retry, failures to the DLQ)": exists["controller"][
            "async_config"
        ],
    }
    return {"stacks": created, "exists": exists, "skipped_by_moto": skipped, "properties_moto_ignored": ignored}


def inspect_controller(client: Callable[[str], Any]) -> dict[str, Any]:
    """The controller stack's resources as the emulator holds them."""
    lam, logs = client("lambda"), client("logs")
    function = _try(lambda: lam.get_function_configuration(FunctionName=CONTROLLER))
    queue_url = _try(lambda: client("sqs").get_queue_url(QueueName=CONTROLLER_DLQ)).get("QueueUrl")
    queue = (
        client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        if queue_url
        else {}
    )
    groups = [  # the prefix also finds the fleets writer's group (rl-autoscaler-dev-controller-fleets)
        g
        for g in logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{CONTROLLER}")["logGroups"]
        if g["logGroupName"] == f"/aws/lambda/{CONTROLLER}"
    ]
    return {
        "function": function.get("FunctionName"),
        "runtime": function.get("Runtime"),
        "handler": function.get("Handler"),
        "layers": [layer["Arn"] for layer in function.get("Layers", [])],
        "environment": sorted(function.get("Environment", {}).get("Variables", {})),
        "reserved_concurrency": _try(lambda: lam.get_function_concurrency(FunctionName=CONTROLLER)).get(
            "ReservedConcurrentExecutions"
        ),
        "async_config": _try(lambda: lam.get_function_event_invoke_config(FunctionName=CONTROLLER)),
        "log_group_kms": [bool(g.get("kmsKeyId")) for g in groups],
        "dlq": CONTROLLER_DLQ if queue_url else None,
        "dlq_kms": bool(queue.get("KmsMasterKeyId")),
        "modes_parameter": _try(lambda: client("ssm").get_parameter(Name=MODES_PARAMETER)["Parameter"]["Value"]),
        "schedules": _try(lambda: [x["Name"] for x in client("scheduler").list_schedules()["Schedules"]]),
    }


class _Context:
    """The parts of Lambda's context object a handler reads."""

    function_name = CONTROLLER
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{CONTROLLER}"
    memory_limit_in_mb = 512
    aws_request_id = "rehearsal-0001"
    log_group_name = f"/aws/lambda/{CONTROLLER}"
    log_stream_name = "rehearsal"

    def __init__(self, timeout_s: float) -> None:
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def run_controller(endpoint_url: str, artifact: Path, workdir: Path, runs: int = 4) -> dict[str, Any]:
    """`runs` consecutive minutes of controller.handler.lambda_handler, in this process, with the deployed
    function's environment. (The first minute after a deploy holds on stale data: the simulated fleets have
    published nothing older yet; the following minutes decide through the endpoint.)

    AWS calls go to moto; sagemaker-runtime InvokeEndpoint (which moto cannot serve) goes to the local endpoint
    serving the deployed artifact. Then boto3 reads what the run left: metrics, state objects.
    """
    import boto3

    sys.path.insert(0, str(ROOT))
    from inference.endpoint import LocalEndpoint

    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=endpoint_url, region_name=REGION)

    function = client("lambda").get_function_configuration(FunctionName=CONTROLLER)
    environment = function["Environment"]["Variables"]
    now = int(time.time() // 60) * 60
    minutes = [time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(now - 60 * k)) for k in range(runs, 0, -1)]
    shipped = client("s3").get_object(Bucket=environment["STATE_BUCKET"], Key=environment["FLEETS_KEY"])
    fleets = json.loads(shipped["Body"].read())["fleets"]  # written at deploy by the controller stack
    result: dict[str, Any] = {"event_times": minutes, "fleets": fleets, "responses": []}
    with LocalEndpoint(artifact, workers=1, threads=2, log_dir=workdir / "serve") as local:
        probe = f"{local.url}/endpoints/{ENDPOINT}/invocations"
        result["endpoint_route"] = _probe(probe)
        saved = dict(os.environ)
        os.environ.update(environment)
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = local.url
        os.environ.update(  # what the Lambda runtime sets
            {"AWS_LAMBDA_FUNCTION_NAME": CONTROLLER, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
        )
        started = time.monotonic()
        try:
            import controller.handler

            for minute in minutes:  # consecutive scheduled minutes, as the schedule would send them
                event = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "time": minute, "id": minute}
                response = controller.handler.lambda_handler(event, _Context(function["Timeout"]))
                result["responses"].append(response)
        except Exception as error:  # report it: a failed run is a finding of the rehearsal
            result["error"] = f"{type(error).__name__}: {error}"
        finally:
            os.environ.clear()
            os.environ.update(saved)
        result["run_s"] = round(time.monotonic() - started, 2)

    cw = client("cloudwatch")
    names = sorted({m["MetricName"] for m in cw.list_metrics(Namespace=CONTROLLER_NAMESPACE)["Metrics"]})
    result["metrics"] = names
    start, end = time.time() - 3 * 3600, time.time() + 600
    for name in ("Runs", "FleetsDeciding", "Fallbacks", "StaleDataHolds", "ShieldOverrides", "ApplyErrors"):
        points = cw.get_metric_statistics(
            Namespace=CONTROLLER_NAMESPACE,
            MetricName=name,
            Dimensions=[{"Name": "Stage", "Value": "Dev"}],
            StartTime=start,
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        result[f"sum_{name}"] = sum(p["Sum"] for p in points) if points else None
    fleet_metrics = cw.list_metrics(Namespace=CONTROLLER_NAMESPACE, MetricName="PolicyDesired")["Metrics"]
    result["fleets_with_decisions"] = sorted(
        {d["Value"] for m in fleet_metrics for d in m["Dimensions"] if d["Name"] == "Fleet"}
    )
    result["simulated_fleet_metrics"] = sorted(
        {m["MetricName"] for m in cw.list_metrics(Namespace="RLAutoscaler/SimulatedFleet")["Metrics"]}
    )
    published = cw.get_metric_statistics(
        Namespace="RLAutoscaler/SimulatedFleet",
        MetricName="RequestCount",
        Dimensions=[{"Name": "Fleet", "Value": "worldcup"}, {"Name": "Stage", "Value": "Dev"}],
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    stamps = sorted(p["Timestamp"] for p in published)
    result["worldcup_requests_published"] = {
        "minutes": len(stamps),
        "first": stamps[0].isoformat() if stamps else None,
        "last": stamps[-1].isoformat() if stamps else None,
    }
    objects = client("s3").list_objects_v2(Bucket=DATA_BUCKET, Prefix="controller/").get("Contents", [])
    result["state_objects"] = sorted(o["Key"] for o in objects)
    return result


def _probe(url: str) -> int:
    """HTTP status of an empty-batch POST to the local endpoint's SageMaker-style route (404: route missing)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=b'{"instances": []}', headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def missing(report: dict[str, Any]) -> list[str]:
    """Resources moto does support that are absent: a real failure of the deployment."""
    exists = report["exists"]
    problems = [
        name
        for name, ok in (
            ("data bucket", exists["bucket"]),
            ("bucket KMS encryption", exists["bucket_encryption"] == "aws:kms"),
            ("training and model roles", len(exists["roles"]) >= 3),
            ("training state machine", exists["state_machine"]),
            ("SageMaker training task", str(exists["state_machine_task"]).endswith("createTrainingJob.sync")),
            ("model", exists["model"]),
            ("endpoint config", exists["endpoint_config"]),
            ("endpoint", exists["endpoint"]),
            ("dashboard", exists["dashboard"] == [ENDPOINT]),
            ("alarm topic", exists["topic"]),
            ("endpoint log group", f"/aws/sagemaker/Endpoints/{ENDPOINT}" in exists["log_groups"]),
            ("controller function", exists["controller"]["function"] == CONTROLLER),
            ("controller log group", len(exists["controller"]["log_group_kms"]) == 1),
            ("controller dead-letter queue (KMS)", exists["controller"]["dlq_kms"]),
            ("controller modes parameter", exists["controller"]["modes_parameter"] == '{"stage": null, "fleets": {}}'),
            (
                "model data copied into the stage bucket, sha256 as deployed",
                exists["stage_files"].get("model_data_sha256") == report.get("model_sha256"),
            ),
            ("Ray token in the stage bucket", exists["stage_files"].get("ray_token_chars") == 64),
        )
        if not ok
    ]
    problems += [
        f"{stack} is {info['status']}"
        for stack, info in report["stacks"].items()
        if info["status"] != "CREATE_COMPLETE"
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--model-artifact", default=None, help="model.tar.gz to deploy (metadata.json beside it)")
    parser.add_argument("--json", default=None, help="also write the report to this file")
    parser.add_argument("--keep", default=None, help="keep the cloud assembly and logs in this directory")
    args = parser.parse_args(argv)

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="rehearsal-"))
    port = free_port()
    moto = start_moto(port, workdir / "moto.log")
    endpoint_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"https://s3.{REGION}.amazonaws.com",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "CDK_DEFAULT_ACCOUNT": ACCOUNT,
        "CDK_DISABLE_VERSION_CHECK": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    env.pop("AWS_PROFILE", None)
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    report: dict[str, Any] = {"endpoint_url": endpoint_url}
    try:
        artifact = model_artifact(args.model_artifact, workdir)
        report["model_artifact"] = str(artifact)
        report["model_sha256"] = hashlib.sha256(artifact.read_bytes()).hexdigest()
        log = workdir / "cdk.log"
        report["bootstrap_s"] = cdk(["bootstrap", f"aws://{ACCOUNT}/{REGION}"], env, workdir, log)
        outdir = workdir / "cdk.out"
        report["deploy_s"] = cdk(
            [
                "deploy",
                "Dev/*",
                "-c",
                "stage=Dev",
                "-c",
                f"model_artifact={artifact}",
                "-c",
                "@aws-cdk/core:defaultCrossStackReferences=strong",
                "--require-approval",
                "never",
                "--method=direct",
                "--no-previous-parameters",
                "--progress",
                "events",
                "--output",
                str(outdir),
            ],
            env,
            ROOT,
            log,
        )
        checks = time.monotonic()
        report |= inspect(endpoint_url, outdir)
        report["inspect_s"] = round(time.monotonic() - checks, 1)
        moto_log = (workdir / "moto.log").read_text(errors="replace")
        report["custom_resources_not_run"] = sorted(
            {line.split(":", 2)[2].strip() for line in moto_log.splitlines() if line.startswith(NOT_RUN_PREFIX)}
        )
        report["controller_run"] = run_controller(endpoint_url, artifact, workdir)
        report["missing"] = missing(report)
        if report["controller_run"].get("error") or not report["controller_run"].get("sum_Runs"):
            report["missing"].append("a controller run that publishes Runs")
    finally:
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()
        if args.keep:
            shutil.copytree(workdir, args.keep, dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    report["total_s"] = round(time.monotonic() - started, 1)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 1 if report["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
