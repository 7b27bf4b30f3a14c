"""The controller's core, pure: what one minute decides for each fleet, from what the edges read.

`run.py` calls AWS at the edges (the state store, the modes parameter, CloudWatch, the targets, the endpoint, the
apply calls, PutMetricData); between them these functions take values and return values (no client, no clock):

- `asks(working, observations, states, counterfactuals)`: the fleets to ask the endpoint about (a shadow fleet's
  counterfactual is asked about instead of the real fleet), and those holding on stale data;
- `plan(asks, decisions, modes, conflicts, bases, minute)`: each decision within its limits, the fleets to apply
  and the new limit bases (the part of the state a minute changes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.config import FleetConfig
from controller.counterfactual import Counterfactual
from controller.decide import Ask, Decision
from controller.limits import limit, minute_base
from controller.observe import Observation
from controller.targets.base import FleetState


@dataclass(frozen=True)
class Planned:
    """What the minute does with one decided fleet."""

    limited: int | None
    """The decision within bounds and change limit (None: superseded by a newer minute)."""
    reason: str
    """What moved or held it, appended to the decision's own reason ("" when nothing did)."""
    apply: bool = False
    conflict: bool = False
    """Active, but another scaler is on its target: published, not applied."""


def asks(
    working: Sequence[FleetConfig],
    observations: Mapping[str, Observation],
    states: Mapping[str, FleetState],
    counterfactuals: Mapping[str, Counterfactual] | None = None,
) -> tuple[list[Ask], dict[str, str]]:
    """(the fleets to decide, the fleets holding on stale data with why); an unreadable fleet is in neither.

    A fleet with a counterfactual (shadow) is asked about the policy's own fleet, fed the real fleet's requests."""
    cfs = counterfactuals or {}
    out: list[Ask] = []
    stale: dict[str, str] = {}
    for f in working:
        obs = observations[f.name]
        if obs.stale:
            stale[f.name] = "hold: stale data" + (f" ({obs.fetch_error})" if obs.fetch_error else "")
        elif f.name in cfs:
            out.append(Ask(f, cfs[f.name].observation(obs), cfs[f.name].fleet_state()))
        elif f.name in states:
            out.append(Ask(f, obs, states[f.name]))
    return out, stale


def plan(
    asked: Sequence[Ask],
    decisions: Sequence[Decision],
    modes: Mapping[str, str],
    conflicts: Mapping[str, str],
    bases: Mapping[str, Any],
    minute: int,
) -> tuple[dict[str, Planned], list[tuple[FleetConfig, int]], dict[str, Any]]:
    """(per fleet, the fleets to apply with their counts, the limit bases after this minute)."""
    planned: dict[str, Planned] = {}
    to_apply: list[tuple[FleetConfig, int]] = []
    new_bases = dict(bases)
    for ask, decision in zip(asked, decisions):
        f = ask.fleet
        base = minute_base(bases.get(f.name), minute, ask.state.desired)
        if base is None:
            planned[f.name] = Planned(None, "; superseded: a newer minute already ran")
            continue
        own = (ask.state.lowest, ask.state.highest)
        limited = limit(f, decision.desired, base, ask.observation.failed_rpm > 0, *own)
        reason = f"; {limited.reason}" if limited.reason else ""
        if modes[f.name] != "active":
            planned[f.name] = Planned(limited.applied, reason)
        elif f.name in conflicts:
            planned[f.name] = Planned(limited.applied, reason + f"; hold: {conflicts[f.name]}", conflict=True)
        else:
            planned[f.name] = Planned(limited.applied, reason, apply=True)
            new_bases[f.name] = {"minute": minute, "base": base}
            to_apply.append((f, limited.applied))
    return planned, to_apply, new_bases
