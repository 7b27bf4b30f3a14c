"""Training without a feature group (``TrainConfig.ablate``): the env hides it, the packaged network ignores it,
and ``research.ablation`` trains, packages and judges such runs end to end."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from inference.features import CONTEXT_NAMES, FEATURE_GROUPS, FEATURE_NAMES, OBS_DIM, group_columns, hide_groups
from simulator.config import SimConfig
from training.rl import config as tc
from training.rl.export import numpy_policy, policy_net
from training.rl.ppo import rllib_env_creator
from training.sim.vector_env import FleetVectorEnv

ROOT = Path(__file__).resolve().parents[2]


def test_groups_name_character_features_only():
    assert set(FEATURE_GROUPS["day"]) == set(CONTEXT_NAMES)
    for name, members in FEATURE_GROUPS.items():
        assert set(members) <= set(CONTEXT_NAMES), name
    assert [FEATURE_NAMES[i] for i in group_columns(["yesterday", "noise"])] == [
        "noise", "swing", "yday_level", "yday_rise"
    ]  # fmt: skip
    assert group_columns([]).size == 0
    with pytest.raises(ValueError, match=r"unknown feature group\(s\) \['weekly'\]"):
        group_columns(["weekly"])


def test_env_hides_exactly_the_ablated_columns():
    config = SimConfig(episode_minutes=60)
    full, ablated = FleetVectorEnv(8, config), FleetVectorEnv(8, config, ablate=("spikes", "yesterday"))
    hidden = group_columns(("spikes", "yesterday"))
    shown = np.setdiff1d(np.arange(OBS_DIM), hidden)
    a, _ = full.reset(seed=3)
    b, _ = ablated.reset(seed=3)
    for _ in range(5):
        assert np.array_equal(a[:, shown], b[:, shown])
        assert not b[:, hidden].any()
        actions = np.full(8, 4)
        a, *_ = full.step(actions)
        b, *_ = ablated.step(actions)
    assert a[:, hidden].any()  # the hidden features carry information in the full env


def _rllib_state(seed: int = 0, hidden: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "encoder.actor_encoder.net.mlp.0.weight": rng.standard_normal((hidden, OBS_DIM)).astype(np.float32),
        "encoder.actor_encoder.net.mlp.0.bias": rng.standard_normal(hidden).astype(np.float32),
        "pi.net.mlp.0.weight": rng.standard_normal((13, hidden)).astype(np.float32),
        "pi.net.mlp.0.bias": rng.standard_normal(13).astype(np.float32),
    }


def test_packaged_network_ignores_the_ablated_features_and_keeps_the_rest():
    state = _rllib_state()
    plain = numpy_policy(policy_net(state, "tanh"))
    ablated = numpy_policy(policy_net(state, "tanh", ("noise",)))
    obs = np.random.default_rng(1).standard_normal((64, OBS_DIM)).astype(np.float32)
    noisy = obs.copy()
    noisy[:, group_columns(["noise"])] += 5.0
    assert np.allclose(ablated.logits(obs), ablated.logits(noisy))  # ignores them whatever is sent
    # ...and acts as the trained module does on what training showed it (those features at 0).
    assert np.allclose(ablated.logits(obs), plain.logits(hide_groups(obs, ("noise",))), atol=1e-6)
    assert not np.allclose(plain.logits(obs), plain.logits(noisy))
    assert hide_groups(obs, ()) is obs


def test_config_parses_and_names_bad_groups():
    cfg = tc.apply(tc.TrainConfig(), {"ablate": "noise, spikes"}, "test")
    assert cfg.ablate == ("noise", "spikes")
    assert tc.apply(tc.TrainConfig(), {"ablate": '["day"]'}, "test").ablate == ("day",)
    assert tc.apply(tc.TrainConfig(), {"ablate": ""}, "test").ablate == ()
    assert tc.to_dict(cfg)["ablate"] == ["noise", "spikes"]
    with pytest.raises(ValueError, match=r"ablate=\('weekly',\)"):
        tc.finalize(tc.TrainConfig(ablate=("weekly",)))


def test_env_config_carries_the_ablation_only_when_set():
    plain = tc.finalize(tc.TrainConfig(), run_name="r")
    from training.rl.ppo import build_ppo_config

    assert "ablate" not in build_ppo_config(plain).env_config
    ablated = tc.finalize(tc.TrainConfig(ablate=("noise",)), run_name="r")
    assert build_ppo_config(ablated).env_config["ablate"] == ["noise"]
    with pytest.raises(ValueError, match=re.escape("cannot honour {'ablate': ['noise']}")):
        rllib_env_creator({"ablate": ["noise"]})  # the single env shows every feature
