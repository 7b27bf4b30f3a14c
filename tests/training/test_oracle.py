"""The clairvoyant oracle: closed-form expectation, DP against brute force, and the ceiling over the rules."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from inference.features import HISTORY
from simulator.config import SimConfig
from simulator.fleet import FleetSim, expected_profit
from simulator.loads import Scenario
from training.evaluation.cases import synthetic_case
from training.evaluation.scoreboard import default_policies, run_policy
from training.policies.oracle import Oracle, fleet_orders, plan_fleet

START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("noise", ["fleet", "machine"])
@pytest.mark.parametrize(("n", "load"), [(1, 250.0), (4, 1150.0), (10, 2990.0), (30, 8000.0), (0, 100.0)])
def test_expected_profit_matches_monte_carlo_of_the_simulator_formula(noise, n, load):
    config = SimConfig(capacity_noise=noise)
    z = np.random.default_rng(0).standard_normal(400_000)
    mu, sigma = config.capacity_rpm_per_machine, config.capacity_sigma
    if noise == "fleet":
        capacity = np.floor(n * np.maximum(mu + sigma * z, 0.0))
    else:
        capacity = np.floor(np.maximum(n * mu + np.sqrt(n) * sigma * z, 0.0))
    served = np.minimum(load, capacity)
    down = served < config.downtime_percent / 100.0 * load
    profit = served * config.request_value / 1000 - n * config.machine_cost - config.downtime_cost * down
    got = float(expected_profit(config, load, np.array([n]))[0])
    # Revenue is exact up to flooring capacity to whole requests (half a request at most).
    tol = 4 * profit.std() / np.sqrt(len(z)) + config.request_value / 1000
    assert abs(got - profit.mean()) < tol


def small_config(**changes) -> SimConfig:
    base = dict(warmup_latency=2, min_machines=0, max_machines=3, capacity_sigma=60.0)
    return SimConfig(**{**base, **changes})


def trajectory_value(load: np.ndarray, config: SimConfig, active: np.ndarray, pending: np.ndarray) -> np.ndarray:
    """Expected profit of fleets whose serving / warming machines per minute are (N, T) arrays."""
    value = np.zeros(active.shape[0])
    for t in range(active.shape[1]):
        value += expected_profit(config, load[t], active[:, t])
        if config.warming_cost:
            value -= config.machine_cost * pending[:, t]
    return value


def brute_force_decisions(load: np.ndarray, config: SimConfig, initial: int) -> tuple[float, np.ndarray]:
    """Best expected profit over every sequence of decisions the simulator accepts (its exact mechanics)."""
    T = len(load)
    choices = np.array(list(itertools.product(range(config.min_machines, config.max_machines + 1), repeat=T)))
    sim = FleetSim(config, [scenario(load, initial)] * len(choices), seed=0)
    active, pending = np.zeros((len(choices), T)), np.zeros((len(choices), T))
    for t in range(T):
        r = sim.step(choices[:, t])
        active[:, t], pending[:, t] = r.active, r.pending
    values = trajectory_value(load, config, active, pending)
    return float(values.max()), values


def brute_force_serving(load: np.ndarray, config: SimConfig, initial: int) -> float:
    """Best expected profit over every serving-fleet trajectory the oracle's DP allows (the relaxation)."""
    T, W = len(load), config.warmup_latency
    w = W * config.machine_cost if config.warming_cost else 0.0
    best = -np.inf
    for plan in itertools.product(range(config.min_machines, config.max_machines + 1), repeat=T):
        prev, value, ok = initial, 0.0, True
        for t, n in enumerate(plan):
            up = config.max_scale_out_per_step if t >= W else 0
            if n - prev > up or prev - n > config.max_scale_in_per_step:
                ok = False
                break
            value += float(expected_profit(config, load[t], np.array([n]))[0]) - w * max(n - prev, 0)
            prev = n
        if ok:
            best = max(best, value)
    return best


def scenario(load: np.ndarray, initial: int) -> Scenario:
    return Scenario("small", np.concatenate([np.full(HISTORY, load[0]), load]), START, initial)


