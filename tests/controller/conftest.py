"""Fixtures for the controller's tests; the fakes themselves are in `tests/controller/fakes.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controller.fakes import FakeCloudWatch, FakeRuntime, FakeSSM, FakeTarget, World, fleets

REGION = "eu-west-1"


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so boto3 clients (moto, Stubber, the local endpoint) can sign requests."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture()
def cloudwatch() -> FakeCloudWatch:
    return FakeCloudWatch()


@pytest.fixture()
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture()
def ssm() -> FakeSSM:
    return FakeSSM()


@pytest.fixture()
def world() -> World:
    """Two active fleets of 5 machines, ALB metrics published 1 minute after each minute ends."""
    return World(fleets("checkout", "search"))


@pytest.fixture()
def target() -> FakeTarget:
    return FakeTarget({"checkout": 5, "search": 5})


@pytest.fixture(scope="session")
def packaged_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small packaged policy (random weights) for the real local endpoint."""
    from inference.artifact import package_policy, random_policy, untrained_metadata

    out = tmp_path_factory.mktemp("model")
    return package_policy(random_policy(seed=3), out, metadata=untrained_metadata("controller-test"))
