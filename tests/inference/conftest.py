"""Shared fixtures: a packaged random policy, the loaded model, and one real local endpoint for the session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from inference import artifact, handler
from tests.inference.helpers import MODEL_VERSION, start_server, stop_server


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
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