def executed_value(load: np.ndarray, config: SimConfig, initial: int) -> tuple[float, float]:
    """(expected profit of the oracle's decisions under the exact mechanics, the DP's value)."""
    sim = FleetSim(config, [scenario(load, initial)], seed=0)
    oracle = Oracle()
    oracle.reset(sim)
    active, pending = np.zeros((1, len(load))), np.zeros((1, len(load)))
    obs = sim.observe()
    for t in range(len(load)):
        r = sim.step(oracle.act(obs))
        active[0, t], pending[0, t] = r.active[0], r.pending[0]
        obs = sim.observe()
    return float(trajectory_value(load, config, active, pending)[0]), float(oracle.expected_profit[0])


CASES = {
    "rising": (np.array([200.0, 400, 550, 700, 850, 900]), small_config(), 1),
    "dip_then_spike": (np.array([700.0, 150, 150, 850, 880, 300]), small_config(), 3),
    "warming_billed": (np.array([300.0, 500, 820, 820, 450, 600]), small_config(warming_cost=True), 1),
    "change_limits": (
        np.array([200.0, 800, 850, 880, 100, 900]),
        small_config(max_scale_out_per_step=1, max_scale_in_per_step=1),
        1,
    ),
    "per_machine_noise": (np.array([400.0, 650, 870, 500, 250, 880]), small_config(capacity_noise="machine"), 2),
    "instant_warmup": (np.array([500.0, 100, 880, 200, 700, 300]), small_config(warmup_latency=0), 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dp_equals_brute_force_over_fleet_trajectories(case):
    load, config, initial = CASES[case]
    _, value = plan_fleet(load, config, initial, n_max=config.max_machines)
    assert value == pytest.approx(brute_force_serving(load, config, initial), abs=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_oracle_is_the_ceiling_of_every_decision_sequence(case):
    """DP value >= best decision sequence under the simulator's exact mechanics >= the oracle's own decisions,
    which fall short of the DP only by keeping machines that a same-minute order and removal net out."""
    load, config, initial = CASES[case]
    best, _ = brute_force_decisions(load, config, initial)
    executed, planned = executed_value(load, config, initial)
    assert planned >= best - 1e-9
    assert executed <= best + 1e-9
    netting_bound = config.max_machines * config.warmup_latency * config.machine_cost * len(load)
    assert executed >= planned - netting_bound


def test_oracle_decisions_are_optimal_when_nothing_nets_out():
    load, config, initial = CASES["rising"]
    best, _ = brute_force_decisions(load, config, initial)
    executed, planned = executed_value(load, config, initial)
    assert executed == pytest.approx(best, abs=1e-9)
    assert planned == pytest.approx(best, abs=1e-9)


def serving_under_orders(plan: np.ndarray, warmup: int, initial: int) -> list[int]:
    """Serving machines per minute when the simulator is asked for ``fleet_orders(plan)`` every minute."""
    config = SimConfig(warmup_latency=warmup, min_machines=0)
    sim = FleetSim(config, [scenario(np.full(len(plan), 1000.0), initial)], seed=0)
    orders = fleet_orders(plan, warmup)
    return [int(sim.step(np.array([orders[t]])).active[0]) for t in range(len(plan))]


def test_fleet_orders_realise_the_plan_in_the_simulator():
    # Rises at minutes 5, 6, 12 (ordered at 2, 3, 9), removals at 1 and 8: never both in one minute.
    plan = np.array([5, 3, 3, 3, 3, 8, 9, 9, 4, 4, 4, 4, 7, 7])
    assert serving_under_orders(plan, 3, 5) == plan.tolist()


def test_same_minute_order_and_removal_net_out_keeping_machines_longer():
    # Minute 4 removes 5 machines while the rise at minute 7 must be ordered: the simulator nets the two, so
    # 3 of the 5 keep serving until the order would have arrived, and the plan is met again from minute 7.
    plan = np.array([2, 2, 2, 7, 2, 2, 2, 5, 5])
    served = serving_under_orders(plan, 3, 2)
    assert served == [2, 2, 2, 7, 5, 5, 5, 5, 5]


def test_plan_value_matches_realised_profit_on_average():
    cases = [synthetic_case(i, 720, stream=3, past_minutes=0, prefix="oracle-test") for i in range(6)]
    scenarios = [c.scenario for c in cases]
    oracle = Oracle()
    realised = []
    for seed in range(4):
        sim = FleetSim(SimConfig(), scenarios, seed=seed)
        oracle.reset(sim)
        obs = sim.observe()
        while sim.t < sim.minutes:
            sim.step(oracle.act(obs))
            obs = sim.observe()
        realised.append(sim.totals["reward"].sum())
    assert np.mean(realised) == pytest.approx(oracle.expected_profit.sum(), rel=0.01)


def test_a_case_planned_before_reuses_its_plan_and_a_changed_input_replans(monkeypatch):
    """Replays reset the oracle once per noise draw on the same loads: the plan is made once per case, and
    anything it depends on (the load, the initial fleet, the config) makes a new one."""
    cases = [synthetic_case(i, 240, stream=3, past_minutes=0, prefix="oracle-cache") for i in range(3)]
    scenarios = [c.scenario for c in cases]
    calls = []
    real = Oracle._plan

    def counting(self, sim, i):
        calls.append(i)
        return real(self, sim, i)

    monkeypatch.setattr(Oracle, "_plan", counting)
    oracle = Oracle()
    oracle.reset(FleetSim(SimConfig(), scenarios, seed=0))
    first = oracle.fleet.copy()
    oracle.reset(FleetSim(SimConfig(), scenarios, seed=1))  # another capacity draw: the same plans
    assert len(calls) == 3
    np.testing.assert_array_equal(oracle.fleet, first)
    oracle.reset(FleetSim(SimConfig(machine_cost=0.07), scenarios, seed=0))
    assert len(calls) == 6
    changed = replace(scenarios[0], load=scenarios[0].load * 1.5)
    oracle.reset(FleetSim(SimConfig(), [changed, *scenarios[1:]], seed=0))
    assert len(calls) == 7


def test_the_plan_cache_is_keyed_on_the_initial_fleet(monkeypatch):
    """The same load and config from another initial fleet is another plan, not the cached one."""
    case = synthetic_case(0, 240, stream=3, past_minutes=0, prefix="oracle-initial")
    calls = []
    real = Oracle._plan

    def counting(self, sim, i):
        calls.append(int(sim.active[i]))
        return real(self, sim, i)

    monkeypatch.setattr(Oracle, "_plan", counting)
    oracle = Oracle()
    small = replace(case.scenario, initial_machines=2)
    large = replace(case.scenario, initial_machines=case.scenario.initial_machines + 40)
    oracle.reset(FleetSim(SimConfig(), [small], seed=0))
    from_small = oracle.plan.copy()
    oracle.reset(FleetSim(SimConfig(), [large], seed=0))
    assert calls == [2, large.initial_machines]
    assert oracle.plan[0, 0] != from_small[0, 0]  # each plan starts from its own serving fleet


def test_oracle_profit_is_at_least_every_tuned_baselines_on_the_same_load_and_noise():
    """The oracle maximises expected profit. Every policy runs on the same loads and the same capacity noise
    (common random numbers) for several seeds: over all of them the oracle's profit is the highest, and on no
    scenario is any rule's mean profit significantly above the oracle's (paired difference within 3 standard
    errors; a single noise draw can favour a rule on a small fleet, where one minute of downtime costs 200 $)."""
    config = SimConfig()
    cases = [synthetic_case(i, 1440, stream=3, prefix="ceiling-test") for i in (1, 2, 5, 6)]
    policies = default_policies()
    seeds = range(6)
    profit = {
        name: np.array([[m["profit"] for m in run_policy(p, cases, config, seed=s)[0]] for s in seeds])
        for name, p in policies.items()
    }
    for name in policies:
        assert profit["oracle"].sum() >= profit[name].sum(), name
        diff = profit["oracle"] - profit[name]  # (seeds, scenarios), paired by noise
        se = diff.std(axis=0, ddof=1) / np.sqrt(len(seeds))
        for k, case in enumerate(cases):
            assert diff[:, k].mean() >= -3 * se[k], (name, case.scenario.name, diff[:, k])
