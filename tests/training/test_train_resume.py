"""Checkpoint and resume: a run killed without warning (a spot interruption) resumes from its newest checkpoint
and loses at most the iteration that was running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.rl import checkpoints

pytestmark = pytest.mark.slow  # starts Ray, trains and kills a run

ROOT = Path(__file__).resolve().parents[2]
TOTAL_ITERATIONS = 14
ARGS = ["--preset", "tiny", "--no-package", "--total-timesteps", str(2048 * TOTAL_ITERATIONS)]


def _iterations(stdout: str) -> list[int]:
    return [int(line.split()[1].split("=")[1]) for line in stdout.splitlines() if line.startswith("train_iteration")]


def test_killed_run_resumes_losing_at_most_one_iteration(tmp_path):
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    cmd = [sys.executable, "-m", "training.train", *ARGS, "--out", str(out), "--checkpoint-dir", str(ckpt)]
    first = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 240
    while (checkpoints.latest(ckpt) is None or checkpoints.latest(ckpt).name < "iter_000004") and first.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the whole session we started: driver, GCS, raylet, workers
    stdout, _ = first.communicate(timeout=60)
    logged = _iterations(stdout)
    saved = checkpoints.load_state(checkpoints.latest(ckpt))["iteration"]
    assert saved >= 4 and logged, stdout
    assert max(logged) - saved <= 1  # at most the iteration in flight is lost

    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming" in second.stdout and f"(iteration {saved})" in second.stdout
    resumed = _iterations(second.stdout)
    assert resumed == list(range(saved + 1, TOTAL_ITERATIONS + 1))
    final = checkpoints.load_state(checkpoints.latest(ckpt))
    assert final["iteration"] == TOTAL_ITERATIONS
    assert [r["iter"] for r in final["rows"]] == list(range(1, TOTAL_ITERATIONS + 1))
    assert final["timesteps"] == 2048 * TOTAL_ITERATIONS
    assert len(checkpoints.complete(ckpt)) == 2  # keep_checkpoints
    rows = (out / "training_curves.csv").read_text().splitlines()
    assert len(rows) == TOTAL_ITERATIONS + 1
    assert json.loads((out / "training_summary.json").read_text())["run_name"] == final["run_name"]


def test_mismatched_network_refuses_to_resume(tmp_path):
    ckpt = tmp_path / "ckpt"
    cmd = [sys.executable, "-m", "training.train", *ARGS[:-1], "2048", "--out", str(tmp_path), "--checkpoint-dir",
           str(ckpt)]  # fmt: skip
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300, check=False).returncode == 0
    first = checkpoints.load_state(checkpoints.latest(ckpt))["run_name"]
    proc = subprocess.run([*cmd, "--hidden", "8"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert "hidden: [16, 16] -> [8]" in proc.stderr and "--resume false" in proc.stderr
    assert json.loads((tmp_path / "train_config.json").read_text())["hidden"] == [16, 16]  # the run's files kept
    # Starting over sets the old run's checkpoints aside (nothing deleted) and trains from scratch.
    fresh = subprocess.run(
        [*cmd, "--hidden", "8", "--resume", "false"], cwd=ROOT, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "resuming" not in fresh.stdout and "were moved to" in fresh.stdout
    assert checkpoints.load_state(checkpoints.latest(ckpt))["config"]["hidden"] == [8]
    assert checkpoints.load_state(checkpoints.latest(ckpt / "superseded" / "1"))["run_name"] == first


def test_set_aside_moves_every_checkpoint_and_numbers_the_batches(tmp_path):
    assert checkpoints.set_aside(tmp_path / "missing") is None
    for name in ("iter_000001", "iter_000002", "best", ".tmp_iter_000003", "notes.txt"):
        (tmp_path / name).mkdir()
    assert checkpoints.set_aside(tmp_path) == tmp_path / "superseded" / "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "superseded"]
    assert len(list((tmp_path / "superseded" / "1").iterdir())) == 4
    assert checkpoints.set_aside(tmp_path) is None  # nothing left to move
    (tmp_path / "iter_000001").mkdir()
    assert checkpoints.set_aside(tmp_path) == tmp_path / "superseded" / "2"
