"""The held-out cases every policy is scored on, and the groups the gate judges them in.

Scenarios (``evaluation_cases``), none of them used for tuning or training:

- ``synthetic-i``: held-out synthetic loads (``simulator.loads`` evaluation stream ``EVAL_STREAM``, random
  shapes of 3 to 300 machines on average), 3 days each (1 day with ``quick``);
- ``nasa-eval``, ``worldcup-eval``: the evaluation part (last 30 % by time) of each recorded trace, scaled with
  the factor measured on its training part (mean 20 machines), the whole part (2 days with ``quick``).

``cell_cases`` replays them, with a small-fleet group (``small_fleet_case``: 2 to 20 machines of
``cells.SMALL_CAPACITY`` requests a minute), in every economics cell of ``training.evaluation.cells``.

Each scenario comes with up to 14 days of the load before it (``Case.past``): the metric history a live system
would hold (the training part of a trace; the same synthetic generator's earlier days), which the predictive
rule forecasts from and the static rule sizes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from simulator.config import SimConfig
from simulator.loads import (
    EVAL_STREAM,
    PAST_MINUTES,
    TRACES,
    Scenario,
    random_spec,
    split_past,
    synthetic_scenario,
    trace_past,
    trace_scenario,
)
from training.evaluation.cells import SMALL, SMALL_CAPACITY, Cell, cells

SYNTHETIC = {"full": (16, 3 * 1440), "quick": (4, 1440)}
"""(number of held-out synthetic scenarios, minutes each)."""
TRACE_MINUTES = {"full": None, "quick": 2 * 1440}
"""Minutes of each trace's evaluation part (None: all of it)."""
TRACE_MEAN_MACHINES = 20.0
"""Traces are scaled so that their training part averages this many machines."""


@dataclass(frozen=True)
class Case:
    """A scenario to evaluate on, with the load observed before it (oldest first), for rules that use history."""

    scenario: Scenario
    past: np.ndarray
    kind: str
    """"synthetic", "trace" or "small" (the small-fleet group)."""
    config: SimConfig | None = None
    """The case's own simulator (its cell's economics, its capacity); ``None``: the run's config."""
    cell: str = ""
    """The economics cell (``training.evaluation.cells``) the case is judged in; "" when cells are not used."""


def synthetic_case(
    index: int,
    minutes: int,
    *,
    stream: int = EVAL_STREAM,
    past_minutes: int = PAST_MINUTES,
    capacity: float = 300.0,
    prefix: str = "synthetic",
) -> Case:
    """Synthetic scenario ``index`` of random stream ``stream`` (``EVAL_STREAM``: held out), with its past."""
    rng = np.random.default_rng([stream, index])
    long = synthetic_scenario(rng, past_minutes + minutes, name=f"{prefix}-{index}", capacity=capacity)
    scenario, past = split_past(long, past_minutes, capacity)
    return Case(scenario, past, "synthetic")


def trace_case(
    name: str,
    part: str,
    *,
    minutes: int | None = None,
    offset: int = 0,
    past_minutes: int = PAST_MINUTES,
    mean_machines: float = TRACE_MEAN_MACHINES,
    capacity: float = 300.0,
) -> Case:
    """A window of a trace's ``part`` (see ``simulator.loads.trace_scenario``) with up to ``past_minutes`` of the
    trace before it. The past of the evaluation part is the end of the training part."""
    scenario = trace_scenario(
        name, part, mean_machines=mean_machines, capacity=capacity, minutes=minutes, offset=offset
    )
    past = trace_past(
        name, scenario.meta["first_minute"], past_minutes=past_minutes, mean_machines=mean_machines, capacity=capacity
    )
    scenario = Scenario(
        scenario.name, scenario.load, scenario.start, scenario.initial_machines,
        meta={**scenario.meta, "past_minutes": len(past)},
    )  # fmt: skip
    return Case(scenario, past, "trace")


ALL = "all scenarios"
"""The group of every scenario together."""
SMALL_GROUP = "small fleets"


def group_of(kind: str, name: str) -> str:
    """The group a scenario is judged in: the held-out synthetic loads together, the small fleets together, each
    trace on its own; within its economics cell when its name is ``cell/scenario``."""
    cell, _, base = name.rpartition("/")
    group = "held-out synthetic" if kind == "synthetic" else SMALL_GROUP if kind == SMALL else base
    return f"{cell}: {group}" if cell else group


def groups(scenarios: Iterable[tuple[str, str]]) -> dict[str, list[int]]:
    """Indices of the (kind, name) pairs in each judged group, in order of first appearance; with cells, each
    cell's scenarios together too (``cell: all scenarios``)."""
    out: dict[str, list[int]] = {}
    for i, (kind, name) in enumerate(scenarios):
        out.setdefault(group_of(kind, name), []).append(i)
        cell = name.rpartition("/")[0]
        if cell:
            out.setdefault(f"{cell}: {ALL}", []).append(i)
    return out


def evaluation_cases(quick: bool = False, capacity: float = 300.0) -> list[Case]:
    """The held-out scenarios of the scoreboard (see the module docstring)."""
    mode = "quick" if quick else "full"
    count, minutes = SYNTHETIC[mode]
    cases = [synthetic_case(i, minutes, capacity=capacity) for i in range(count)]
    cases += [trace_case(name, "eval", minutes=TRACE_MINUTES[mode], capacity=capacity) for name in sorted(TRACES)]
    return cases


SMALL_FLEETS = {"full": (8, 3 * 1440), "quick": (4, 1440)}
"""(number of held-out small fleets, minutes each)."""
SMALL_MACHINES = (2.0, 20.0)


def small_fleet_case(
    index: int, minutes: int, *, stream: int = EVAL_STREAM, past_minutes: int = PAST_MINUTES, prefix: str = "small"
) -> Case:
    """Small fleet ``index``: a synthetic load of 2 to 20 machines of ``cells.SMALL_CAPACITY`` requests a minute
    (Poisson counts at that rate), from random stream ``stream`` (sub-stream 5), with its past."""
    rng = np.random.default_rng([stream, 5, index])
    spec = random_spec(rng, SMALL_MACHINES)
    long = synthetic_scenario(rng, past_minutes + minutes, spec=spec, name=f"{prefix}-{index}", capacity=SMALL_CAPACITY)
    scenario, past = split_past(long, past_minutes, SMALL_CAPACITY)
    return Case(scenario, past, SMALL)


def in_cell(case: Case, cell: Cell) -> Case:
    """``case`` replayed in ``cell``: named ``cell/scenario``, simulated with the cell's economics."""
    config = cell.config(small=case.kind == SMALL)
    fleet = SMALL if case.kind == SMALL else "regular"
    meta = {**case.scenario.meta, "cell": cell.name, "fleet": fleet}
    scenario = replace(case.scenario, name=f"{cell.name}/{case.scenario.name}", meta=meta)
    return replace(case, scenario=scenario, config=config, cell=cell.name)


def cell_cases(quick: bool = False) -> list[Case]:
    """The scoreboard over economics cells (``training.evaluation.cells``): every held-out case (``evaluation_cases``)
    and the small-fleet group, in every cell of the preset."""
    mode = "quick" if quick else "full"
    count, minutes = SMALL_FLEETS[mode]
    base = evaluation_cases(quick) + [small_fleet_case(i, minutes) for i in range(count)]
    return [in_cell(case, cell) for cell in cells(mode) for case in base]
