"""The character baseline: every action replayed on common draws, the cross-validated regression, the policy with a
model per fleet economics, and its place beside the tuned rules in the scoreboard and the gate."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inference.actions import N_ACTIONS
from simulator.config import SimConfig
from simulator.fleet import FleetSim
from simulator.loads import TUNE_STREAM
from training.evaluation import noise
from training.evaluation.cases import in_cell, synthetic_case
from training.evaluation.cells import cells
from training.evaluation.scoreboard import baselines
from training.policies import character
from training.policies.base import rollout
from training.policies.character import CHARACTER_INPUTS, Character, FitSettings, Replay, fit, replay
from training.policies.rules import BASELINES
from training.rl.gate import decide

TINY = FitSettings(synthetic=2, trace_windows=0, small=2, draws=1, folds=2)


def cases(n: int = 3, minutes: int = 240, config: SimConfig | None = None):
    """``n`` short tuning-stream loads with a day of past, in ``config``."""
    config = config or SimConfig()
    made = (synthetic_case(i, minutes, stream=TUNE_STREAM, past_minutes=1440, prefix="t") for i in range(n))
    return [replace(c, config=config) for c in made]


def test_settings_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"days=0.*folds=1"):
        FitSettings(days=0, folds=1)
    with pytest.raises(ValueError, match="synthetic=0, trace_windows=0"):
        FitSettings(synthetic=0, trace_windows=0)


def test_every_action_replays_the_same_scenarios_and_draws():
    batch = cases()
    data = replay(batch, draws=2, seed=5)
    assert data.inputs.shape == (3, 240 // character.OBSERVE_EVERY, len(CHARACTER_INPUTS))
    assert data.profit.shape == data.down.shape == (3, N_ACTIONS)
    # Each (case, action) alone on the same noise rows gives the same profit: common draws, nothing mixed up.
    for i, a in ((0, 0), (2, 7)):
        alone = 0.0
        for draw in range(2):
            rows = np.random.default_rng([5, draw]).standard_normal((3, 240))
            sim = FleetSim(SimConfig(), [batch[i].scenario], noise=rows[[i]], past=[batch[i].past])
            alone += rollout(character._Fixed(np.array([a])), sim, [batch[i].past])["reward"][0] / 2
        assert data.profit[i, a] == pytest.approx(alone * 1440 / 240)
    assert np.ptp(data.profit, axis=1).min() > 0  # the actions differ


def toy(n: int, informative: bool, seed: int = 0) -> Replay:
    """Scenarios whose best action grows with the fleet's noise (``informative``), else is 6 everywhere."""
    rng = np.random.default_rng(seed)
    k = len(CHARACTER_INPUTS)
    inputs = rng.normal(size=(n, 1, k)) + rng.normal(0, 0.05, (n, 4, k))  # a character moves slowly
    noise = inputs[:, 0, CHARACTER_INPUTS.index("noise")]
    best = np.clip(np.round(6 + 2 * noise), 0, N_ACTIONS - 1) if informative else np.full(n, 6)
    profit = -100.0 * (np.arange(N_ACTIONS)[None, :] - best[:, None]) ** 2 + rng.normal(0, 5, (n, N_ACTIONS))
    return Replay(inputs, profit, np.zeros_like(profit))


def test_the_regression_learns_the_action_each_character_pays_for():
    data = toy(200, informative=True)
    model = fit(data, FitSettings(folds=4))
    assert model.summary["form"] != "constant"
    chosen = model.choose(data.inputs.reshape(-1, len(CHARACTER_INPUTS))).reshape(200, 4)
    best = np.argmax(data.profit, axis=1)[:, None]
    assert np.abs(chosen - best).mean() < 0.5
    assert model.summary["cross_validated_profit_per_day"] > model.summary["best_single_action_profit_per_day"]


def test_without_information_it_is_the_best_single_action():
    data = toy(200, informative=False)
    model = fit(data, FitSettings(folds=4))
    assert set(model.choose(data.inputs.reshape(-1, len(CHARACTER_INPUTS)))) == {6}


def test_each_fleet_gets_the_model_of_its_economics_fitted_once():
    quick = cells("quick")
    fleets = [in_cell(c, cell) for cell in quick[:2] for c in cases(2, 120)]
    sim = FleetSim([c.config for c in fleets], [c.scenario for c in fleets], past=[c.past for c in fleets])
    policy = Character(TINY)
    totals = rollout(policy, sim, [c.past for c in fleets])
    assert len(policy.models) == 2 and np.isfinite(totals["reward"]).all()
    assert {m["economics"]["downtime_cost"] for m in policy.describe()["models"]} == {
        c.config(small=False).downtime_cost for c in quick[:2]
    }
    fitted = dict(policy.models)
    rollout(policy, sim, [c.past for c in fleets])  # a second draw reuses the fits
    assert all(policy.models[k] is m for k, m in fitted.items())


def test_the_scoreboard_and_the_gate_judge_against_it_as_against_a_tuned_rule():
    listed = baselines(cells=True)
    assert list(listed) == [*BASELINES, "character", "oracle"]
    # The gate's rules are every listed policy but the oracle: a candidate the character baseline beats is refused.
    rules = [n for n in listed if n != "oracle"]
    profit = {n: np.full((10, 1), 100.0) + np.arange(10)[:, None] for n in rules}
    profit["character"] = profit["character"] + 50.0
    profit["ppo"] = np.full((10, 1), 120.0) + np.arange(10)[:, None]
    draws = noise.Draws(
        scenarios=[("synthetic", "synthetic-0")],
        minutes=np.array([1440.0]),
        profit=profit,
        minutes_down={n: np.zeros((10, 1)) for n in profit},
    )
    decision = decide(draws, rules)
    assert not decision.passed and "character beats ppo" in decision.reason


def test_the_action_is_chosen_again_every_hour_and_the_fleet_follows_its_load(monkeypatch):
    fleets = cases(2, 150)
    sim = FleetSim(SimConfig(), [c.scenario for c in fleets], past=[c.past for c in fleets])
    policy = Character(TINY)
    policy.prepare([character.fleet_key(SimConfig(), c.scenario) for c in fleets])
    chosen, calls = character.Model.choose, []
    monkeypatch.setattr(character.Model, "choose", lambda self, x: calls.append(len(x)) or chosen(self, x))
    sizes = []
    rollout(policy, sim, [c.past for c in fleets], on_step=lambda t, obs, desired, result: sizes.append(desired))
    assert calls == [2, 2, 2]  # minutes 0, 60 and 120, both fleets at once (one economics)
    moved = [t for t in range(1, len(sizes)) if (sizes[t] != sizes[t - 1]).any()]
    assert any(t % character.OBSERVE_EVERY for t in moved)  # the fleet still follows its load in between
