"""The ablation's "margin" rules are the policy's own actions taken every minute."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.actions import FixedSizing
from inference.actions import ACTION_TABLE, desired_from_action, sizing_basis
from training.evaluation.cases import synthetic_case
from training.sim.config import SimConfig
from training.sim.fleet import FleetSim


@pytest.mark.parametrize("level", [0.5, 1.0, 1.5])
def test_margin_rule_is_the_action_every_minute(level):
    action = next(a["action"] for a in ACTION_TABLE if a.get("level") == level)
    sim = FleetSim(SimConfig(), [synthetic_case(0, 120).scenario], seed=0)
    rule = FixedSizing("margin", level)
    rule.reset(sim)
    obs = sim.observe()
    for _ in range(120):
        basis = sizing_basis(obs.load, obs.capacity_rpm_per_machine)
        want = desired_from_action(np.array([action]), basis, obs.active + obs.pending)
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
