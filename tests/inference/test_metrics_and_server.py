"""Decision metrics (EMF), the error boundary, and the server's life cycle (start-up failure, SIGTERM)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from inference import contract, errors, handler
from inference.metrics import METRICS, DecisionMetrics
from tests.inference.helpers import REPO, decision, start_server, stop_server


def test_no_metrics_without_namespace(model: handler.Model) -> None:
    lines: list[bytes] = []
    metrics = DecisionMetrics({}, lines.append)
    req = contract.parse_request(json.dumps(decision()), "application/json")
    metrics.emit(req, handler.predict_fn(req, model).decisions)
    assert not metrics.enabled and lines == []


def test_one_emf_record_per_request_aggregating_the_batch(model: handler.Model) -> None:
    lines: list[bytes] = []
    metrics = DecisionMetrics({"AUTOSCALER_METRICS_NAMESPACE": "RLAutoscaler", "AUTOSCALER_STAGE": "dev"}, lines.append)
    docs = [
        decision(load_rpm=[1000, 1200], active_machines=4, pending_machines=1, capacity_rpm_per_machine=300),
        decision(load_rpm=[9e9], failed_rpm=3, active_machines=6, pending_machines=0, capacity_rpm_per_machine=100),
    ]
    req = contract.parse_request(json.dumps({"instances": docs}), "application/json")
    decisions = handler.predict_fn(req, model).decisions
    metrics.emit(req, decisions)
    assert len(lines) == 1 and lines[0].endswith(b"\n") and lines[0].count(b"\n") == 1
    rec = json.loads(lines[0])
    directive = rec["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "RLAutoscaler" and directive["Dimensions"] == [["Stage"]]
    assert [(m["Name"], m["Unit"]) for m in directive["Metrics"]] == list(METRICS)
    assert abs(rec["_aws"]["Timestamp"] / 1000 - time.time()) < 60
    assert rec["Stage"] == "dev"
    assert rec["DesiredMachines"] == int(decisions.desired.sum())
    assert (rec["ActiveMachines"], rec["PendingMachines"]) == (10, 1)
    assert rec["LoadRpm"] == 1200 + 9e9 and rec["CapacityRpm"] == 4 * 300 + 6 * 100
    assert rec["Fallbacks"] == 1 and rec["ShieldOverrides"] == int(decisions.shielded.sum()) and rec["Decisions"] == 2
    for name, _ in METRICS:
        assert isinstance(rec[name], (int, float))


def test_server_prints_emf_lines_to_stdout(model_tarball: Path, tmp_path: Path) -> None:
    env = {"AUTOSCALER_METRICS_NAMESPACE": "RLAutoscaler", "AUTOSCALER_STAGE": "staging"}
    proc, url = start_server(model_tarball, "--workers", "2", env=env, log_dir=tmp_path)
    try:
        with requests.Session() as s:
            for _ in range(6):
                assert s.post(f"{url}/invocations", json=decision(), timeout=5).status_code == 200
            assert s.post(f"{url}/invocations", json={"instances": [decision()] * 3}, timeout=5).status_code == 200
            assert s.post(f"{url}/invocations", json={"bad": 1}, timeout=5).status_code == 400
    finally:
        assert stop_server(proc) == 0
    records = [json.loads(line) for line in (tmp_path / "serve.out").read_text().splitlines()]
    assert len(records) == 7  # one per successful request, none for the bad one
    assert all(r["Stage"] == "staging" and "_aws" in r for r in records)
    assert sorted(r["Decisions"] for r in records) == [1] * 6 + [3]


def test_metrics_path_appends_records_to_a_file(model: handler.Model, tmp_path: Path) -> None:
    path = tmp_path / "emf.log"
    metrics = DecisionMetrics({"AUTOSCALER_METRICS_NAMESPACE": "RLAutoscaler", "AUTOSCALER_METRICS_PATH": str(path)})
    req = contract.parse_request(json.dumps(decision()), "application/json")
    for _ in range(3):
        metrics.emit(req, handler.predict_fn(req, model).decisions)
    assert [json.loads(line)["Decisions"] for line in path.read_text().splitlines()] == [1, 1, 1]


def test_sigterm_stops_the_server_gracefully(model_tarball: Path, tmp_path: Path) -> None:
    proc, url = start_server(model_tarball, "--workers", "2", log_dir=tmp_path)
    assert requests.post(f"{url}/invocations", json=decision(), timeout=5).status_code == 200
    started = time.monotonic()
    assert stop_server(proc) == 0
    assert time.monotonic() - started < 10
    log = (tmp_path / "serve.err").read_text()
    assert "Handling signal: term" in log and "Shutting down" in log
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/ping", timeout=2)


def test_local_endpoint_for_demos(model_tarball: Path, tmp_path: Path) -> None:
    from inference.endpoint import LocalEndpoint

    with LocalEndpoint(model_tarball, workers=1, threads=1, log_dir=tmp_path) as ep:
        assert ep.invoke(decision())[0] == 200
        status, body = ep.invoke({"instances": [decision()] * 2}, accept="text/csv")
        assert status == 200 and len(body.splitlines()) == 2
        assert ep.invoke({"nope": 1})[0] == 400
    assert ep.proc.returncode == 0


def test_bad_artifact_fails_at_startup_with_its_reason(tmp_path: Path) -> None:
    missing = tmp_path / "missing.tar.gz"
    proc = subprocess.run(
        [sys.executable, "-m", "inference.serve", "--model", str(missing), "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"cannot serve {missing}" in proc.stderr and "does not exist" in proc.stderr


def test_serve_binds_loopback_by_default() -> None:
    from inference import serve

    args = serve.gunicorn_options("127.0.0.1", 8080, 2, 4, 75)
    assert args["bind"] == "127.0.0.1:8080" and args["worker_class"] == "gthread"
    parser_help = subprocess.run(
        [sys.executable, "-m", "inference.serve", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    ).stdout
    assert "default 127.0.0.1" in parser_help


def test_boundary_hides_internal_errors_and_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    @errors.boundary
    def hook(a, b):
        return {}[a]

    with caplog.at_level(logging.ERROR), pytest.raises(errors.InternalError) as exc:
        hook("secret-key", 2)
    assert exc.value.status_code == 500
    assert "secret-key" not in exc.value.message and "KeyError" not in exc.value.message
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    assert "secret-key" in caplog.text and "Traceback" in caplog.text  # the log has the details

    status, body = errors.error_response(exc.value)
    assert status == 500 and b"secret" not in body


def test_boundary_passes_client_errors_with_their_status() -> None:
    @errors.boundary
    def hook(x):
        raise errors.BadRequest(f"field: bad {x}")

    with pytest.raises(errors.BadRequest) as exc:
        hook(1)
    assert (exc.value.status_code, str(exc.value)) == (400, "field: bad 1")
    tb = exc.value.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert tb.tb_frame.f_code.co_name == "wrapper"  # the deepest frame is the boundary's: none from inside
    assert errors.error_response(exc.value) == (400, b'{"error": "field: bad 1", "status": 400}')


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.BadRequest, 400),
        (errors.NotAcceptable, 406),
        (errors.PayloadTooLarge, 413),
        (errors.UnsupportedMediaType, 415),
        (errors.InternalError, 500),
    ],
)
def test_each_error_carries_its_status(cls, status: int) -> None:
    err = cls("msg")
    assert err.status_code == status and err.message == "msg" and err.phrase
