"""Shared fixtures: a packaged random policy, the loaded model, and one real local endpoint for the session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from inference import artifact, handler
from tests.inference.helpers import MODEL_VERSION, start_server, stop_server

PACKAGED_ENV = "AUTOSCALER_TEST_ARTIFACT_DIR"
"""A directory with model.tar.gz and metadata.json packaged elsewhere: how the serving tests run on an interpreter
without torch (Python 3.12, tests/test_python_versions.py), serving the artifact the main venv packaged."""


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
    if os.environ.get(PACKAGED_ENV):
        shutil.copytree(os.environ[PACKAGED_ENV], out, dirs_exist_ok=True)
        return out
    artifact.package_policy(artifact.random_policy(0), out, metadata=artifact.untrained_metadata(MODEL_VERSION))
    return out


@pytest.fixture(scope="session")
def model_tarball(artifact_dir: Path) -> Path:
    return artifact_dir / "model.tar.gz"


@pytest.fixture(scope="session")
def model(model_tarball: Path) -> handler.Model:
    return handler.load_model(str(model_tarball))


@pytest.fixture(scope="session")
def server(model_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of one endpoint shared by the whole session (2 workers, as on a 2-core machine)."""
    proc, url = start_server(model_tarball, "--workers", "2", log_dir=tmp_path_factory.mktemp("server"))
    yield url
    stop_server(proc)


@pytest.fixture()
def post(server: str) -> Iterator[Callable[..., requests.Response]]:
    """POST to /invocations on a keep-alive session: ``post(json=...)`` or ``post(data=..., content_type=...)``."""
    with requests.Session() as session:

        def _post(
            *, json: Any = None, data: bytes | str | None = None, content_type: str | None = None, **headers: str
        ) -> requests.Response:
            hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
            if content_type is not None:
                hdrs["Content-Type"] = content_type
            return session.post(f"{server}/invocations", json=json, data=data, headers=hdrs, timeout=10)

        yield _post
