"""Noise draws: the paired replay, paired differences and their verdicts, and the benchmark's command line."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config import SimConfig
from training.evaluation import noise as bench_noise
from training.evaluation.cases import evaluation_cases
from training.evaluation.scoreboard import default_policies
from training.policies.rules import TargetTracking


def test_paired_interval_and_verdict() -> None:
    p = bench_noise.Paired.of(np.array([-1.0, 2.0, 3.0, 4.0]))
    assert p.mean == 2.0 and p.wins == 3 and p.draws == 4
    half = 3.182446305284263 * np.std([-1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3) x standard error
    assert p.lo == pytest.approx(2.0 - half) and p.hi == pytest.approx(2.0 + half)
    assert p.verdict == "tie"  # the interval straddles zero
    assert bench_noise.Paired.of(np.array([1.0, 2.0, 3.0, 4.0])).verdict == "beats"
    assert bench_noise.Paired.of(np.array([5.0, 6.0, 5.5])).verdict == "beats"
    assert bench_noise.Paired.of(np.array([-5.0, -6.0, -5.5])).verdict == "loses"
    with pytest.raises(ValueError, match="at least 2 draws"):
        bench_noise.Paired.of(np.array([-1.0]))  # one draw has no interval


def test_replay_pairs_draws() -> None:
    cases = evaluation_cases(quick=True)[-1:]  # the two World Cup days
    rules = default_policies(oracle=False)
    policies = {
        "target_tracking": rules["target_tracking"], "again": rules["target_tracking"], "hpa": rules["hpa"],
        "hot": TargetTracking(0.95),  # runs out of capacity now and then: its profit depends on the draw
    }  # fmt: skip
    draws = bench_noise.replay(policies, cases, SimConfig(), 2, progress=False)
    assert draws.draws == 2 and draws.scenarios == [("trace", "worldcup-eval")]
    assert draws.minutes.tolist() == [cases[0].scenario.minutes]
    tt = draws.profit["target_tracking"]
    hot = draws.profit["hot"]
    assert tt.shape == hot.shape == (2, 1) and hot[0, 0] != hot[1, 0]  # two draws of the noise
    np.testing.assert_array_equal(tt, draws.profit["again"])  # the same draws for every policy
    np.testing.assert_array_equal(draws.minutes_down["target_tracking"], draws.minutes_down["again"])
    with pytest.raises(ValueError, match="at least 2"):
        bench_noise.replay(policies, cases, SimConfig(), 1, progress=False)


def test_replay_in_worker_processes_is_the_same_replay() -> None:
    cases = evaluation_cases(quick=True)[-1:]
    policies = {"hot": TargetTracking(0.95), "hpa": default_policies(oracle=False)["hpa"]}
    serial = bench_noise.replay(policies, cases, SimConfig(), 3, progress=False)
    parallel = bench_noise.replay(policies, cases, SimConfig(), 3, progress=False, workers=2)
    for name in policies:
        np.testing.assert_array_equal(serial.profit[name], parallel.profit[name])
        np.testing.assert_array_equal(serial.minutes_down[name], parallel.minutes_down[name])
    assert serial.profit["hot"][0, 0] != serial.profit["hot"][1, 0]  # the draws differ, and each is in its row
