"""The character policy: every level replayed on common draws, the regression on the character alone, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inference.actions import LEVELS, N_ACTIONS
from inference.features import FEATURE_NAMES, OBS_DIM
from research import character
from research.character import CharacterConfig
from simulator.config import SimConfig
from simulator.fleet import FleetSim, desired_of
from simulator.loads import TRAIN_STREAM, sample_with_past
from training.policies.base import clip_fleet
from training.policies.character import CHARACTER_INPUTS

TINY = CharacterConfig(**character.PRESETS["tiny"])


def test_config_names_what_is_wrong():
    with pytest.raises(ValueError, match=r"base_level=0.95.*eval='mid'"):
        CharacterConfig(base_level=0.95, eval="mid")
    with pytest.raises(ValueError, match="noise_draws=1"):
        CharacterConfig(noise_draws=1)


def test_input_mask_keeps_the_character_only():
    mask = character.input_mask()
    assert mask.shape == (OBS_DIM,)
    assert [FEATURE_NAMES[i] for i in np.flatnonzero(mask)] == [n for n in FEATURE_NAMES if n in CHARACTER_INPUTS]


def test_every_level_replays_the_same_scenarios_and_draws():
    cfg = CharacterConfig(scenarios=10, days=1, draws=1, short_history_probability=0.0)
    replay = character.replay_levels(cfg, SimConfig())
    observations, profit = replay.observations, replay.profit(0.0)
    assert observations.shape == (10, 1440 // character.OBSERVE_EVERY, OBS_DIM)
    assert profit.shape == (10, N_ACTIONS) and len(np.unique(profit[0])) > N_ACTIONS // 2
    # The base level's profit is that of an ordinary run of the level on the same scenarios and noise.
    rng = np.random.default_rng([TRAIN_STREAM, cfg.seed])
    drawn = [sample_with_past(rng, 1440, short_history_probability=0.0) for _ in range(10)]
    noise = np.random.default_rng([TRAIN_STREAM, cfg.seed, 0]).standard_normal((10, 1440))
    sim = FleetSim(SimConfig(), [d[0] for d in drawn], noise=noise, past=[d[1] for d in drawn])
    base = np.full(10, LEVELS.index(cfg.base_level))
    obs = sim.observe()
    while sim.t < sim.minutes:
        sim.step(clip_fleet(desired_of(base, obs), obs))
        obs = sim.observe()
    np.testing.assert_allclose(profit[:, LEVELS.index(cfg.base_level)], sim.totals["reward"])


def test_regression_learns_the_level_each_character_pays_for_and_ignores_the_rest():
    """Scenarios whose noise feature is high earn most at a cautious level, calm ones at a tight level: the fitted
    network picks each where it belongs, on held-out scenarios too, and no other input moves its choice."""
    rng = np.random.default_rng(0)
    n, samples = 400, 32
    obs = rng.normal(0.0, 1.0, (n, samples, OBS_DIM)).astype(np.float32)
    noisy = rng.random(n) < 0.5
    obs[:, :, FEATURE_NAMES.index("noise")] = np.where(noisy, 0.08, 0.01)[:, None]
    tight, cautious = LEVELS.index(0.65), LEVELS.index(1.35)
    profit = np.full((n, N_ACTIONS), 1000.0)
    profit[np.arange(n), np.where(noisy, cautious, tight)] = 1300.0
    cfg = CharacterConfig(scenarios=n, days=1, epochs=60, validation_share=0.25)
    net, summary = character.fit(obs, profit, cfg)
    with torch.no_grad():
        chosen = net(torch.from_numpy(obs.reshape(-1, OBS_DIM))).argmax(dim=1).numpy().reshape(n, samples)
        shuffled = obs.copy()
        others = [i for i, name in enumerate(FEATURE_NAMES) if name not in CHARACTER_INPUTS]
        shuffled[:, :, others] = rng.normal(0.0, 5.0, (n, samples, len(others)))
        again = net(torch.from_numpy(shuffled.reshape(-1, OBS_DIM))).argmax(dim=1).numpy().reshape(n, samples)
    assert np.all(chosen[noisy] == cautious) and np.all(chosen[~noisy] == tight)
    np.testing.assert_array_equal(chosen, again)
    assert summary["held_out_gain_over_base_per_day"] == pytest.approx(300.0 * summary["held_out_scenarios"])


def toy_replay(n: int = 120, samples: int = 4) -> character.Replay:
    """Two training groups the noise feature tells apart. Level 0.65 earns 3,000 $ more than 1.35 but is down 100
    minutes against none. On the synthetic loads the rules are down 45 (HPA) and 50 (predictive, the most
    profitable); on NASA's windows 120 and 150, so the tight level is available enough there."""
    rng = np.random.default_rng(3)
    tight, cautious = LEVELS.index(0.65), LEVELS.index(1.35)
    reward = np.full((n, N_ACTIONS), 25_000.0)
    down = np.full((n, N_ACTIONS), 50.0)
    reward[:, tight], down[:, tight] = 30_000.0, 100.0
    reward[:, cautious], down[:, cautious] = 27_000.0, 0.0
    groups = ["synthetic", "nasa"] * (n // 2)
    nasa = np.array([g == "nasa" for g in groups])
    observations = rng.normal(size=(n, samples, OBS_DIM)).astype(np.float32)
    observations[:, :, FEATURE_NAMES.index("noise")] = np.where(nasa, 2.0, -2.0)[:, None]
    return character.Replay(
        observations=observations,
        reward=reward,
        down=down,
        groups=groups,
        rules={
            "predictive": (np.full(n, 25_000.0), np.where(nasa, 150.0, 50.0)),
            "hpa": (np.full(n, 24_999.0), np.where(nasa, 120.0, 45.0)),
        },
    )


def test_downtime_prices_are_per_group_the_smallest_that_match_every_rules_availability():
    """Profit alone picks the tight level everywhere: down more often than any rule on the synthetic loads, not on
    NASA's windows. The synthetic price rises to the grid's first that passes (50), refined by bisection (25 fails,
    37.5 passes); NASA's stays zero, and the network keeps the tight level there."""
    replay = toy_replay()
    cfg = CharacterConfig(scenarios=120, days=1, epochs=300)
    prices, tried, net = character.calibrate_downtime_weights(replay, cfg)
    assert [t["downtime_weights"] for t in tried] == [{"nasa": 0.0, "synthetic": w} for w in (0.0, 50.0, 25.0, 37.5)]
    assert [t["passed"] for t in tried] == [False, True, False, True]
    assert prices == {"nasa": 0.0, "synthetic": 37.5}
    assert tried[0]["groups"]["synthetic"] == {
        "rule": "hpa",  # the least-down rule, not the most profitable one
        "minutes_down": pytest.approx(100.0 * 60),
        "rule_minutes_down": pytest.approx(45.0 * 60),
        "profit_minus_rule": pytest.approx(5_001.0 * 60),
    }
    chosen = character.choose(net, replay.observations)
    nasa = np.array([g == "nasa" for g in replay.groups])
    assert np.all(chosen[nasa] == LEVELS.index(0.65)) and np.all(chosen[~nasa] == LEVELS.index(1.35))
    # The network returned is the one fit() would fit at those prices: train() summarises it instead of refitting.
    refitted, _ = character.fit(replay.observations, replay.profit(prices), cfg)
    for a, b in zip(net.parameters(), refitted.parameters(), strict=True):
        assert torch.equal(a, b)


def test_no_price_needed_when_profit_alone_is_available_enough():
    replay = toy_replay()
    replay.rules = {"predictive": (replay.rules["predictive"][0], np.full(120, 200.0))}
    prices, tried, _ = character.calibrate_downtime_weights(replay, CharacterConfig(scenarios=120, days=1, epochs=300))
    assert prices == {"nasa": 0.0, "synthetic": 0.0} and len(tried) == 1


def test_a_group_no_price_matches_keeps_the_largest_and_the_others_theirs():
    """Every level is down at least 10 minutes a scenario on the synthetic loads, a rule 5: no price passes there,
    the search stops at the grid's end instead of looping, and NASA's price stays zero."""
    replay = toy_replay()
    synthetic = np.array([g == "synthetic" for g in replay.groups])
    replay.down[synthetic] = np.maximum(replay.down[synthetic], 10.0)
    replay.rules["hpa"][1][synthetic] = 5.0
    prices, tried, _ = character.calibrate_downtime_weights(replay, CharacterConfig(scenarios=120, days=1, epochs=50))
    assert prices == {"nasa": 0.0, "synthetic": character.AVAILABILITY_WEIGHTS[-1]}
    assert [t["downtime_weights"]["synthetic"] for t in tried] == list(character.AVAILABILITY_WEIGHTS)
    assert not tried[-1]["passed"] and all(
        t["groups"]["nasa"]["minutes_down"] <= t["groups"]["nasa"]["rule_minutes_down"] for t in tried
    )


def test_calibration_without_rules_names_what_is_missing():
    replay = toy_replay()
    replay.rules = {}
    with pytest.raises(ValueError, match="needs the rules replayed"):
        character.calibrate_downtime_weights(replay, CharacterConfig(scenarios=120, days=1))


def test_profit_charges_each_group_its_price_and_names_a_group_without_one():
    replay = toy_replay()
    charged = replay.profit({"nasa": 10.0, "synthetic": 0.0})
    nasa = np.array([g == "nasa" for g in replay.groups])
    np.testing.assert_array_equal(charged[~nasa], replay.reward[~nasa])
    np.testing.assert_array_equal(charged[nasa], replay.reward[nasa] - 10.0 * replay.down[nasa])
    np.testing.assert_array_equal(replay.profit(10.0)[nasa], charged[nasa])
    with pytest.raises(ValueError, match="no downtime price for training group"):
        replay.profit({"nasa": 10.0})
    with pytest.raises(ValueError, match="downtime_weights"):
        CharacterConfig(downtime_weights={"nasa": -1.0})


def test_match_availability_and_a_weight_are_refused_together(capsys):
    with pytest.raises(SystemExit):
        character.main(["--out", "/tmp/x", "--match-availability", "--downtime-weight", "100"])
    assert "not both" in capsys.readouterr().err


def test_full_preset_matches_availability_unless_a_weight_is_given(monkeypatch, tmp_path):
    seen: list[CharacterConfig] = []
    monkeypatch.setattr(character, "train", lambda cfg, out, force=False: seen.append(cfg) or 0)
    for argv in (["--preset", "full"], ["--preset", "full", "--downtime-weight", "0"], []):
        assert character.main(["--out", str(tmp_path), *argv]) == 0
    assert [(c.match_availability, c.downtime_weight) for c in seen] == [(True, 0.0), (False, 0.0), (False, 0.0)]


@pytest.mark.slow  # the gate's evaluation of the quick set, twice over 2 draws
def test_cli_trains_gates_and_packages_a_servable_policy(tmp_path):
    assert character.main(["--preset", "tiny", "--out", str(tmp_path), "--force"]) == 0
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["training"]["algorithm"].startswith("character")
    assert meta["training"]["config"]["scenarios"] == TINY.scenarios
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["gate"]["candidate"] == "character-network"
    from inference.artifact import load_artifact

    loaded = load_artifact(tmp_path / "model.tar.gz")
    assert loaded.act(np.zeros((3, OBS_DIM), dtype=np.float32)).shape == (3,)


def test_cli_refuses_a_bad_value_by_name(capsys, tmp_path):
    with pytest.raises(SystemExit):
        character.main(["--out", str(tmp_path), "--scenarios", "3"])
    assert "scenarios=3" in capsys.readouterr().err


def test_a_teams_trace_joins_the_training_scenarios_train_part_only(tmp_path):
    from simulator.loads import TRAIN_FRACTION, load_trace
    from tests.training.test_team_trace import team_file

    path = team_file(tmp_path, 5000)
    cfg = CharacterConfig(scenarios=30, days=1, team_traces=(str(path),))
    scenarios, _ = character.training_scenarios(cfg, SimConfig())
    team = [s for s in scenarios if s.name == "team-train"]
    assert 2 <= len(team) <= 12  # a third of the trace windows (0.3 of the draws) are the team's
    cut = int(len(load_trace(path).requests) * TRAIN_FRACTION)
    assert all(s.meta["first_minute"] + s.minutes <= cut for s in team)
    assert [s.name for s in character.training_scenarios(CharacterConfig(scenarios=30, days=1), SimConfig())[0]] != [
        s.name for s in scenarios
    ]


def test_cli_refuses_a_trace_too_short_for_its_days_before_replaying(tmp_path, capsys):
    from tests.training.test_team_trace import team_file

    short = team_file(tmp_path, 3000, name="short")  # 2,084 training minutes < 1 day + its day of history
    with pytest.raises(SystemExit):
        character.main(["--preset", "tiny", "--trace", str(short), "--out", str(tmp_path / "o")])
    assert "short.csv: its training part (first 70% by time) has 2084 minutes" in capsys.readouterr().err
