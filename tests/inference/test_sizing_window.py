"""The sizing window grows with the warm-up (``inference.actions.sizing_basis``): a fleet that takes 15 minutes to
bring a machine back is not cut until its load has stayed low for two warm-ups."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from inference import actions, features
from inference.economics import DEFAULTS, FIELDS
from simulator.config import SimConfig
from simulator.fleet import FleetSim, desired_of
from simulator.loads import Scenario


def economics(*warmups: float) -> np.ndarray:
    rows = np.array([[float(DEFAULTS[k]) for k in FIELDS]] * len(warmups))
    rows[:, FIELDS.index("warmup_latency")] = warmups
    return rows


def history_with_spike(n: int, minutes_ago: int) -> np.ndarray:
    """A day of 100 requests a minute, with one minute of 3,000 ``minutes_ago`` minutes before the newest."""
    history = np.full((n, features.CONTEXT_MINUTES), 100.0)
    history[:, -1 - minutes_ago] = 3000.0
    return history


def test_the_window_is_two_warm_ups_and_never_shorter_than_the_observed_window() -> None:
    history = history_with_spike(4, minutes_ago=22)
    load = history[:, -features.HISTORY :]
    basis = actions.sizing_basis(load, 300.0, history, economics(15, 12, 5, 0))
    # 15 and 12 minutes: windows of 30 and 24 minutes hold the spike 22 minutes back; 5 and 0: the 16-minute one not.
    np.testing.assert_allclose(basis, [10.0, 10.0, 100.0 / 300.0, 100.0 / 300.0])
    assert actions.sizing_basis(load, 300.0, history, economics(11))[0] == 100.0 / 300.0  # 22 minutes: too short


def test_without_the_history_the_window_is_the_observed_one() -> None:
    history = history_with_spike(2, minutes_ago=24)
    load = history[:, -features.HISTORY :]
    np.testing.assert_allclose(actions.sizing_basis(load, 300.0), [100.0 / 300.0] * 2)
    history[1, : -features.HISTORY] = np.nan  # fleet 1 sent only its last 16 minutes (a fleet's first minutes)
    np.testing.assert_allclose(actions.sizing_basis(load, 300.0, history, economics(15, 15)), [10.0, 100.0 / 300.0])


def test_a_long_warm_up_fleet_is_not_cut_right_after_a_peak_in_the_simulator() -> None:
    """End to end through the simulator's observation: after a 10-minute burst the 15-minute warm-up fleet keeps
    its size 20 minutes later, the 1-minute one has already cut."""
    minutes = 60
    load = np.full(features.HISTORY + minutes, 3000.0)
    load[features.HISTORY + 10 : features.HISTORY + 20] = 30000.0
    scenario = Scenario(name="burst", load=load, start=datetime(2026, 1, 5, tzinfo=UTC), initial_machines=12)
    configs = [SimConfig(warmup_latency=15), SimConfig(warmup_latency=1)]
    sim = FleetSim(configs, [scenario, scenario], seed=0)
    base = np.full(2, actions.OFFSETS.index(0.0))
    for _ in range(45):  # the burst's last minute is observed at minute 22 (2-minute lag); 45 - 22 > 16
        obs = sim.observe()
        sim.step(desired_of(base, obs))
    obs = sim.observe()
    desired = desired_of(base, obs)
    assert desired[0] > 100 > desired[1]
