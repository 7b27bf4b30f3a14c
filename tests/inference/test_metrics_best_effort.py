"""Decision metrics never fail a request: an unwritable metrics path is counted, logged once, and answered 200."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import requests

from inference import contract, handler
from inference.metrics import DecisionMetrics, is_smoke_test
from tests.inference.helpers import decision, start_server, stop_server


def _enabled(path: Path) -> dict[str, str]:
    return {
        "AUTOSCALER_METRICS_NAMESPACE": "RLAutoscaler",
        "AUTOSCALER_STAGE": "dev",
        "AUTOSCALER_METRICS_PATH": str(path),
    }


def test_unwritable_path_is_counted_and_logged_once_never_raised(
    model: handler.Model, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = DecisionMetrics(_enabled(tmp_path / "no-such-dir" / "emf.log"))
    req = contract.parse_request(json.dumps(decision()), "application/json")
    decisions = handler.predict_fn(req, model).decisions
    with caplog.at_level(logging.WARNING, logger="inference.metrics"):
        for _ in range(5):
            metrics.emit(req, decisions)  # would raise FileNotFoundError without the best-effort guard
    assert metrics.failures == 5
    warnings = [r for r in caplog.records if "decision metrics could not be written" in r.getMessage()]
    assert len(warnings) == 1 and "FileNotFoundError" in warnings[0].getMessage()


def test_a_failing_write_is_counted_too(model: handler.Model) -> None:
    def broken(_: bytes) -> None:
        raise BrokenPipeError("stdout closed")

    metrics = DecisionMetrics(_enabled(Path("/dev/null")), write=broken)
    req = contract.parse_request(json.dumps(decision()), "application/json")
    metrics.emit(req, handler.predict_fn(req, model).decisions)
    assert metrics.failures == 1


def test_predict_fn_answers_when_metrics_cannot_be_written(model: handler.Model, tmp_path: Path) -> None:
    broken = handler.Model(model.policy, model.shield, DecisionMetrics(_enabled(tmp_path / "missing" / "emf.log")))
    status, body, _ = handler.invoke(broken, json.dumps(decision()).encode(), "application/json", None)
    assert status == 200 and "desired_machines" in json.loads(body)
    assert broken.metrics.failures == 1


def test_http_server_answers_200_with_an_unwritable_metrics_path(model_tarball: Path, tmp_path: Path) -> None:
    unwritable = tmp_path / "read-only"
    unwritable.mkdir()
    unwritable.chmod(0o500)
    env = _enabled(unwritable / "missing-dir" / "emf.log")
    proc, url = start_server(model_tarball, "--workers", "2", env=env, log_dir=tmp_path)
    try:
        with requests.Session() as s:
            statuses = [s.post(f"{url}/invocations", json=decision(), timeout=5).status_code for _ in range(8)]
            statuses.append(s.post(f"{url}/invocations", json={"instances": [decision()] * 3}, timeout=5).status_code)
    finally:
        assert stop_server(proc) == 0
    assert statuses == [200] * 9
    log = (tmp_path / "serve.err").read_text() + (tmp_path / "serve.out").read_text()
    assert 1 <= log.count("decision metrics could not be written") <= 2, "logged once per worker at most"


@pytest.mark.parametrize(
    ("attributes", "smoke"),
    [
        ("rl-autoscaler-smoke-test=1", True),
        ("trace=abc; RL-Autoscaler-Smoke-Test", True),
        ("a=1,rl-autoscaler-smoke-test", True),
        ("rl-autoscaler-smoke-testing=1", False),
        ("", False),
        (None, False),
    ],
)
def test_smoke_test_marker(attributes: str | None, smoke: bool) -> None:
    assert is_smoke_test(attributes) is smoke


def test_smoke_test_requests_emit_no_metrics(model: handler.Model) -> None:
    lines: list[bytes] = []
    counted = handler.Model(model.policy, model.shield, DecisionMetrics(_enabled(Path("x")), lines.append))
    body = json.dumps(decision()).encode()
    assert handler.invoke(counted, body, "application/json", None, "rl-autoscaler-smoke-test=1")[0] == 200
    assert lines == []
    assert handler.invoke(counted, body, "application/json", None, "trace=1")[0] == 200
    assert len(lines) == 1
