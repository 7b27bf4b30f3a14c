"""The Gymnasium environment: API conformance, determinism, and one featurizer shared with serving."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from inference.actions import N_ACTIONS, desired_from_action, sizing_basis
from inference.features import OBS_DIM, featurize
from simulator.config import SimConfig
from simulator.loads import eval_synthetic
from training.sim.env import FleetEnv


def test_passes_gymnasium_env_checker():
    check_env(FleetEnv(SimConfig(episode_minutes=50)), skip_render_check=True)


def rollout(env: FleetEnv, seed: int, steps: int = 200) -> tuple[list[float], np.ndarray]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    rewards = []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(N_ACTIONS)))
        rewards.append(reward)
        assert not terminated
        if truncated:
            obs, _ = env.reset()
    return rewards, obs


def test_same_seed_same_rollout_and_different_seed_differs():
    env_a, env_b = FleetEnv(SimConfig(episode_minutes=80)), FleetEnv(SimConfig(episode_minutes=80))
    ra, oa = rollout(env_a, 3)
    rb, ob = rollout(env_b, 3)
    assert ra == rb and np.array_equal(oa, ob)
    rc, _ = rollout(env_a, 4)
    assert rc != ra


def test_pickle_round_trip_keeps_the_episode():
    env = FleetEnv(SimConfig(episode_minutes=60))
    env.reset(seed=1)
    env.step(3)
    clone = pickle.loads(pickle.dumps(env))
    a = env.step(5)
    b = clone.step(5)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_truncates_after_episode_minutes_and_reward_is_profit():
    env = FleetEnv(SimConfig(episode_minutes=30))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (OBS_DIM,) and env.observation_space.contains(obs)
    for t in range(30):
        obs, reward, terminated, truncated, info = env.step(4)
        assert not terminated
        assert reward == pytest.approx(info["revenue"] - info["machine_cost"] - info["downtime_cost"])
        assert truncated == (t == 29)


@pytest.mark.parametrize("warmup", [5, 15], ids=["16-minute-window", "two-warm-up-window"])
def test_observation_is_the_serving_featurizer_applied_to_contract_fields(warmup):
    """What the policy sees in training is exactly what the handler computes from an HTTP request, and the fleet
    each action asks for is the one the contract fields size (at 15 minutes of warm-up, on two warm-ups)."""
    env = FleetEnv(SimConfig(episode_minutes=100, warmup_latency=warmup))
    scenario = eval_synthetic(0, 100)
    obs, _ = env.reset(seed=0, options={"scenario": scenario})
    rng = np.random.default_rng(1)
    for _ in range(60):
        seen = env.sim.observe()  # the contract fields a cloud would report
        expected = featurize(
            seen.load, seen.failed, seen.active, seen.pending, seen.capacity_rpm_per_machine, seen.minute,
            seen.history, economics=seen.economics,
        )[0]  # fmt: skip
        np.testing.assert_allclose(obs, expected, rtol=1e-6, atol=1e-6)
        action = int(rng.integers(N_ACTIONS))
        cap = seen.capacity_rpm_per_machine
        basis = sizing_basis(seen.load, cap, seen.history, seen.economics)
        want = desired_from_action(np.array([action]), basis, seen.active, seen.pending, seen.economics, cap)
        obs, _, _, _, info = env.step(action)
        assert info["active"] + info["pending"] - info["delta"] == seen.active[0] + seen.pending[0]
        assert info["delta"] == max(want[0], 1) - (seen.active[0] + seen.pending[0])


def test_env_config_dict_as_rllib_passes_it():
    env = FleetEnv({"episode_minutes": 20, "trace_probability": 1.0})
    _, info = env.reset(seed=0)
    assert info["scenario"].endswith("-train")
    with pytest.raises(ValueError, match="nonsense"):
        FleetEnv({"nonsense": 1})
