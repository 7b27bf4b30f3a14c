"""The experiments behind the observation lag's cost to the rules and the levels a policy picks against each
scenario's best fixed level."""

from __future__ import annotations

import json

import pytest

from inference.actions import LEVELS
from inference.artifact import package_policy, random_policy, untrained_metadata
from research import lag as lag_cli
from research import levels as levels_cli


@pytest.mark.slow
def test_lag_changes_what_the_reactive_rules_see_and_nothing_of_the_oracle(capsys: pytest.CaptureFixture) -> None:
    assert lag_cli.main(["--quick", "--lags", "0", "5"]) == 0
    doc = json.loads(capsys.readouterr().out)
    on_time, late = doc["results"]["lag 0"], doc["results"]["lag 5"]
    assert on_time["oracle"] == late["oracle"]  # clairvoyant: reads the future, not the metrics
    assert on_time["static"] == late["static"]  # sized once on the past's peak
    assert late["target_tracking"]["total_profit"] < on_time["target_tracking"]["total_profit"]


@pytest.mark.slow
def test_levels_reports_the_policys_levels_beside_each_scenarios_best(tmp_path, capsys) -> None:
    model = package_policy(random_policy(0), tmp_path / "m", metadata=untrained_metadata("levels-test"))
    assert levels_cli.main(["--policy", str(model), "--draws", "2", "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "levels.json").read_text())
    rows, totals = result["scenarios"], result["totals"]
    assert totals["draws"] == 2 and totals["best_single_level"] in LEVELS
    assert totals["best_level_per_scenario_profit"] >= totals["best_single_level_profit"]  # chosen per scenario
    pair = totals["policy_minus_best_single_level"]
    assert pair["lo"] <= pair["mean"] <= pair["hi"] and pair["draws"] == 2
    assert pair["mean"] == pytest.approx(totals["policy"] - totals["best_single_level_profit"], abs=0.01)
    assert [r["scenario"] for r in rows][-2:] == ["nasa-eval", "worldcup-eval"]
    for r in rows:
        assert r["best_fixed_level"] in LEVELS
        assert min(LEVELS) <= r["policy_level_q25"] <= r["policy_level_median"] <= r["policy_level_q75"] <= max(LEVELS)
        by_level = r["fixed_profit_by_level"]
        assert r["best_fixed_profit"] == pytest.approx(max(by_level.values()), abs=0.01)
    assert set(totals["gate_passed"]) == set(totals["gate_reason"]) == {f"level {z:g}" for z in LEVELS} | {"policy"}
    passing = [z for z in LEVELS if totals["gate_passed"][f"level {z:g}"]]
    if passing:  # the best level the gate accepts, and the policy paired against it
        assert totals["best_gate_passing_level"] in passing
        assert totals["best_gate_passing_level_profit"] == pytest.approx(
            max(sum(r["fixed_profit_by_level"][str(z)] for r in rows) for z in passing), abs=1.0
        )
    else:
        assert "best_gate_passing_level" not in totals
    assert (tmp_path / "out" / "levels.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "best fixed level" in out and "The gate's rule" in out
