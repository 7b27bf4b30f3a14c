"""Smoke test of a deployed decision endpoint through boto3's SageMaker runtime client.

    python scripts/smoke_test.py --endpoint-name rl-autoscaler-dev                 # the Dev endpoint in eu-west-1
    python scripts/smoke_test.py --endpoint-name local --endpoint-url http://127.0.0.1:8080 --container

`--endpoint-url` sends the calls elsewhere (any SageMaker-runtime-compatible API); with `--container` the URL is
a SageMaker inference container itself (`python -m inference.serve`), whose route is `POST /invocations`
rather than the runtime API's `/endpoints/<name>/invocations`, and calls go unsigned. The same checks run either
way: one decision and a batch follow the decision contract (DESIGN.md), bad input gets a 4xx naming the field,
and N decisions give a latency figure. Prints one JSON summary; exits non-zero on the first failed check.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training import cli

ACTIONS = {"scale_out", "scale_in", "hold"}
FIELDS = {"desired_machines": int, "delta": int, "action": str, "model_version": str, "shielded": bool, "reason": str}


class SmokeTestFailure(AssertionError):
    """A check on the endpoint's answers failed."""


def decision_request(active: int = 40, pending: int = 2, load: float = 12_000.0) -> dict[str, Any]:
    """A request a cloud could send: an hour of load per minute with a daily-looking ramp, and the fleet now."""
    return {
        "timestamp": datetime.now(UTC).replace(second=0, microsecond=0).isoformat().replace("+00:00", "Z"),
        "load_rpm": [round(load * (0.8 + 0.2 * i / 59), 1) for i in range(60)],
        "failed_rpm": 0,
        "active_machines": active,
        "pending_machines": pending,
        "capacity_rpm_per_machine": 300.0,
        "min_machines": 5,
        "max_machines": 200,
    }


def check_decision(request: dict[str, Any], decision: Any, expected_version: str | None) -> None:
    if not isinstance(decision, dict):
        raise SmokeTestFailure(f"a decision must be a JSON object, got {decision!r}")
    for name, kind in FIELDS.items():
        if not isinstance(decision.get(name), kind) or (kind is int and isinstance(decision[name], bool)):
            raise SmokeTestFailure(f"decision field {name!r} must be {kind.__name__}, got {decision.get(name)!r}")
    fleet = request["active_machines"] + request["pending_machines"]
    if decision["delta"] != decision["desired_machines"] - fleet:
        raise SmokeTestFailure(f"delta {decision['delta']} != desired {decision['desired_machines']} - {fleet}")
    if not request["min_machines"] <= decision["desired_machines"] <= request["max_machines"]:
        raise SmokeTestFailure(f"desired_machines {decision['desired_machines']} outside the bounds in the request")
    expected_action = "scale_out" if decision["delta"] > 0 else "scale_in" if decision["delta"] < 0 else "hold"
    if decision["action"] not in ACTIONS or decision["action"] != expected_action:
        raise SmokeTestFailure(f"action {decision['action']!r} does not match delta {decision['delta']}")
    if expected_version is not None and decision["model_version"] != expected_version:
        raise SmokeTestFailure(f"model_version {decision['model_version']!r}, expected {expected_version!r}")


