"""The packaged model.tar.gz serves on its own: code/inference.py under the SageMaker toolkit, repo not importable."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from inference import artifact, contract
from tests.inference.helpers import MODEL_VERSION, REPO, decision

DRIVER = Path(__file__).with_name("sagemaker_driver.py")


@pytest.fixture(scope="module")
def extracted(model_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("opt_ml_model")
    with tarfile.open(model_tarball) as tar:
        tar.extractall(out, filter="data")
    return out


def test_tarball_layout(model_tarball: Path) -> None:
    with tarfile.open(model_tarball) as tar:
        names = set(tar.getnames())
    package = f"code/{artifact.SERVING_PACKAGE}"
    assert {"metadata.json", "policy.npz", "code/inference.py", "code/requirements.txt"} <= names
    expected = {f"{package}/{p.name}" for p in (REPO / "inference").glob("*.py")}
    assert expected <= names, "the whole inference package is copied"
    assert not any("__pycache__" in n or n.startswith("/") or ".." in n for n in names)


def test_requirements_install_nothing(extracted: Path) -> None:
    lines = (extracted / "code/requirements.txt").read_text().splitlines()
    assert [ln for ln in lines if ln.strip() and not ln.startswith("#")] == []


def test_metadata_beside_tarball_is_the_one_inside(artifact_dir: Path, extracted: Path) -> None:
    assert (artifact_dir / "metadata.json").read_bytes() == (extracted / "metadata.json").read_bytes()
    meta = json.loads((extracted / "metadata.json").read_text())
    for key in ("contract_version", "model_version", "created_at", "observation", "actions", "training"):
        assert key in meta
    assert {"evaluation", "gate", "data_sha256", "code_version", "architecture", "weights"} <= set(meta)


def test_packaging_is_reproducible(tmp_path: Path) -> None:
    meta = {**artifact.untrained_metadata(), "created_at": "2026-01-01T00:00:00+00:00"}
    a = artifact.package_policy(artifact.random_policy(3), tmp_path / "a", metadata=meta).read_bytes()
    b = artifact.package_policy(artifact.random_policy(3), tmp_path / "b", metadata=meta).read_bytes()
    assert a == b


def _serve_in_container_layout(model_dir: Path, requests_: list[dict], extra_env: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AUTOSCALER_", "SAGEMAKER_"))}
    env["PYTHONPATH"] = str(model_dir / "code")  # what TorchServe sets in the container
    env.update(extra_env or {})
    proc = subprocess.run(
        [sys.executable, "-P", "-s", str(DRIVER), str(model_dir)],
        input=json.dumps(requests_),
        capture_output=True,
        text=True,
        cwd=model_dir,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_packaged_code_serves_under_the_sagemaker_toolkit(extracted: Path) -> None:
    json_h = {"Content-Type": "application/json", "Accept": "application/json"}
    reqs = [
        {"headers": json_h, "body": json.dumps(decision())},
        {"headers": {"content-type": "application/json"}, "body": json.dumps({"instances": [decision()] * 3})},
        {"headers": {"Content-Type": "text/csv", "accept": "text/csv"}, "body": "2024-05-06T12:00:00Z,900,0,4,0,300"},
        {"headers": json_h, "body": json.dumps(decision(active_machines=-1))},
        {"headers": {"Content-Type": "text/plain"}, "body": "hello"},
        {"headers": {"Content-Type": "application/json", "Accept": "image/png"}, "body": json.dumps(decision())},
    ]
    report = _serve_in_container_layout(extracted, reqs)
    assert report["inference_module"] == str(extracted / "code" / "inference.py")
    assert report["repo_importable"] is False
    assert str(REPO) not in report["sys_path"]
    ok, batch, csv_row, bad, media, accept = report["results"]

    assert ok["status"] == 200 and ok["content_type"] == "application/json"
    single = json.loads(ok["body"])
    assert single["model_version"] == MODEL_VERSION and single["delta"] == single["desired_machines"] - 4
    assert len(json.loads(batch["body"])["predictions"]) == 3
    assert csv_row["status"] == 200 and csv_row["content_type"] == "text/csv"
    assert csv_row["body"].split(",")[3] == MODEL_VERSION

    # The toolkit keeps our statuses. It appends a stack trace of its own to every error body; the boundary
    # leaves only its own frame in it, not the validation code nor the payload.
    assert (bad["status"], media["status"], accept["status"]) == (400, 415, 406)
    assert bad["body"].startswith("active_machines: must be an integer")
    assert media["body"].startswith("Content-Type must be")
    for err in (bad, media, accept):
        assert "contract.py" not in err["body"] and "During handling" not in err["body"]


def test_hooks_have_the_arities_the_toolkit_inspects() -> None:
    """The toolkit passes a context argument to hooks with one parameter more than it expects: input_fn takes it
    (the request's CustomAttributes mark smoke tests), the others do not."""
    from inference import handler

    arity = {name: len(inspect.signature(getattr(handler, name)).parameters) for name in contract_hooks()}
    assert arity == {"model_fn": 1, "input_fn": 3, "predict_fn": 2, "output_fn": 2}


def contract_hooks() -> tuple[str, ...]:
    return ("model_fn", "input_fn", "predict_fn", "output_fn")


def test_shim_reexports_the_hooks(extracted: Path) -> None:
    text = (extracted / "code/inference.py").read_text()
    for name in contract_hooks():
        assert name in text
    assert f"from {artifact.SERVING_PACKAGE}.handler import" in text
    assert contract.MAX_INSTANCES == 1000


def test_smoke_test_requests_stay_out_of_the_metrics_under_the_sagemaker_toolkit(
    extracted: Path, tmp_path: Path
) -> None:
    """SageMaker passes CustomAttributes as a request header; the toolkit hands the context to input_fn."""
    emf = tmp_path / "emf.log"
    json_h = {"Content-Type": "application/json", "Accept": "application/json"}
    smoke = {**json_h, "X-Amzn-SageMaker-Custom-Attributes": "rl-autoscaler-smoke-test=1"}
    reqs = [
        {"headers": smoke, "body": json.dumps(decision())},
        {"headers": json_h, "body": json.dumps({"instances": [decision()] * 2})},
        {"headers": {**smoke, "X-Amzn-SageMaker-Custom-Attributes": "trace=7;RL-Autoscaler-Smoke-Test"}, "body": "{"},
        {"headers": smoke, "body": json.dumps({"instances": [decision()] * 3})},
    ]
    env = {"AUTOSCALER_METRICS_NAMESPACE": "RLAutoscaler", "AUTOSCALER_METRICS_PATH": str(emf)}
    report = _serve_in_container_layout(extracted, reqs, env)
    assert [r["status"] for r in report["results"]] == [200, 200, 400, 200]
    records = [json.loads(line) for line in emf.read_text().splitlines()]
    assert [r["Decisions"] for r in records] == [2], "only the unmarked request is counted"
