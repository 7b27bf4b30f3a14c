"""TrainConfig: presets, override precedence, type coercion and refusals with clear messages."""

from __future__ import annotations

import argparse
import json

import pytest

from training.rl import config as tc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default=None)
    parser.add_argument("--config", default=None)
    tc.add_arguments(parser)
    return parser


def _cfg(argv: list[str], hps: dict | None = None) -> tc.TrainConfig:
    return tc.from_args(_parser().parse_args(argv), hps)


def test_every_field_has_a_docstring():
    docs = tc.field_docs()
    missing = [f for f in tc.TrainConfig.__dataclass_fields__ if not docs.get(f)]
    assert missing == []


@pytest.mark.parametrize("preset", sorted(tc.PRESETS))
def test_presets_are_valid(preset):
    cfg = tc.finalize(_cfg(["--preset", preset]), run_name="x")
    assert cfg.train_batch_size == max(cfg.num_env_runners, 1) * cfg.num_envs_per_env_runner * (
        cfg.rollout_fragment_length
    )
    assert cfg.num_iterations * cfg.train_batch_size >= cfg.total_timesteps
    assert cfg.preset == preset


def test_precedence_preset_json_hps_flags(tmp_path):
    path = tmp_path / "hp.json"
    path.write_text(json.dumps({"lr": 1e-3, "num_epochs": 3, "gamma": 0.9}))
    cfg = _cfg(["--preset", "full", "--config", str(path), "--num-epochs", "5"], {"gamma": "0.95", "seed": "7"})
    assert cfg.exp_name == "full"  # preset
    assert cfg.lr == 1e-3  # JSON file
    assert cfg.gamma == 0.95  # SM_HPS over the JSON file
    assert cfg.seed == 7
    assert cfg.num_epochs == 5  # flags win
    assert _cfg([], {"preset": "full"}).preset == "full"  # SageMaker passes the preset as a hyperparameter
    assert _cfg(["--preset", "tiny"], {"preset": "full"}).preset == "tiny"
    with pytest.raises(ValueError, match="preset must be one of"):
        _cfg([], {"preset": "huge"})


def test_flags_accept_both_spellings_and_types():
    cfg = _cfg(
        ["--num_envs_per_env_runner", "32", "--hidden", "32,16", "--lambda", "0.9", "--sim", '{"warming_cost": true}',
         "--force", "--resume", "false", "--total-timesteps", "1e6"]
    )  # fmt: skip
    assert cfg.num_envs_per_env_runner == 32
    assert cfg.hidden == (32, 16)
    assert cfg.lambda_ == 0.9
    assert cfg.sim == {"warming_cost": True}
    assert cfg.force is True and cfg.resume is False
    assert cfg.total_timesteps == 1_000_000
    assert tc.sim_config(cfg).warming_cost is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"learning_rate": 1}, "unknown training hyperparameter 'learning_rate'"),
        ({"num_epochs": "three"}, "num_epochs='three'"),
        ({"force": "maybe"}, "not a boolean"),
        ({"hidden": "0,4"}, "positive width"),
        ({"train_batch_size": 10}, "derived"),
    ],
)
def test_bad_values_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        tc.apply(tc.TrainConfig(), values, "test")


def test_validation_names_the_field():
    with pytest.raises(ValueError, match=r"gamma=1\.5"):
        tc.finalize(tc.TrainConfig(gamma=1.5))
    with pytest.raises(ValueError, match=r"decision_minutes=7"):
        tc.finalize(tc.TrainConfig(decision_minutes=7))  # does not divide the 1000-minute episodes
    with pytest.raises(ValueError, match=r"noise_draws=1"):
        tc.finalize(tc.TrainConfig(noise_draws=1))  # the gate's interval needs two draws
    with pytest.raises(ValueError, match="episode_minutes as its own"):
        tc.sim_config(tc.TrainConfig(sim={"episode_minutes": 5}))
    with pytest.raises(ValueError, match="unknown SimConfig"):
        tc.sim_config(tc.TrainConfig(sim={"machine_costs": 1}))


def test_bad_json_file_is_named(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        _cfg(["--config", str(bad)])
    with pytest.raises(ValueError, match="file not found"):
        _cfg(["--config", str(tmp_path / "missing.json")])


def test_auto_runners_and_run_name():
    cfg = tc.finalize(tc.TrainConfig(num_env_runners=-1, exp_name="e", seed=3), num_runners=6)
    assert cfg.num_env_runners == 6
    assert cfg.run_name.startswith("FleetEnv__e__3__")
    assert tc.finalize(cfg, run_name="kept").run_name == "kept"
    assert "| lr |" in tc.markdown_table(cfg)


def test_resume_conflicts_name_learning_fields_only():
    saved = tc.to_dict(tc.finalize(tc.TrainConfig(), run_name="r"))
    again = tc.finalize(tc.TrainConfig(total_timesteps=9_000_000, force=True, eval="full"), run_name="other")
    assert tc.resume_conflicts(saved, again) == []  # longer, gated differently: the same run
    changed = tc.finalize(tc.TrainConfig(decision_minutes=1, gamma=0.98, hidden=(32,)), run_name="r")
    assert tc.resume_conflicts(saved, changed) == [
        "decision_minutes: 5 -> 1", "gamma: 0.9 -> 0.98", "hidden: [64, 64] -> [32]"
    ]  # fmt: skip
    older = {k: v for k, v in saved.items() if k != "decision_minutes"}  # a checkpoint from before the field
    assert tc.resume_conflicts(older, tc.finalize(tc.TrainConfig(), run_name="r")) == [
        "decision_minutes: '(not recorded)' -> 5"
    ]


def test_help_lists_every_hyperparameter(capsys):
    from training.rl.train import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--num-epochs" in out and "--noise-draws" in out