def runtime_client(region: str, endpoint_url: str | None, container: bool) -> Any:
    if container and not endpoint_url:
        raise SystemExit("--container needs --endpoint-url (the container's base URL)")
    config = Config(
        retries={"max_attempts": 2, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        **({"signature_version": botocore.UNSIGNED} if container else {}),
    )
    client = boto3.client("sagemaker-runtime", region_name=region, endpoint_url=endpoint_url, config=config)
    if container:
        base = endpoint_url.rstrip("/")

        def to_container_route(request: Any, **_: Any) -> None:
            request.url = f"{base}/invocations"

        client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", to_container_route)

    def keep_error_body(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
        # botocore drops a plain (non-AWS) error body; keep it so a container's 4xx message can be checked.
        body = response_dict.get("body")
        if response_dict.get("status_code", 200) >= 400 and isinstance(body, bytes):
            customized_response_dict["RawBody"] = body.decode("utf-8", "replace")

    client.meta.events.register("before-parse.sagemaker-runtime.InvokeEndpoint", keep_error_body)
    return client


SMOKE_TEST_ATTRIBUTES = "rl-autoscaler-smoke-test=1"
"""SageMaker CustomAttributes of every smoke-test request (inference.metrics.SMOKE_TEST_ATTRIBUTE)."""


def invoke(client: Any, endpoint: str, payload: Any) -> tuple[int, Any, float]:
    """(status, parsed body, seconds); a container's 4xx arrives as SageMaker's ModelError or a plain error."""
    start = time.perf_counter()
    try:
        response = client.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/json",
            Accept="application/json",
            # Keeps these requests out of the handler's decision metrics, which the fallback and shield-override
            # alarms (one of them a blue/green rollback alarm) read: a smoke test must not move them.
            CustomAttributes=SMOKE_TEST_ATTRIBUTES,
            Body=json.dumps(payload).encode(),
        )
    except ClientError as error:
        elapsed = time.perf_counter() - start
        status = error.response.get("OriginalStatusCode") or error.response["ResponseMetadata"]["HTTPStatusCode"]
        message = error.response.get("Error", {}).get("Message") or error.response.get("RawBody", "")
        return int(status), message, elapsed
    elapsed = time.perf_counter() - start
    return 200, json.loads(response["Body"].read()), elapsed


def run(args: Args) -> dict[str, Any]:
    client = runtime_client(args.region, args.endpoint_url, args.container)
    request = decision_request()
    status, body, _ = invoke(client, args.endpoint_name, request)
    if status != 200:
        raise SmokeTestFailure(f"a valid decision request got HTTP {status}: {body}")
    check_decision(request, body, args.expect_model_version)
    first = body

    batch = [decision_request(active=a, pending=p, load=x) for a, p, x in ((10, 0, 2000), (60, 5, 30000), (8, 0, 500))]
    status, body, _ = invoke(client, args.endpoint_name, {"instances": batch})
    if status != 200 or not isinstance(body, dict) or len(body.get("predictions", [])) != len(batch):
        raise SmokeTestFailure(f"a batch of {len(batch)} got HTTP {status}: {body}")
    for req, decision in zip(batch, body["predictions"]):
        check_decision(req, decision, args.expect_model_version)

    bad = {k: v for k, v in decision_request().items() if k != "active_machines"}
    status, body, _ = invoke(client, args.endpoint_name, bad)
    if not 400 <= status < 500:
        raise SmokeTestFailure(f"a request without active_machines must get a 4xx, got HTTP {status}: {body}")
    if "active_machines" not in str(body):
        raise SmokeTestFailure(f"the 4xx for a missing active_machines does not name the field: {body}")

    latencies = []
    for _ in range(args.decisions):
        status, body, seconds = invoke(client, args.endpoint_name, decision_request())
        if status != 200:
            raise SmokeTestFailure(f"decision request got HTTP {status}: {body}")
        latencies.append(seconds * 1000)
    latencies.sort()
    return {
        "endpoint": args.endpoint_name,
        "endpoint_url": args.endpoint_url,
        "model_version": first["model_version"],
        "first_decision": first,
        "checks": ["single", "batch", "bad_input_4xx", "latency"],
        "decisions": args.decisions,
        "latency_ms_p50": round(statistics.median(latencies), 2),
        "latency_ms_max": round(latencies[-1], 2),
    }


@dataclass(frozen=True)
class Args:
    endpoint_name: str
    """SageMaker endpoint name, e.g. rl-autoscaler-dev."""
    region: str = "eu-west-1"
    """AWS region of the endpoint."""
    endpoint_url: str | None = None
    """Send the calls to this URL instead of AWS."""
    container: bool = False
    """The URL is an inference container (POST /invocations), not the runtime API."""
    expect_model_version: str | None = None
    """Fail unless the decisions carry this model version."""
    decisions: int = 20
    """Decisions timed for the latency figure."""

    def __post_init__(self) -> None:
        if self.decisions < 1:
            raise ValueError(f"--decisions must be >= 1, got {self.decisions}")


def parse_args(argv: list[str] | None = None) -> Args:
    return cli.parse(Args, argv, prog="python scripts/smoke_test.py", description=__doc__.split("\n\n", 1)[0])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = run(args)
    except SmokeTestFailure as failure:
        print(json.dumps({"endpoint": args.endpoint_name, "passed": False, "failure": str(failure)}))
        return 1
    print(json.dumps({"passed": True, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
