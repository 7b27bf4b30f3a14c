"""Hand-back: while the controller drives a fleet, the team's own scaling is suspended; when it stops, exactly that
is restored.

Taking a fleet active suspends its target's own scaling and records exactly what was suspended (a record per
fleet in the run state, with the target, so a fleet removed from the config is still handed back):

- **ECS service, SageMaker variant** (Application Auto Scaling): the scalable target's `SuspendedState` is set to
  all three flags true; the record holds the flags as they were (`RegisterScalableTarget` puts them back). A
  target without a scalable target records that nothing was suspended.
- **Auto Scaling group**: the `AlarmNotification` and `ScheduledActions` processes that were not already suspended
  are suspended; the record lists exactly those (`ResumeProcesses` resumes them, nothing else). A predictive policy
  in ForecastAndScale mode cannot be suspended this way: the conflict check holds the fleet (ConflictHolds alarm).

The fleet is handed back (restored, record dropped) when it leaves active: a mode change or the kill switch in
the modes parameter, its removal from the stage's fleets, `FAILED_RUNS_LIMIT` consecutive runs in which it could
not be read, held on stale data or refused its change (the fleet is then **latched** in shadow until on-call sets
it to shadow or off and back to active), the on-call command (an invocation `{"action": "hand-back"}`, all fleets
or `"fleets": [...]`, latched the same way) and the stack's removal (a custom resource invokes the same action).
A suspension whose record cannot be saved is undone at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FAILED_RUNS_LIMIT = 5
"""Default of HANDBACK_AFTER_FAILED_RUNS: consecutive failed runs of an active fleet before it is handed back."""
SUSPEND_ALL = {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": True, "ScheduledScalingSuspended": True}
ASG_PROCESSES = ("AlarmNotification", "ScheduledActions")
"""The group processes that change its desired capacity on their own (alarm-driven policies, scheduled actions)."""
APPSCALING: dict[str, tuple[str, str]] = {
    "ecs": ("ecs", "ecs:service:DesiredCount"),
    "sagemaker": ("sagemaker", "sagemaker:variant:DesiredInstanceCount"),
}
"""Target kind -> (ServiceNamespace, ScalableDimension) of Application Auto Scaling."""


def resource_id(target: Mapping[str, Any]) -> str:
    if target["kind"] == "ecs":
        return f"service/{target['cluster']}/{target['service']}"
    return f"endpoint/{target['endpoint']}/variant/{target['variant']}"


class Scalers:
    """Suspends and restores the teams' own scaling (clients from `controller.aws.Clients`)."""

    def __init__(self, clients: Any) -> None:
        self.clients = clients

    def suspend(self, target: Mapping[str, Any]) -> dict[str, Any]:
        """Suspend the target's own scaling; what was suspended, exactly (empty: nothing to suspend)."""
        kind = target["kind"]
        if kind in APPSCALING:
            namespace, dimension = APPSCALING[kind]
            rid = resource_id(target)
            client = self.clients.get("application-autoscaling")
            found = client.describe_scalable_targets(
                ServiceNamespace=namespace, ResourceIds=[rid], ScalableDimension=dimension
            )["ScalableTargets"]
            if not found:
                return {}
            before = {k: bool((found[0].get("SuspendedState") or {}).get(k, False)) for k in SUSPEND_ALL}
            if all(before.values()):
                return {}
            client.register_scalable_target(
                ServiceNamespace=namespace, ResourceId=rid, ScalableDimension=dimension, SuspendedState=SUSPEND_ALL
            )
            return {"scalable_target": rid, "suspended_state": before}
        if kind == "asg":
            client = self.clients.get("autoscaling")
            groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[target["group"]])["AutoScalingGroups"]
            if not groups:
                raise LookupError(f"Auto Scaling group {target['group']}: not found")
            already = {p["ProcessName"] for p in groups[0].get("SuspendedProcesses", [])}
            todo = [p for p in ASG_PROCESSES if p not in already]
            if not todo:
                return {}
            client.suspend_processes(AutoScalingGroupName=target["group"], ScalingProcesses=todo)
            return {"suspended_processes": todo}
        return {}

    def restore(self, target: Mapping[str, Any], suspended: Mapping[str, Any]) -> None:
        """Undo exactly what `suspend` recorded (idempotent: restoring twice sets the same)."""
        kind = target["kind"]
        if kind in APPSCALING and suspended.get("scalable_target"):
            namespace, dimension = APPSCALING[kind]
            self.clients.get("application-autoscaling").register_scalable_target(
                ServiceNamespace=namespace,
                ResourceId=suspended["scalable_target"],
                ScalableDimension=dimension,
                SuspendedState=dict(suspended["suspended_state"]),
            )
        elif kind == "asg" and suspended.get("suspended_processes"):
            self.clients.get("autoscaling").resume_processes(
                AutoScalingGroupName=target["group"], ScalingProcesses=list(suspended["suspended_processes"])
            )


def latch(record: Mapping[str, Any] | None) -> str | None:
    """Why the fleet is held in shadow after a hand-back (None: it is not)."""
    return (record or {}).get("latched")


def restore_all(
    scalers: Any, records: dict[str, dict[str, Any]], names: Iterable[str], why: str | None
) -> dict[str, str]:
    """Restore the named fleets' records; with `why`, latch them (their record stays, emptied). Errors by fleet."""
    errors: dict[str, str] = {}
    for name in list(names):
        record = records.get(name)
        if record is None:
            if why:
                records[name] = {"latched": why}
            continue
        if record.get("suspended"):
            try:
                scalers.restore(record["target"], record["suspended"])
            except Exception as err:  # the record stays: the next run tries again
                errors[name] = f"hand-back failed: {type(err).__name__}: {str(err)[:200]}"
                continue
        if why:
            records[name] = {"latched": why}
        else:
            del records[name]
    return errors
