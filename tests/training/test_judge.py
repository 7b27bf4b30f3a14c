"""The one judging function (gate and noise benchmark): decided over paired noise draws, never on one draw."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluation.judge import judge, scenario_verdicts
from training.evaluation.noise import Draws
from training.evaluation.report import gate_section
from training.rl.gate import decide

SCENARIOS = [
    ("synthetic", "synthetic-0"),
    ("synthetic", "synthetic-1"),
    ("trace", "nasa-eval"),
    ("trace", "worldcup-eval"),
]
RULES = ["static", "target_tracking", "predictive"]
GROUPS = ["held-out synthetic", "nasa-eval", "worldcup-eval", "all scenarios"]


def draws_of(cand: np.ndarray, down: np.ndarray | None = None, n: int = 10, seed: int = 0) -> Draws:
    """Rules with noisy profits per draw; the candidate = target tracking + ``cand`` ($ per draw and scenario).

    static makes 500 $ less than target tracking everywhere, predictive 5 $ more; minutes down are 2 per scenario
    and draw for every policy, plus ``down`` for the candidate."""
    rng = np.random.default_rng(seed)
    tt = rng.normal(1000.0, 50.0, size=(n, len(SCENARIOS)))
    profit = {"static": tt - 500.0, "target_tracking": tt, "predictive": tt + 5.0, "ppo": tt + cand}
    base = np.full((n, len(SCENARIOS)), 2.0)
    minutes_down = {p: base.copy() for p in profit}
    minutes_down["ppo"] = base + (0.0 if down is None else down)
    return Draws(SCENARIOS, np.full(len(SCENARIOS), 1440.0), profit, minutes_down)


def wc_only(per_draw: list[float]) -> np.ndarray:
    """The candidate 100 $ ahead of target tracking everywhere but World Cup, where it is ``per_draw`` ahead."""
    out = np.full((len(per_draw), len(SCENARIOS)), 100.0)
    out[:, 3] = per_draw
    return out


def test_wins_the_single_draw_but_loses_over_draws_is_refused():
    # Draw 0 (the report's draw) favours the candidate on World Cup: the old one-draw rule passed it.
    per_draw = [20.0, -120.0, -90.0, -150.0, -110.0, -100.0, -130.0, -80.0, -140.0, -105.0]
    draws = draws_of(wc_only(per_draw))
    first = {p: draws.profit[p][0].sum() for p in draws.profit}
    assert all(first["ppo"] > first[r] for r in RULES)  # one draw: beats every rule, same minutes down
    verdict = judge(draws, "ppo", RULES)
    assert not verdict.passed
    by_scope = {c["scope"]: c for c in verdict.checks}
    wc = by_scope["worldcup-eval"]
    assert not wc["passed"] and wc["verdict"] == "loses"
    assert wc["vs"]["target_tracking"]["hi"] < 0 and wc["vs"]["predictive"]["hi"] < 0
    assert (
        "worldcup-eval: target_tracking beats ppo: ppo - target_tracking -" in verdict.reason
        and "over 10 noise draws" in verdict.reason
    )
    assert by_scope["held-out synthetic"]["passed"] and by_scope["nasa-eval"]["passed"]


def test_loses_the_single_draw_but_ties_over_draws_passes():
    # Draw 0 is a clear loss on World Cup (the old rule refused it); over the draws the interval holds zero.
    per_draw = [-300.0, 150.0, -60.0, 120.0, -40.0, 90.0, 10.0, 60.0, -20.0, 30.0]
    draws = draws_of(wc_only(per_draw))
    first = {p: draws.profit[p][0, 3] for p in draws.profit}
    assert first["ppo"] < first["target_tracking"]
    verdict = judge(draws, "ppo", RULES)
    assert verdict.passed, verdict.reason
    wc = next(c for c in verdict.checks if c["scope"] == "worldcup-eval")
    assert wc["verdict"] == "tie" and wc["vs"]["target_tracking"]["lo"] < 0 < wc["vs"]["target_tracking"]["hi"]
    assert "no tuned rule beats ppo with 95 % confidence on any group over 10 noise draws" in verdict.reason


def test_any_rule_not_only_target_tracking_refuses():
    # 2 $ above target tracking every draw but 3 $ below predictive: refused because of predictive alone.
    draws = draws_of(np.full((10, len(SCENARIOS)), 2.0))
    verdict = judge(draws, "ppo", RULES)
    assert not verdict.passed
    groups = [c for c in verdict.checks if c["blocking"]]
    assert [c["scope"] for c in groups] == GROUPS
    for c in groups:
        assert c["vs"]["target_tracking"]["verdict"] == "beats" and c["vs"]["predictive"]["verdict"] == "loses"


def test_availability_against_the_groups_best_rule():
    ahead = np.full((10, len(SCENARIOS)), 100.0)
    # One more minute down than every rule on NASA in every draw: less available than the best rule, predictive.
    down = np.zeros((10, len(SCENARIOS)))
    down[:, 2] = 1.0
    verdict = judge(draws_of(ahead, down), "ppo", RULES)
    nasa = next(c for c in verdict.checks if c["scope"] == "nasa-eval")
    assert not verdict.passed and not nasa["passed"] and nasa["verdict"] == "beats"  # profit alone would pass
    assert nasa["availability"]["rule"] == "predictive" and nasa["availability"]["verdict"] == "loses"
    assert "ppo is down 0.208 % of minutes vs predictive's 0.139 %" in verdict.reason
    # Down more in some draws and less in others: no confident loss, passes.
    down[:, 2] = [1, -1, 0, 1, -1, 0, 1, -1, 0, 0]
    assert judge(draws_of(ahead, down), "ppo", RULES).passed


def test_two_draws_student_t_with_one_degree_of_freedom():
    # With 2 draws the interval is 12.7 standard errors wide: a noisy loss is a tie, a consistent one refuses.
    noisy = judge(draws_of(wc_only([-150.0, 40.0]), n=2), "ppo", RULES)
    assert noisy.passed and all(c["vs"]["target_tracking"]["draws"] == 2 for c in noisy.checks)
    consistent = judge(draws_of(wc_only([-100.0, -101.0]), n=2), "ppo", RULES)
    assert not consistent.passed and "over 2 noise draws" in consistent.reason
    wc = next(c for c in consistent.checks if c["scope"] == "worldcup-eval")["vs"]["target_tracking"]
    assert wc["hi"] == pytest.approx(-100.5 + 12.7062047 * 0.5, abs=1e-4)  # t(0.975, 1) x s / sqrt(2)
    with pytest.raises(ValueError, match="at least 2 draws"):
        judge(draws_of(wc_only([50.0]), n=1), "ppo", RULES)


def test_scenarios_are_recorded_not_blocking():
    # Losing on one synthetic scenario but far ahead on the other: the synthetic group passes, the scenario is a loss.
    cand = np.full((10, len(SCENARIOS)), 100.0)
    cand[:, 0] = -50.0
    verdict = judge(draws_of(cand), "ppo", RULES)
    assert verdict.passed, verdict.reason
    scenario = next(c for c in verdict.checks if c["scope"] == "synthetic-0")
    assert scenario["blocking"] is False and scenario["passed"] is False and scenario["verdict"] == "loses"
    assert scenario_verdicts(verdict) == {
        "nasa-eval": "beats",
        "worldcup-eval": "beats",
        "synthetic-0": "loses",
        "synthetic-1": "beats",
    }
    assert all(set(c) == set(verdict.checks[0]) for c in verdict.checks)  # one shape for every check
    assert next(c for c in verdict.checks if c["scope"] == "all scenarios")["scenarios"] == [n for _, n in SCENARIOS]


def test_missing_policy_and_bad_rules_are_named():
    draws = draws_of(np.zeros((10, len(SCENARIOS))))
    with pytest.raises(KeyError, match="hpa"):
        judge(draws, "ppo", [*RULES, "hpa"])
    with pytest.raises(ValueError, match="rules"):
        judge(draws, "ppo", ["ppo"])


def test_gate_decision_and_report_section():
    draws = draws_of(wc_only([-100.0, -101.0, -99.0]), n=3)
    refused, forced = decide(draws, RULES), decide(draws, RULES, force=True)
    assert (refused.passed, refused.forced) == (False, False) and (forced.passed, forced.forced) == (False, True)
    assert decide(draws_of(np.full((3, len(SCENARIOS)), 100.0), n=3), RULES).passed
    gate = {**refused.metadata(), "draws": 3, "candidate": "ppo", "rules": RULES, "checks": refused.checks}
    text = "\n".join(gate_section(gate))
    assert "## The gate: ppo over 3 capacity-noise draws (FAILED)" in text
    assert "| worldcup-eval | yes | no |" in text and "| synthetic-0 | no | yes |" in text
    assert gate_section(None) == []
