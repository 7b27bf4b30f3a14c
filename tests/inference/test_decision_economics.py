"""Economics in the decision contract, and decisions outside what the policy was trained on (economics, fleet
size, history length) answered by the fallback rule with a reason that says why."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from inference import artifact, contract, economics, handler
from inference.errors import BadRequest, ModelLoadError
from tests.inference.helpers import decision

TRAINED = {
    "algorithm": "ppo",
    "economics_ranges": {"warmup_latency": [0, 15], "downtime_cost": [0, 5000], "machine_cost": [0.01, 0.5]},
    "fleet_size_range": [1.0, 2000.0],
    "min_history_minutes": 60,
}


def parse(doc: dict) -> contract.DecisionRequest:
    return contract.parse_request(json.dumps(doc), contract.JSON)


def with_training(artifact_dir: Path, out: Path, training: dict) -> Path:
    """The session's packaged random policy, extracted into ``out`` with ``training`` as its metadata's training
    (no torch needed: the serving tests also run on the inference image's Python)."""
    with tarfile.open(artifact_dir / "model.tar.gz") as tar:
        tar.extractall(out, filter="data")
    doc = json.loads((out / "metadata.json").read_text())
    (out / "metadata.json").write_text(json.dumps({**doc, "training": training}))
    return out


@pytest.fixture(scope="module")
def ranged(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> handler.Model:
    """A policy whose metadata records training ranges (a random network: only the shield's paths matter here)."""
    return handler.load_model(str(with_training(artifact_dir, tmp_path_factory.mktemp("ranged"), TRAINED)))


def answer(model: handler.Model, doc: dict) -> dict:
    status, body, _ = handler.invoke(model, json.dumps(doc).encode(), contract.JSON, None)
    assert status == 200, body
    return json.loads(body)


def day(load: float = 3000.0, minutes: int = 1456) -> list[float]:
    return [load] * minutes


def test_economics_become_an_array_in_fields_order_with_defaults_filled() -> None:
    req = parse({"instances": [decision(), decision(economics={"warmup_latency": 10, "warming_cost": True})]})
    assert req.economics.shape == (2, len(economics.FIELDS)) and req.economics.dtype == np.float64
    defaults = [float(economics.DEFAULTS[k]) for k in economics.FIELDS]
    assert req.economics[0].tolist() == defaults
    expected = {**economics.DEFAULTS, "warmup_latency": 10, "warming_cost": True}
    assert req.economics[1].tolist() == [float(expected[k]) for k in economics.FIELDS]
    assert parse(decision(economics=None)).economics[0].tolist() == defaults  # null means the defaults


def test_csv_decisions_take_the_default_economics() -> None:
    req = contract.parse_request(b"2024-05-06T12:00:00Z,900;1000,0,4,0,300,1,20", contract.CSV)
    assert req.economics.tolist() == [[float(economics.DEFAULTS[k]) for k in economics.FIELDS]]
    header = ",".join(contract.FIELDS).encode() + b"\n2024-05-06T12:00:00Z,900,0,4,0,300,1,20,{}"
    with pytest.raises(BadRequest, match=r"row 1\.economics: CSV carries no economics"):
        contract.parse_request(header, contract.CSV)


def test_bad_economics_are_refused_with_the_path_of_the_value() -> None:
    doc = {"instances": [decision(), decision(economics={"downtime_cost": -5})]}
    with pytest.raises(BadRequest, match=r"^instances\[1\]\.economics\.downtime_cost: must be in \[0, 1e\+07\]"):
        parse(doc)
    with pytest.raises(BadRequest, match=r"^economics\.warming_cost: must be true or false"):
        parse(decision(economics={"warming_cost": "yes"}))


def test_inside_the_training_ranges_the_policy_decides(ranged: handler.Model) -> None:
    out = answer(ranged, decision(load_rpm=day(), active_machines=12, economics={"warmup_latency": 10}))
    assert "fallback" not in out["reason"], out


@pytest.mark.parametrize(
    ("econ", "why"),
    [
        ({"warmup_latency": 30}, "economics.warmup_latency=30 outside the training range [0, 15]"),
        ({"machine_cost": 2.0}, "economics.machine_cost=2 outside the training range [0.01, 0.5]"),
        ({"request_value": 2.0}, "economics.request_value=2 outside the training range [0.9, 0.9]"),  # default only
        ({"warming_cost": True}, "economics.warming_cost=1 outside the training range [0, 0]"),
    ],
)
def test_economics_outside_the_training_ranges_fall_back_and_say_why(
    ranged: handler.Model, econ: dict, why: str
) -> None:
    out = answer(ranged, decision(load_rpm=day(), active_machines=12, max_machines=None, economics=econ))
    assert out["shielded"] is True
    assert out["reason"].startswith(f"fallback to target tracking at 70% utilisation: {why}"), out["reason"]
    assert out["desired_machines"] == 15  # ceil(10 machines' worth / 0.7)


def test_a_fleet_outside_the_trained_sizes_falls_back(ranged: handler.Model) -> None:
    out = answer(ranged, decision(load_rpm=day(60.0), active_machines=1, economics={}))
    assert "mean load of 0.2 machines outside the training range of fleet sizes [1, 2000]" in out["reason"]


def test_too_little_history_falls_back_and_enough_is_decided_with_a_note(ranged: handler.Model) -> None:
    short = answer(ranged, decision(load_rpm=day(minutes=30), active_machines=12))
    assert (
        "load_rpm holds 30 minutes; the policy was trained to decide with at least 60 (it reads 1456)"
        in (short["reason"])
    )
    assert short["shielded"] is True
    some = answer(ranged, decision(load_rpm=day(minutes=600), active_machines=12))
    assert "fallback" not in some["reason"]
    assert some["reason"].endswith("; load_rpm holds 600 of the 1456 minutes the policy reads")
    full = answer(ranged, decision(load_rpm=day(minutes=5000), active_machines=12))
    assert "load_rpm holds" not in full["reason"]


def test_an_artifact_without_ranges_serves_only_the_default_economics_and_full_history(
    artifact_dir: Path, tmp_path: Path
) -> None:
    model = handler.load_model(str(with_training(artifact_dir, tmp_path, {"algorithm": "ppo"})))
    assert "fallback" not in answer(model, decision(load_rpm=day(), active_machines=12))["reason"]
    other = answer(model, decision(load_rpm=day(), active_machines=12, economics={"downtime_cost": 1000}))
    assert "economics.downtime_cost=1000 outside the training range [200, 200]" in other["reason"]
    assert "the policy was trained to decide with at least 1456" in answer(model, decision())["reason"]


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"economics_ranges": {"warmup": [0, 5]}}, "training.economics_ranges.warmup: unknown key"),
        ({"economics_ranges": {"machine_cost": [1, 0]}}, "training.economics_ranges.machine_cost must be [low"),
        ({"fleet_size_range": [1]}, "training.fleet_size_range must be [low, high]"),
        ({"min_history_minutes": 0}, "training.min_history_minutes must be an integer in [1, 1456]"),
    ],
)
def test_malformed_training_ranges_are_refused_when_loading_and_packaging(
    artifact_dir: Path, tmp_path: Path, training: dict, message: str
) -> None:
    match = message.replace("[", r"\[")
    with pytest.raises(ModelLoadError, match=match):
        artifact.load_artifact(with_training(artifact_dir, tmp_path, training))
    pytest.importorskip("torch")  # packaging exports a torch network
    meta = {**artifact.untrained_metadata("bad-0"), "training": training}
    with pytest.raises(ValueError, match=match):
        artifact.package_policy(artifact.random_policy(0), tmp_path / "package", metadata=meta)
