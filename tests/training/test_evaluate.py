"""The scoreboard: report schema, common random numbers, held-out scenarios, the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference.features import HISTORY
from simulator.config import SimConfig
from simulator.loads import EVAL_STREAM, TRACES, TRAIN_FRACTION, TUNE_STREAM, _trace
from training.evaluate import main
from training.evaluation.cases import Case, evaluation_cases, synthetic_case, trace_case
from training.evaluation.report import write_report
from training.evaluation.scoreboard import default_policies, evaluate, run_policy
from training.policies.artifact import ArtifactPolicy
from training.policies.rules import load_tuned
from training.policies.tuning import tuning_cases

REQUIRED = (
    "profit",
    "profit_vs_oracle",
    "pct_minutes_down",
    "pct_requests_dropped",
    "machine_minutes",
    "scaling_actions",
)


@pytest.fixture(scope="module")
def small_cases() -> list[Case]:
    return [
        synthetic_case(0, 180, stream=TUNE_STREAM, past_minutes=2000, prefix="schema"),
        synthetic_case(1, 180, stream=TUNE_STREAM, past_minutes=2000, prefix="schema"),
        trace_case("worldcup", "eval", minutes=240, past_minutes=2000),
    ]


@pytest.fixture(scope="module")
def small_report(small_cases):
    return evaluate(default_policies(), small_cases, SimConfig(), seed=3, progress=False)


def test_report_json_schema(small_report, tmp_path):
    path = write_report(small_report, tmp_path, plots=True)
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == 1
    assert {"created_at", "seed", "config", "policies", "summary", "scenarios", "plots"} <= set(doc)
    names = {"static", "target_tracking", "step_scaling", "hpa", "predictive", "oracle"}
    assert {p["name"] for p in doc["policies"]} == names
    assert [s["name"] for s in doc["scenarios"]] == ["schema-0", "schema-1", "worldcup-eval"]
    for scenario in doc["scenarios"]:
        assert {"name", "kind", "minutes", "start", "mean_load_machines", "meta"} <= set(scenario)
        assert {p["name"] for p in scenario["policies"]} == names
        for row in scenario["policies"]:
            assert set(REQUIRED) <= set(row)
            assert row["minutes"] == scenario["minutes"]
            assert 0 <= row["pct_minutes_down"] <= 100 and 0 <= row["pct_requests_dropped"] <= 100
        oracle = next(p for p in scenario["policies"] if p["name"] == "oracle")
        assert oracle["profit_vs_oracle"] == 1.0
    trace = doc["scenarios"][2]
    assert trace["kind"] == "trace" and trace["meta"]["scale_factor"] > 0  # the factor measured on training
    for summary in doc["summary"]:
        assert {"name", "total_profit", "mean_profit_vs_oracle", "pct_minutes_down", "machine_minutes"} <= set(summary)
    for plot in doc["plots"]:
        assert (tmp_path / plot).stat().st_size > 1000
    table = (tmp_path / "report.md").read_text()
    assert "| worldcup-eval | 240 |" in table and "| oracle |" in table


def test_metrics_add_up(small_report, small_cases):
    for rows in small_report.results.values():
        for row, case in zip(rows, small_cases):
            assert row["profit"] == pytest.approx(row["revenue"] - row["machine_cost"] - row["downtime_cost"])
            assert row["requests"] == pytest.approx(case.scenario.load[HISTORY:].sum())
            assert row["machine_cost"] == pytest.approx(0.05 * row["machine_minutes"])
            assert row["downtime_cost"] == pytest.approx(200.0 * row["minutes_down"])


def test_same_seed_same_noise_same_result(small_cases):
    policy = default_policies(oracle=False)["target_tracking"]
    first, _ = run_policy(policy, small_cases, SimConfig(), seed=5)
    again, _ = run_policy(policy, small_cases, SimConfig(), seed=5)
    other, _ = run_policy(policy, small_cases, SimConfig(), seed=6)
    assert first == again
    assert [r["profit"] for r in first] != [r["profit"] for r in other]


def test_evaluation_never_sees_tuning_or_training_data():
    cases = evaluation_cases(quick=True)
    tuning = tuning_cases(minutes=600, n_synthetic=2, trace_windows=2)
    # Synthetic: different random streams, hence different loads.
    assert EVAL_STREAM != TUNE_STREAM
    eval_loads = {c.scenario.load.tobytes() for c in cases}
    assert not any(c.scenario.load.tobytes() in eval_loads for c in tuning)
    for name in TRACES:
        cut = int(len(_trace(name)) * TRAIN_FRACTION)
        evals = [c for c in cases if c.scenario.meta.get("trace") == name]
        assert evals and all(c.scenario.meta["first_minute"] >= cut for c in evals)
        for c in tuning:
            if c.scenario.meta.get("trace") == name:
                assert c.scenario.meta["part"] == "train"
                assert c.scenario.meta["first_minute"] + c.scenario.minutes <= cut


def test_trace_past_is_the_end_of_the_training_part():
    case = trace_case("worldcup", "eval", minutes=100, past_minutes=3000)
    assert len(case.past) == 3000
    # The past ends where the scenario's history begins: the training part's last minutes, same scale factor.
    raw = _trace("worldcup")
    cut = int(len(raw) * TRAIN_FRACTION)
    factor = case.scenario.meta["scale_factor"]
    np.testing.assert_allclose(case.past, np.round(raw[cut - HISTORY - 3000 : cut - HISTORY] * factor))


def test_tuned_values_load_and_bad_file_is_named(tmp_path):
    tuned = load_tuned()
    assert set(tuned) == {"static", "target_tracking", "step_scaling", "hpa", "predictive"}
    with pytest.raises(FileNotFoundError, match=r"training\.policies\.tuning"):
        load_tuned(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"baselines": {"hpa": {}}}')
    with pytest.raises(ValueError, match=r"bad\.json"):
        load_tuned(bad)


def test_a_packaged_policy_is_one_more_entry(small_cases, tmp_path):
    from inference.artifact import package_policy, random_policy, untrained_metadata

    tarball = package_policy(random_policy(seed=1), tmp_path / "model", metadata=untrained_metadata())
    policies = {"target_tracking": default_policies(oracle=False)["target_tracking"]}
    policies["ppo"] = ArtifactPolicy(str(tarball), name="ppo")
    report = evaluate(policies, small_cases[:2], SimConfig(), progress=False, record=False)
    assert set(report.results) == {"target_tracking", "ppo"}
    assert report.result("ppo", "schema-0")["profit_vs_oracle"] is None  # no oracle in this run
    assert all(r["minutes"] == 180 for r in report.results["ppo"])
    assert report.to_json()["policies"][1]["parameters"]["model_version"] == "untrained-random"


def test_cli_quick_end_to_end(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--quick"]) == 0
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["quick"] is True and doc["command"].endswith("--quick")
    assert len(doc["scenarios"]) == 6  # 4 synthetic + 2 traces
    assert [p["name"] for p in doc["policies"]][-2:] == ["character", "oracle"]  # the gate's baselines, listed
    assert (tmp_path / "plots" / "cost_vs_availability.png").is_file()
    assert "## Summary over all scenarios" in capsys.readouterr().out
