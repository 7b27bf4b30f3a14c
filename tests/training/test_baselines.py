"""Each rule reacts to crafted loads exactly as its source documents it (see training/baselines.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from inference.features import HISTORY
from simulator.config import SimConfig
from simulator.fleet import FleetSim
from simulator.loads import Scenario
from training.policies.base import reset_policy
from training.policies.rules import BASELINES, HPA, Predictive, Static, StepScaling, TargetTracking, _percent_adjustment

CAP = 300.0
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)


def crafted(need: np.ndarray, initial: int, start: datetime = MONDAY) -> Scenario:
    """A scenario whose load is ``need`` machines' worth per minute (HISTORY minutes of history first)."""
    return Scenario("crafted", np.asarray(need, dtype=np.float64) * CAP, start, initial)


def piecewise(total: int, *changes: tuple[int, float], first: float) -> np.ndarray:
    """Need per minute of a scenario of ``total`` simulated minutes: ``first``, then ``(minute, need)`` changes
    (minutes of the simulation, 0 = first simulated minute)."""
    need = np.full(HISTORY + total, first)
    for minute, value in changes:
        need[HISTORY + minute :] = value
    return need


LAG0 = SimConfig(observation_lag_minutes=0)
"""The rules' mechanics are tested on the minute just before the decision; ``TestObservationLag`` adds the lag."""


def run(policy, scenario: Scenario, config: SimConfig | None = None, past=None) -> dict[str, np.ndarray]:
    """Decisions and fleet state at every minute of one scenario."""
    sim = FleetSim(config or LAG0, [scenario], seed=0)
    reset_policy(policy, sim, past)
    out = {"desired": [], "active": [], "pending": []}
    obs = sim.observe()
    while sim.t < sim.minutes:
        desired = policy.act(obs)
        out["desired"].append(int(desired[0]))
        out["active"].append(int(obs.active[0]))
        out["pending"].append(int(obs.pending[0]))
        sim.step(desired)
        obs = sim.observe()
    return {k: np.array(v) for k, v in out.items()}


class TestTargetTracking:
    def test_step_increase_waits_three_datapoints_then_orders_proportional_capacity(self):
        # 10 machines' worth at target 0.5 needs 20; at minute 20 the load doubles.
        r = run(TargetTracking(0.5), crafted(piecewise(40, (20, 20.0), first=10.0), initial=20))
        assert (r["desired"][:23] == 20).all()  # datapoints from minutes 20, 21 (decisions 21, 22): no alarm yet
        assert r["desired"][23] == 40  # third datapoint above target: ceil(20 / 0.5)
        # Warming capacity counts towards the desired capacity: no second order while the alarm stays in ALARM.
        assert (r["desired"][24:28] == 40).all() and (r["pending"][24:28] == 20).all()
        assert r["active"][28] == 40 and (r["desired"][28:] == 40).all()

    def test_larger_breach_while_warming_orders_only_the_difference(self):
        r = run(TargetTracking(0.5), crafted(piecewise(30, (5, 20.0), (9, 30.0), first=10.0), initial=20))
        assert r["desired"][8] == 40  # ceil(20 / 0.5) after 3 datapoints (minutes 5, 6, 7)
        assert r["desired"][10] == 60  # ceil(30 / 0.5) > 40 already ordered: the fleet grows to 60, not 40 + 60
        assert r["pending"][11] == 40

    def test_scale_in_after_fifteen_low_datapoints_rounding_conservatively(self):
        # 20 machines' worth on 40 machines (target 0.5); at minute 10 the load drops to 7.3 machines' worth.
        r = run(TargetTracking(0.5), crafted(piecewise(40, (10, 7.3), first=20.0), initial=40))
        assert (r["desired"][:25] == 40).all()  # 14 low datapoints (minutes 10..23) are not enough
        assert r["desired"][25] == 15  # 15th: ceil(7.3 / 0.5) = 15 (removing 25.4 machines rounds down to 25)
        assert (r["desired"][26:] == 15).all()

    def test_no_scale_in_within_0_9_target(self):
        # utilisation 0.46 on a 0.5 target is above the low alarm's 0.45: never scales in.
        r = run(TargetTracking(0.5), crafted(piecewise(60, first=9.2), initial=20))
        assert (r["desired"] == 20).all()

    def test_scale_in_cooldown_of_five_minutes(self):
        # The simulator can remove at most 5 machines a minute, so the low alarm persists after a scale in.
        config = LAG0.replace(max_scale_in_per_step=5)
        r = run(TargetTracking(0.5), crafted(piecewise(40, (0, 4.0), first=20.0), initial=40), config)
        assert r["desired"][15] == 8 and r["active"][16] == 35
        assert (r["desired"][16:20] == 35).all()  # cooldown: the fleet is held for 300 s
        assert r["desired"][20] == 8 and r["active"][21] == 30

    def test_scale_in_blocked_while_machines_warm(self):
        # A 30-minute warm-up: the low alarm has its 15 datapoints long before the order arrives.
        config = LAG0.replace(warmup_latency=30)
        r = run(TargetTracking(0.5), crafted(piecewise(60, (1, 30.0), (6, 2.0), first=10.0), initial=20), config)
        assert r["desired"][4] == 60 and r["pending"][5] == 40  # ordered after minutes 1, 2, 3 were high
        assert (r["desired"][5:34] == 60).all()  # low since minute 6, but 40 machines are still warming
        assert r["pending"][34] == 0 and r["desired"][34] == 4  # arrived: scale in to ceil(2 / 0.5)


