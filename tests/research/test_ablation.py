"""research.ablation trains, packages and judges ablated runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference.features import OBS_DIM, group_columns

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # two tiny training runs (Ray) and their replay
def test_benchmark_trains_packages_and_judges_ablated_runs(tmp_path):
    out = tmp_path / "ablation"
    cmd = [sys.executable, "-m", "research.ablation", "--preset", "tiny", "--seeds", "1", "--groups", "noise",
           "--draws", "2", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads((out / "ablation.json").read_text())
    assert list(result["runs"]) == ["none-s1", "noise-s1"]  # the baseline is always trained
    pair = result["runs"]["noise-s1"]["minus_baseline"]
    assert set(pair) == set(result["scopes"]) and pair["all scenarios"]["draws"] == 2
    total = result["runs"]["noise-s1"]["profit"]["all scenarios"] - result["runs"]["none-s1"]["profit"]["all scenarios"]
    assert pair["all scenarios"]["mean"] == pytest.approx(total)
    assert "noise-s1" in (out / "ablation.md").read_text()
    # The ablated run's artifact ignores the group, and its export matched the RLlib module.
    from inference.artifact import load_artifact

    assert json.loads((out / "noise-s1" / "train_config.json").read_text())["ablate"] == ["noise"]
    assert json.loads((out / "noise-s1" / "report.json").read_text())["export_check"]["passed"]
    loaded = load_artifact(out / "noise-s1" / "model.tar.gz")
    obs = np.random.default_rng(2).standard_normal((32, OBS_DIM)).astype(np.float32)
    moved = obs.copy()
    moved[:, group_columns(["noise"])] = 1.0
    assert np.allclose(loaded.policy.logits(obs), loaded.policy.logits(moved))
    # A second call reuses the packaged runs instead of training again.
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0 and json.loads((out / "ablation.json").read_text())["trained_now"] == {}
