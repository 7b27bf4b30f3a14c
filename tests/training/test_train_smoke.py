"""End to end on a tiny budget (seconds): train, evaluate, gate refusal, forced packaging, export check.

CleanRL's habit: the real entry points run as subprocesses with ``check``-style assertions on their outputs.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference.artifact import load_artifact
from inference.economics import FIELDS
from inference.features import OBS_DIM
from training.rl.gate import EXIT_GATE_FAILED

pytestmark = pytest.mark.slow  # starts Ray and trains (tiny preset)

ROOT = Path(__file__).resolve().parents[2]
LOG_LINE = re.compile(
    r"^train_iteration iter=(\d+) timesteps=(\d+) episode_return=([-+0-9.eE]+) profit_vs_oracle=([-+0-9.eE]+) "
    r"entropy=([-+0-9.eE]+) kl=([-+0-9.eE]+) steps_per_s=([-+0-9.eE]+)$"
)


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("tiny")
    proc = run("-m", "training.train", "--preset", "tiny", "--out", str(out), "--total-timesteps", "6144")
    return out, proc


def test_tiny_training_logs_one_parseable_line_per_iteration(trained):
    out, proc = trained
    lines = [line for line in proc.stdout.splitlines() if line.startswith("train_iteration")]
    assert len(lines) == 3, proc.stdout + proc.stderr
    for i, line in enumerate(lines, start=1):
        m = LOG_LINE.match(line)
        assert m, line
        assert int(m.group(1)) == i and int(m.group(2)) == 2048 * i
        for key in ("episode_return", "profit_vs_oracle", "entropy", "kl", "steps_per_s"):  # the CDK's regexes
            assert re.search(rf"{key}=([-+0-9.eE]+)", line)
    rows = (out / "training_curves.csv").read_text().splitlines()
    assert rows[0].startswith("iter,timesteps,time_s,episode_return") and len(rows) == 4
    assert (out / "plots" / "training_curves.png").stat().st_size > 10_000
    assert json.loads((out / "train_config.json").read_text())["preset"] == "tiny"


def test_gate_refuses_an_untrained_policy(trained):
    out, proc = trained
    assert proc.returncode == EXIT_GATE_FAILED, proc.stderr[-3000:]
    assert "GATE FAILED" in proc.stderr and "--force" in proc.stderr
    assert not (out / "model.tar.gz").exists()
    report = json.loads((out / "report.json").read_text())
    names = {p["name"] for p in report["policies"]}
    assert {"ppo", "target_tracking", "oracle", "static", "step_scaling", "hpa", "predictive"} <= names
    assert report["gate"]["passed"] is False and report["gate"]["forced"] is False
    candidate = next(p for p in report["policies"] if p["name"] == "ppo")
    assert candidate["class"] == "ArtifactPolicy" and candidate["parameters"]["path"] is None  # staged, not shipped
    gate = report["gate"]  # the tiny preset judges on 2 capacity-noise draws (Student's t with 1 d.o.f.)
    assert gate["draws"] == 2 and gate["candidate"] == "ppo" and "over 2 noise draws" in gate["reason"]
    assert set(gate["rules"]) == {"static", "target_tracking", "step_scaling", "hpa", "predictive", "character"}
    blocking = {c["scope"] for c in gate["checks"] if c["blocking"]}
    cells = ("default", "w15-o2000", "w1-o20")  # trained across fleets: judged in the quick preset's cells
    groups = ("held-out synthetic", "nasa-eval", "worldcup-eval", "small fleets", "all scenarios")
    assert blocking == {f"{cell}: {g}" for cell in cells for g in groups} | {"all scenarios"}
    scenarios = [c["scope"] for c in gate["checks"] if not c["blocking"]]
    assert scenarios == [f"{cell}/synthetic-{i}" for cell in cells for i in range(4)]  # per-scenario, recorded
    assert any(c["blocking"] and not c["passed"] for c in gate["checks"])
    versus = gate["checks"][3]["vs"]
    assert set(versus) == set(gate["rules"])
    assert all(v["draws"] == 2 and v["lo"] <= v["mean"] <= v["hi"] for v in versus.values())
    assert "## The gate: ppo over 2 capacity-noise draws (FAILED)" in (out / "report.md").read_text()
    assert (out / "report.md").is_file()


def test_forced_packaging_from_the_checkpoint_passes_the_export_check(trained, tmp_path):
    out, _ = trained
    proc = run("-m", "training.gate", "--checkpoint", str(out / "checkpoints"), "--out", str(tmp_path), "--force")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "gate FAILED but forced" in proc.stdout
    loaded = load_artifact(tmp_path / "model.tar.gz")
    meta = loaded.metadata
    assert meta["gate"]["forced"] is True and meta["gate"]["passed"] is False
    assert meta["training"]["preset"] == "tiny"
    # A checkpoint root packages the best validated iteration, which need not be the last one.
    rows = list(csv.DictReader((out / "training_curves.csv").open()))
    best_score = max(float(r["profit_vs_oracle"]) for r in rows)
    chosen = rows[meta["training"]["iterations"] - 1]
    assert float(chosen["profit_vs_oracle"]) == best_score
    assert meta["evaluation"]["summary"]["ppo"]["scenarios"] == 3 * 10  # 3 cells x (6 cases and 4 small fleets)
    assert meta["evaluation"]["cells"] == ["default", "w15-o2000", "w1-o20"]
    assert meta["training"]["fleet_size_range"] == [1.0, 2000.0]
    assert set(meta["training"]["economics_ranges"]) == set(FIELDS)
    assert len(meta["data_sha256"]) == 64 and meta["code_version"]
    assert next(f["name"] for f in meta["observation"]["features"]) == "log_need"
    report = json.loads((tmp_path / "report.json").read_text())
    check = report["export_check"]
    assert check["passed"] and check["observations"] == 1000 and check["mismatches"] == 0
    # The gate evaluated the artifact as served: handler, shield and all, one decision per fleet-minute.
    candidate = next(p for p in report["policies"] if p["name"] == "ppo")
    assert candidate["class"] == "ArtifactPolicy"
    assert candidate["parameters"]["path"] == str(tmp_path / "model.tar.gz")
    assert candidate["parameters"]["shield"]["decisions"] == 3 * (4 * 1440 + 2 * 2 * 1440 + 4 * 1440)


def test_export_check_catches_a_different_network(trained, tmp_path):
    from inference.artifact import package_policy, random_policy, untrained_metadata
    from training.rl.export import compare_actions, load_rllib_module

    out, _ = trained
    module = load_rllib_module(sorted((out / "checkpoints").glob("iter_*"))[-1])
    tarball = package_policy(random_policy(seed=5), tmp_path, metadata=untrained_metadata())
    obs = np.random.default_rng(0).standard_normal((1000, OBS_DIM)).astype(np.float32)
    check = compare_actions(module, tarball, obs)
    # Both networks are nearly uniform, so their medians agree on the middle margins more often than their modes
    # would: tens of mismatches, not hundreds, and any one refuses the artifact.
    assert check["decode"] == "median"
    assert not check["passed"] and check["mismatches"] > 20
