"""A team's own traffic on the scoreboard: the evaluation part of a trace file (``python -m training.evaluate
--trace FILE``), and how the file was split.

The trace (``simulator.loads.load_trace``: ``timestamp,requests`` as ``controller.export_trace`` writes it, or
``minute,requests``) is split by time like the recorded traces: the first ``TRAIN_FRACTION`` is the early part
(what ``python -m training.train --trace`` trains on, and the past the rules forecast and size from), the rest
is the late part, the only part reported. The load is the team's own requests per minute, never rescaled: the
fleet's capacity per machine is the simulator's ``capacity_rpm_per_machine``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from inference.features import HISTORY
from simulator.loads import TRAIN_FRACTION, TraceFile, initial_fleet, load_trace, team_scenario
from training.evaluation.cases import PAST_MINUTES, Case


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


def markdown_section(traces: list[dict[str, Any]] | None) -> list[str]:
    """report.md lines saying what was read and where each trace was split."""
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
    return [*lines, ""]
