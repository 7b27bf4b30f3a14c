"""SageMaker environment parsing, output paths, Ray token configuration and the multi-host plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.helpers import write_fleet
from training.cloud import ray_cluster
from training.cloud.sagemaker_env import SageMakerEnv
from training.rl.train import output_paths, parse_args, resolve_config


def _sm_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    (tmp_path / "config").mkdir(exist_ok=True)
    env = {
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"),
        "SM_CHANNEL_CONFIG": str(tmp_path / "config"),
        "SM_CHANNEL_TRACES": str(tmp_path / "traces"),
        "SM_HPS": json.dumps({"preset": "quick", "lr": 0.001, "sagemaker_program": "x.py", "seed": "4"}),
        "SM_HOSTS": json.dumps(["algo-1", "algo-2"]),
        "SM_CURRENT_HOST": "algo-2",
    }
    env.update(extra)
    return env


def test_parses_the_sagemaker_environment(tmp_path):
    sm = SageMakerEnv.from_environ(_sm_env(tmp_path))
    assert sm.in_sagemaker and sm.is_multi_host
    assert sm.model_dir == tmp_path / "model"
    assert sm.output_data_dir == tmp_path / "output"
    assert sm.channels == {"config": tmp_path / "config", "traces": tmp_path / "traces"}
    assert sm.hyperparameters == {"preset": "quick", "lr": 0.001, "seed": "4"}  # sagemaker_* dropped
    assert sm.hosts == ("algo-1", "algo-2") and sm.head_host == "algo-1"
    assert not sm.is_head


def test_outside_sagemaker_nothing_is_set():
    sm = SageMakerEnv.from_environ({})
    assert not sm.in_sagemaker and not sm.is_multi_host and sm.is_head and sm.hyperparameters == {}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"SM_HOSTS": "algo-1"}, "SM_HOSTS is not valid JSON"),
        ({"SM_HOSTS": '{"a": 1}'}, "SM_HOSTS must be a JSON list"),
        ({"SM_HOSTS": '["a", "a"]', "SM_CURRENT_HOST": "a"}, "lists a host twice"),
        ({"SM_CURRENT_HOST": "algo-9"}, "not one of SM_HOSTS"),
        ({"SM_CURRENT_HOST": ""}, "SM_CURRENT_HOST is not"),
        ({"SM_HPS": "[1]"}, "SM_HPS must be a JSON dict"),
    ],
)
def test_bad_sagemaker_environment_is_named(tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        SageMakerEnv.from_environ(_sm_env(tmp_path, **extra))


def test_hyperparameters_and_config_channel_feed_the_config(tmp_path):
    env = _sm_env(tmp_path)
    (tmp_path / "config" / "hp.json").write_text(json.dumps({"num_epochs": 2, "lr": 0.5}))
    sm = SageMakerEnv.from_environ(env)
    cfg = resolve_config(parse_args(["--gamma", "0.85"]), sm)
    assert cfg.num_epochs == 2  # config channel
    assert cfg.lr == 0.001  # SM_HPS over the config channel
    assert cfg.seed == 4 and cfg.gamma == 0.85


def test_sagemaker_output_paths(tmp_path):
    sm = SageMakerEnv.from_environ(_sm_env(tmp_path))
    cfg = resolve_config(parse_args([]), sm)
    out, ckpt = output_paths(parse_args([]), cfg, sm)
    assert out == tmp_path / "output" and ckpt == Path("/opt/ml/checkpoints")
    out, ckpt = output_paths(parse_args(["--out", str(tmp_path / "o"), "--checkpoint-dir", "/c"]), cfg, sm)
    assert out == tmp_path / "o"
    cfg = resolve_config(parse_args(["--checkpoint-dir", "/c"]), sm)
    assert output_paths(parse_args([]), cfg, sm)[1] == Path("/c")
    local = SageMakerEnv.from_environ({})
    out, ckpt = output_paths(parse_args(["--out", str(tmp_path / "l")]), resolve_config(parse_args([]), local), local)
    assert ckpt == tmp_path / "l" / "checkpoints"


def test_auth_single_host_generates_a_private_token():
    env: dict[str, str] = {}
    assert ray_cluster.configure_auth(SageMakerEnv(), env) == "generated for this run"
    assert env["RAY_AUTH_MODE"] == "token" and len(env["RAY_AUTH_TOKEN"]) == 64
    kept = dict(env)
    ray_cluster.configure_auth(SageMakerEnv(), env)
    assert env == kept  # idempotent: the same token for the whole run


def test_auth_multi_host_needs_a_shared_token(tmp_path):
    sm = SageMakerEnv.from_environ(_sm_env(tmp_path))
    with pytest.raises(ray_cluster.ClusterError, match="RAY_AUTH_TOKEN"):
        ray_cluster.configure_auth(sm, {})
    assert ray_cluster.configure_auth(sm, {"RAY_AUTH_TOKEN": "t" * 32}) == "RAY_AUTH_TOKEN"
    token_dir = tmp_path / "ray"
    token_dir.mkdir()
    (token_dir / "auth_token").write_text("s" * 32)
    sm = SageMakerEnv.from_environ(_sm_env(tmp_path, SM_CHANNEL_RAY=str(token_dir)))
    env: dict[str, str] = {}
    assert ray_cluster.configure_auth(sm, env) == "channel ray/auth_token"
    assert env["RAY_AUTH_TOKEN_PATH"] == str(token_dir / "auth_token")
    with pytest.raises(ray_cluster.ClusterError, match="not a file"):
        ray_cluster.configure_auth(sm, {"RAY_AUTH_TOKEN_PATH": str(tmp_path / "nope")})


def test_host_plan_with_overrides(tmp_path):
    sm = SageMakerEnv.from_environ(_sm_env(tmp_path))
    env = {ray_cluster.HOST_IPS_ENV: json.dumps({"algo-1": "10.0.0.1", "algo-2": "10.0.0.2"}),
           ray_cluster.HOST_CPUS_ENV: "3"}  # fmt: skip
    plan = ray_cluster.plan_hosts(sm, 6380, env)
    assert plan is not None and not plan.is_head and plan.index == 1
    assert (plan.head_address, plan.node_ip, plan.num_cpus) == ("10.0.0.1:6380", "10.0.0.2", 3)
    cmd = ray_cluster.node_command(plan, 128)
    assert "--address=10.0.0.1:6380" in cmd and "--head" not in cmd
    assert '--resources={"sm_host_algo-2": 1}' in cmd
    head = ray_cluster.HostPlan(plan.hosts, "algo-1", plan.head_ip, plan.head_ip, 6380, 3)
    assert "--head" in ray_cluster.node_command(head, 128)
    assert ray_cluster.plan_hosts(SageMakerEnv(), 6379, env) is None
    with pytest.raises(ray_cluster.ClusterError, match="AUTOSCALER_HOST_CPUS"):
        ray_cluster.host_cpus({ray_cluster.HOST_CPUS_ENV: "zero"})


def test_bad_hyperparameters_exit_2_with_the_field_named(tmp_path, capsys):
    from training.rl.train import main

    assert main(["--preset", "tiny", "--lr", "-1", "--out", str(tmp_path)]) == 2
    assert "lr=-1.0" in capsys.readouterr().err


def test_a_fleet_file_sets_the_training_fleet_and_sagemaker_reads_it_from_its_channels(tmp_path):
    from training.rl.config import sim_config
    from training.rl.train import team_inputs, with_fleet

    for name in ("trace", "fleet"):
        (tmp_path / name).mkdir()
    (tmp_path / "trace" / "checkout.csv").write_text("minute,requests\n")
    write_fleet(tmp_path / "fleet" / "fleet.json")
    sm = SageMakerEnv.from_environ(
        _sm_env(tmp_path, SM_CHANNEL_TRACE=str(tmp_path / "trace"), SM_CHANNEL_FLEET=str(tmp_path / "fleet"))
    )
    args = parse_args([])
    team_inputs(args, sm)
    assert args.trace == [str(tmp_path / "trace" / "checkout.csv")] and args.fleet == str(
        tmp_path / "fleet" / "fleet.json"
    )
    cfg, fleet = with_fleet(resolve_config(args, sm), args.fleet)
    sim = sim_config(cfg)
    assert (sim.capacity_rpm_per_machine, sim.capacity_sigma, sim.min_machines, sim.max_machines) == (100, 10, 2, 400)
    assert (sim.warmup_latency, sim.downtime_cost, sim.machine_cost) == (10, 1000.0, 0.05)
    assert sim.max_scale_out_per_step == sim.max_scale_in_per_step == 40
    assert fleet["economics"] == {"warmup_latency": 10, "downtime_cost": 1000.0}
    flagged = parse_args(["--fleet", "mine.json"])
    team_inputs(flagged, sm)
    assert flagged.fleet == "mine.json"  # a flag wins over the channel


def test_a_bad_fleet_file_exits_2_naming_the_field(tmp_path, capsys):
    from training.rl.train import main

    path = write_fleet(tmp_path / "fleet.json", economics={"machine_cost": -1})
    assert main(["--fleet", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "fleet.economics.machine_cost: must be in [0, 1000]" in capsys.readouterr().err
    (tmp_path / "fleet").mkdir()
    sm = SageMakerEnv.from_environ(_sm_env(tmp_path, SM_CHANNEL_FLEET=str(tmp_path / "fleet")))
    from training.rl.train import team_inputs

    with pytest.raises(ValueError, match="input channel 'fleet' must hold exactly one"):
        team_inputs(parse_args([]), sm)
