"""The fixed validation set behind the per-iteration ``profit_vs_oracle`` (the greedy network acts through
``training.policies.network.NetworkPolicy``).

Validation scenarios come from the tuning stream (``simulator.loads.TUNE_STREAM``, sub-stream 7): never trained
on (training draws ``TRAIN_STREAM``) and never in the held-out evaluation (``EVAL_STREAM``), so watching them
during training does not leak into the gate's figures. They are drawn like training scenarios (synthetic shapes
and windows of the traces' training parts, 3 to 300 machines). The clairvoyant oracle's profit on each is
computed once per run; every validation then runs the current greedy policy on the same scenarios and the same
capacity noise (common random numbers), in one batched simulation.

``profit_vs_oracle`` is total policy profit over total oracle profit across the set (dollars-weighted: a large
fleet counts for more than a small one, as in a real bill).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config import SimConfig
from simulator.fleet import FleetSim
from simulator.loads import TUNE_STREAM, Scenario, sample_with_past
from training.policies.base import Policy, rollout
from training.policies.oracle import Oracle

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

    @classmethod
    def build(cls, sim_config: SimConfig, count: int, minutes: int, trace_probability: float) -> ValidationSet:
        drawn = validation_scenarios(count, minutes, sim_config.capacity_rpm_per_machine, trace_probability)
        sim = FleetSim(sim_config, [s for s, _ in drawn], seed=VALIDATION_SEED, past=[p for _, p in drawn])
        return cls(sim=sim, oracle_profit=rollout(Oracle(), sim)["reward"])

    def profit(self, policy: Policy) -> np.ndarray:
        return rollout(policy, self.sim)["reward"]

    def profit_vs_oracle(self, policy: Policy) -> float:
        return float(self.profit(policy).sum() / self.oracle_profit.sum())
