"""Find Application Auto Scaling policies on a target (ECS services, SageMaker variants): another scaler there.

A registered scalable target alone does not scale anything; its scaling policies do (target tracking, step,
predictive). A target whose dynamic scaling is suspended both ways is not counted. Scheduled actions are not
looked up (the controller's role may not read them); docs/controller.md says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TARGETS_PER_CALL = 50
"""DescribeScalableTargets accepts at most 50 ResourceIds."""


def scaling_conflicts(client: Any, namespace: str, resources: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """Fleet -> a description of the policy found, for fleets whose (resource id, scalable dimension) has one.

    ``resources``: fleet name -> (``ResourceId``, ``ScalableDimension``), e.g.
    ``("service/prod/checkout", "ecs:service:DesiredCount")``.
    """
    if not resources:
        return {}
    wanted: dict[tuple[str, str], list[str]] = {}
    for fleet, key in resources.items():
        wanted.setdefault(key, []).append(fleet)
    ids = sorted({rid for rid, _ in wanted})
    registered = []
    pages = client.get_paginator("describe_scalable_targets")
    for i in range(0, len(ids), TARGETS_PER_CALL):
        for page in pages.paginate(ServiceNamespace=namespace, ResourceIds=ids[i : i + TARGETS_PER_CALL]):
            for target in page.get("ScalableTargets", []):
                key = (target["ResourceId"], target["ScalableDimension"])
                suspended = target.get("SuspendedState") or {}
                if key in wanted and not (
                    suspended.get("DynamicScalingInSuspended") and suspended.get("DynamicScalingOutSuspended")
                ):
                    registered.append(key)
    found: dict[str, str] = {}
    policies = client.get_paginator("describe_scaling_policies")
    for rid, dimension in registered:
        names = []
        for page in policies.paginate(ServiceNamespace=namespace, ResourceId=rid, ScalableDimension=dimension):
            names += [f"{p['PolicyName']} ({p.get('PolicyType', '?')})" for p in page.get("ScalingPolicies", [])]
        if names:
            what = f"Application Auto Scaling scales {rid} ({dimension}): polic{'ies' if len(names) > 1 else 'y'} "
            for fleet in wanted[(rid, dimension)]:
                found[fleet] = what + ", ".join(sorted(names))
    return found
