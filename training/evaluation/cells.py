"""The economics cells the scoreboard judges in, and the small-fleet group's fleet.

A cell is one fleet economics (``inference.economics`` keys over ``DEFAULTS``); every held-out case is replayed in
every cell, and every tuned rule is tuned for each cell (``training.policies.tuning``), as a team tunes its own
target for its own fleet. The full preset's cells: warm-up {1, 5, 15} minutes x outage cost {20, 200, 2,000} $/min
(``w5-o200`` is article 002's prices, called ``default``), plus cheap machines (0.01 $/min) and dear machines
(0.2 $/min) at article 002's other prices; the quick preset's: ``default``, ``w15-o2000`` and ``w1-o20``.

The small-fleet group runs 2 to 20 machines of ``SMALL_CAPACITY`` requests a minute each (Poisson-like counting
noise). Its requests are worth ``300 / SMALL_CAPACITY`` times the cell's request value, so that a fully busy
machine earns what it earns in the cell's other groups (a request to a small service is worth more).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.config import DEFAULT_CAPACITY_RPM, SimConfig, fleet_config

SMALL_CAPACITY = 3.0
"""Requests per minute one machine of a small fleet serves."""
SMALL = "small"
"""Case kind of the small-fleet group."""


@dataclass(frozen=True)
class Cell:
    name: str
    economics: dict[str, Any] = field(default_factory=dict)
    """Overrides of ``inference.economics.DEFAULTS``."""

    def config(self, small: bool = False, **overrides: Any) -> SimConfig:
        """The simulator of this cell's regular fleets (300 rpm per machine) or of its small fleets."""
        if not small:
            return fleet_config(DEFAULT_CAPACITY_RPM, economics=self.economics, **overrides)
        economics = {**self.economics}
        base = fleet_config(DEFAULT_CAPACITY_RPM, economics=self.economics).request_value
        economics["request_value"] = base * DEFAULT_CAPACITY_RPM / SMALL_CAPACITY
        return fleet_config(SMALL_CAPACITY, economics=economics, **overrides)


def _grid_cell(warmup: int, outage: float) -> Cell:
    if (warmup, outage) == (5, 200):
        return Cell("default")
    return Cell(f"w{warmup}-o{outage:g}", {"warmup_latency": warmup, "downtime_cost": float(outage)})


DEFAULT = Cell("default")
CELLS: dict[str, tuple[Cell, ...]] = {
    "full": (
        *(_grid_cell(w, o) for w in (1, 5, 15) for o in (20, 200, 2000)),
        Cell("cheap-machines", {"machine_cost": 0.01}),
        Cell("dear-machines", {"machine_cost": 0.2}),
    ),
    "quick": (DEFAULT, _grid_cell(15, 2000), _grid_cell(1, 20)),
}
"""The cells of each preset."""


def cells(mode: str) -> tuple[Cell, ...]:
    if mode not in CELLS:
        raise ValueError(f"cells must be one of {', '.join(CELLS)}, got {mode!r}")
    return CELLS[mode]


def by_name(name: str) -> Cell:
    """A cell of either preset by name."""
    for cell in (*CELLS["full"], *CELLS["quick"]):
        if cell.name == name:
            return cell
    raise KeyError(f"unknown economics cell {name!r}; known: {', '.join(c.name for c in CELLS['full'])}")
