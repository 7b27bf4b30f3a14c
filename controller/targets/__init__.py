"""Target adapters by kind: one small adapter per target kind (see `base.TargetAdapter`).

    adapters = build_adapters(fleets, clients, store=store, stage="Dev")   # kind -> adapter, kinds in use only
    adapters["ecs"].read([f for f in fleets if f.kind == "ecs"])

`simulated` is imported only when a fleet uses it (it pulls in numpy and the simulator core).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .base import FleetState, TargetAdapter, TargetError

if TYPE_CHECKING:
    from controller.aws import Clients
    from controller.config import FleetConfig
    from controller.state import Store

REGISTRY: dict[str, tuple[str, str]] = {
    "asg": ("asg", "AsgTarget"),
    "ecs": ("ecs", "EcsTarget"),
    "sagemaker": ("sagemaker", "SageMakerTarget"),
    "simulated": ("simulated", "SimulatedTarget"),
}
"""Kind -> (module in this package, class)."""

__all__ = ["REGISTRY", "FleetState", "TargetAdapter", "TargetError", "adapter_class", "build_adapters"]


def adapter_class(kind: str) -> Any:
    """The adapter class of a target kind; KeyError naming the known kinds."""
    if kind not in REGISTRY:
        raise KeyError(f"unknown target kind {kind!r} (known: {', '.join(sorted(REGISTRY))})")
    module, name = REGISTRY[kind]
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def build_adapters(
    fleets: Sequence[FleetConfig], clients: Clients, *, store: Store | None = None, stage: str = ""
) -> dict[str, TargetAdapter]:
    """One adapter per kind the fleets use; `simulated` also needs the state store and the stage's name."""
    out: dict[str, TargetAdapter] = {}
    for kind in sorted({f.kind for f in fleets}):
        cls = adapter_class(kind)
        if kind == "simulated":
            if store is None:
                raise ValueError("simulated fleets need a state store")
            out[kind] = cls(clients, store, stage)
        else:
            out[kind] = cls(clients)
    return out