class TestStepScaling:
    def test_percent_rounding_as_aws_documents(self):
        cap = np.array([10, 10, 25, 5, 15, 40])
        pct = np.array([10.0, 5.0, -10.0, -10.0, 50.0, -30.0])
        assert _percent_adjustment(cap, pct).tolist() == [1, 1, -2, -1, 7, -12]

    def test_steps_on_the_breach_and_warm_up(self):
        # threshold 0.5 on 20 machines; need 13 -> utilisation 0.65, breach 30 % of the threshold -> +50 %.
        r = run(StepScaling(0.5), crafted(piecewise(20, (2, 13.0), (5, 16.0), first=10.0), initial=20))
        assert (r["desired"][:3] == 20).all()
        assert r["desired"][3] == 30  # 20 + 50 % of 20 serving
        assert r["desired"][4] == 30  # same step again while warming: nothing more
        # need 16 -> utilisation 0.8, breach 60 % -> +100 % = 40 of the serving 20: only 10 more are ordered.
        assert r["desired"][6] == 40 and r["pending"][7] == 20

    def test_scale_in_step_and_cooldown(self):
        # utilisation 6/40 = 0.15: far below the scale-in alarm (0.7 * 0.5 = 0.35) -> -30 % steps every 5 min.
        r = run(StepScaling(0.5), crafted(piecewise(30, (0, 6.0), first=20.0), initial=40))
        assert (r["desired"][:5] == 40).all()
        assert r["desired"][5] == 28  # 5th low datapoint: 40 - 12
        assert (r["desired"][6:10] == 28).all()
        assert r["desired"][10] == 20  # after the 300 s cooldown: 28 - 8 (-8.4 rounded towards zero)


class TestHPA:
    def test_tolerance(self):
        within = run(HPA(0.5), crafted(piecewise(10, first=10.5), initial=20))  # ratio 1.05
        assert (within["desired"] == 20).all()
        beyond = run(HPA(0.5), crafted(piecewise(10, first=11.5), initial=20))  # ratio 1.15
        assert beyond["desired"][0] == 23  # ceil(1.15 * 20), at once: no scale-up stabilisation

    def test_scale_up_limited_to_max_4_pods_or_100_percent_per_15_s(self):
        r = run(HPA(0.5), crafted(piecewise(10, (0, 100.0), first=1.0), initial=2))
        assert r["desired"][1] == 48  # 2 -> 6 -> 12 -> 24 -> 48 within one minute (four 15-s periods)
        # Next minute: 46 unready pods count with zero usage; recommendation ceil(100 / 0.5) = 200 <= limit.
        assert r["desired"][2] == 200
        assert (r["desired"][3:7] == 200).all()  # no double counting of the warming pods

    def test_scale_down_stabilisation_window_of_300_s(self):
        r = run(HPA(0.5), crafted(piecewise(20, (5, 10.0), first=20.0), initial=40))
        # Decision 6 first sees the lower load (recommendation 20); the highest of the last 5 recommendations
        # keeps 40 until decision 10, the first whose window holds only the new recommendation.
        assert (r["desired"][:10] == 40).all()
        assert r["desired"][10] == 20


