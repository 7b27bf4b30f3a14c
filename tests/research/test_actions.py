"""The ablation's "margin" rules size at a fixed margin level every minute, as the policy's actions do."""

from __future__ import annotations

import numpy as np
import pytest

from inference.actions import desired_at_level, sizing_basis
from research.actions import FixedSizing
from simulator.config import SimConfig
from simulator.fleet import FleetSim
from training.evaluation.cases import synthetic_case


@pytest.mark.parametrize("level", [0.5, 1.0, 1.5])
def test_margin_rule_is_the_action_every_minute(level):
    sim = FleetSim(SimConfig(), [synthetic_case(0, 120).scenario], seed=0)
    rule = FixedSizing("margin", level)
    rule.reset(sim)
    obs = sim.observe()
    for _ in range(120):
        basis = sizing_basis(obs.load, obs.capacity_rpm_per_machine)
        want = desired_at_level(level, basis, obs.active, obs.pending)
        got = rule.act(obs)
        np.testing.assert_array_equal(got, np.maximum(want, 1))
        sim.step(got)
        obs = sim.observe()


def test_multiplier_bases_and_bad_basis():
    sim = FleetSim(SimConfig(), [synthetic_case(1, 30).scenario], seed=0)
    obs = sim.observe()
    cap = obs.capacity_rpm_per_machine
    last, peak = obs.load[:, -1] / cap, obs.load[:, -16:].max(axis=1) / cap
    np.testing.assert_array_equal(FixedSizing("last", 1.5).act(obs), np.maximum(np.ceil(last * 1.5 - 1e-9), 1))
    np.testing.assert_array_equal(FixedSizing("peak", 1.5).act(obs), np.maximum(np.ceil(peak * 1.5 - 1e-9), 1))
    with pytest.raises(ValueError, match="basis"):
        FixedSizing("mean", 1.5)


def test_seasonal_basis_forecasts_yesterdays_next_minutes_scaled_to_today():
    from types import SimpleNamespace

    from inference.features import CONTEXT_MINUTES, DAY
    from research.actions import SEASONAL_AHEAD, seasonal_basis

    lag = 2
    history = np.full((3, CONTEXT_MINUTES), 3000.0)
    newest = CONTEXT_MINUTES - 1
    # Yesterday, two minutes after the decided minute t (column newest + 1 + lag + 2 - DAY): 6000 requests.
    history[0, newest + 1 + lag + 2 - DAY] = 6000.0
    history[1, -16:] = 4500.0  # today 1.5x yesterday's same minutes: the forecast scales with it
    history[2, :100] = np.nan  # less than a day watched: no forecast
    obs = SimpleNamespace(history=history, capacity_rpm_per_machine=np.full(3, 300.0))
    got = seasonal_basis(obs, lag)
    assert got[0] == 20.0 and got[1] == 15.0 and np.isnan(got[2])
    # A rise beyond the forecast's reach (SEASONAL_AHEAD + 1 minutes ahead) is not seen.
    history[0, newest + 1 + lag + 2 - DAY] = 3000.0
    history[0, newest + 1 + lag + SEASONAL_AHEAD + 1 - DAY] = 6000.0
    assert seasonal_basis(obs, lag)[0] == 10.0


def test_seasonal_rule_never_sizes_below_the_margin_rule():
    case = synthetic_case(2, 240)
    sim = FleetSim(SimConfig(), [case.scenario], seed=0, past=[case.past])
    seasonal, margin = FixedSizing("seasonal", 0.9), FixedSizing("margin", 0.9)
    seasonal.reset(sim)
    obs = sim.observe()
    above = 0
    for _ in range(240):
        got, base = seasonal.act(obs), margin.act(obs)
        assert got[0] >= base[0]
        above += int(got[0] > base[0])
        sim.step(got)
        obs = sim.observe()
    assert above > 0
