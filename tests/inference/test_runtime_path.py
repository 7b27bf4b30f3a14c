"""The local endpoint answers boto3's ``sagemaker-runtime`` ``InvokeEndpoint`` as SageMaker Runtime does."""

from __future__ import annotations

import json

import boto3
import botocore.exceptions
import pytest
import requests
from botocore.config import Config

from tests.inference.helpers import MODEL_VERSION, decision


@pytest.fixture()
def runtime(server: str):
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=server,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def test_invoke_endpoint_single_and_batch(runtime) -> None:
    resp = runtime.invoke_endpoint(
        EndpointName="rl-autoscaler-dev", ContentType="application/json", Body=json.dumps(decision())
    )
    assert resp["ContentType"] == "application/json"
    assert resp["InvokedProductionVariant"] == "AllTraffic"
    one = json.loads(resp["Body"].read())
    assert one["model_version"] == MODEL_VERSION and 1 <= one["desired_machines"] <= 20

    batch = {"instances": [decision(), decision(active_machines=8)]}
    resp = runtime.invoke_endpoint(
        EndpointName="any-name", ContentType="application/json", Accept="application/json", Body=json.dumps(batch)
    )
    assert len(json.loads(resp["Body"].read())["predictions"]) == 2


def test_container_errors_come_back_as_model_error(runtime) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        runtime.invoke_endpoint(
            EndpointName="rl-autoscaler-dev", ContentType="application/json", Body=json.dumps(decision(load_rpm=[]))
        )
    err = info.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 400 and "load_rpm" in err["OriginalMessage"]
    with pytest.raises(runtime.exceptions.ModelError):
        runtime.invoke_endpoint(EndpointName="x", ContentType="text/plain", Body=b"hello")


def test_runtime_path_routing(server: str) -> None:
    assert requests.get(f"{server}/endpoints/x/invocations", timeout=5).status_code == 405
    assert requests.post(f"{server}/endpoints/x/y/invocations", json=decision(), timeout=5).status_code == 404
    assert requests.post(f"{server}/invocations", json=decision(), timeout=5).status_code == 200
