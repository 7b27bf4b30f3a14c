"""scripts/smoke_test.py, the promotion's post-deploy check, run for real against the local endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.helpers import MODEL_VERSION, ROOT

SCRIPT = ROOT / "scripts" / "smoke_test.py"


@pytest.fixture(scope="module")
def local_endpoint(policy_artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    from tests.inference.helpers import start_server, stop_server

    proc, url = start_server(policy_artifacts["passed"], "--workers", "1", log_dir=tmp_path_factory.mktemp("serve"))
    yield url
    stop_server(proc)


def _run(*args: str) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--endpoint-name", "rl-autoscaler-dev", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, json.loads(result.stdout.strip().splitlines()[-1])


def test_smoke_test_passes_against_the_local_endpoint(local_endpoint: str) -> None:
    code, summary = _run("--endpoint-url", local_endpoint, "--container", "--expect-model-version", MODEL_VERSION)
    assert code == 0, summary
    assert summary["passed"] is True
    assert summary["checks"] == ["single", "batch", "bad_input_4xx", "latency"]
    assert summary["model_version"] == MODEL_VERSION and summary["latency_ms_p50"] > 0


def test_smoke_test_fails_on_the_wrong_model_version(local_endpoint: str) -> None:
    code, summary = _run("--endpoint-url", local_endpoint, "--container", "--expect-model-version", "v-other")
    assert code == 1 and summary["passed"] is False
    assert "model_version 'infra-test-policy', expected 'v-other'" in summary["failure"]


def test_decision_checks_catch_a_contract_violation() -> None:
    from scripts import smoke_test

    request = smoke_test.decision_request(active=10, pending=2)
    good = {"desired_machines": 15, "delta": 3, "action": "scale_out", "model_version": "v", "shielded": False}
    good["reason"] = "policy"
    smoke_test.check_decision(request, good, "v")
    for broken, message in (
        ({**good, "delta": 2}, "delta 2 != desired 15 - 12"),
        ({**good, "action": "hold"}, "does not match delta"),
        ({**good, "desired_machines": 500, "delta": 488}, "outside the bounds"),
        ({**good, "shielded": "no"}, "'shielded' must be bool"),
    ):
        with pytest.raises(smoke_test.SmokeTestFailure, match=message):
            smoke_test.check_decision(request, broken, "v")
