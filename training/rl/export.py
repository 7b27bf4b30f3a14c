"""RLlib PPO module -> the artifact's plain policy network, checked to act exactly as the RLlib module does.

The trained ``DefaultPPOTorchRLModule`` (new API stack) holds an actor encoder, a ``pi`` head, and the value
network. Serving needs only the policy path: ``inference.policy.from_rllib_state_dict`` maps it to the
``nn.Sequential`` of ``inference.artifact`` (weights as numpy, loads with torch alone or with numpy alone).

The check: 1,000 observations of the trained policy at work (the exploring policy on training scenarios, the
distribution the network was fitted on), through both the RLlib module's ``forward_inference`` and the
packaged artifact's numpy forward pass; the served actions (the artifact's ``decode`` of the logits,
``inference.policy.decode``) must agree on every observation. An observation that ``TIE_TOL`` of rounding could
decide either way is reported as a tie, not a mismatch (float32 rounding may order them either way; with trained
networks there are typically none): for "argmax" two best logits within it, for "median" a cumulative
probability within it of one half.

Used by ``training.train`` after training and by ``python -m training.gate --checkpoint CKPT`` for a checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inference.artifact import load_artifact, observation_spec
from inference.features import group_columns, hide_groups
from inference.policy import NumpyPolicy, cumulative_probability, decode, from_rllib_state_dict, spec_of_torch
from simulator.config import SimConfig
from simulator.distribution import FleetDistribution
from training.rl.checkpoints import module_path
from training.sim.vector_env import FleetVectorEnv

TIE_TOL = 1e-5


def load_rllib_module(checkpoint: str | Path) -> Any:
    """The trained RLModule from a training checkpoint (no Ray cluster needed)."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    return RLModule.from_checkpoint(str(module_path(checkpoint).resolve()))


def module_state(module: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def policy_net(state: dict[str, Any], activation: str, ablate: tuple[str, ...] | list[str] = ()) -> Any:
    """The artifact's ``nn.Sequential`` from an RLlib module state dict (policy path only).

    ``ablate``: the feature groups the run trained without (``TrainConfig.ablate``). Training saw them as 0, so
    their first-layer weights were never fitted; they are zeroed, and the network ignores those features
    whatever a caller sends: the packaged policy acts as it was trained, with no serving change."""
    import torch

    net = from_rllib_state_dict(state, fcnet_activation=activation)
    if ablate:
        with torch.no_grad():
            net[0].weight[:, torch.from_numpy(group_columns(ablate))] = 0.0
    return net


def numpy_policy(net: Any) -> NumpyPolicy:
    return NumpyPolicy(*spec_of_torch(net))


def rllib_logits(module: Any, obs: np.ndarray) -> np.ndarray:
    """The RLlib module's action logits for a batch, through its own inference forward pass."""
    import torch
    from ray.rllib.core.columns import Columns

    with torch.no_grad():
        out = module.forward_inference({Columns.OBS: torch.from_numpy(np.asarray(obs, dtype=np.float32))})
    return out[Columns.ACTION_DIST_INPUTS].cpu().numpy()


def collect_observations(
    policy: NumpyPolicy,
    sim_config: SimConfig,
    *,
    num_envs: int = 512,
    steps: int = 1000,
    seed: int = 0,
    trace_probability: float = 0.3,
    distribution: FleetDistribution | None = None,
) -> np.ndarray:
    """Observations met by the exploring policy (actions sampled from its softmax) on training scenarios.

    Their per-feature range becomes the artifact's training range, outside which the serving shield falls back
    to target tracking, so the sample must cover what training saw: whole training episodes of 512 scenarios
    (about 1 s, 47 MB). Measured: 32 fleets x 400 minutes left the load ratios within +-1 (training clips them
    at +-3), and the served policy fell back on 32 minutes of NASA's evaluation part (3,377 $ lost). With
    ``distribution``, the fleets are drawn from it as training drew them, so the economics features' ranges are the
    trained ones (at ``sim_config`` alone, every other fleet's economics would fall back)."""
    env = FleetVectorEnv(
        num_envs,
        sim_config.replace(episode_minutes=max(steps, 1)),
        trace_probability,
        fleet_distribution=distribution,
        reward_normalization="economics" if distribution is not None else "mean_need",
    )
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    seen = [obs]
    for _ in range(steps - 1):
        logits = policy.logits(obs).astype(np.float64)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        actions = (p.cumsum(axis=1) > rng.random((len(p), 1))).argmax(axis=1)
        obs, *_ = env.step(actions)
        seen.append(obs)
    return np.concatenate(seen)


def model_logits(module: Any, obs: np.ndarray) -> np.ndarray:
    """Logits of a trained model: an RLlib module (``rllib_logits``) or a plain torch network."""
    if hasattr(module, "forward_inference"):
        return rllib_logits(module, obs)
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(obs, dtype=np.float32))).cpu().numpy()


def compare_actions(
    module: Any, artifact_path: str | Path, obs: np.ndarray, ablate: tuple[str, ...] | list[str] = ()
) -> dict[str, Any]:
    """Served actions of the trained model (``model_logits``, on ``obs`` as it was trained to see them, decoded
    by the artifact's rule) vs the packaged artifact's."""
    logits = model_logits(module, hide_groups(obs, ablate))
    artifact = load_artifact(artifact_path)
    rule = artifact.spec.decode
    ref = decode(logits, rule)
    got = artifact.act(obs)
    if rule == "argmax":
        top2 = np.sort(logits, axis=1)[:, -2:]
        tie = (top2[:, 1] - top2[:, 0]) < TIE_TOL
    else:
        tie = (np.abs(cumulative_probability(logits)[:, :-1] - 0.5) < TIE_TOL).any(axis=1)
    differ = ref != got
    return {
        "observations": len(obs),
        "decode": rule,
        "mismatches": int((differ & ~tie).sum()),
        "ties_differing": int((differ & tie).sum()),
        "max_abs_logit_diff": float(np.abs(artifact.policy.logits(obs) - logits).max()),
        "passed": bool(not (differ & ~tie).any()),
    }


def check_observations(
    policy: NumpyPolicy, sim_config: SimConfig, count: int, seed: int, distribution: FleetDistribution | None = None
) -> tuple[np.ndarray, dict]:
    """``count`` check observations (a random subset of the exploring policy's) and the observation spec
    (per-feature training range) computed from all of them, for the artifact metadata; ``distribution``: the
    fleets training drew (``collect_observations``)."""
    pool = collect_observations(policy, sim_config, seed=seed, distribution=distribution)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    return pool[pick], observation_spec(pool, sim_config.observation_lag_minutes)
