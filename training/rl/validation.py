"""The fixed validation set behind the per-iteration ``profit_vs_oracle`` (the network acts as served, through
``training.policies.network.NetworkPolicy``).

Validation scenarios come from the tuning stream (``simulator.loads.TUNE_STREAM``, sub-stream 7): never trained
on (training draws ``TRAIN_STREAM``) and never in the held-out evaluation (``EVAL_STREAM``), so watching them
during training does not leak into the gate's figures. They are drawn like training scenarios (synthetic shapes
and windows of the traces' training parts, 3 to 300 machines). The clairvoyant oracle's profit on each is
computed once per run; every validation then runs the current served policy on the same scenarios and the same
capacity noise (common random numbers), in one batched simulation.

``profit_vs_oracle`` is total policy profit over total oracle profit across the set (dollars-weighted: a large
fleet counts for more than a small one, as in a real bill).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.features import HISTORY
from simulator.config import SimConfig
from simulator.distribution import FleetDistribution
from simulator.fleet import FleetSim
from simulator.loads import TUNE_STREAM, Scenario, sample_with_past
from training.policies.base import Policy, rollout
from training.policies.oracle import Oracle
from training.sim.vector_env import draw_fleet, economics_scale

VALIDATION_SUBSTREAM = 7
VALIDATION_SEED = 20240101


def validation_scenarios(
    count: int, minutes: int, capacity: float, trace_probability: float
) -> list[tuple[Scenario, np.ndarray]]:
    """(scenario, the day before it) pairs, drawn as training draws them (``sample_with_past``)."""
    return [
        sample_with_past(
            np.random.default_rng([TUNE_STREAM, VALIDATION_SUBSTREAM, i]),
            minutes,
            trace_probability=trace_probability,
            capacity=capacity,
        )
        for i in range(count)
    ]


@dataclass
class ValidationSet:
    sim: FleetSim
    oracle_profit: np.ndarray
    weight: np.ndarray

    @classmethod
    def build(
        cls,
        sim_config: SimConfig,
        count: int,
        minutes: int,
        trace_probability: float,
        distribution: FleetDistribution | None = None,
    ) -> ValidationSet:
        """``distribution``: draw each validation fleet from it as training does (``draw_fleet``), else every
        fleet at ``sim_config``."""
        if distribution is None:
            drawn = validation_scenarios(count, minutes, sim_config.capacity_rpm_per_machine, trace_probability)
            configs = [sim_config] * count
        else:
            fleets = [
                draw_fleet(
                    np.random.default_rng([TUNE_STREAM, VALIDATION_SUBSTREAM, i]),
                    distribution,
                    sim_config,
                    short_history_probability=0.0,
                    trace_probability=trace_probability,
                    minutes=minutes,
                )
                for i in range(count)
            ]
            configs = [c for c, _, _ in fleets]
            drawn = [(s, p) for _, s, p in fleets]
        sim = FleetSim(configs, [s for s, _ in drawn], seed=VALIDATION_SEED, past=[p for _, p in drawn])
        weight = np.ones(count)
        if distribution is not None:  # each fleet in units of its own dollar scale, as training weighs it
            need = np.maximum(sim.loads[:, HISTORY:].mean(axis=1) / sim._cap, 1.0)
            weight = 1.0 / economics_scale(configs, need)
        return cls(sim=sim, oracle_profit=rollout(Oracle(), sim)["reward"], weight=weight)

    def profit(self, policy: Policy) -> np.ndarray:
        return rollout(policy, self.sim)["reward"]

    def profit_vs_oracle(self, policy: Policy) -> float:
        """``1 - regret / |oracle|``, both weighted sums over the fleets: the profit ratio when the oracle profits
        everywhere, and still meaningful with fleets that lose money whatever they do (machines dearer than what
        they earn). Weights: dollars when every fleet has the same economics, else each fleet in units of its own
        scale (a 2,000-machine fleet does not drown out a 2-machine one)."""
        regret = (self.weight * (self.oracle_profit - self.profit(policy))).sum()
        return float(1.0 - regret / np.abs(self.weight * self.oracle_profit).sum())
