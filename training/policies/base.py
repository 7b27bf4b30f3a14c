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
from typing import Any, Protocol, runtime_checkable

import numpy as np

from training.sim.fleet import FleetSim, Observation


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
    """A packaged policy (``model.tar.gz`` or its directory) deciding exactly as the endpoint serves it.

    Each minute's observation becomes a ``DecisionRequest`` and goes through the handler's ``predict_fn``:
    ``inference.features.featurize`` -> greedy argmax -> ``inference.actions.desired_from_action`` -> the safety
    shield (change limit, no scale-in while failing, bounds, fallback outside the training range). What the
    scoreboard measures is what production would do, shield overrides and fallbacks included; ``shield_counts``
    says how often they fired since the policy was loaded (over every simulation it ran).
    """

    def __init__(self, path: str, name: str | None = None):
        from inference.handler import load_model

        self.path = path
        self.model = load_model(str(path))
        self.loaded = self.model.policy
        self.name = name or f"ppo-{self.model.model_version}"
        self.shield_counts = {"decisions": 0, "shielded": 0, "fallbacks": 0}

    def reset(self, sim: FleetSim) -> None:
        """Stateless between minutes: everything it needs is in the request."""

    def describe(self) -> dict[str, Any]:
        """What the report records about this policy."""
        return {"model_version": self.model.model_version, "path": str(self.path), "shield": dict(self.shield_counts)}

    def act(self, obs: Observation) -> np.ndarray:
        from inference.contract import DecisionRequest
        from inference.handler import predict_fn

        request = DecisionRequest(
            load=obs.load,
            minute=obs.minute,
            failed=obs.failed,
            active=obs.active,
            pending=obs.pending,
            capacity=obs.capacity_rpm_per_machine,
            min_machines=obs.min_machines,
            max_machines=obs.max_machines,
            single=False,
        )
        decisions = predict_fn(request, self.model).decisions
        self.shield_counts["decisions"] += len(decisions.desired)
        self.shield_counts["shielded"] += int(decisions.shielded.sum())
        self.shield_counts["fallbacks"] += int(decisions.fallback.sum())
        return decisions.desired.astype(np.int64)
