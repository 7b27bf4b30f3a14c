"""Noise draws: paired differences over capacity-noise draws, their verdicts, and the benchmark's command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import noise as noise_cli
from inference.artifact import package_policy, random_policy, untrained_metadata
from training.evaluation import noise as bench_noise
from training.evaluation.cases import evaluation_cases


def test_paired_interval_and_verdict() -> None:
    p = bench_noise.Paired.of(np.array([-1.0, 2.0, 3.0, 4.0]))
    assert p.mean == 2.0 and p.wins == 3 and p.draws == 4
    half = 3.182446305284263 * np.std([-1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3) x standard error
    assert p.lo == pytest.approx(2.0 - half) and p.hi == pytest.approx(2.0 + half)
    assert p.verdict == "tie"  # the interval straddles zero
    assert bench_noise.Paired.of(np.array([1.0, 2.0, 3.0, 4.0])).verdict == "beats"
    assert bench_noise.Paired.of(np.array([5.0, 6.0, 5.5])).verdict == "beats"
    assert bench_noise.Paired.of(np.array([-5.0, -6.0, -5.5])).verdict == "loses"
    single = bench_noise.Paired.of(np.array([-1.0]))
    assert (single.lo, single.hi, single.verdict) == (-1.0, -1.0, "loses")


def test_summary_groups_scenarios_and_pairs_draws() -> None:
    cases = evaluation_cases(quick=True)
    rng = np.random.default_rng(0)
    rule = rng.normal(100.0, 10.0, size=(8, len(cases)))
    better = rule + 1.0  # the same draws, one dollar more everywhere: beats with any noise
    worse_on_wc = better.copy()
    wc = [c.scenario.name for c in cases].index("worldcup-eval")
    worse_on_wc[:, wc] -= 50.0
    doc = bench_noise.summarise({"rule": rule, "a": better, "b": worse_on_wc}, cases, ["a", "b"], ["rule"])
    assert {"held-out synthetic", "nasa-eval", "worldcup-eval", "all scenarios", "synthetic-0"} <= set(doc)
    assert doc["all scenarios"]["a"]["vs"]["rule"]["mean"] == pytest.approx(len(cases))
    assert all(doc[k]["a"]["verdict"] == "beats" for k in doc)
    assert doc["worldcup-eval"]["b"]["verdict"] == "loses" and doc["nasa-eval"]["b"]["verdict"] == "beats"
    assert doc["held-out synthetic"]["mean"]["rule"] == pytest.approx(rule[:, :4].sum(axis=1).mean())


def test_main_scores_a_packaged_policy(tmp_path, capsys) -> None:
    tarball = package_policy(random_policy(seed=1), tmp_path, metadata=untrained_metadata())
    out = tmp_path / "noise.json"
    assert noise_cli.main(["--policy", str(tarball), "--seeds", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "paired over 2 capacity-noise draws" in text and "scenarios: beats every rule on" in text
    doc = json.loads(out.read_text())
    assert doc["seeds"] == 2 and doc["groups"]["worldcup-eval"][str(tarball)]["vs"]["target_tracking"]["draws"] == 2


def test_main_refuses_a_missing_policy(tmp_path) -> None:
    with pytest.raises(SystemExit):
        noise_cli.main(["--policy", str(tmp_path / "nope.tar.gz")])
