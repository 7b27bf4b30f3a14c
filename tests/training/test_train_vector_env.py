"""The batched vector env: same dynamics and observations as the Gymnasium env, NEXT_STEP autoreset, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from inference.features import OBS_DIM
from simulator.config import SimConfig
from simulator.fleet import FleetSim, expected_profit
from simulator.loads import synthetic_scenario
from training.sim.env import FleetEnv
from training.sim.vector_env import FleetVectorEnv, RunningReturnScale, desired_of

CONFIG = SimConfig(episode_minutes=60)


def _scenario(seed: int):
    return synthetic_scenario(np.random.default_rng(seed), CONFIG.episode_minutes)


def test_matches_the_gymnasium_env_step_for_step():
    scenario = _scenario(3)
    vec = FleetVectorEnv(1, CONFIG, reward_normalization="none", scenario_sampler=lambda rng: scenario)
    obs_v, _ = vec.reset(seed=0)
    single = FleetEnv(CONFIG)
    obs_s, _ = single.reset(seed=0, options={"scenario": scenario})
    single.sim = FleetSim(CONFIG, [scenario], seed=0)  # the same capacity noise as the vector env's
    vec.sim = FleetSim(CONFIG, [scenario], seed=0)
    vec._obs = vec.sim.observe()
    rng = np.random.default_rng(1)
    for t in range(CONFIG.episode_minutes):
        np.testing.assert_allclose(obs_v[0], obs_s, rtol=1e-6, atol=1e-6, err_msg=f"minute {t}")
        action = int(rng.integers(0, vec.single_action_space.n))
        obs_v, rew_v, term_v, trunc_v, _ = vec.step(np.array([action]))
        obs_s, rew_s, term_s, trunc_s, _ = single.step(action)
        assert rew_v[0] == pytest.approx(rew_s)
        assert (bool(term_v[0]), bool(trunc_v[0])) == (term_s, trunc_s)
    assert trunc_v[0] and not term_v[0]


def test_next_step_autoreset_and_counters():
    vec = FleetVectorEnv(4, CONFIG)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, _ = vec.reset(seed=7)
    assert obs.shape == (4, OBS_DIM) and obs.dtype == np.float32
    for _ in range(CONFIG.episode_minutes):
        obs, reward, terminated, truncated, _ = vec.step(np.full(4, 5))
    assert truncated.all() and not terminated.any()
    steps, _, profit = vec.pop_counters()
    assert steps == 4 * CONFIG.episode_minutes and profit != 0
    first_scenarios = [s.name for s in vec.sim.scenarios]
    obs, reward, terminated, truncated, _ = vec.step(np.full(4, 5))  # the reset step: action ignored
    assert (reward == 0).all() and not truncated.any() and vec.sim.t == 0
    assert vec.pop_counters() == (0.0, 0.0, 0.0)
    assert len(first_scenarios) == 4


def test_seeded_reset_is_reproducible():
    a, b, c = FleetVectorEnv(3, CONFIG), FleetVectorEnv(3, CONFIG), FleetVectorEnv(3, CONFIG)
    np.testing.assert_array_equal(a.reset(seed=11)[0], b.reset(seed=11)[0])
    np.testing.assert_array_equal(a.sim.loads, b.sim.loads)
    c.reset(seed=12)
    assert not np.array_equal(a.sim.loads, c.sim.loads)


def test_reward_normalisations():
    scenario = _scenario(5)
    raw = FleetVectorEnv(1, CONFIG, reward_normalization="none", scenario_sampler=lambda rng: scenario)
    per_need = FleetVectorEnv(1, CONFIG, reward_normalization="mean_need", scenario_sampler=lambda rng: scenario)
    raw.reset(seed=0)
    per_need.reset(seed=0)
    r_raw = raw.step(np.array([5]))[1][0]
    r_need = per_need.step(np.array([5]))[1][0]
    mean_need = scenario.load[-CONFIG.episode_minutes :].mean() / CONFIG.capacity_rpm_per_machine
    assert r_need == pytest.approx(r_raw / max(mean_need, 1.0))
    scale = RunningReturnScale(2, gamma=0.9)
    out = [scale(np.array([100.0, -300.0]), done=False) for _ in range(200)]
    assert np.abs(out[-1]).max() < 10  # returns of order one, whatever the dollars


def test_expected_rewards_train_on_the_expectation_and_count_the_sampled_profit():
    """Same states and noise: the training reward is ``expected_profit`` of each minute, the profit counter the
    sampled dollars (what the training curves and validation report)."""
    scenario = _scenario(4)
    sampled = FleetVectorEnv(1, CONFIG, reward_normalization="none", scenario_sampler=lambda rng: scenario)
    smooth = FleetVectorEnv(
        1, CONFIG, reward_normalization="none", scenario_sampler=lambda rng: scenario, expected_rewards=True
    )
    costs = FleetVectorEnv(
        1, CONFIG, reward_normalization="none", scenario_sampler=lambda rng: scenario, exclude_offered_revenue=True
    )
    sampled.reset(seed=0)
    smooth.reset(seed=0)
    costs.reset(seed=0)
    twin = FleetSim(CONFIG, [scenario], seed=0)  # the same dynamics and noise, stepped by hand
    for env in (sampled, smooth, costs):
        env.sim = FleetSim(CONFIG, [scenario], seed=0)
        env._obs = env.sim.observe()
    got, want, dollars = [], [], []
    for _ in range(CONFIG.episode_minutes):
        r = twin.step(desired_of(np.array([9]), twin.observe()))
        want.append(expected_profit(CONFIG, r.load, r.active, r.machine_cost)[0])
        dollars.append(sampled.step(np.array([9]))[1][0])
        got.append(smooth.step(np.array([9]))[1][0])
        assert dollars[-1] == r.reward[0]
        # Without the offered load's revenue: minus the minute's costs (lost requests, machines, downtime).
        lost = r.failed[0] * CONFIG.request_value / 1000.0
        assert costs.step(np.array([9]))[1][0] == pytest.approx(-(lost + r.machine_cost[0] + r.downtime_cost[0]))
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert not np.allclose(got, dollars)  # the noise is gone from the training reward...
    assert smooth.pop_counters()[2] == pytest.approx(sum(dollars))  # ...not from the reported profit


@pytest.mark.parametrize("decision_minutes", [4, 7])
def test_decision_minutes_hold_the_level_and_sum_the_rewards(decision_minutes):
    """A step of k minutes is k one-minute steps with the same action: same fleets, summed rewards, and the
    episode still ends after episode_minutes (a last, shorter decision when k does not divide it)."""
    scenario = _scenario(5)
    held = FleetVectorEnv(
        2, CONFIG, reward_normalization="none", scenario_sampler=lambda rng: scenario,
        decision_minutes=decision_minutes,
    )  # fmt: skip
    every = FleetVectorEnv(2, CONFIG, reward_normalization="none", scenario_sampler=lambda rng: scenario)
    held.reset(seed=3)
    every.reset(seed=3)
    actions = np.random.default_rng(0).integers(0, held.single_action_space.n, size=(CONFIG.episode_minutes, 2))
    minute, decisions = 0, 0
    while True:
        obs_h, reward_h, _, truncated_h, _ = held.step(actions[decisions])
        decisions += 1
        summed = np.zeros(2)
        for _ in range(min(decision_minutes, CONFIG.episode_minutes - minute)):
            obs_e, reward_e, _, truncated_e, _ = every.step(actions[decisions - 1])
            summed += reward_e
            minute += 1
        np.testing.assert_allclose(reward_h, summed, rtol=1e-12)
        np.testing.assert_array_equal(obs_h, obs_e)
        assert truncated_h.all() == truncated_e.all()
        if truncated_h.all():
            break
    assert minute == CONFIG.episode_minutes
    assert decisions == -(-CONFIG.episode_minutes // decision_minutes)
    assert held.pop_counters()[0] == 2 * CONFIG.episode_minutes  # counters count minutes, not decisions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"num_envs": 0}, "num_envs"), ({"reward_normalization": "z"}, "reward_normalization"),
     ({"trace_probability": 2.0}, "trace_probability"), ({"decision_minutes": 0}, "decision_minutes")],
)  # fmt: skip
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FleetVectorEnv(**{"num_envs": 1, **kwargs})


def test_the_downtime_penalty_charges_each_minute_down_in_reward_units():
    from simulator.distribution import FleetDistribution

    def env(penalty: float) -> FleetVectorEnv:
        return FleetVectorEnv(
            8, CONFIG, reward_normalization="economics", reward_scale=2.0, fleet_distribution=FleetDistribution(),
            downtime_penalty=penalty,
        )  # fmt: skip

    plain, penalised = env(0.0), env(3.0)
    plain.reset(seed=5)
    penalised.reset(seed=5)
    lean = np.zeros(8, dtype=np.int64)  # the leanest offset: some minutes are down
    gaps = []
    for _ in range(CONFIG.episode_minutes):
        _, r0, _, truncated, _ = plain.step(lean)
        _, r1, _, _, _ = penalised.step(lean)
        gaps.append(r0 - r1)
        if truncated.all():
            break
    gaps = np.concatenate(gaps)
    # One decision a minute: each step's reward is 3 x 2 units lower when the minute was down, else the same.
    assert np.all(np.isclose(gaps, 0.0) | np.isclose(gaps, 6.0))
    assert np.isclose(gaps, 6.0).any()


def test_a_downtime_penalty_needs_the_economics_normalisation():
    with pytest.raises(ValueError, match="downtime_penalty"):
        FleetVectorEnv(1, CONFIG, reward_normalization="none", downtime_penalty=1.0)
