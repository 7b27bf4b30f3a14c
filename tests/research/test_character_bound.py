"""research.character_bound: the true-parameter model, the assembled candidate, and the benchmark end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference.actions import LEVELS, N_ACTIONS
from inference.features import OBS_DIM
from research import character_bound as cb
from research.character import CharacterConfig
from simulator.loads import SyntheticSpec
from training.evaluation.noise import Draws


def test_spec_inputs_are_the_named_parameters_with_the_size_as_its_logarithm():
    specs = [vars(SyntheticSpec(mean_machines=20.0, spikes_per_day=2.5)), vars(SyntheticSpec(mean_machines=3.0))]
    raw = cb.spec_inputs(specs)
    assert raw.shape == (2, len(cb.SPEC_INPUTS))
    assert raw[:, cb.SPEC_INPUTS.index("mean_machines")] == pytest.approx(np.log([20.0, 3.0]))
    assert raw[:, cb.SPEC_INPUTS.index("spikes_per_day")] == pytest.approx([2.5, 1.0])


def test_the_spec_model_learns_a_level_that_depends_on_a_parameter():
    """Spiky fleets earn most at a cautious level, calm ones at a tight level: the model picks each out of sample."""
    rng = np.random.default_rng(0)
    n = 400
    raw = rng.normal(size=(n, len(cb.SPEC_INPUTS)))
    spiky = raw[:, cb.SPEC_INPUTS.index("spikes_per_day")] > 0
    tight, cautious = LEVELS.index(0.65), LEVELS.index(1.5)
    target = rng.normal(0.0, 0.1, size=(n, N_ACTIONS)) - 1.0
    target[spiky, cautious] += 2.0
    target[~spiky, tight] += 2.0
    train = np.arange(n) < 300
    model = cb.SpecModel(raw, target, train, CharacterConfig(lr=3e-3))
    picked = model.levels(raw[~train])
    expected = np.where(spiky[~train], cautious, tight)
    assert (picked == expected).mean() >= 0.9  # errors only near the boundary; chance is 0.5


def test_cross_validated_gains_never_beat_hindsight():
    rng = np.random.default_rng(1)
    n, samples = 60, 4
    cfg = CharacterConfig(scenarios=n, epochs=2)
    observations = rng.normal(size=(n, samples, OBS_DIM)).astype(np.float32)
    profit = rng.normal(1000.0, 50.0, size=(n, N_ACTIONS))
    raw = rng.normal(size=(n, len(cb.SPEC_INPUTS)))
    gains = cb.cross_validated(observations, profit, raw, cfg)
    assert set(gains) == {"observed", "spec", "hindsight"}
    assert all(g.shape == (n,) for g in gains.values())
    assert np.all(gains["hindsight"] >= gains["spec"] - 1e-9)
    assert np.all(gains["hindsight"] >= gains["observed"] - 1e-9)
    assert np.all(gains["hindsight"] >= 0)


def test_the_assembled_candidate_takes_each_case_from_its_level():
    draws = Draws(
        scenarios=[("synthetic", "a"), ("synthetic", "b")],
        minutes=np.array([10.0, 10.0]),
        profit={"level 0.5": np.array([[1.0, 2.0], [3.0, 4.0]]), "level 1.5": np.array([[5.0, 6.0], [7.0, 8.0]])},
        minutes_down={"level 0.5": np.zeros((2, 2)), "level 1.5": np.ones((2, 2))},
    )
    cb.assembled(draws, "mixed", {0: 1.5, 1: 0.5})
    np.testing.assert_array_equal(draws.profit["mixed"], [[5.0, 2.0], [7.0, 4.0]])
    np.testing.assert_array_equal(draws.minutes_down["mixed"], [[1.0, 0.0], [1.0, 0.0]])


def test_benchmark_end_to_end_on_the_quick_set(tmp_path):
    assert cb.main(["--scenarios", "50", "--draws", "2", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "character_bound.json").read_text())
    training = result["training_side"]["all synthetic"]
    assert 0 < training["fleets"] < 50  # the trace windows are left out: they have no generator parameters
    assert training["hindsight_gain_per_day"] >= max(training["spec_gain_per_day"], training["observed_gain_per_day"])
    held = result["held_out"]
    assert held["set"] == "quick" and held["draws"] == 2
    assert [r["scenario"] for r in held["scenarios"]] == [f"synthetic-{i}" for i in range(len(held["scenarios"]))]
    assert all(r["level"] in LEVELS for r in held["scenarios"])
    assert set(held["total"]) == {"true parameters", "level 0.9"}
    assert all(v in ("beats", "tie", "loses") for r in held["scenarios"] for v in r["verdict"].values())
    text = (tmp_path / "character_bound.md").read_text()
    assert "| true parameters |" in text and "| level 0.9 |" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--draws", "1"], "--draws must be >= 2"),
        (["--scenarios", "20"], "--scenarios must be >= 50"),
        (["--policy", "/nonexistent/model.tar.gz"], "no such file"),
    ],
)
def test_bad_options_are_refused_by_name(argv, message, capsys):
    with pytest.raises(SystemExit):
        cb.main(argv)
    assert message in capsys.readouterr().err
