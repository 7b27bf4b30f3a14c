"""The one place RLlib is configured: the env creator, the PPO configuration from ``TrainConfig``, and the probe
that reads each env runner's counters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.rl.config import ENV_NAME, TrainConfig, fleet_distribution, sim_config

PER_MINUTE_DOLLARS = {
    "decision_minutes": 1,
    "reward_normalization": "none",
    "reward_scale": 1.0,
    "return_normalization_gamma": None,
    "expected_rewards": False,
    "exclude_offered_revenue": False,
    "downtime_penalty": 0.0,
    "ablate": [],
}
"""The env-config values under which ``FleetEnv`` and ``FleetVectorEnv`` are the same environment: one decision
a minute, the sampled profit in dollars as reward, every feature seen. The single env honours nothing else, so it
refuses others."""


def rllib_env_creator(env_config: dict[str, Any]) -> Any:
    """RLlib's env creator: the batched vector env when RLlib asks for ``num_envs`` (vector entry point, how
    training samples), the single Gymnasium env otherwise, which refuses any setting it cannot honour
    (``PER_MINUTE_DOLLARS``). Runs inside each env runner, so it also pins that process's torch threads."""
    import torch

    config = dict(env_config)
    torch.set_num_threads(int(config.pop("torch_threads", 1)))
    num_envs = config.pop("num_envs", None)
    if num_envs is not None:
        from training.sim.vector_env import FleetVectorEnv

        return FleetVectorEnv(num_envs=int(num_envs), **config)
    from training.sim.env import FleetEnv

    cannot = {k: config[k] for k, v in PER_MINUTE_DOLLARS.items() if k in config and config[k] != v}
    if cannot:
        raise ValueError(
            f"the single FleetEnv decides every minute on raw dollars and cannot honour {cannot}: train with the "
            "vector env (gym_env_vectorize_mode='vector_entry_point'), or set these to "
            f"{ {k: PER_MINUTE_DOLLARS[k] for k in cannot} }"
        )
    sim = dict(config.get("sim_config") or {})
    sim["trace_probability"] = config.get("trace_probability", 0.3)
    sim["short_history_probability"] = config.get("short_history_probability", 0.2)
    return FleetEnv(sim)


# ALGO LOGIC: the whole RLlib configuration, from TrainConfig.
def build_ppo_config(cfg: TrainConfig, team_traces: tuple[str, ...] = ()) -> Any:
    """PPO on the fleet simulator from ``cfg``; ``team_traces`` (trace files, ``python -m training.train --trace``)
    join the training scenarios. Without them the env config is exactly what it was before they existed."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    env_config = {
        "sim_config": sim_config(cfg).to_dict(),
        "trace_probability": cfg.trace_probability,
        "short_history_probability": cfg.short_history_probability,
        "reward_normalization": cfg.reward_normalization,
        "reward_scale": cfg.reward_scale,
        "expected_rewards": cfg.expected_rewards,
        "exclude_offered_revenue": cfg.exclude_offered_revenue,
        "downtime_penalty": cfg.downtime_penalty,
        "decision_minutes": cfg.decision_minutes,
        "return_normalization_gamma": cfg.gamma if cfg.normalize_returns else None,
        "torch_threads": cfg.runner_torch_threads,
    }
    dist = fleet_distribution(cfg)
    if dist is not None:
        env_config["fleet_distribution"] = dist.to_dict()
    if cfg.ablate:  # only when set: without it the env config is what it was before ablations existed
        env_config["ablate"] = list(cfg.ablate)
    if team_traces:  # absolute paths: env runners may run in another working directory
        env_config["team_traces"] = [str(Path(p).resolve()) for p in team_traces]
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config=env_config, disable_env_checking=True)
        .env_runners(
            num_env_runners=cfg.num_env_runners,
            num_envs_per_env_runner=cfg.num_envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point",
            rollout_fragment_length=cfg.rollout_fragment_length,
            num_cpus_per_env_runner=1,
            batch_mode="truncate_episodes",
        )
        .learners(num_learners=0)
        .training(
            lr=[[0, cfg.lr], [cfg.total_timesteps, cfg.lr_final]],
            gamma=cfg.gamma,
            lambda_=cfg.lambda_,
            clip_param=cfg.clip_param,
            vf_clip_param=cfg.vf_clip_param,
            vf_loss_coeff=cfg.vf_loss_coeff,
            entropy_coeff=[
                [0, cfg.entropy_coeff],
                [int(cfg.entropy_decay_fraction * cfg.total_timesteps), cfg.entropy_coeff_final],
            ],
            use_kl_loss=cfg.kl_coeff > 0,
            kl_coeff=cfg.kl_coeff,
            kl_target=cfg.kl_target,
            num_epochs=cfg.num_epochs,
            minibatch_size=min(cfg.minibatch_size, cfg.train_batch_size),
            grad_clip=cfg.grad_clip,
            grad_clip_by=cfg.grad_clip_by,
            train_batch_size_per_learner=cfg.train_batch_size,
        )
        .rl_module(
            model_config=DefaultModelConfig(
                fcnet_hiddens=list(cfg.hidden), fcnet_activation=cfg.activation, vf_share_layers=False
            )
        )
        .reporting(metrics_num_episodes_for_smoothing=100)
        .debugging(seed=cfg.seed, log_level="WARN")
    )


def runner_report(algo: Any, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Per env runner: its Ray node's host, and the steps, training reward and profit since the last call."""

    def probe(runner: Any) -> dict[str, Any]:
        import ray as _ray

        steps, reward, profit = runner.env.unwrapped.pop_counters()
        return {"node": _ray.get_runtime_context().get_node_id(), "steps": steps, "reward": reward, "profit": profit}

    local = cfg.num_env_runners == 0
    return list(algo.env_runner_group.foreach_env_runner(probe, local_env_runner=local))
