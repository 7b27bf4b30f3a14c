"""A policy network (numpy forward pass) acting as served (``inference.policy.decode``) through the policy
interface: training's validation."""

from __future__ import annotations

import numpy as np

from inference.policy import NumpyPolicy
from simulator.fleet import FleetSim, Observation, desired_of, observation_of
from training.policies.base import clip_fleet


class NetworkPolicy:
    """A policy network acting as served through the evaluation interface (``training.policies``)."""

    name = "ppo"

    def __init__(self, net: NumpyPolicy, name: str = "ppo"):
        self.net = net
        self.name = name

    def reset(self, sim: FleetSim) -> None:
        """Everything it needs is in the observation; the simulator's cumulative sums give its character
        features fast (the same formula as from ``obs.history``)."""
        self.sim = sim

    def act(self, obs: Observation) -> np.ndarray:
        return clip_fleet(desired_of(self.net.act(observation_of(obs, self.sim.context())), obs), obs)
