"""The target adapter interface: what the controller needs from an ECS service, an ASG, a SageMaker variant or a
simulated fleet (coord contract). One adapter instance serves every fleet of its kind, so reads can be batched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from controller.config import FleetConfig


class TargetError(RuntimeError):
    """A target that cannot be read or scaled (missing, not active, busy); the message names it."""


@dataclass(frozen=True)
class FleetState:
    """A fleet's size as its target reports it."""

    serving: int
    """Machines serving now."""
    warming: int
    """Machines requested and still warming up."""
    desired: int
    """The target's current desired count."""
    lowest: int | None = None
    """The target's own lower bound on its desired count (an Auto Scaling group's MinSize), if it has one."""
    highest: int | None = None
    """The target's own upper bound (an Auto Scaling group's MaxSize): a count beyond it is clamped, not sent."""


class TargetAdapter(Protocol):
    """One target kind (`ecs`, `asg`, `sagemaker`, `simulated`)."""

    kind: ClassVar[str]

    def tick(self, fleets: Sequence[FleetConfig], now: datetime) -> None:
        """Advance the target to `now` (only `simulated` does work; real targets return at once)."""
        ...

    def read(self, fleets: Sequence[FleetConfig]) -> dict[str, FleetState | Exception]:
        """The state of each fleet, by fleet name, batched; a fleet that could not be read maps to its error."""
        ...

    def conflicts(self, fleets: Sequence[FleetConfig]) -> dict[str, str]:
        """Fleet name -> the other scaler found on its target (e.g. a target-tracking policy); empty: none."""
        ...

    def apply(self, fleet: FleetConfig, desired: int) -> None:
        """Set the fleet's desired count (absolute, idempotent)."""
        ...
