"""Each shield rule on its own, the fallback paths, and the shield settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference import actions, artifact, contract, features, handler
from inference.shield import Shield, ShieldConfig
from tests.inference.helpers import decision

NOMINAL = artifact.observation_spec(None)["features"]
LO = np.array([f["lo"] for f in NOMINAL])
HI = np.array([f["hi"] for f in NOMINAL])


def request(**fields) -> contract.DecisionRequest:
    return contract.parse_request(json.dumps(decision(**fields)), "application/json")


def run(req: contract.DecisionRequest, action: int, failed: bool = False, config: ShieldConfig | None = None):
    obs = features.featurize(req.load, req.failed, req.active, req.pending, req.capacity, req.minute)
    out = Shield(LO, HI, config).apply(req, obs, np.full(len(req), action), np.full(len(req), failed))
    return int(out.desired[0]), bool(out.shielded[0]), out.reasons[0], bool(out.fallback[0])


BASE = 1.0
"""The economics' base level in these tests (``pin_base_level``): the shield's rules on known sizes."""


@pytest.fixture(autouse=True)
def pin_base_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "base_level", lambda economics, basis, capacity: np.full(np.shape(basis), BASE))


def level(z: float) -> int:
    """The action sizing at margin level ``z`` (its offset over ``BASE``)."""
    return next(a["action"] for a in actions.ACTION_TABLE if a.get("level") == round(z - BASE, 10))


def test_policy_decision_within_rules_is_not_shielded() -> None:
    req = request(load_rpm=[3000.0], active_machines=10, min_machines=None, max_machines=None)
    desired, shielded, reason, fallback = run(req, level(0.5))
    assert (desired, shielded, fallback) == (15, False, False)  # ceil(10 + 0.5 * (0.2 * 10 + 2 * sqrt(10)))
    assert reason == "policy: peak of the longer of 16 minutes and 2 warm-ups + the economics' safety margin -0.5"


def test_change_per_decision_is_limited_both_ways() -> None:
    up = request(load_rpm=[30_000.0], active_machines=10, pending_machines=0, min_machines=None, max_machines=None)
    assert run(up, level(2.5))[:3] == (15, True, "change limited to 5 machines per decision")
    down = request(load_rpm=[300.0], active_machines=80, pending_machines=20, min_machines=None, max_machines=None)
    assert run(down, level(0.5))[:2] == (50, True)


def test_minimum_step_lets_an_empty_fleet_start() -> None:
    req = request(load_rpm=[3000.0], active_machines=0, pending_machines=0, min_machines=None, max_machines=None)
    assert run(req, level(0.5))[:2] == (2, True)
    assert run(req, level(0.5), config=ShieldConfig(min_step=5))[0] == 5


def test_no_scale_in_while_requests_fail() -> None:
    req = request(load_rpm=[600.0], failed_rpm=0.5, active_machines=10, min_machines=None, max_machines=None)
    desired, shielded, reason, _ = run(req, level(0.5))
    assert (desired, shielded) == (10, True)
    assert reason == "no scale-in while requests fail"
    assert run(req, level(2.0))[:2] == (10, False)  # 9 machines: within the scale-in tolerance, the policy keeps 10
    grow = request(load_rpm=[6000.0], failed_rpm=50, active_machines=10, min_machines=None, max_machines=None)
    assert run(grow, level(0.65))[:2] == (15, True)


def test_bounds_are_hard_and_win_over_the_other_rules() -> None:
    low = request(load_rpm=[300.0], active_machines=10, min_machines=30, max_machines=None)
    desired, _, reason, _ = run(low, level(0.5))
    assert desired == 30 and "raised to min_machines 30" in reason
    failing = request(load_rpm=[3000.0], failed_rpm=10, active_machines=10, min_machines=None, max_machines=8)
    desired, _, reason, _ = run(failing, level(1.0))
    assert desired == 8 and reason.endswith("lowered to max_machines 8")


def test_out_of_training_range_falls_back_to_target_tracking() -> None:
    # 70 machines' worth of load is inside the nominal range (up to 10,000, plus margin); 200,000 is not.
    inside = request(load_rpm=[21_000.0], active_machines=100, min_machines=None, max_machines=None)
    assert run(inside, level(1.0))[3] is False
    req = request(load_rpm=[60_000_000.0], active_machines=200_000, min_machines=None, max_machines=None)
    desired, shielded, reason, fallback = run(req, level(1.0))
    assert fallback and shielded
    assert desired == 285_715  # ceil(200,000 / 0.7)
    assert reason.startswith("fallback to target tracking at 70% utilisation: log_need=")
    assert "outside the training range [0, 1.84]" in reason


def test_margin_tolerates_slightly_out_of_range_features() -> None:
    lo, hi = LO.copy(), HI.copy()
    hi[features.FEATURE_NAMES.index("failed_fraction")] = 0.0  # training saw no failures
    req = request(load_rpm=[3000.0], failed_rpm=0.001, active_machines=10)
    obs = features.featurize(req.load, req.failed, req.active, req.pending, req.capacity, req.minute)
    out = Shield(lo, hi).apply(req, obs, np.array([level(1.0)]), np.array([False]))
    assert not out.fallback[0]  # 3e-7 of the load failing: inside the margin
    req = request(load_rpm=[3000.0], failed_rpm=300, active_machines=10)
    obs = features.featurize(req.load, req.failed, req.active, req.pending, req.capacity, req.minute)
    out = Shield(lo, hi).apply(req, obs, np.array([level(1.0)]), np.array([False]))
    assert out.fallback[0] and "failed_fraction=0.1" in out.reasons[0]


def test_policy_failure_falls_back(model: handler.Model, monkeypatch: pytest.MonkeyPatch) -> None:
    req = request(load_rpm=[3000.0], active_machines=10)

    def broken(obs):
        raise RuntimeError("boom")

    monkeypatch.setattr(model.policy.policy, "logits", broken)
    pred = handler.predict_fn(req, model)
    assert pred.decisions.fallback.tolist() == [True]
    assert pred.decisions.reasons[0].endswith("the policy failed")
    assert pred.decisions.desired[0] == 15  # ceil(10 / 0.7) = 15


def test_non_finite_logits_fall_back_for_those_rows_only(model: handler.Model, monkeypatch) -> None:
    doc = {"instances": [decision(), decision()]}
    req = contract.parse_request(json.dumps(doc), "application/json")
    real = model.policy.policy.logits

    def half_nan(obs):
        out = real(obs)
        out[1] = np.nan
        return out

    monkeypatch.setattr(model.policy.policy, "logits", half_nan)
    pred = handler.predict_fn(req, model)
    assert pred.decisions.fallback.tolist() == [False, True]


def test_config_from_environment() -> None:
    cfg = ShieldConfig.from_env(
        {
            "AUTOSCALER_SHIELD_MAX_STEP_FRACTION": "0.25",
            "AUTOSCALER_SHIELD_MIN_STEP": "4",
            "AUTOSCALER_SHIELD_TARGET_UTILISATION": "0.6",
            "AUTOSCALER_SHIELD_OOD_MARGIN": "0.2",
        }
    )
    assert cfg == ShieldConfig(max_step_fraction=0.25, min_step=4, target_utilisation=0.6, ood_margin=0.2)
    assert ShieldConfig.from_env({}) == ShieldConfig()
    with pytest.raises(ValueError, match="AUTOSCALER_SHIELD_MIN_STEP='two'"):
        ShieldConfig.from_env({"AUTOSCALER_SHIELD_MIN_STEP": "two"})
    with pytest.raises(ValueError, match="target_utilisation"):
        ShieldConfig.from_env({"AUTOSCALER_SHIELD_TARGET_UTILISATION": "1.5"})


def test_bad_shield_setting_fails_model_loading(model_tarball, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSCALER_SHIELD_MAX_STEP_FRACTION", "-1")
    with pytest.raises(Exception, match="bad shield setting: max_step_fraction") as exc:
        handler.model_fn(str(model_tarball))
    assert getattr(exc.value, "status_code", None) == 500


def test_scale_in_tolerance_keeps_the_fleet_for_small_cuts() -> None:
    # peak 10 machines: level 0.5 asks for 15; a fleet of 16 keeps 16 (cut < 10 %), a fleet of 17 goes to 15.
    for fleet, expected in ((15, 15), (16, 16), (17, 15), (12, 15)):
        req = request(load_rpm=[3000.0], active_machines=fleet, min_machines=None, max_machines=None)
        assert run(req, level(0.5))[:2] == (expected, False)
    assert actions.SCALE_IN_TOLERANCE == 0.1


def test_the_step_on_an_odd_fleet_is_half_rounded_up() -> None:
    """11 machines at a step of half the fleet move by ceil(5.5) = 6, both ways (floor would give 5)."""
    up = request(load_rpm=[30_000.0], active_machines=11, pending_machines=0, min_machines=None, max_machines=None)
    assert run(up, level(2.5))[:3] == (17, True, "change limited to 6 machines per decision")
    down = request(load_rpm=[30.0], active_machines=11, pending_machines=0, min_machines=None, max_machines=None)
    assert run(down, level(0.5))[:3] == (5, True, "change limited to 6 machines per decision")


def test_the_target_utilisation_setting_sizes_the_fallback() -> None:
    req = request(load_rpm=[60_000_000.0], active_machines=200_000, min_machines=None, max_machines=None)
    desired, _, reason, fallback = run(req, level(1.0), config=ShieldConfig(target_utilisation=0.8))
    assert fallback and desired == 250_000  # ceil(200,000 / 0.8); the default 0.7 gives 285,715
    assert reason.startswith("fallback to target tracking at 80% utilisation: ")


@pytest.mark.parametrize("load", [30.0, 30_000.0])
def test_min_equal_to_max_is_a_valid_contract_and_pins_the_fleet(load: float) -> None:
    req = request(load_rpm=[load], active_machines=7, pending_machines=0, min_machines=7, max_machines=7)
    assert (int(req.min_machines[0]), int(req.max_machines[0])) == (7, 7)
    assert run(req, level(1.0))[0] == 7
    with pytest.raises(contract.BadRequest, match=r"min_machines: 8 is above max_machines 7"):
        request(load_rpm=[load], active_machines=7, min_machines=8, max_machines=7)


def test_a_collapse_of_the_traffic_is_held_and_said() -> None:
    """Traffic that stopped in a minute 40 minutes ago: sized on the 10 machines' worth before it, and the reason
    says so (``actions.collapse_hold``; at default prices the hold outlasts the 240 minutes sent)."""
    req = request(load_rpm=[3000.0] * 200 + [0.0] * 40, active_machines=30, min_machines=None, max_machines=None)
    desired, shielded, reason, fallback = run(req, level(1.0))
    assert (desired, shielded, fallback) == (19, False, False)  # ceil(10 + 1 * (0.2 * 10 + 2 * sqrt(10)))
    assert reason.endswith(
        "; traffic collapsed 40 minutes ago: sized on the 10 machines' worth before it, for up to 240 minutes "
        "(while holding costs less than an outage on its return)"
    )


def test_recurring_surges_are_held_and_said() -> None:
    """A 5-minute burst of 1,400 requests at the top of every hour over 180: between bursts the fleet keeps the
    last one's 4.67 machines' worth (``actions.surge_hold``), and the reason says so."""
    t = np.arange(240)
    load = np.where(t % 60 < 5, 1400.0, 180.0)
    req = request(load_rpm=load.tolist(), active_machines=10, min_machines=None, max_machines=None)
    desired, shielded, reason, fallback = run(req, level(1.0))
    assert (desired, shielded, fallback) == (10, False, False)  # ceil(4.67 + 1 * (0.2 * 4.67 + 2 * sqrt(4.67)))
    assert "; traffic surges again and again, the last 59 minutes ago: sized on its 4.67 machines' worth" in reason
