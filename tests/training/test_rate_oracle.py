"""The rate oracle: the generator's rate and noise model, the DP over an uncertain load."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import pytest

from simulator.config import SimConfig
from simulator.fleet import FleetSim, expected_profit
from simulator.loads import (
    NOISE_MA,
    SyntheticSpec,
    load_moments,
    split_past,
    synthetic_draw,
    synthetic_load,
    synthetic_scenario,
)
from training.evaluation.cases import trace_case
from training.policies.oracle import Oracle, RateOracle, plan_fleet

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_synthetic_draw_is_the_load_and_the_rate_it_was_drawn_around():
    spec = SyntheticSpec(mean_machines=40.0, spikes_per_day=3.0)
    load, rate = synthetic_draw(spec, 2000, START, np.random.default_rng(3))
    assert np.array_equal(load, synthetic_load(spec, 2000, START, np.random.default_rng(3)))
    assert rate.shape == load.shape and np.all(rate > 0)
    # The load scatters around the rate by its noise only: within a few percent at 40 machines.
    assert abs(load.sum() / rate.sum() - 1) < 0.01
    assert np.std(load / rate - 1) < 3 * np.sqrt((1 + NOISE_MA**2) * spec.noise_sigma**2 + 1 / rate.min())


def test_scenarios_carry_their_rate_through_the_split_and_traces_have_none():
    long = synthetic_scenario(np.random.default_rng(1), 500, capacity=150.0)
    assert long.rate is not None and long.rate.shape == long.load.shape
    scenario, _ = split_past(long, 200, 150.0)
    assert scenario.rate is not None
    assert np.array_equal(scenario.rate, long.rate[200:]) and len(scenario.rate) == len(scenario.load)
    assert trace_case("nasa", "eval", minutes=60).scenario.rate is None


@pytest.mark.parametrize(("rate", "sigma", "scale"), [(900.0, 0.06, 1.0), (30_000.0, 0.01, 1.0), (600.0, 0.03, 0.5)])
def test_load_moments_match_the_generators_draws(rate, sigma, scale):
    rng = np.random.default_rng(0)
    eps = rng.normal(0.0, sigma, (200_000, 2))
    loads = rng.poisson(rate * np.exp(eps[:, 1] + NOISE_MA * eps[:, 0])) * scale
    mean, var = load_moments(np.array([rate * scale]), sigma, scale)
    assert mean[0] == pytest.approx(loads.mean(), rel=2e-3)
    assert var[0] == pytest.approx(loads.var(), rel=2e-2)


def test_plan_over_a_certain_load_is_the_plain_plan():
    load = np.array([2000.0, 2600, 3100, 900, 900, 2500, 2600])
    config = SimConfig(warmup_latency=2)
    plain = plan_fleet(load, config, 5)
    nodes = plan_fleet(np.repeat(load[:, None], 3, axis=1), config, 5, weights=np.array([0.2, 0.5, 0.3]))
    assert np.array_equal(plain[0], nodes[0]) and plain[1] == pytest.approx(nodes[1])


def test_plan_over_an_uncertain_load_equals_brute_force_over_trajectories():
    config = SimConfig(warmup_latency=2, min_machines=0, max_machines=3, capacity_sigma=60.0)
    nodes = np.array([[200.0, 500], [650, 900], [300, 880], [880, 100], [500, 700]])
    weights = np.array([0.3, 0.7])
    _, value = plan_fleet(nodes, config, 1, n_max=3, weights=weights)
    best = -np.inf
    for plan in itertools.product(range(4), repeat=len(nodes)):
        early = (1, *plan[: config.warmup_latency])  # nothing joins before the warm-up: only removals
        if any(b > a for a, b in itertools.pairwise(early)):
            continue
        g = [weights @ expected_profit(config, nodes[t][:, None], np.array([n]))[:, 0] for t, n in enumerate(plan)]
        best = max(best, float(np.sum(g)))
    assert value == pytest.approx(best, abs=1e-9)


def test_plan_refuses_nodes_that_do_not_match_the_weights():
    with pytest.raises(ValueError, match=r"load must be \(minutes, 3\)"):
        plan_fleet(np.ones((4, 2)), SimConfig(), 1, weights=np.ones(3) / 3)


def test_rate_oracle_plans_a_trace_as_the_oracle():
    case = trace_case("worldcup", "eval", minutes=120)
    fleets = []
    for policy in (Oracle(), RateOracle()):
        policy.reset(FleetSim(SimConfig(), [case.scenario], seed=0, past=[case.past]))
        fleets.append(policy.fleet)
    assert np.array_equal(*fleets)
