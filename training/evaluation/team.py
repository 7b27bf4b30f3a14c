"""A team's own traffic on the scoreboard: the evaluation part of a trace file (``python -m training.evaluate
--trace FILE``), and how the file was split.

The trace (``simulator.loads.load_trace``: ``timestamp,requests`` as ``controller.export_trace`` writes it, or
``minute,requests``) is split by time like the recorded traces: the first ``TRAIN_FRACTION`` is the early part
(what ``python -m training.train --trace`` trains on, and the past the rules forecast and size from), the rest
is the late part, the only part reported. The load is the team's own requests per minute, never rescaled: the
fleet's capacity per machine is the simulator's ``capacity_rpm_per_machine``.

The fleet is one object of the controller's fleet schema (``controller.config``: the same object a stage's
``fleets`` list holds, validated by the same function): ``read_fleet`` reads it and ``fleet_sim_config`` turns its
capacity, bounds, change limit and economics into the simulator (``simulator.fleet_config``). The verdict
(``verdicts``) is each rule against the candidate over paired capacity-noise draws (``noise.replay``): the profit
summed over the trace files' late parts, mean difference and 95 % interval, "beats" / "ties" / "loses".
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from inference.economics import FIELDS
from inference.features import HISTORY
from simulator.config import SimConfig, fleet_config
from simulator.loads import TRAIN_FRACTION, TraceFile, initial_fleet, load_trace, team_scenario
from training.evaluation.cases import PAST_MINUTES, Case
from training.evaluation.noise import Draws, Paired

MIN_VERDICT_DRAWS = 10
"""Paired capacity-noise draws a team's verdict is judged over, at least."""


def team_case(
    trace: TraceFile,
    part: str = "eval",
    *,
    minutes: int | None = None,
    offset: int = 0,
    past_minutes: int = PAST_MINUTES,
    capacity: float = 300.0,
) -> Case:
    """A window of ``part`` of a team's trace, with up to ``past_minutes`` of the trace before its history."""
    scenario = team_scenario(trace, part, minutes=minutes, offset=offset)
    first = scenario.meta["first_minute"]
    have = max(0, min(past_minutes, first - HISTORY))
    past = trace.requests[first - HISTORY - have : first - HISTORY].astype(float)
    scenario = replace(
        scenario,
        initial_machines=initial_fleet(scenario.load, capacity),
        meta={**scenario.meta, "past_minutes": len(past), "gaps": trace.describe()["gaps"]},
    )
    return Case(scenario, past, "trace")


def split(trace: TraceFile) -> dict[str, Any]:
    """Where the trace is cut: the early part (training, and the rules' past) and the late part (reported)."""
    n = len(trace.requests)
    cut = int(n * TRAIN_FRACTION)
    return {
        "train_fraction": TRAIN_FRACTION,
        "early": {"from": trace.time_of(0).isoformat(), "to": trace.time_of(cut).isoformat(), "minutes": cut},
        "late": {"from": trace.time_of(cut).isoformat(), "to": trace.time_of(n).isoformat(), "minutes": n - cut},
    }


def team_cases(paths: list[str | Path], capacity: float = 300.0) -> tuple[list[Case], list[dict[str, Any]]]:
    """The late part of each trace file as a case, and each file's description (format, gaps, split)."""
    cases, described = [], []
    for path in paths:
        trace = load_trace(path)
        cases.append(team_case(trace, "eval", capacity=capacity))
        described.append({**trace.describe(), "split": split(trace)})
    names = [c.scenario.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError(f"trace files must have distinct names (the scenario names): {', '.join(names)}")
    return cases, described


def markdown_section(traces: list[dict[str, Any]] | None, found: list[dict[str, Any]] | None = None) -> list[str]:
    """report.md lines saying what was read and where each trace was split, then the verdicts."""
    if not traces:
        return []
    lines = ["## Team traces", ""]
    for t in traces:
        early, late = t["split"]["early"], t["split"]["late"]
        lines.append(
            f"- `{t['file']}` ({t['format']}, {t['minutes']:,} minutes; {t['gaps']} gaps, {t['gap_minutes']} minutes "
            f"missing, longest {t['longest_gap_minutes']} min, {t['gap_policy']}): split by time at "
            f"{t['split']['train_fraction']:.0%}; early part {early['from']} to {early['to']} (training and the "
            f"rules' past), **reported: the late part {late['from']} to {late['to']}** ({late['minutes']:,} minutes)."
        )
    return [*lines, "", *verdict_section(found)]


def read_fleet(path: str | Path) -> dict[str, Any]:
    """One fleet object of the controller's schema from a JSON file, validated by ``controller.config`` (the
    function synth and the controller use); ``ValueError`` naming the file and the field."""
    from controller.config import FleetConfigError, validate_fleets

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"{path}: cannot read the fleet file ({err.strerror or err})") from None
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if isinstance(doc, list):
        raise ValueError(f"{path}: must hold one fleet object (as one entry of a stage's fleets), got a list")
    try:
        (fleet,) = validate_fleets([doc])
    except FleetConfigError as err:
        raise ValueError(f"{path}: {str(err).replace('fleets[0]', 'fleet', 1)}") from None
    return fleet


