"""The one interface through which every scaling policy (rules, oracle, PPO) is evaluated and tuned.

A policy decides, once a minute and for N fleets at once, the whole fleet each should hold (serving + warming):

    policy.reset(sim)                      # before minute 0; ``sim`` is a ``simulator.FleetSim``
    desired = policy.act(sim.observe())    # int64 array (N,), then ``sim.step(desired)``

``rollout`` is that loop, the only one: the scoreboard, tuning, validation, the warm start's demonstrations and
the benchmarks all run policies through it.

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
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from simulator.fleet import FleetSim, Observation, StepResult


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


StepHook = Callable[[int, Observation, np.ndarray, StepResult], None]
"""Called after each minute ``t`` with the observation decided on, the decision and the minute's result."""


def rollout(
    policy: Policy, sim: FleetSim, past: list[np.ndarray] | None = None, on_step: StepHook | None = None
) -> dict[str, np.ndarray]:
    """Reset ``sim`` and ``policy`` (with ``past``, see ``reset_policy``), run every minute; returns ``sim.totals``."""
    obs = sim.reset()
    reset_policy(policy, sim, past)
    for t in range(sim.minutes):
        desired = policy.act(obs)
        result = sim.step(desired)
        if on_step is not None:
            on_step(t, obs, desired, result)
        obs = sim.observe()
    return sim.totals
