"""ECS service target: the service's ``desiredCount``.

Serving = the service's ``runningCount``, warming = its ``pendingCount`` (tasks placed and starting), desired =
its ``desiredCount``; during a rolling deployment these are the sums over the deployments, which is what
serves. One ``DescribeServices`` call per cluster and 10 services; a service ECS reports as missing or not
``ACTIVE`` maps to an error for its fleet. ``apply`` is ``UpdateService(desiredCount=...)``, skipped when the
service already wants that count. Another scaler is an Application Auto Scaling policy on
``service/<cluster>/<service>`` (``ecs:service:DesiredCount``).
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

SERVICES_PER_CALL = 10
"""DescribeServices accepts at most 10 services."""
DIMENSION = "ecs:service:DesiredCount"


class EcsTarget:
    kind: ClassVar[str] = "ecs"

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self._desired: dict[str, int] = {}
        """Desired count of each fleet at its last read, so that ``apply`` skips a call that changes nothing."""

    def tick(self, fleets: Sequence[FleetConfig], now: datetime) -> None:
        """Nothing to advance: a real service lives on its own."""

    def read(self, fleets: Sequence[FleetConfig]) -> dict[str, FleetState | Exception]:
        ecs = self.clients.get("ecs")
        by_cluster: dict[str, dict[str, list[str]]] = {}
        for fleet in fleets:
            cluster, service = fleet.target["cluster"], fleet.target["service"]
            by_cluster.setdefault(cluster, {}).setdefault(service, []).append(fleet.name)
        out: dict[str, FleetState | Exception] = {}
        for cluster, services in by_cluster.items():
            names = sorted(services)
            for i in range(0, len(names), SERVICES_PER_CALL):
                chunk = names[i : i + SERVICES_PER_CALL]
                try:
                    resp = ecs.describe_services(cluster=cluster, services=chunk)
                except Exception as err:  # one failed call fails its chunk's fleets, not the run
                    for name in chunk:
                        for fleet in services[name]:
                            out[fleet] = err
                    continue
                seen = {}
                for svc in resp.get("services", []):
                    seen[svc["serviceName"]] = svc
                    seen[svc["serviceArn"]] = svc
                failures = {f.get("arn", "").rsplit("/", 1)[-1]: f.get("reason", "?") for f in resp.get("failures", [])}
                for name in chunk:
                    svc = seen.get(name)
                    for fleet in services[name]:
                        out[fleet] = self._state(fleet, cluster, name, svc, failures.get(name))
        return out

    def _state(self, fleet: str, cluster: str, name: str, svc: dict[str, Any] | None, failure: str | None):
        if svc is None:
            return TargetError(f"ECS service {cluster}/{name}: {failure or 'not returned by DescribeServices'}")
        if svc.get("status") != "ACTIVE":
            return TargetError(f"ECS service {cluster}/{name} is {svc.get('status')}, not ACTIVE")
        desired = int(svc["desiredCount"])
        self._desired[fleet] = desired
        return FleetState(serving=int(svc["runningCount"]), warming=int(svc["pendingCount"]), desired=desired)

    def conflicts(self, fleets: Sequence[FleetConfig]) -> dict[str, str]:
        resources = {f.name: (f"service/{f.target['cluster']}/{f.target['service']}", DIMENSION) for f in fleets}
        return scaling_conflicts(self.clients.get("application-autoscaling"), "ecs", resources)

    def apply(self, fleet: FleetConfig, desired: int) -> None:
        if self._desired.get(fleet.name) == desired:
            return
        self.clients.get("ecs").update_service(
            cluster=fleet.target["cluster"], service=fleet.target["service"], desiredCount=int(desired)
        )
        self._desired[fleet.name] = desired
