"""The one interface through which every scaling policy (rules, oracle, PPO) is evaluated and tuned.

A policy decides, once a minute and for N fleets at once, the whole fleet each should hold (serving + warming):

    policy.reset(sim)                      # before minute 0; ``sim`` is a ``training.sim.FleetSim``
    desired = policy.act(sim.observe())    # int64 array (N,), then ``sim.step(desired)``

``act`` sees only the decision-contract fields of ``Observation`` (what a real cloud observes). A policy that
uses metric history older than the observation window (the predictive rule) also accepts
``reset(sim, past=...)``: ``past[i]`` is the load of fleet ``i`` in the minutes before its scenario's history,
oldest first, as CloudWatch would hold it. The evaluation passes it to any ``reset`` that has a ``past``
parameter, so a policy written as ``reset(self, sim)`` works unchanged.

Only the clairvoyant oracle reads ``sim.loads`` beyond the observation: it is the ceiling, not a policy one could
deploy.
"""

from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

import numpy as np

from .sim import FleetSim, Observation


@runtime_checkable
class Policy(Protocol):
    def reset(self, sim: FleetSim) -> None: ...

    def act(self, obs: Observation) -> np.ndarray: ...


def reset_policy(policy: Policy, sim: FleetSim, past: list[np.ndarray] | None) -> None:
    """``policy.reset(sim)``, passing ``past`` to policies whose ``reset`` accepts it."""
    if "past" in inspect.signature(policy.reset).parameters:
        policy.reset(sim, past=past)
    else:
        policy.reset(sim)


def per_fleet(value: float | np.ndarray, n: int, name: str) -> np.ndarray:
    """A parameter as a float array (n,): a scalar applies to every fleet, an array gives one value per fleet.

    Per-fleet parameters let several values run as one batched simulation.
    """
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have one value per fleet ({n}), got shape {arr.shape}")
    return arr.copy()


def clip_fleet(desired: np.ndarray, obs: Observation) -> np.ndarray:
    """Desired fleet as int64 within the observation's ``[min_machines, max_machines]``."""
    return np.clip(desired, obs.min_machines, obs.max_machines).astype(np.int64)


class ArtifactPolicy:
    """A packaged policy (``model.tar.gz`` or its directory) acting greedily through the shared contract:
    ``inference.features.featurize`` -> argmax of the network's logits -> ``inference.actions.desired_from_action``.
    """

    def __init__(self, path: str, name: str | None = None):
        from inference.artifact import load_artifact

        self.path = path
        self.loaded = load_artifact(path)
        self.name = name or f"ppo-{self.loaded.model_version}"

    def reset(self, sim: FleetSim) -> None:
        pass

    def describe(self) -> dict[str, str]:
        """What the report records about this policy."""
        return {"model_version": self.loaded.model_version, "path": str(self.path)}

    def act(self, obs: Observation) -> np.ndarray:
        from inference.actions import desired_from_action
        from inference.features import featurize, load_need

        x = featurize(obs.load, obs.failed, obs.active, obs.pending, obs.capacity_rpm_per_machine, obs.minute)
        action = self.loaded.act(x)
        need = load_need(obs.load, obs.capacity_rpm_per_machine)
        return clip_fleet(desired_from_action(action, need, obs.active, obs.pending), obs)
