"""Benchmarks of the RLlib training setup: sampling throughput, and peak memory of a training run. JSON out.

    python -m benchmarks.rllib throughput [--repeats 7] [--out bench.json]
    python -m benchmarks.rllib memory -- python -m training.train --preset quick --out /tmp/q

``throughput``: env steps per second that RLlib's env runners deliver to the driver (episodes collected
with ``synchronous_parallel_sample``, exactly what each PPO iteration does before learning), median of
``--repeats`` batches after one warm-up batch, for three set-ups on the same 2 env runners (one CPU each):

- ``gym_single``: RLlib's defaults, one ``training.sim.env.FleetEnv`` per runner (Gymnasium SYNC vectorisation);
- ``gym_sync_16``: 16 ``FleetEnv`` per runner, vectorised by Gymnasium (SYNC);
- ``batched_vector``: ``training.sim.vector_env.FleetVectorEnv`` as a native vector env
  (``gym_env_vectorize_mode="vector_entry_point"``), ``--envs`` fleets per runner (the training set-up).

The two ``gym_*`` set-ups run the per-minute, raw-dollar environment (``FleetEnv`` refuses training's 5-minute
decisions and reward normalisation), so they measure sampling speed only, not the environment training uses.
An env step is one decision, which holds its level for ``decision_minutes`` simulated minutes (5 in training,
1 in the ``gym_*`` set-ups); ``median_fleet_minutes_per_s`` counts the simulated fleet-minutes behind them.

``memory``: runs a command and samples, every 0.5 s, the proportional set size (PSS, shared pages split
between the processes that map them) summed over the command's whole process tree (driver, Ray's GCS and
raylet, env-runner actors); prints the peak.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training import cli
from training.cloud.sagemaker_env import SageMakerEnv

PER_MINUTE = {"decision_minutes": 1, "reward_normalization": "none", "normalize_returns": False}
"""``TrainConfig`` overrides of the single-env set-ups: the per-minute, raw-dollar environment ``FleetEnv`` is
(``training.rl.ppo.PER_MINUTE_DOLLARS``); it refuses training's 5-minute, normalised one."""


def _sample_rate(cfg_overrides: dict[str, Any], vectorize: str, envs: int, batch: int, repeats: int) -> dict:
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

    from training.rl.config import TrainConfig, finalize
    from training.rl.ppo import build_ppo_config

    fragment = max(1, batch // (2 * envs))
    cfg = finalize(
        TrainConfig(num_env_runners=2, num_envs_per_env_runner=envs, rollout_fragment_length=fragment, **cfg_overrides)
    )
    config = build_ppo_config(cfg).env_runners(gym_env_vectorize_mode=vectorize)
    algo = config.build_algo()
    try:
        rates = []
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            episodes = synchronous_parallel_sample(
                worker_set=algo.env_runner_group, max_env_steps=batch, _uses_new_env_runners=True
            )
            dt = time.perf_counter() - t0
            steps = sum(len(e) for e in episodes)
            if i > 0:  # the first batch pays for resets and numba/torch warm-up
                rates.append(steps / dt)
        return {
            "vectorize": vectorize,
            "envs_per_runner": envs,
            "runners": 2,
            "batch_steps": batch,
            "minutes_per_step": cfg.decision_minutes,
            "median_steps_per_s": round(statistics.median(rates), 1),
            "median_fleet_minutes_per_s": round(statistics.median(rates) * cfg.decision_minutes, 1),
            "min_steps_per_s": round(min(rates), 1),
            "max_steps_per_s": round(max(rates), 1),
        }
    finally:
        algo.stop()


def throughput(args: Throughput) -> dict[str, Any]:
    from training.cloud import ray_cluster

    ray_cluster.configure_auth(SageMakerEnv())
    import ray
    from ray.tune.registry import register_env

    from training.rl.config import ENV_NAME
    from training.rl.ppo import rllib_env_creator
    from training.rl.train import ROOT

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=256 * 2**20,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}},
    )
    register_env(ENV_NAME, rllib_env_creator)
    try:
        setups = {
            "gym_single": ("sync", 1, 2048),
            "gym_sync_16": ("sync", 16, 8192),
            "batched_vector": ("vector_entry_point", args.envs, args.batch),
        }
        results = {
            name: _sample_rate(PER_MINUTE if vectorize == "sync" else {}, vectorize, envs, batch, args.repeats)
            for name, (vectorize, envs, batch) in setups.items()
            if name in args.setups
        }
    finally:
        ray.shutdown()
    return {
        "benchmark": "rllib_sampling_throughput",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        "target_steps_per_s": 20000,
        "results": results,
    }


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(command: list[str]) -> dict[str, Any]:
    if not command:
        raise SystemExit("memory: give the command to measure after --")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, peak_procs, start = 0, 0, time.perf_counter()
    while proc.poll() is None:
        pids = _tree(proc.pid)
        total = sum(_pss_kib(p) for p in pids)
        if total > peak:
            peak, peak_procs = total, len(pids)
        time.sleep(0.5)
    return {
        "benchmark": "training_peak_memory",
        "command": " ".join(command),
        "exit_code": proc.returncode,
        "wall_s": round(time.perf_counter() - start, 1),
        "peak_pss_mib": round(peak / 1024, 1),
        "processes_at_peak": peak_procs,
        "target_mib": 4096,
    }


@dataclass(frozen=True)
class Throughput:
    """RLlib sampling throughput on 2 env runners."""

    repeats: int = 7
    """Measured batches per set-up (after one warm-up batch)."""
    envs: int = 128
    """Fleets per runner for the batched vector env."""
    batch: int = 16384
    """Env steps per measured batch (batched set-up)."""
    setups: tuple[str, ...] = ("gym_single", "gym_sync_16", "batched_vector")
    """Set-ups to measure."""
    out: Path | None = None
    """Also write the JSON here."""


@dataclass(frozen=True)
class Memory:
    """Peak PSS of a command's process tree."""

    command: tuple[str, ...] = field(default=(), metadata=cli.POSITIONAL)
    """The command to measure, after --."""
    out: Path | None = None
    """Also write the JSON here."""

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError("memory needs a command to run, e.g. -- python -m training.train --preset quick")


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(
        {"throughput": Throughput, "memory": Memory},
        argv,
        prog="python -m benchmarks.rllib",
        description=__doc__.split("\n")[0],
    )
    result = throughput(args) if isinstance(args, Throughput) else memory(list(args.command))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