def fleet_sim_config(fleet: dict[str, Any], overrides: dict[str, Any] | None = None) -> SimConfig:
    """The simulator for a validated fleet object: its capacity, bounds, change limit and economics; ``overrides``
    other ``SimConfig`` fields (never capacity, bounds or economics, which the fleet says)."""
    overrides = dict(overrides or {})
    taken = sorted(set(overrides) & {*FIELDS, "capacity_rpm_per_machine", "min_machines", "max_machines"})
    if taken:
        raise ValueError(f"{', '.join(taken)}: given by the fleet file; set them there, not in --sim")
    step = fleet["max_change_per_minute"]
    return fleet_config(
        fleet["capacity_rpm_per_machine"],
        min_machines=fleet["min_machines"],
        max_machines=fleet["max_machines"],
        economics=fleet.get("economics"),
        **{"max_scale_out_per_step": step, "max_scale_in_per_step": step, **overrides},
    )


FLEET_FIELDS = (
    "capacity_rpm_per_machine", "capacity_sigma", "min_machines", "max_machines", "max_scale_out_per_step",
    "max_scale_in_per_step", *FIELDS,
)  # fmt: skip
"""The ``SimConfig`` fields a fleet file sets (``fleet_sim_overrides``)."""


def fleet_sim_overrides(fleet: dict[str, Any]) -> dict[str, Any]:
    """The ``SimConfig`` fields a fleet file sets, as the hyperparameter ``sim`` of training takes them."""
    config = fleet_sim_config(fleet)
    return {name: getattr(config, name) for name in FLEET_FIELDS}


def verdicts(draws: Draws, candidate: str, rules: list[str]) -> list[dict[str, Any]]:
    """Per rule: the candidate's profit minus the rule's, summed over every case, over the paired draws."""
    total = {name: draws.profit[name].sum(axis=1) for name in (candidate, *rules)}
    down = {name: 100.0 * draws.minutes_down[name].sum(axis=1) / draws.minutes.sum() for name in (candidate, *rules)}
    out = []
    for rule in rules:
        pair = Paired.of(total[candidate] - total[rule])
        out.append(
            {
                "candidate": candidate,
                "rule": rule,
                **pair.to_json(),
                "candidate_profit": float(total[candidate].mean()),
                "rule_profit": float(total[rule].mean()),
                "candidate_pct_minutes_down": float(down[candidate].mean()),
                "rule_pct_minutes_down": float(down[rule].mean()),
            }
        )
    return out


def verdict_line(v: dict[str, Any]) -> str:
    """``<candidate> beats <rule> by $<mean> [<lo>, <hi>] (<wins>/<draws> draws; down ...)``; "loses to" gives the
    rule's lead and its interval, "ties" the signed mean and interval."""
    tail = f"({v['wins']}/{v['draws']} draws; down {v['candidate_pct_minutes_down']:.2f} % of minutes vs "
    tail += f"{v['rule_pct_minutes_down']:.2f} %)"
    if v["verdict"] == "beats":
        return f"{v['candidate']} beats {v['rule']} by ${v['mean']:,.0f} [{v['lo']:,.0f}, {v['hi']:,.0f}] {tail}"
    if v["verdict"] == "loses":
        return f"{v['candidate']} loses to {v['rule']} by ${-v['mean']:,.0f} [{-v['hi']:,.0f}, {-v['lo']:,.0f}] {tail}"
    return f"{v['candidate']} ties {v['rule']}: ${v['mean']:+,.0f} [{v['lo']:+,.0f}, {v['hi']:+,.0f}] {tail}"


def verdict_section(found: list[dict[str, Any]] | None) -> list[str]:
    """report.md lines of the verdicts (``verdicts``), one per candidate and rule."""
    if not found:
        return []
    n = found[0]["draws"]
    lines = [f"## Verdict over {n} paired capacity-noise draws (profit, 95 % interval)", ""]
    return [*lines, *(f"- {verdict_line(v)}" for v in found), ""]
