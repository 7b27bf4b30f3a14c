"""SageMaker endpoint variant target: the variant's desired instance count.

Serving = the variant's ``CurrentInstanceCount``; warming = ``DesiredInstanceCount - CurrentInstanceCount``
(at least 0) while the endpoint is ``Updating``, else 0; desired = ``DesiredInstanceCount``. One
``DescribeEndpoint`` per endpoint (SageMaker has no batched read), shared by its variants. ``apply`` is
``UpdateEndpointWeightsAndCapacities`` for the one variant, skipped when the variant already wants that count;
while the endpoint is updating (SageMaker refuses a second update) it raises ``TargetError`` and the next minute
tries again. Another scaler is an Application Auto Scaling policy on ``endpoint/<endpoint>/variant/<variant>``
(``sagemaker:variant:DesiredInstanceCount``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .appscaling import scaling_conflicts
from .base import FleetState, TargetError

if TYPE_CHECKING:
    from controller.aws import Clients
    from controller.config import FleetConfig

DIMENSION = "sagemaker:variant:DesiredInstanceCount"


class SageMakerTarget:
    kind: ClassVar[str] = "sagemaker"

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self._seen: dict[str, tuple[str, int]] = {}
        """Fleet -> (endpoint status, desired count) at its last read."""

    def tick(self, fleets: Sequence[FleetConfig], now: datetime) -> None:
        """Nothing to advance: a real endpoint lives on its own."""

    def read(self, fleets: Sequence[FleetConfig]) -> dict[str, FleetState | Exception]:
        sagemaker = self.clients.get("sagemaker")
        endpoints: dict[str, dict[str, Any] | Exception] = {}
        for name in sorted({f.target["endpoint"] for f in fleets}):
            try:
                endpoints[name] = sagemaker.describe_endpoint(EndpointName=name)
            except Exception as err:  # one endpoint's failure is its fleets' only
                endpoints[name] = err
        out: dict[str, FleetState | Exception] = {}
        for fleet in fleets:
            endpoint, variant = fleet.target["endpoint"], fleet.target["variant"]
            desc = endpoints[endpoint]
            if isinstance(desc, Exception):
                out[fleet.name] = desc
                continue
            found = [v for v in desc.get("ProductionVariants", []) if v.get("VariantName") == variant]
            if not found or "CurrentInstanceCount" not in found[0]:
                why = "has no such variant" if not found else "is serverless (no instance count)"
                out[fleet.name] = TargetError(f"SageMaker endpoint {endpoint} variant {variant}: {why}")
                continue
            status = desc.get("EndpointStatus", "?")
            current = int(found[0]["CurrentInstanceCount"])
            desired = int(found[0].get("DesiredInstanceCount", current))
            self._seen[fleet.name] = (status, desired)
            warming = max(0, desired - current) if status == "Updating" else 0
            out[fleet.name] = FleetState(serving=current, warming=warming, desired=desired)
        return out

    def conflicts(self, fleets: Sequence[FleetConfig]) -> dict[str, str]:
        resources = {
            f.name: (f"endpoint/{f.target['endpoint']}/variant/{f.target['variant']}", DIMENSION) for f in fleets
        }
        return scaling_conflicts(self.clients.get("application-autoscaling"), "sagemaker", resources)

    def apply(self, fleet: FleetConfig, desired: int) -> None:
        status, current = self._seen.get(fleet.name, ("?", None))
        if current == desired:
            return
        endpoint, variant = fleet.target["endpoint"], fleet.target["variant"]
        if status == "Updating":
            raise TargetError(f"SageMaker endpoint {endpoint} is updating; variant {variant} is scaled next minute")
        self.clients.get("sagemaker").update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": variant, "DesiredInstanceCount": int(desired)}],
        )
        self._seen[fleet.name] = ("Updating", desired)
