"""The economics' base level the policy's actions are offsets of: the newsvendor's margin, per fleet."""

from __future__ import annotations

import numpy as np
import pytest

from inference import actions
from inference.economics import DEFAULTS, FIELDS


def row(**changes: float) -> np.ndarray:
    values = {**DEFAULTS, **changes}
    return np.array([[float(values[k]) for k in FIELDS]])


def level(basis: float = 55.0, capacity: float = 300.0, **changes: float) -> float:
    return float(actions.base_level(row(**changes), np.array([basis]), capacity)[0])


def test_article_002_prices_give_the_level_measured_best_there() -> None:
    assert level() == pytest.approx(1.0, abs=0.05)
    assert actions.base_level(None, np.array([55.0]), 300.0)[0] == pytest.approx(level())


def test_the_level_follows_what_a_machine_and_an_outage_cost() -> None:
    assert level(downtime_cost=2000.0) > level() > level(downtime_cost=20.0)
    assert level(machine_cost=0.01) > level() > level(machine_cost=0.2)
    assert level(warmup_latency=15) > level() > level(warmup_latency=1)
    assert level(machine_cost=100.0, downtime_cost=0.0) == 0.0  # machines dearer than anything they save
    assert level(machine_cost=0.0) == pytest.approx(actions.MAX_LEVEL)


def test_actions_are_offsets_over_the_base_level_never_below_the_peak() -> None:
    basis, fleet = np.array([55.0, 55.0]), np.array([0, 0])
    base = actions.OFFSETS.index(0.0)
    cheap_outage = row(downtime_cost=0.0, machine_cost=5.0).repeat(2, axis=0)
    assert actions.desired_from_action(np.array([base, 0]), basis, fleet, fleet, cheap_outage, 300.0).tolist() == [
        55,
        55,
    ]
    at_default = actions.desired_from_action(np.array([base]), basis[:1], fleet[:1], fleet[:1], None, 300.0)[0]
    assert at_default == actions.fleet_for_level(basis[:1], level())[0]


def test_a_cut_keeps_the_fleet_while_machines_are_warming_up() -> None:
    level = np.zeros(3)
    basis = np.array([10.0, 10.0, 10.0])
    active, warming = np.array([12, 20, 20]), np.array([8, 0, 1])
    # Sized at 10 machines: the fleet of 20 with 8 warming keeps all 20; with none warming it is cut to 10; one
    # machine warming is enough to keep it.
    assert actions.desired_at_level(level, basis, active, warming).tolist() == [20, 10, 21]
    # Growing is never held back by warming machines.
    assert actions.desired_at_level(0.0, np.array([30.0]), np.array([5]), np.array([5])).tolist() == [30]
