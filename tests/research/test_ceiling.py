"""research.ceiling: the rate oracle bounds every rule and fixed level, the summary, the surprise minutes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inference.features import HISTORY
from research import ceiling
from research.actions import FixedSizing
from simulator.config import SimConfig
from simulator.loads import load_moments
from training.evaluation.cases import synthetic_case, trace_case
from training.evaluation.noise import Draws
from training.evaluation.scoreboard import default_policies, run_policy
from training.policies.oracle import Oracle, RateOracle


def test_rate_oracle_bounds_the_rules_over_draws_of_the_load_and_earns_its_plan():
    """Over fresh draws of each load around its rate (what the bound is an expectation over), the rate oracle's
    mean profit matches its plan's expected profit and is at least every tuned rule's and every fixed level's."""
    config = SimConfig()
    base = [synthetic_case(i, 720, stream=4, past_minutes=0, prefix="rate-test") for i in range(4)]
    policies = {"rate oracle": RateOracle(), **default_policies(oracle=False)}
    policies |= {f"level {z}": FixedSizing("margin", z) for z in (0.65, 0.9, 1.2)}
    profit = {name: [] for name in policies}
    planned = []
    for draw in range(6):
        rng = np.random.default_rng([99, draw])
        cases = []
        for case in base:
            s = case.scenario
            mean, var = load_moments(s.rate, s.meta["spec"]["noise_sigma"])
            load = np.maximum(np.round(rng.normal(mean, np.sqrt(var))), 0.0)
            cases.append(replace(case, scenario=replace(s, load=load, initial_machines=s.initial_machines)))
        for name, policy in policies.items():
            profit[name].append(sum(m["profit"] for m in run_policy(policy, cases, config, seed=draw)[0]))
        planned.append(policies["rate oracle"].expected_profit.sum())
    assert np.mean(profit["rate oracle"]) == pytest.approx(np.mean(planned), rel=0.01)
    for name in policies:
        assert np.mean(profit["rate oracle"]) >= np.mean(profit[name]), name


def test_ceiling_summary_and_markdown():
    cases = [synthetic_case(i, 60, stream=4, past_minutes=0, prefix="c") for i in range(2)]
    cases.append(trace_case("nasa", "eval", minutes=60))
    profit = {
        "rate oracle": np.array([[90.0, 45, 10], [92, 44, 11]]),
        "oracle": np.array([[100.0, 50, 10], [100, 50, 11]]),
        "rule": np.array([[80.0, 40, 5], [82, 38, 6]]),
    }
    draws = Draws(
        scenarios=[(c.kind, c.scenario.name) for c in cases],
        minutes=np.full(3, 60.0),
        profit=profit,
        minutes_down={k: np.zeros_like(v) for k, v in profit.items()},
    )
    result = ceiling.summarise(draws, cases, planned=[91.0, 44.0, 10.5])
    assert result["groups"] == ["all scenarios", "held-out synthetic", "nasa-eval"]
    synthetic = result["totals"]["rule"]["held-out synthetic"]
    assert synthetic["profit"] == pytest.approx(120.0)
    assert synthetic["vs_oracle"] == pytest.approx(120 / 150)
    assert synthetic["vs_rate_oracle"] == pytest.approx(120 / 135.5)
    assert synthetic["minus_rate_oracle"]["verdict"] == "loses"
    assert result["scenarios"][0]["rate_oracle_planned"] == 91.0 and result["scenarios"][0]["rule"] == 81.0
    text = ceiling.markdown(result)
    assert "| all synthetic | 150 | 135 | 136 | 0.903 |" in text
    assert "- rule: -" in text and "0.0 minutes down" in text
    assert synthetic["minutes_down"] == 0.0


def test_ceiling_cli_refuses_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ceiling.main(["--draws", "1", "--out", str(tmp_path)])
    assert "--draws must be >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ceiling.main(["--policy", str(tmp_path / "missing.tar.gz"), "--out", str(tmp_path)])
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(("lag", "warmup"), [(2, 5), (0, 5), (1, 0)])
def test_surprise_minutes_are_the_rises_no_order_could_have_met(lag, warmup):
    config = SimConfig(observation_lag_minutes=lag, warmup_latency=warmup)
    rate = np.full(HISTORY + 200, 3000.0)
    rate[HISTORY + 100 :] = 3300.0  # +10 % from simulated minute 100 on
    rate[HISTORY + 150] = 3050.0  # a dip, then back: not above the reachable peak by 3 %
    surprise = ceiling.surprise_minutes(rate, config)
    d = warmup + 1 + lag
    assert np.flatnonzero(surprise).tolist() == list(range(100, 100 + d))
    assert not ceiling.surprise_minutes(np.full(HISTORY + 50, 10.0), config).any()


def test_attribution_splits_each_gap_into_surprise_minutes_and_the_rest():
    config = SimConfig()
    cases = [synthetic_case(i, 720, stream=4, past_minutes=0, prefix="att") for i in (1, 2)]
    cases.append(trace_case("nasa", "eval", minutes=720))  # no rate: left out of the attribution
    policies = {"oracle": Oracle(), "fixed level 0.9": FixedSizing("margin", 0.9)}
    att = ceiling.attribute(policies, cases, config)
    synthetic = cases[:2]
    gap = sum(
        o["profit"] - f["profit"]
        for o, f in zip(
            run_policy(Oracle(), synthetic, config)[0], run_policy(policies["fixed level 0.9"], synthetic, config)[0]
        )
    )
    parts = att["fixed level 0.9"]
    assert parts["surprise"]["gap"] + parts["elsewhere"]["gap"] == pytest.approx(gap, rel=1e-5)
    assert att["oracle"]["surprise"] == {"gap": 0.0, "extra_downtime_cost": 0.0, "extra_machine_cost": 0.0}
    assert 0 < att["surprise_share_of_minutes"] < 0.2
