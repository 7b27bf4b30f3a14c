"""The ablation's fixed rules are the policy's own actions taken every minute."""

from __future__ import annotations

import numpy as np
import pytest

from inference.actions import ACTION_TABLE, desired_from_action, sizing_basis
from training.bench_actions import FixedHeadroom
from training.config import SimConfig
from training.evaluate import synthetic_case
from training.sim import FleetSim


@pytest.mark.parametrize("multiplier", [1.3, 1.45, 1.6])
def test_peak_rule_is_the_headroom_action_every_minute(multiplier):
    action = next(a["action"] for a in ACTION_TABLE if a.get("multiplier") == multiplier)
    sim = FleetSim(SimConfig(), [synthetic_case(0, 120).scenario], seed=0)
    rule = FixedHeadroom(multiplier, "peak")
    rule.reset(sim)
    obs = sim.observe()
    for _ in range(120):
        want = desired_from_action(
            np.array([action]), sizing_basis(obs.load, obs.capacity_rpm_per_machine), obs.active, obs.pending
        )
        got = rule.act(obs)
        np.testing.assert_array_equal(got, np.maximum(want, 1))
        sim.step(got)
        obs = sim.observe()


def test_last_minute_basis_and_bad_basis():
    sim = FleetSim(SimConfig(), [synthetic_case(1, 30).scenario], seed=0)
    obs = sim.observe()
    need = obs.load[:, -1] / obs.capacity_rpm_per_machine
    np.testing.assert_array_equal(FixedHeadroom(1.5, "last").act(obs), np.maximum(np.ceil(need * 1.5 - 1e-9), 1))
    with pytest.raises(ValueError, match="basis"):
        FixedHeadroom(1.5, "mean")
