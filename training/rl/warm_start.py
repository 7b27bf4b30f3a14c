"""Behaviour-cloning warm start: the PPO policy starts as an imitation of the clairvoyant oracle.

Why: from a uniformly random policy most actions thrash the fleet (a cut removes serving machines while new ones
are still warming up), so "hold" looks best early and PPO collapses onto "hold, or jump to a large headroom",
a local optimum about as good as target tracking. Starting from the oracle's behaviour puts PPO in the right
basin; PPO then corrects what the oracle could only do with foresight (e.g. the headroom a spike needs).

Demonstrations: the oracle (``training.policies.oracle``) plans fresh *training* scenarios (``TRAIN_STREAM``, sub-stream
11: never validation nor evaluation); at every minute the observation is what the policy would see
(``simulator.fleet.observation_of``) and the label is the action whose fleet (``desired_from_action``) is
closest to the oracle's (the lowest on ties). The policy network (same architecture as the RLModule's policy path)
is fitted by cross-entropy, then written into the RLModule's actor encoder and ``pi`` head on the learner, and
the env runners get the new weights. The value network is left to PPO.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from inference.actions import N_ACTIONS, desired_from_action, sizing_basis
from simulator.config import SimConfig
from simulator.fleet import FleetSim, Observation, StepResult, observation_of
from simulator.loads import TRAIN_STREAM, sample_with_past
from training.policies.base import rollout
from training.policies.oracle import Oracle

DEMO_SUBSTREAM = 11


def nearest_action(desired: np.ndarray, obs: Observation) -> np.ndarray:
    """Index of the action whose fleet is closest to ``desired`` (the lowest index on ties)."""
    basis = sizing_basis(obs.load, obs.capacity_rpm_per_machine, obs.history, obs.economics)
    n = len(desired)
    fleets = np.stack(
        [
            desired_from_action(
                np.full(n, a), basis, obs.active, obs.pending, obs.economics, obs.capacity_rpm_per_machine
            )
            for a in range(N_ACTIONS)
        ],
        axis=1,
    )
    return np.abs(fleets - np.asarray(desired)[:, None]).argmin(axis=1)


def oracle_demonstrations(
    sim_config: SimConfig, scenarios: int, seed: int, trace_probability: float
) -> tuple[np.ndarray, np.ndarray]:
    """(observations, action labels) along the oracle's trajectories on ``scenarios`` training scenarios."""
    drawn = [
        sample_with_past(
            np.random.default_rng([TRAIN_STREAM, DEMO_SUBSTREAM, seed, i]),
            sim_config.episode_minutes,
            trace_probability=trace_probability,
            capacity=sim_config.capacity_rpm_per_machine,
        )
        for i in range(scenarios)
    ]
    sim = FleetSim(
        sim_config,
        [s for s, _ in drawn],
        seed=np.random.SeedSequence([TRAIN_STREAM, DEMO_SUBSTREAM, seed]),
        past=[p for _, p in drawn],
    )
    xs, ys = [], []

    def record(t: int, obs: Observation, desired: np.ndarray, result: StepResult) -> None:
        xs.append(observation_of(obs))
        ys.append(nearest_action(desired, obs))

    rollout(Oracle(), sim, on_step=record)
    return np.concatenate(xs), np.concatenate(ys)


def behaviour_clone(
    net: Any, obs: np.ndarray, actions: np.ndarray, *, epochs: int, lr: float = 1e-3, batch: int = 1024, seed: int = 0
) -> dict[str, float]:
    """Fit ``net`` (obs -> logits) to the labels by cross-entropy; returns the final loss and accuracy."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(obs.astype(np.float32))
    y = torch.from_numpy(actions.astype(np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        logits = net(x)
        return {"loss": float(loss_fn(logits, y)), "accuracy": float((logits.argmax(1) == y).float().mean())}


def rllib_policy_keys(state: dict[str, Any]) -> list[tuple[str, str]]:
    """RLlib (weight, bias) keys of the policy path in forward order: actor encoder layers, then the pi head."""
    import re

    def layers(pattern: str) -> list[str]:
        rx = re.compile(pattern)
        found = sorted((int(m.group(1)), k) for k in state if (m := rx.fullmatch(k)))
        return [k for _, k in found]

    keys = layers(r"encoder\.actor_encoder\.net\.mlp\.(\d+)\.weight") + layers(r"pi\.net\.mlp\.(\d+)\.weight")
    return [(k, k[: -len("weight")] + "bias") for k in keys]


def lean_to_base_action(algo: Any, logit: float) -> None:
    """Add ``logit`` to the policy's output bias for the offset-0 action (``TrainConfig.base_action_logit``), on the
    learner and the env runners."""
    from inference.actions import OFFSETS

    state = dict(algo.learner_group.get_weights()["default_policy"])
    _, bias_key = rllib_policy_keys(state)[-1]
    bias = np.array(state[bias_key], dtype=np.float32, copy=True)
    bias[OFFSETS.index(0.0)] += logit
    state[bias_key] = bias
    set_policy_weights(algo, state, [bias_key])


def set_policy_weights(algo: Any, state: dict[str, Any], changed: list[str]) -> None:
    """Give the learner the whole policy ``state``, and every env runner (local and remote) its ``changed`` keys.

    ``EnvRunnerGroup.sync_weights`` from the learner group reaches only the local runner before the first
    iteration (RLlib 2.60, measured): the remote runners, which sample, would keep their random initial weights."""
    algo.learner_group.set_weights({"default_policy": state})
    weights = {k: state[k] for k in changed}

    def assign(runner: Any) -> None:
        module_state = runner.module.get_state()
        module_state.update({k: v for k, v in weights.items() if k in module_state})
        runner.module.set_state(module_state)

    algo.env_runner_group.foreach_env_runner(assign, local_env_runner=True)


def warm_start(algo: Any, cfg: Any, sim_config: SimConfig) -> dict[str, float]:
    """Behaviour-clone the oracle into the algorithm's policy (learner and env runners)."""
    from inference.features import hide_groups
    from training.rl.export import policy_net

    t0 = time.perf_counter()
    state = algo.learner_group.get_weights()["default_policy"]
    net = policy_net(state, cfg.activation, cfg.ablate)
    obs, actions = oracle_demonstrations(sim_config, cfg.bc_scenarios, cfg.seed, cfg.trace_probability)
    obs = hide_groups(obs, cfg.ablate)  # as the env shows them
    fit = behaviour_clone(net, obs, actions, epochs=cfg.bc_epochs, seed=cfg.seed)
    linears = [m for m in net if hasattr(m, "weight")]
    new_state = dict(state)
    for (w_key, b_key), layer in zip(rllib_policy_keys(state), linears, strict=True):
        new_state[w_key] = layer.weight.detach().numpy().copy()
        new_state[b_key] = layer.bias.detach().numpy().copy()
    set_policy_weights(algo, new_state, [k for pair in rllib_policy_keys(state) for k in pair])
    return {
        **fit,
        "samples": len(actions),
        "lowest_level_fraction": float((actions == 0).mean()),
        "seconds": round(time.perf_counter() - t0, 1),
    }
