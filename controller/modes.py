"""Modes per fleet, switchable without a deploy: the SSM String parameter MODES_PARAMETER, read every run.

Value (JSON): `{"stage": "shadow" | "off" | "active" | null, "fleets": {"<fleet name>": "<mode>"}}`.
A fleet's entry replaces its configured mode; `stage` caps every fleet (off < shadow < active). A missing
parameter means the configured modes. An unreadable or malformed one (not JSON, an unknown key or mode, a fleet name
the stage does not have: a typo must not leave the fleet it meant active) caps every fleet at `shadow` (fail safe:
nothing is applied; a fleet configured or switched `off` stays off), is logged as an error and counted
(`ModesErrors`, which an alarm watches).

Why boto3 and not Powertools' parameters utility: runs are a minute apart and on-call's switch must hold from the
next run, so any cache would have to expire within the minute and would never hit; one GetParameter per run is
simpler, and boto3 tells a missing parameter (`ParameterNotFound`) from an unreadable one directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.config import MODE_RANK, MODES, FleetConfig

FAIL_SAFE = "shadow"


@dataclass(frozen=True)
class Modes:
    """The parameter's content, or why it could not be used."""

    stage: str | None = None
    fleets: Mapping[str, str] | None = None
    error: str | None = None
    """Set when the parameter was unreadable or malformed: every fleet is capped at shadow."""

    def effective(self, fleet: FleetConfig) -> str:
        mode = (self.fleets or {}).get(fleet.name, fleet.mode)
        cap = FAIL_SAFE if self.error else self.stage
        if cap is not None and MODE_RANK[cap] < MODE_RANK[mode]:
            return cap
        return mode


def parse(text: str, fleets: Sequence[FleetConfig]) -> Modes:
    """Parse the parameter's value; a malformed value gives `Modes(error=...)`."""
    try:
        doc = json.loads(text)
    except ValueError as err:
        return Modes(error=f"not JSON: {err}")
    if not isinstance(doc, dict):
        return Modes(error='must be a JSON object {"stage": ..., "fleets": {...}}')
    unknown = sorted(set(doc) - {"stage", "fleets"})
    if unknown:
        return Modes(error=f"unknown key(s) {unknown}; the keys are stage and fleets")
    stage = doc.get("stage")
    if stage is not None and stage not in MODES:
        return Modes(error=f"stage: must be one of {', '.join(MODES)} or null, got {stage!r}")
    per_fleet = doc.get("fleets") or {}
    if not isinstance(per_fleet, dict):
        return Modes(error="fleets: must be an object of fleet name: mode")
    for name, mode in per_fleet.items():
        if mode not in MODES:
            return Modes(error=f"fleets.{name}: must be one of {', '.join(MODES)}, got {mode!r}")
    unknown = sorted(set(per_fleet) - {f.name for f in fleets})
    if unknown:
        return Modes(error=f"fleets: no fleet of this stage is named {', '.join(map(repr, unknown))}")
    return Modes(stage=stage, fleets=dict(per_fleet))


def read(ssm: Any, name: str, fleets: Sequence[FleetConfig]) -> Modes:
    """Read and parse the parameter (one GetParameter)."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except Exception as err:  # any failure to read is fail-safe shadow, except a parameter that does not exist
        code = getattr(err, "response", {}).get("Error", {}).get("Code") if hasattr(err, "response") else None
        if code == "ParameterNotFound":
            return Modes()
        return Modes(error=f"unreadable: {type(err).__name__}: {str(err)[:200]}")
    return parse(value, fleets)


def mode_value(mode: str) -> int:
    """The `Mode` metric: 0 off, 1 shadow, 2 active."""
    return MODE_RANK[mode]


def describe(modes: Modes) -> dict[str, Any]:
    """For the run's log line."""
    return {"stage": modes.stage, "fleets": dict(modes.fleets or {}), "error": modes.error}
