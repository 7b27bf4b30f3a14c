"""A policy network (numpy forward pass) acting greedily through the policy interface: training's validation."""

from __future__ import annotations

import numpy as np

from inference.policy import NumpyPolicy
from training.policies.base import clip_fleet
from training.sim.fleet import FleetSim, Observation, desired_of, observation_of


class NetworkPolicy:
    """A policy network acting greedily through the evaluation interface (``training.policies``)."""

    name = "ppo"

    def __init__(self, net: NumpyPolicy, name: str = "ppo"):
        self.net = net
        self.name = name

    def reset(self, sim: FleetSim) -> None:
        """Stateless: everything it needs is in the observation."""

    def act(self, obs: Observation) -> np.ndarray:
        return clip_fleet(desired_of(self.net.act(observation_of(obs)), obs), obs)
