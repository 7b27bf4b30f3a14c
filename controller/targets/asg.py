"""EC2 Auto Scaling group target: the group's desired capacity.

Serving = instances ``InService``; warming = instances on their way in (``Pending``, ``Pending:Wait``,
``Pending:Proceed``); desired = ``DesiredCapacity``. One ``DescribeAutoScalingGroups`` call per 100 groups.
``apply`` is ``SetDesiredCapacity(HonorCooldown=False)`` (the controller's own change limit replaces cooldowns),
skipped when the group already wants that count; the group's MinSize..MaxSize are read too, and the run clamps a
count outside them with a reason (AWS would refuse it). Another scaler is an enabled
scaling policy of the group (target tracking, step, simple, or predictive in ``ForecastAndScale`` mode; a
``ForecastOnly`` predictive policy only forecasts), unless the group's ``AlarmNotification`` process is suspended
for the alarm-driven ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .base import FleetState, TargetError

if TYPE_CHECKING:
    from controller.aws import Clients
    from controller.config import FleetConfig

GROUPS_PER_CALL = 100
"""DescribeAutoScalingGroups accepts at most 100 names (and returns at most 100 per page)."""
WARMING = frozenset({"Pending", "Pending:Wait", "Pending:Proceed"})


class AsgTarget:
    kind: ClassVar[str] = "asg"

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self._desired: dict[str, int] = {}
        self._read: dict[str, dict[str, Any]] = {}
        """Groups as the last ``read`` described them (``conflicts`` reuses them: one describe per run)."""

    def tick(self, fleets: Sequence[FleetConfig], now: datetime) -> None:
        """Nothing to advance: a real group lives on its own."""

    def _groups(self, names: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Exception]]:
        autoscaling = self.clients.get("autoscaling")
        found: dict[str, dict[str, Any]] = {}
        errors: dict[str, Exception] = {}
        for i in range(0, len(names), GROUPS_PER_CALL):
            chunk = names[i : i + GROUPS_PER_CALL]
            try:
                pages = autoscaling.get_paginator("describe_auto_scaling_groups")
                for page in pages.paginate(AutoScalingGroupNames=chunk, PaginationConfig={"PageSize": 100}):
                    for group in page.get("AutoScalingGroups", []):
                        found[group["AutoScalingGroupName"]] = group
            except Exception as err:  # one failed call fails its chunk's fleets, not the run
                errors.update(dict.fromkeys(chunk, err))
        return found, errors

    def read(self, fleets: Sequence[FleetConfig]) -> dict[str, FleetState | Exception]:
        found, errors = self._groups(sorted({f.target["group"] for f in fleets}))
        self._read = found
        out: dict[str, FleetState | Exception] = {}
        for fleet in fleets:
            name = fleet.target["group"]
            group = found.get(name)
            if name in errors:
                out[fleet.name] = errors[name]
            elif group is None:
                out[fleet.name] = TargetError(f"Auto Scaling group {name}: not found")
            else:
                states = [i.get("LifecycleState") for i in group.get("Instances", [])]
                desired = int(group["DesiredCapacity"])
                self._desired[fleet.name] = desired
                out[fleet.name] = FleetState(
                    serving=sum(s == "InService" for s in states),
                    warming=sum(s in WARMING for s in states),
                    desired=desired,
                    lowest=int(group["MinSize"]),
                    highest=int(group["MaxSize"]),
                )
        return out

    def conflicts(self, fleets: Sequence[FleetConfig]) -> dict[str, str]:
        names = sorted({f.target["group"] for f in fleets})
        if not names:
            return {}
        autoscaling = self.clients.get("autoscaling")
        found = self._read if all(n in self._read for n in names) else self._groups(names)[0]
        policies: dict[str, list[str]] = {}
        pages = autoscaling.get_paginator("describe_policies")
        for name in names:
            suspended = {p.get("ProcessName") for p in found.get(name, {}).get("SuspendedProcesses", [])}
            for page in pages.paginate(AutoScalingGroupName=name):
                for policy in page.get("ScalingPolicies", []):
                    if _scales(policy, alarms_suspended="AlarmNotification" in suspended):
                        policies.setdefault(name, []).append(f"{policy['PolicyName']} ({policy.get('PolicyType')})")
        out = {}
        for fleet in fleets:
            name = fleet.target["group"]
            if name in policies:
                found_names = ", ".join(sorted(policies[name]))
                out[fleet.name] = f"Auto Scaling group {name} has its own scaling policies: {found_names}"
        return out

    def apply(self, fleet: FleetConfig, desired: int) -> None:
        if self._desired.get(fleet.name) == desired:
            return
        self.clients.get("autoscaling").set_desired_capacity(
            AutoScalingGroupName=fleet.target["group"], DesiredCapacity=int(desired), HonorCooldown=False
        )
        self._desired[fleet.name] = desired


def _scales(policy: dict[str, Any], alarms_suspended: bool) -> bool:
    """Does this group policy change the desired capacity on its own?"""
    if policy.get("Enabled") is False:
        return False
    kind = policy.get("PolicyType", "SimpleScaling")
    if kind == "PredictiveScaling":
        mode = (policy.get("PredictiveScalingConfiguration") or {}).get("Mode", "ForecastOnly")
        return mode == "ForecastAndScale"
    return not alarms_suspended
