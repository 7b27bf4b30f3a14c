"""The fleet simulator's accounting and mechanics, on crafted loads where every number is known."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from inference.features import HISTORY
from simulator.config import SimConfig
from simulator.fleet import FleetSim, desired_of, expected_profit, observation_of
from simulator.loads import Scenario, synthetic_scenario
from training.sim.env import FleetEnv


def flat(level: float, minutes: int, initial: int = 10, name: str = "flat") -> Scenario:
    return Scenario(name, np.full(HISTORY + minutes, float(level)), datetime(2024, 1, 1, tzinfo=UTC), initial)


def noiseless(**kw) -> SimConfig:
    return SimConfig(capacity_sigma=0.0, **kw)


def test_served_plus_failed_equals_offered_load_every_minute():
    rng = np.random.default_rng(0)
    scenarios = [
        Scenario(f"s{i}", rng.poisson(3000, HISTORY + 300).astype(float), datetime(2024, 1, 1, tzinfo=UTC), 8)
        for i in range(16)
    ]
    sim = FleetSim(SimConfig(), scenarios, seed=1)
    for _ in range(300):
        r = sim.step(rng.integers(0, 20, size=16))
        np.testing.assert_array_equal(r.served + r.failed, r.load)
        assert (r.served >= 0).all() and (r.failed >= 0).all()
        assert (r.served <= r.capacity).all()


def test_warmup_delay_is_exact():
    w = 5
    sim = FleetSim(noiseless(warmup_latency=w), [flat(0, 20, initial=2)])
    served_by = []
    for t in range(12):
        r = sim.step(np.array([5 if t == 0 else int(sim.active[0] + sim.pending[0])]))
        served_by.append(int(r.active[0]))
    # ordered at the decision for minute 0: three more machines serve from minute W on, not before
    assert served_by[:w] == [2] * w
    assert served_by[w:] == [5] * (12 - w)


def test_zero_warmup_serves_immediately():
    sim = FleetSim(noiseless(warmup_latency=0), [flat(0, 3, initial=1)])
    assert sim.step(np.array([4])).active[0] == 4


def test_costs_and_revenue_are_exact():
    cfg = noiseless(machine_cost=0.05, request_value=0.9, downtime_cost=200.0)
    sim = FleetSim(cfg, [flat(2000, 3, initial=10)])  # capacity 3000 >= 2000: all served
    r = sim.step(np.array([10]))
    assert r.revenue[0] == pytest.approx(2000 * 0.9 / 1000)
    assert r.machine_cost[0] == pytest.approx(10 * 0.05)
    assert r.downtime_cost[0] == 0
    assert r.reward[0] == pytest.approx(1.8 - 0.5)
    # 5 machines serve 1500 of 2000 requests: 75 % < 99.5 %, a minute of downtime
    r = sim.step(np.array([5]))
    assert r.served[0] == 1500 and r.failed[0] == 500 and bool(r.down[0])
    assert r.reward[0] == pytest.approx(1500 * 0.9 / 1000 - 5 * 0.05 - 200)


def test_downtime_threshold_is_995_percent():
    # 2000 requests; 199 machines x 10 rpm... use capacity 1 rpm per machine to hit the boundary exactly
    cfg = SimConfig(capacity_rpm_per_machine=1.0, capacity_sigma=0.0)
    sim = FleetSim(cfg, [flat(1000, 2, initial=995)])
    assert not sim.step(np.array([995])).down[0]  # 99.5 % succeed: not down
    assert sim.step(np.array([994])).down[0]  # 99.4 %: down


def test_warming_cost_option_bills_warming_machines():
    sim = FleetSim(noiseless(warming_cost=True), [flat(0, 2, initial=2)])
    r = sim.step(np.array([6]))
    assert r.pending[0] == 4 and r.machine_cost[0] == pytest.approx(6 * 0.05)


def test_cut_removes_serving_machines_first_and_orders_still_arrive():
    sim = FleetSim(noiseless(warmup_latency=3), [flat(0, 10, initial=10)])
    sim.step(np.array([14]))  # 4 ordered
    r = sim.step(np.array([6]))  # cut 8: all from serving (10 -> 2), orders untouched
    assert (r.active[0], r.pending[0]) == (2, 4)
    assert sim.step(np.array([6])).active[0] == 2  # minute 2: still warming
    assert sim.step(np.array([6])).active[0] == 6  # ordered at minute 0, serving from minute 3


def test_cut_beyond_serving_fleet_cancels_newest_orders():
    sim = FleetSim(noiseless(warmup_latency=3), [flat(0, 10, initial=2)])
    sim.step(np.array([5]))  # 3 ordered at t=0
    sim.step(np.array([7]))  # 2 more at t=1
    r = sim.step(np.array([1]))  # cut 6: 2 serving, then the 2 newest, then 2 of the older 3
    assert (r.active[0], r.pending[0]) == (0, 1)


def test_warming_first_cancels_orders_before_serving_machines():
    sim = FleetSim(noiseless(warmup_latency=3, cut_order="warming_first"), [flat(0, 10, initial=10)])
    sim.step(np.array([14]))
    r = sim.step(np.array([12]))
    assert (r.active[0], r.pending[0]) == (10, 2)


def test_bounds_and_change_limits_clip_the_decision():
    cfg = noiseless(min_machines=2, max_machines=30, max_scale_out_per_step=5, max_scale_in_per_step=3)
    sim = FleetSim(cfg, [flat(0, 10, initial=10)])
    assert sim.step(np.array([100])).delta[0] == 5
    assert sim.step(np.array([0])).delta[0] == -3
    sim2 = FleetSim(noiseless(max_machines=12, min_machines=2), [flat(0, 10, initial=10)])
    assert sim2.step(np.array([100])).delta[0] == 2
    sim3 = FleetSim(noiseless(min_machines=8), [flat(0, 10, initial=10)])
    assert sim3.step(np.array([0])).delta[0] == -2


def test_fleet_noise_is_one_draw_for_the_whole_fleet():
    sim = FleetSim(SimConfig(capacity_sigma=30.0), [flat(10**6, 1, initial=10), flat(10**6, 1, initial=10)], seed=3)
    r = sim.step(np.array([10, 10]))
    np.testing.assert_array_equal(r.capacity, np.floor(10 * (300 + 30 * sim.noise[:, 0])))


def test_per_machine_noise_scales_with_sqrt_of_fleet():
    cfg = SimConfig(capacity_sigma=30.0, capacity_noise="machine")
    sim = FleetSim(cfg, [flat(10**6, 1, initial=100)], seed=3)
    r = sim.step(np.array([100]))
    assert r.capacity[0] == np.floor(100 * 300 + 10 * 30 * sim.noise[0, 0])


def test_same_seed_reproduces_and_reset_replays_the_same_noise():
    scen = [flat(3000, 50, initial=10)]
    a, b = FleetSim(SimConfig(), scen, seed=7), FleetSim(SimConfig(), scen, seed=7)
    ra = [a.step(np.array([11])).capacity[0] for _ in range(50)]
    rb = [b.step(np.array([11])).capacity[0] for _ in range(50)]
    assert ra == rb
    a.reset()
    assert [a.step(np.array([11])).capacity[0] for _ in range(50)] == ra
    c = FleetSim(SimConfig(), scen, seed=8)
    assert [c.step(np.array([11])).capacity[0] for _ in range(50)] != ra


def test_totals_match_the_sum_of_steps():
    sim = FleetSim(SimConfig(), [flat(3000, 40, initial=10)], seed=0)
    rewards, actions = 0.0, 0
    for t in range(40):
        r = sim.step(np.array([9 + t % 3]))
        rewards += r.reward[0]
        actions += int(r.delta[0] != 0)
    assert sim.totals["reward"][0] == pytest.approx(rewards)
    assert sim.totals["scaling_actions"][0] == actions
    assert r.done


def test_observation_sees_load_up_to_the_previous_minute():
    load = np.arange(HISTORY + 5, dtype=float)
    sim = FleetSim(SimConfig(observation_lag_minutes=0), [Scenario("ramp", load, datetime(2024, 1, 1, tzinfo=UTC), 1)])
    np.testing.assert_array_equal(sim.observe().load[0], load[:HISTORY])
    sim.step(np.array([1]))
    obs = sim.observe()
    np.testing.assert_array_equal(obs.load[0], load[1 : HISTORY + 1])
    assert obs.minute[0] == 1  # Monday 00:01


def test_observation_lag_delays_load_and_failed_requests_but_not_the_fleet():
    """Deciding minute t with lag L the policy sees minutes up to t - 1 - L (padded with the oldest history
    minute before the scenario), the failed requests of minute t - 1 - L, and the machines of now."""
    lag = 2
    load = np.concatenate([np.full(HISTORY, 300.0), [300.0, 3000.0, 300.0, 300.0, 300.0, 300.0]])
    load[:HISTORY] = np.arange(HISTORY) + 100.0
    sim = FleetSim(
        SimConfig(observation_lag_minutes=lag, capacity_sigma=0.0),
        [Scenario("burst", load, datetime(2024, 1, 1, tzinfo=UTC), 1)],
    )
    obs = sim.observe()
    np.testing.assert_array_equal(obs.load[0], np.concatenate([[100.0, 100.0], load[: HISTORY - lag]]))
    failed_seen, failed_now = [], []
    for t in range(6):
        obs = sim.observe()
        np.testing.assert_array_equal(obs.load[0], sim.observed_loads[0, t : t + HISTORY])
        assert obs.load[0, -1] == (load[HISTORY + t - 1 - lag] if t - 1 - lag >= -HISTORY else load[0])
        failed_seen.append(float(obs.failed[0]))
        result = sim.step(np.array([1]))
        failed_now.append(float(result.failed[0]))
        assert sim.observe().active[0] == result.active[0]  # machine counts are the target's, never late
    assert failed_now[1] == 2700.0  # minute 1's burst on one machine
    assert failed_seen == [0.0, 0.0, 0.0, 0.0, *failed_now[1:3]]  # seen deciding minute 1 + 1 + lag = 4


def test_lagged_environments_agree():
    """FleetEnv (one fleet) and FleetSim observe the same lagged load through the one featurizer."""
    config = SimConfig(observation_lag_minutes=3, capacity_sigma=0.0)
    env = FleetEnv(config.to_dict())
    rng = np.random.default_rng(0)
    scenario = synthetic_scenario(rng, 50)
    obs, _ = env.reset(seed=0, options={"scenario": scenario})
    sim = FleetSim(config, [scenario], seed=0)
    sim_obs = sim.observe()
    for _ in range(20):
        np.testing.assert_allclose(obs, observation_of(sim_obs)[0], rtol=1e-6, atol=1e-6)
        desired = desired_of(np.array([5]), sim_obs)
        obs, *_ = env.step(5)
        sim.step(desired)
        sim_obs = sim.observe()


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="warmup_latency"):
        SimConfig(warmup_latency=-1)
    with pytest.raises(ValueError, match="bogus"):
        SimConfig.from_dict({"bogus": 1})


def test_scenarios_must_share_a_length():
    with pytest.raises(ValueError, match="same length"):
        FleetSim(SimConfig(), [flat(1, 5), flat(1, 6)])


@pytest.mark.parametrize("noise", ["fleet", "machine"])
@pytest.mark.parametrize(
    ("load", "active"), [(3000.0, 10), (3000.0, 11), (2880.0, 10), (900.0, 4), (0.0, 3), (50.0, 0)]
)
def test_expected_profit_is_the_mean_of_the_simulated_reward(noise, load, active):
    """The training reward's expectation over the capacity noise matches the kernel's sampled rewards."""
    config = SimConfig(capacity_noise=noise)
    n, minutes = 4000, 50
    sim = FleetSim(config, [flat(load, minutes, initial=active, name=f"f{i}") for i in range(n)], seed=3)
    rewards, expected = [], []
    for _ in range(minutes):  # (an empty fleet is raised to min_machines: the fleet is read from each step)
        r = sim.step(np.full(n, active))
        rewards.append(r.reward)
        expected.append(expected_profit(config, r.load, r.active, r.machine_cost))
    rewards, expected = np.stack(rewards), float(np.mean(expected))
    stderr = rewards.std() / np.sqrt(rewards.size) + 1e-9
    assert abs(rewards.mean() - expected) < 4 * stderr + 1e-3  # the ignored floor: < half a request a minute


def test_expected_profit_without_noise_is_the_reward():
    config = noiseless()
    sim = FleetSim(config, [flat(2990.0, 3, initial=10), flat(3100.0, 3, initial=10, name="short")], seed=0)
    r = sim.step(np.full(2, 10))
    np.testing.assert_allclose(expected_profit(config, r.load, r.active, r.machine_cost), r.reward, atol=1e-9)


def test_the_observed_history_is_the_past_then_the_scenario_and_nan_before_it():
    """Episodes start with the day before them observed (the character features' window); minutes before what is
    known are NaN, never zeros."""
    from inference.features import CONTEXT_MINUTES, DAY

    rng = np.random.default_rng(0)
    scenario = synthetic_scenario(rng, 30)
    past = np.arange(DAY // 2, dtype=float) + 1.0  # half a day known
    sim = FleetSim(SimConfig(observation_lag_minutes=2), [scenario, scenario], seed=0, past=[past, np.zeros(0)])
    obs = sim.observe()
    assert obs.history.shape == (2, CONTEXT_MINUTES)
    known = np.concatenate([past, scenario.load[: HISTORY - 2]])
    np.testing.assert_array_equal(obs.history[0, -len(known) :], known)
    assert np.isnan(obs.history[0, : -len(known)]).all()
    assert np.isnan(obs.history[1, : -(HISTORY - 2)]).all()
    np.testing.assert_array_equal(obs.history[:, -1], obs.load[:, -1])  # both end at the newest observed minute
    np.testing.assert_array_equal(obs.load[0, :2], past[-2:])  # the lag reads the real past, not padding


def test_training_scenarios_come_with_a_day_of_their_own_past():
    from inference.features import DAY
    from simulator.loads import sample_with_past

    full = [sample_with_past(np.random.default_rng(i), 100) for i in range(20)]
    assert all(len(p) >= DAY and not np.isnan(p).any() for _, p in full)
    cut = [sample_with_past(np.random.default_rng(i), 100, short_history_probability=1.0) for i in range(20)]
    known = [int((~np.isnan(p)).sum()) for _, p in cut]
    assert len(set(known)) > 10 and min(known) < DAY // 2  # random lengths, NaN before them
    for (scenario, _), (again, _) in zip(full, cut):
        np.testing.assert_array_equal(scenario.load, again.load)  # the same scenarios, only the past cut