class TestPredictive:
    @staticmethod
    def daily_pattern(minutes: int, start: datetime) -> np.ndarray:
        """10 machines' worth, 40 between 10:00 and 11:00 UTC every day."""
        clock = np.array([(start + timedelta(minutes=int(m))).hour for m in range(minutes)])
        return np.where(clock == 10, 40.0, 10.0)

    def test_raises_capacity_five_minutes_ahead_and_never_scales_in_alone(self):
        days = 14
        past_start = MONDAY - timedelta(days=days, minutes=HISTORY)
        past = self.daily_pattern(days * 1440, past_start) * CAP
        need = self.daily_pattern(HISTORY + 13 * 60, MONDAY - timedelta(minutes=HISTORY))
        r = run(Predictive(0.5), crafted(need, initial=20), past=[past])
        nine_55, ten, eleven = 9 * 60 + 55, 10 * 60, 11 * 60
        assert (r["desired"][:nine_55] == 20).all()
        assert r["desired"][nine_55] == 80  # ceil(40 / 0.5) launched 5 minutes before 10:00
        assert r["active"][ten] == 80  # serving when the hour begins
        # At 11:00 the forecast falls back to 20 machines but predictive scaling does not scale in: the fleet is
        # held until target tracking's low alarm has 15 datapoints (minutes 11:00 .. 11:14).
        assert (r["desired"][nine_55 : eleven + 15] == 80).all()
        assert r["desired"][eleven + 15] == 20

    def test_is_target_tracking_without_a_day_of_history(self):
        need = piecewise(300, (50, 25.0), (120, 8.0), (200, 30.0), first=10.0)
        scenario = crafted(need, initial=20)
        predictive = run(Predictive(0.6), scenario, past=[np.full(600, 3000.0)])
        tracking = run(TargetTracking(0.6), scenario)
        np.testing.assert_array_equal(predictive["desired"], tracking["desired"])


class TestObservationLag:
    """Every rule sees the same stale metrics as in real life: with a lag of L minutes, each decision that
    depends on the load comes L minutes later (the fleet's own counts are not late)."""

    @pytest.mark.parametrize("lag", [1, 2, 5])
    @pytest.mark.parametrize("name", ["target_tracking", "step_scaling", "hpa"])
    def test_reactive_rules_act_lag_minutes_later(self, name, lag):
        scenario = crafted(piecewise(60, (20, 20.0), (40, 8.0), first=10.0), initial=20)
        param = 1.0 if name == "static" else 0.5
        on_time = run(BASELINES[name](param), scenario)["desired"]
        late = run(BASELINES[name](param), scenario, LAG0.replace(observation_lag_minutes=lag))["desired"]
        assert (on_time[:20] == 20).all() and on_time[25] > 20
        np.testing.assert_array_equal(late[lag:], on_time[:-lag])

    def test_predictive_forecasts_from_what_was_published(self):
        days = 14
        past = TestPredictive.daily_pattern(days * 1440, MONDAY - timedelta(days=days, minutes=HISTORY)) * CAP
        need = TestPredictive.daily_pattern(HISTORY + 13 * 60, MONDAY - timedelta(minutes=HISTORY))
        on_time = run(Predictive(0.5), crafted(need, initial=20), past=[past])["desired"]
        late = run(Predictive(0.5), crafted(need, initial=20), LAG0.replace(observation_lag_minutes=2), [past])
        # The hourly forecast is the same a 2 minutes later (it uses whole past hours): the 09:55 launch stands.
        nine_55 = 9 * 60 + 55
        assert late["desired"][nine_55] == on_time[nine_55] == 80
        # Target tracking's low alarm inside it sees 11:00's fall 2 minutes later.
        eleven = 11 * 60
        assert on_time[eleven + 15] == 20 and late["desired"][eleven + 15] == 80 and late["desired"][eleven + 17] == 20


def test_static_sizes_for_the_past_peak():
    past = np.array([1000.0, 6000.0, 2000.0])
    r = run(Static(1.2), crafted(piecewise(10, first=5.0), initial=5), past=[past])
    assert (r["desired"] == 24).all()  # ceil(1.2 * 6000 / 300)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_batched_parameters_match_separate_runs(name):
    """A per-fleet parameter array gives each fleet the same decisions as a run with that scalar value."""
    need = piecewise(120, (20, 30.0), (60, 12.0), first=15.0)
    scenarios = [crafted(need, initial=25), crafted(need * 1.5, initial=40)]
    values = [0.55, 0.8] if name != "static" else [1.0, 1.3]
    sim = FleetSim(LAG0, scenarios, seed=0)
    batched = BASELINES[name](np.array(values))
    reset_policy(batched, sim, [np.full(100, 4000.0)] * 2)
    got = []
    obs = sim.observe()
    while sim.t < sim.minutes:
        d = batched.act(obs)
        got.append(d)
        sim.step(d)
        obs = sim.observe()
    got = np.array(got)
    for i, value in enumerate(values):
        single = run(BASELINES[name](value), scenarios[i], past=[np.full(100, 4000.0)])
        np.testing.assert_array_equal(got[:, i], single["desired"])


def test_bad_parameter_is_refused_by_name():
    sim = FleetSim(LAG0, [crafted(piecewise(5, first=1.0), initial=1)] * 2)
    with pytest.raises(ValueError, match="target"):
        TargetTracking(np.array([0.5, 0.6, 0.7])).reset(sim)
    with pytest.raises(ValueError, match="target must be > 0"):
        HPA(0.0).reset(sim)
