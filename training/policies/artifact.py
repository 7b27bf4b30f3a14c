"""A packaged policy artifact as a policy: decisions exactly as the endpoint serves them."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.fleet import FleetSim, Observation


class ArtifactPolicy:
    """A packaged policy (``model.tar.gz`` or its directory) deciding exactly as the endpoint serves it.

    Each minute's observation becomes a ``DecisionRequest`` and goes through the handler's ``predict_fn``:
    ``inference.features.featurize`` -> the served action (``inference.policy.decode``) ->
    ``inference.actions.desired_from_action`` -> the safety shield (change limit, no scale-in while failing,
    bounds, fallback outside the training range). What the scoreboard measures is what production would do,
    shield overrides and fallbacks included; ``shield_counts`` says how often they fired since the policy was
    loaded (over every simulation it ran).
    """

    def __init__(self, path: str, name: str | None = None):
        from inference.handler import load_model

        self.path = path
        self.model = load_model(str(path))
        self.loaded = self.model.policy
        self.name = name or f"ppo-{self.model.model_version}"
        self.shield_counts = {"decisions": 0, "shielded": 0, "fallbacks": 0}

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as its path (a replay worker loads the artifact itself: the loaded model holds a metrics
        writer that does not pickle, and loading is cheaper than copying)."""
        return {"path": self.path, "name": self.name, "shield_counts": dict(self.shield_counts)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["name"])
        self.shield_counts = state["shield_counts"]

    def reset(self, sim: FleetSim) -> None:
        """Stateless between minutes: everything it needs is in the request; each fleet's economics are its own
        simulator config's (``Observation.economics``), sent with every decision as the controller sends them."""

    def describe(self) -> dict[str, Any]:
        """What the report records about this policy."""
        return {"model_version": self.model.model_version, "path": str(self.path), "shield": dict(self.shield_counts)}

    def act(self, obs: Observation) -> np.ndarray:
        from inference.contract import DecisionRequest
        from inference.handler import predict_fn

        request = DecisionRequest(
            load=obs.load,
            history=obs.history,
            minute=obs.minute,
            failed=obs.failed,
            active=obs.active,
            pending=obs.pending,
            capacity=obs.capacity_rpm_per_machine,
            min_machines=obs.min_machines,
            max_machines=obs.max_machines,
            economics=obs.economics,
            single=False,
        )
        decisions = predict_fn(request, self.model).decisions
        self.shield_counts["decisions"] += len(decisions.desired)
        self.shield_counts["shielded"] += int(decisions.shielded.sum())
        self.shield_counts["fallbacks"] += int(decisions.fallback.sum())
        return decisions.desired.astype(np.int64)
