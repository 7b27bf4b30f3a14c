"""A team's own traffic: the ``timestamp,requests`` trace format, its split by time, the scoreboard on it
(``python -m training.evaluate --trace``) and its mixing into the training scenarios."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from inference.features import HISTORY
from simulator.loads import (
    TRAIN_FRACTION,
    TRAIN_STREAM,
    TraceError,
    load_trace,
    read_trace,
    sample_scenario,
)
from tests.training.helpers import write_fleet
from training.evaluate import main as evaluate_main
from training.evaluation.team import split, team_case

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def stamp(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def team_file(tmp_path: Path, minutes: int, *, skip: frozenset[int] = frozenset(), name: str = "team") -> Path:
    """A daily-cycle trace of ``minutes`` minutes, without the rows in ``skip`` (gaps)."""
    rng = np.random.default_rng(0)
    rows = [
        f"{stamp(m)},{int(rng.poisson(3000 * (1.3 + np.sin(2 * np.pi * m / 1440))))}"
        for m in range(minutes)
        if m not in skip
    ]
    path = tmp_path / f"{name}.csv"
    path.write_text("timestamp,requests\n" + "\n".join(rows) + "\n")
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


GOOD = "".join(f"{stamp(m)},{10 + m}\n" for m in range(2, 2 * HISTORY + 2))


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (f"{stamp(0)},5\n{stamp(0)},6\n", r"trace\.csv:3: timestamp '.*' is duplicate: not after line 2's"),
        (f"{stamp(1)},5\n{stamp(0)},6\n", r"trace\.csv:3: timestamp '.*' is out of order"),
        (f"{stamp(0)},5\n2026-11-01 00:01,6\n", r"trace\.csv:3: .* has no UTC offset"),
        (f"{stamp(0)},5\n2026-11-01T01:01:00+01:00,6\n", r"trace\.csv:3: .* is not UTC"),
        (f"{stamp(0)},5\nyesterday,6\n", r"trace\.csv:3: timestamp 'yesterday' is not ISO-8601"),
        (f"{stamp(0)},5\n2026-11-01T00:01:30Z,6\n", r"trace\.csv:3: .* is not on a whole minute"),
        (f"{stamp(0)},-1\n", r"trace\.csv:2: requests '-1' must be a finite number >= 0"),
        (f"{stamp(0)},nan\n", r"trace\.csv:2: requests 'nan' must be a finite"),
        (f"{stamp(0)},many\n", r"trace\.csv:2: requests 'many' is not a number"),
        (f"{stamp(0)},5,1\n", r"trace\.csv:2: expected 2 columns \(timestamp,requests\)"),
        (f"{stamp(0)},5\n2100-01-01T00:00:00Z,5\n", r"trace\.csv:3: the trace would span more than"),
    ],
)
def test_bad_timestamp_traces_name_the_file_and_line(tmp_path, rows, match):
    with pytest.raises(TraceError, match=match):
        load_trace(write(tmp_path, "timestamp,requests\n" + rows + GOOD))


def test_too_short_a_trace_is_refused(tmp_path):
    with pytest.raises(TraceError, match=r"trace\.csv: only 1 minutes"):
        load_trace(write(tmp_path, f"timestamp,requests\n{stamp(0)},5\n"))


def test_header_names_both_formats(tmp_path):
    with pytest.raises(TraceError, match=r"trace\.csv:1: expected header 'timestamp,requests' or 'minute,requests'"):
        read_trace(write(tmp_path, "time,requests\n" + GOOD))


def test_gaps_are_filled_with_zero_and_reported(tmp_path):
    path = team_file(tmp_path, 200, skip=frozenset({10, 50, 51, 52, 199}))  # the last row missing is no gap
    trace = load_trace(path)
    assert trace.start == T0 and len(trace.requests) == 199
    assert trace.gaps == ((10, 1), (50, 3))
    assert trace.requests[10] == 0 and trace.requests[50:53].sum() == 0 and trace.requests[53] > 0
    info = trace.describe()
    assert info["gaps"] == 2 and info["gap_minutes"] == 4 and info["longest_gap_minutes"] == 3
    assert info["format"] == "timestamp,requests" and info["gap_policy"] == "filled with 0 requests"
    np.testing.assert_array_equal(read_trace(path), trace.requests)  # one reader for both entry points


def test_minute_files_keep_working_and_timestamps_may_carry_offsets(tmp_path):
    minutes = write(tmp_path, "minute,requests\n" + "".join(f"{i},{i}\n" for i in range(40)))
    assert load_trace(minutes).start is None and load_trace(minutes).describe()["format"] == "minute,requests"
    same = tmp_path / "offsets.csv"
    same.write_text("timestamp,requests\n" + "".join(f"{stamp(i)[:-1]}+00:00,{i}\n" for i in range(40)))
    np.testing.assert_array_equal(read_trace(minutes), read_trace(same))


def test_split_by_time_and_the_late_part_keeps_the_teams_scale(tmp_path):
    trace = load_trace(team_file(tmp_path, 3000))
    cut = int(3000 * TRAIN_FRACTION)
    case = team_case(trace, "eval", capacity=100.0, past_minutes=1000)
    assert case.scenario.minutes == 3000 - cut and case.scenario.start == T0 + timedelta(minutes=cut)
    np.testing.assert_array_equal(case.scenario.load, trace.requests[cut - HISTORY :])  # never rescaled
    np.testing.assert_array_equal(case.past, trace.requests[cut - HISTORY - 1000 : cut - HISTORY])
    assert case.scenario.initial_machines == int(np.ceil(trace.requests[cut - 1] / 100.0 * 1.25))
    s = split(trace)
    assert s["early"]["minutes"] == cut and s["late"]["from"] == (T0 + timedelta(minutes=cut)).isoformat()


def test_evaluate_cli_scores_every_policy_on_the_late_part(tmp_path, capsys):
    from inference.artifact import package_policy, random_policy, untrained_metadata

    tarball = package_policy(random_policy(seed=1), tmp_path / "model", metadata=untrained_metadata())
    path = team_file(tmp_path, 3000, skip=frozenset({2500, 2501}))
    out = tmp_path / "eval"
    argv = ["--trace", str(path), "--capacity-rpm-per-machine", "100", "--policy", str(tarball), "--out", str(out)]
    assert evaluate_main([*argv, "--no-plots"]) == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["config"]["capacity_rpm_per_machine"] == 100 and doc["config"]["capacity_sigma"] == 10
    [scenario] = doc["scenarios"]
    assert scenario["name"] == "team-eval" and scenario["minutes"] == 3000 - int(3000 * TRAIN_FRACTION)
    assert {p["name"] for p in scenario["policies"]} >= {"target_tracking", "predictive", "oracle"}
    assert len(scenario["policies"]) == 7  # five rules, the oracle, the packaged policy
    [team] = doc["team_traces"]
    assert team["gaps"] == 1 and team["longest_gap_minutes"] == 2 and team["split"]["train_fraction"] == TRAIN_FRACTION
    md = capsys.readouterr().out
    assert "## Team traces" in md and "reported: the late part 2026-11-02T11:00:00+00:00" in md


def test_evaluate_cli_refuses_a_bad_trace_naming_the_line(tmp_path, capsys):
    bad = write(tmp_path, "timestamp,requests\n" + GOOD + f"{stamp(0)},3\n")
    assert evaluate_main(["--trace", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert f"trace.csv:{2 * HISTORY + 2}: timestamp" in capsys.readouterr().err


def test_team_traces_join_the_training_distribution_train_part_only(tmp_path):
    trace = load_trace(team_file(tmp_path, 3000))
    cut = int(3000 * TRAIN_FRACTION)
    rng = np.random.default_rng([TRAIN_STREAM, 5])
    drawn = [sample_scenario(rng, 200, trace_probability=1.0, team_traces=(trace,)) for _ in range(60)]
    team = [s for s in drawn if s.name == "team-train"]
    assert 10 <= len(team) <= 35  # one of three traces
    for s in team:
        first = s.meta["first_minute"]
        assert first + s.minutes <= cut  # never the late part
        np.testing.assert_array_equal(s.load, trace.requests[first - HISTORY : first + s.minutes])


def test_without_team_traces_the_sampler_draws_exactly_as_before():
    a = np.random.default_rng([TRAIN_STREAM, 9])
    b = np.random.default_rng([TRAIN_STREAM, 9])
    for _ in range(6):
        x = sample_scenario(a, 100, trace_probability=0.5)
        y = sample_scenario(b, 100, trace_probability=0.5, team_traces=())
        assert x.name == y.name
        np.testing.assert_array_equal(x.load, y.load)


# python -m training.train --trace: the training scenarios, the gate's cases, the default unchanged.


def test_without_team_traces_training_draws_what_it_draws_with_none():
    from simulator.config import SimConfig
    from training.sim.vector_env import FleetVectorEnv

    drawn = []
    for kwargs in ({}, {"team_traces": ()}):
        env = FleetVectorEnv(6, SimConfig(episode_minutes=200), trace_probability=0.5, **kwargs)
        env.reset(seed=0)
        drawn.append(env.sim.series)  # the past and the scenario of every fleet
    np.testing.assert_array_equal(drawn[0], drawn[1])


def test_the_vector_env_and_rllib_env_config_carry_team_traces(tmp_path):
    from simulator.config import SimConfig
    from training.rl.ppo import rllib_env_creator

    path = team_file(tmp_path, 3000)
    env = rllib_env_creator(
        {"num_envs": 64, "sim_config": SimConfig(episode_minutes=200).to_dict(), "trace_probability": 1.0,
         "team_traces": [str(path)]}
    )  # fmt: skip
    env.reset(seed=1)
    loads = load_trace(path).requests
    team = [i for i in range(64) if np.isin(env.sim.loads[i, :50], loads).all()]
    assert 10 <= len(team) <= 40  # about one in three fleets replays the team's training part


def test_train_refuses_a_bad_or_short_trace_before_ray_starts(tmp_path, capsys):
    from training.rl.train import main as train_main

    bad = write(tmp_path, "timestamp,requests\n" + GOOD + f"{stamp(0)},3\n")
    assert train_main(["--preset", "tiny", "--trace", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert f"trace.csv:{2 * HISTORY + 2}: timestamp" in capsys.readouterr().err
    short = team_file(tmp_path, 250, name="short")  # 70 % = 175 minutes < the tiny preset's 200-minute episodes
    assert train_main(["--preset", "tiny", "--trace", str(short), "--out", str(tmp_path / "o")]) == 2
    assert "short.csv: its training part (first 70% by time) has 159 minutes" in capsys.readouterr().err
    # Long enough for an episode (1,384 minutes > 200) but not for the day of history drawn before it: refused here,
    # not by the environments inside Ray.
    no_day = team_file(tmp_path, 2000, name="noday")
    assert train_main(["--preset", "tiny", "--trace", str(no_day), "--out", str(tmp_path / "o")]) == 2
    assert "noday.csv: its training part (first 70% by time) has 1384 minutes" in (err := capsys.readouterr().err)
    assert "day of history before it (1456): 1656" in err


def test_the_gate_scores_the_late_part_beside_its_usual_cases(tmp_path, monkeypatch):
    from inference.artifact import random_policy
    from simulator.config import SimConfig
    from simulator.loads import TUNE_STREAM
    from training.evaluation.cases import synthetic_case
    from training.rl import export, gate

    usual = [synthetic_case(0, 180, stream=TUNE_STREAM, past_minutes=200, prefix="usual")]
    monkeypatch.setattr(gate, "evaluation_cases", lambda **_: list(usual))
    collect = export.collect_observations  # 512 fleets x 1000 minutes is the gate's; a few suffice here
    monkeypatch.setattr(
        export, "collect_observations", lambda p, c, seed, **kw: collect(p, c, num_envs=8, steps=50, **kw)
    )
    path = team_file(tmp_path, 3000)
    code = gate.gate_and_package(
        net=random_policy(seed=3), module=None, out_dir=tmp_path / "out", sim_config=SimConfig(),
        training={}, model_version="test", eval_quick=True, check_count=10, noise_draws=2, progress=False,
        team_traces=(str(path),),
    )  # fmt: skip
    assert code == gate.EXIT_GATE_FAILED  # an untrained network; the report is written all the same
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [s["name"] for s in doc["scenarios"]] == ["usual-0", "team-eval"]
    assert doc["gate"]["rules"][-1] == "character"  # judged against as against a tuned rule
    assert doc["team_traces"][0]["split"]["late"]["minutes"] == 3000 - int(3000 * TRAIN_FRACTION)
    assert "## Team traces" in (tmp_path / "out" / "report.md").read_text()


def test_a_trace_coarser_than_a_minute_is_refused_naming_the_period(tmp_path):
    rows = "".join(f"{stamp(5 * m)},{100 + m}\n" for m in range(200))  # CloudWatch's 5-minute periods
    with pytest.raises(TraceError, match=r"trace\.csv: one row every 5 minutes .*--period 60"):
        load_trace(write(tmp_path, "timestamp,requests\n" + rows))
    gappy = "".join(f"{stamp(m)},{m}\n" for m in range(200) if m % 7)  # 1-minute rows with gaps: read as before
    assert load_trace(write(tmp_path, "timestamp,requests\n" + gappy)).gaps[0] == (6, 1)  # starts at minute 1


def test_evaluate_reads_the_fleet_file_and_judges_each_policy_over_ten_paired_draws(tmp_path, capsys):
    from inference.artifact import package_policy, random_policy, untrained_metadata

    tarball = package_policy(random_policy(seed=1), tmp_path / "model", metadata=untrained_metadata())
    path = team_file(tmp_path, 1800)
    out = tmp_path / "eval"
    fleet = write_fleet(tmp_path / "fleet.json")
    argv = ["--trace", str(path), "--fleet", str(fleet), "--policy", str(tarball), "--out", str(out)]
    assert evaluate_main([*argv, "--no-plots"]) == 0
    doc = json.loads((out / "report.json").read_text())
    config = doc["config"]
    assert (config["capacity_rpm_per_machine"], config["min_machines"], config["max_machines"]) == (100, 2, 400)
    assert (config["warmup_latency"], config["downtime_cost"], config["machine_cost"]) == (10, 1000.0, 0.05)
    assert config["max_scale_out_per_step"] == config["max_scale_in_per_step"] == 40
    found = doc["team_verdicts"]
    assert [v["rule"] for v in found] == ["static", "target_tracking", "step_scaling", "hpa", "predictive"]
    assert all(v["draws"] == 10 and v["verdict"] in ("beats", "tie", "loses") for v in found)
    assert all(v["lo"] <= v["mean"] <= v["hi"] for v in found)
    printed = capsys.readouterr().out
    for v in found:  # one line per rule, the verdict's words and the interval
        word = {"beats": "beats", "tie": "ties", "loses": "loses to"}[v["verdict"]]
        assert f"ppo-untrained-random {word} {v['rule']}" in printed
    assert "## Verdict over 10 paired capacity-noise draws" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("overrides", "extra", "message"),
    [
        ({"economics": {"warmup_latency": 500}}, [], "fleet.economics.warmup_latency: must be in [0, 240]"),
        ({"max_machines": "many"}, [], "fleet.max_machines: must be an integer"),
        ({}, ["--capacity-rpm-per-machine", "5"], "--fleet gives the capacity"),
        ({}, ["--sim", '{"downtime_cost": 3}'], "downtime_cost: given by the fleet file"),
        ({}, ["--draws", "3"], "--draws: a verdict needs at least 10 paired draws"),
    ],
)
def test_evaluate_refuses_a_bad_fleet_naming_the_field(tmp_path, capsys, overrides, extra, message):
    fleet = write_fleet(tmp_path / "fleet.json", **overrides)
    argv = ["--trace", str(team_file(tmp_path, 200)), "--fleet", str(fleet), *extra]
    with pytest.raises(SystemExit) as exit_:
        evaluate_main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
