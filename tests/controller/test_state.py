"""The state store: conditional writes, so two overlapping runs can never both win (moto S3 and in memory)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from controller.state import MemoryStore, S3Store, StateConflict, decode, encode


@pytest.fixture(params=["memory", "s3"])
def store(request: pytest.FixtureRequest, aws_env: None) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="state-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield S3Store(s3, "state-bucket")


def test_conditional_writes(store: Any) -> None:
    assert store.load("state.json.gz") == (None, None)
    v1 = store.save("state.json.gz", encode({"minute": 1}), None)
    with pytest.raises(StateConflict):
        store.save("state.json.gz", encode({"minute": 1}), None)  # someone created it first
    body, version = store.load("state.json.gz")
    assert decode(body) == {"minute": 1} and version == v1
    v2 = store.save("state.json.gz", encode({"minute": 2}), v1)
    with pytest.raises(StateConflict):
        store.save("state.json.gz", encode({"minute": 3}), v1)  # a stale read loses
    assert decode(store.load("state.json.gz")[0]) == {"minute": 2} and v2 != v1


def test_s3_objects_live_under_the_controller_prefix(aws_env: None) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="state-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        S3Store(s3, "state-bucket").save("state.json.gz", encode({}), None)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="state-bucket")["Contents"]] == ["controller/state.json.gz"]


def test_encoding_is_deterministic_and_decode_refuses_non_objects() -> None:
    assert encode({"a": 1}) == encode({"a": 1}) and decode(None) == {}
    with pytest.raises(ValueError, match="not a JSON object"):
        decode(encode([1]))  # type: ignore[arg-type]


def test_a_large_document_is_compressed_as_it_is_encoded_into_the_bytes_of_gzip_compress() -> None:
    doc = {"fleets": {f"f{i}": {"first": i, "z": "x" * 5000} for i in range(100)}, "limits": {"f1": [1.5, None]}}
    assert encode(doc) == gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), compresslevel=5, mtime=0)
    assert decode(encode(doc)) == doc
