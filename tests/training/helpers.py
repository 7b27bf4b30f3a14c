"""Inputs shared by the training tests: a team's fleet file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEAM_FLEET: dict[str, Any] = {
    "name": "team", "capacity_rpm_per_machine": 100, "min_machines": 2, "max_machines": 400,
    "max_change_per_minute": 40, "target": {"kind": "ecs", "cluster": "c", "service": "s"},
    "requests": {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount", "dimensions": {}},
    "economics": {"warmup_latency": 10, "downtime_cost": 1000},
}  # fmt: skip
"""A team's fleet file (``--fleet``): an ECS service of 2 to 400 machines of 100 requests a minute, changed by at
most 40 a minute, with its own warm-up and price of a minute down."""


def write_fleet(path: Path, **overrides: Any) -> Path:
    """``TEAM_FLEET`` with top-level keys replaced by ``overrides``, written as JSON to ``path``."""
    path.write_text(json.dumps({**TEAM_FLEET, **overrides}))
    return path
