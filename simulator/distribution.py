"""The distribution of fleets one policy is trained on: each training episode draws a fleet's size, capacity per
machine and economics, so that one artifact serves every fleet a team runs.

Every draw goes through ``simulator.config.fleet_config`` (the one builder). Sizes and prices are drawn where the
policy's features are dimensionless (``inference.features.economics_features``): the machine's price is drawn,
then the request value from the ratio of the two (machine cost over a fully busy machine's revenue), so that
cheap, dear, profitable and loss-making fleets all occur at every capacity.

| quantity | draw |
| --- | --- |
| mean fleet size | log-uniform over ``mean_machines`` (machines' worth of the mean load) |
| capacity per machine | log-uniform over ``capacity_rpm`` (a few requests a minute: Poisson-like counting noise) |
| warm-up | uniform integer over ``warmup_latency`` minutes |
| machine cost | log-uniform over ``machine_cost`` $ per machine-minute |
| cost ratio | log-uniform over ``cost_ratio``: machine cost / (capacity x request value); sets the request value |
| downtime cost | 0 with probability ``free_outage_probability``, else log-uniform over ``downtime_cost`` |
| downtime percent | uniform over ``downtime_percent`` |
| warming billed | with probability ``warming_cost_probability`` |
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inference.economics import BOUNDS
from simulator.config import SimConfig, fleet_config


@dataclass(frozen=True)
class FleetDistribution:
    """Ranges of the fleets drawn for training (inclusive)."""

    mean_machines: tuple[float, float] = (1.0, 2000.0)
    capacity_rpm: tuple[float, float] = (1.0, 1000.0)
    warmup_latency: tuple[int, int] = (0, 15)
    machine_cost: tuple[float, float] = (0.005, 0.5)
    cost_ratio: tuple[float, float] = (0.02, 50.0)
    downtime_cost: tuple[float, float] = (5.0, 5000.0)
    free_outage_probability: float = 0.1
    downtime_percent: tuple[float, float] = (98.0, 99.9)
    warming_cost_probability: float = 0.5

    def __post_init__(self) -> None:
        for name in ("mean_machines", "capacity_rpm", "machine_cost", "cost_ratio", "downtime_cost"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"FleetDistribution.{name} must be 0 < low <= high, got {(lo, hi)}")
        if not 0 <= self.warmup_latency[0] <= self.warmup_latency[1]:
            raise ValueError(f"FleetDistribution.warmup_latency must be 0 <= low <= high, got {self.warmup_latency}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FleetDistribution:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown fleet distribution field(s): {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def economics_ranges(self) -> dict[str, list[float]]:
        """The range of each economics key (``inference.economics.FIELDS``) the draws cover: what the artifact's
        metadata records as trained on (``request_value`` follows from the capacity and the cost ratio)."""
        lo_value = self.machine_cost[0] * 1000.0 / (self.capacity_rpm[1] * self.cost_ratio[1])
        hi_value = self.machine_cost[1] * 1000.0 / (self.capacity_rpm[0] * self.cost_ratio[0])
        lo_outage = float(self.downtime_cost[0])
        return {
            "warmup_latency": [float(self.warmup_latency[0]), float(self.warmup_latency[1])],
            "machine_cost": list(map(float, self.machine_cost)),
            "request_value": [max(lo_value, BOUNDS["request_value"][0]), min(hi_value, BOUNDS["request_value"][1])],
            "downtime_cost": [0.0 if self.free_outage_probability > 0 else lo_outage, float(self.downtime_cost[1])],
            "downtime_percent": list(map(float, self.downtime_percent)),
            "warming_cost": [float(self.warming_cost_probability >= 1), float(self.warming_cost_probability > 0)],
        }

    def sample(self, rng: np.random.Generator, **overrides: Any) -> tuple[SimConfig, float]:
        """One fleet: its simulator config (``fleet_config``; ``overrides`` are other SimConfig fields) and its
        mean size in machines."""
        size = _log_uniform(rng, self.mean_machines)
        capacity = _log_uniform(rng, self.capacity_rpm)
        cost = _log_uniform(rng, self.machine_cost)
        ratio = _log_uniform(rng, self.cost_ratio)
        value = float(np.clip(cost * 1000.0 / (capacity * ratio), *BOUNDS["request_value"]))
        outage = 0.0 if rng.random() < self.free_outage_probability else _log_uniform(rng, self.downtime_cost)
        economics = {
            "warmup_latency": int(rng.integers(self.warmup_latency[0], self.warmup_latency[1] + 1)),
            "machine_cost": cost,
            "request_value": value,
            "downtime_cost": outage,
            "downtime_percent": float(rng.uniform(*self.downtime_percent)),
            "warming_cost": bool(rng.random() < self.warming_cost_probability),
        }
        return fleet_config(capacity, economics=economics, **overrides), size


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))
