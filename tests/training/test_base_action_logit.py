"""A fresh policy leans to the economics' base level on every env runner, the remote ones that sample included."""

from __future__ import annotations

import numpy as np
import pytest

from inference.actions import OFFSETS
from training.rl.config import ENV_NAME, PRESETS, finalize, from_dict
from training.rl.warm_start import lean_to_base_action, rllib_policy_keys

pytestmark = pytest.mark.slow  # starts Ray


def test_the_base_action_logit_reaches_the_remote_env_runners() -> None:
    ray = pytest.importorskip("ray")
    from ray.tune.registry import register_env

    from training.rl.ppo import build_ppo_config, rllib_env_creator

    cfg = finalize(from_dict({**PRESETS["tiny"], "num_env_runners": 1}))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        register_env(ENV_NAME, rllib_env_creator)
        algo = build_ppo_config(cfg).build_algo()
        state = algo.learner_group.get_weights()["default_policy"]
        _, key = rllib_policy_keys(state)[-1]
        before = np.asarray(state[key], dtype=np.float32).copy()
        lean_to_base_action(algo, 3.0)
        want = before.copy()
        want[OFFSETS.index(0.0)] += 3.0
        learner = np.asarray(algo.learner_group.get_weights()["default_policy"][key])
        runners = algo.env_runner_group.foreach_env_runner(
            lambda r: np.asarray(r.module.get_state()[key]), local_env_runner=False
        )
        algo.stop()
    finally:
        ray.shutdown()
    assert len(runners) == 1
    np.testing.assert_allclose(learner, want, atol=1e-6)
    np.testing.assert_allclose(runners[0], want, atol=1e-6)
