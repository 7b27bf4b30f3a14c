"""research.improvement: branches with common random numbers, and the benchmark end to end on a tiny set-up."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference.actions import LEVELS, N_ACTIONS
from inference.features import OBS_DIM
from research import improvement
from simulator.config import SimConfig
from simulator.loads import TRAIN_STREAM

BASE = LEVELS.index(0.9)


def test_branches_share_their_draws_so_the_base_action_has_no_advantage():
    rng = np.random.default_rng([TRAIN_STREAM, 5])
    kwargs = dict(base=BASE, hold=3, horizon=12, every=20, scenarios=3, minutes=100)
    x, adv, scale = improvement.branch_batch(rng, SimConfig(), **kwargs)
    states = 3 * len(range(0, 100 - 12, 20))
    assert x.shape == (states, OBS_DIM) and adv.shape == (states, N_ACTIONS) and scale.shape == (states,)
    assert np.all(adv[:, BASE] == 0.0) and np.all(scale >= 1.0)
    # Branches differ by their action only: some actions cost, some gain, none is the same everywhere.
    assert (adv != 0).any(axis=0).sum() >= N_ACTIONS - 1
    again = improvement.branch_batch(np.random.default_rng([TRAIN_STREAM, 5]), SimConfig(), **kwargs)
    np.testing.assert_array_equal(adv, again[1])


def test_advantages_are_the_profit_difference_of_holding_an_action():
    """Held for the whole horizon, an action's branch is the fixed level itself: its advantage is that level's
    expected profit minus the base level's over the horizon, from the same state."""
    rng = np.random.default_rng([TRAIN_STREAM, 6])
    _, adv, _ = improvement.branch_batch(
        rng, SimConfig(), base=BASE, hold=10, horizon=10, every=200, scenarios=2, minutes=50
    )
    # Cautious levels cost machines, so the highest level of the table is worth less than the base on calm minutes.
    assert adv.shape == (2, N_ACTIONS)
    assert np.all(adv[:, -1] < 0)


def test_benchmark_end_to_end_on_a_tiny_set_up(tmp_path):
    argv = [
        "--batches", "1", "--scenarios", "3", "--minutes", "120", "--horizon", "15", "--every", "30",
        "--epochs", "1", "--draws", "2", "--out", str(tmp_path),
    ]  # fmt: skip
    assert improvement.main(argv) == 0
    result = json.loads((tmp_path / "improvement.json").read_text())
    assert result["states"] == 3 * len(range(0, 120 - 15, 30))
    assert set(result["evaluation"]) >= {"level 0.9", "served", "held", "predictive"}
    assert result["evaluation"]["level 0.9"]["all scenarios"]["minus_level 0.9"]["mean"] == 0.0
    assert sum(result["greedy_share_per_level"].values()) == pytest.approx(1.0)
    assert (tmp_path / "model.tar.gz").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--base", "0.95"], "--base must be a level"),
        (["--hold", "50"], "--hold <= --horizon"),
        (["--draws", "1"], "two draws"),
    ],
)
def test_benchmark_refuses_bad_arguments(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit):
        improvement.main([*argv, "--out", str(tmp_path)])
    assert message in capsys.readouterr().err
