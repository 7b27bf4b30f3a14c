"""The training range packaged with a policy: what the serving shield treats as seen in training."""

from __future__ import annotations

from inference.artifact import observation_spec, package_policy, random_policy, untrained_metadata
from simulator.config import SimConfig
from training.evaluation.cases import evaluation_cases
from training.evaluation.scoreboard import run_policy
from training.policies.artifact import ArtifactPolicy
from training.rl.export import collect_observations, numpy_policy


def test_training_range_covers_the_held_out_scenarios(tmp_path) -> None:
    """Served through the shield with the range the gate packages, a policy never falls back to target tracking
    on the held-out cases: they come from the same distributions as training. (A range from 32 fleets x 400
    minutes left the load ratios within +-1 and made the served policy fall back on NASA's evaluation part.)"""
    net = random_policy(seed=3)
    spec = observation_spec(collect_observations(numpy_policy(net), SimConfig(), seed=0))
    ratios = [f for f in spec["features"] if f["name"].startswith("load_ratio_")]
    assert min(f["lo"] for f in ratios) < -2.0 and max(f["hi"] for f in ratios) > 2.0
    tarball = package_policy(net, tmp_path, metadata={**untrained_metadata(), "observation": spec})
    policy = ArtifactPolicy(str(tarball))
    run_policy(policy, evaluation_cases(quick=True), SimConfig(), seed=0)
    assert policy.shield_counts["decisions"] == 4 * 1440 + 2 * 2 * 1440
    assert policy.shield_counts["fallbacks"] == 0, policy.shield_counts
