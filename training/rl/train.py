"""Train the PPO auto-scaling policy with Ray RLlib 2.60 (new API stack), gate it and package it.

    python -m training.train --preset quick --out artifacts/model          # the main job (a few minutes, 2 cores)
    python -m training.train --preset full --out artifacts/full --seed 2
    python -m training.train --preset quick --config hp.json --lr 1e-4 --num-epochs 4 --out DIR
    python -m training.train --help                                        # every hyperparameter, documented

Writes to ``--out``: ``model.tar.gz`` + ``metadata.json`` (only if the gate passes, or with ``--force``),
``report.json`` / ``report.md`` / ``plots/`` (the evaluation report: the policy beside every tuned baseline and
the oracle on held-out scenarios), ``training_curves.csv`` and ``plots/training_curves.png``,
``train_config.json`` and ``hyperparameters.md``; checkpoints under ``--checkpoint-dir`` (default
``OUT/checkpoints``). Exit codes: 0 packaged, 2 bad arguments, 3 gate failed (not packaged), 4 export check
failed.

One line per iteration on stdout (the SageMaker metric definitions parse it, see ``training.rl.curves``)::

    train_iteration iter=12 timesteps=245760 episode_return=1234.5 profit_vs_oracle=0.873 entropy=1.234 \
        kl=0.0123 steps_per_s=21000.5          (printed as one line)

SageMaker (``training/sagemaker_entry.py``): hyperparameters come from ``SM_HPS`` (same names as the flags), an
input channel ``config`` may hold a JSON file of them, outputs go to ``SM_OUTPUT_DATA_DIR`` and the packaged
model's *contents* to ``SM_MODEL_DIR`` (SageMaker tars that directory into the job's ``model.tar.gz``, which is
thus the deployable artifact itself). Checkpoints go to ``/opt/ml/checkpoints`` and a restarted job (managed
spot training) resumes from the newest one. With several hosts, see ``training.cloud.ray_cluster``.

Design (CleanRL habits): ``TrainConfig`` holds every knob (``training.rl.config``); ``build_ppo_config`` is
the one place RLlib is configured; the loop below is plain. The Algorithm is used directly (no Tune: on 2 cores
a Tune trial asking for PPO's default 3 CPUs stays pending). Sampling uses ``training.sim.vector_env`` as a native
vector env (``gym_env_vectorize_mode="vector_entry_point"``), one batched simulator per env runner.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import tarfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simulator.loads import check_team_traces, load_trace
from training.cloud import ray_cluster
from training.cloud.sagemaker_env import DEFAULT_CHECKPOINT_DIR, SageMakerEnv
from training.rl import checkpoints, curves
from training.rl.config import (
    ENV_NAME,
    PRESETS,
    TrainConfig,
    add_arguments,
    apply,
    finalize,
    fleet_distribution,
    from_args,
    markdown_table,
    resume_conflicts,
    sim_config,
    to_dict,
    training_domain,
    validate,
)
from training.rl.ppo import build_ppo_config, rllib_env_creator, runner_report

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("training.train")


# TRY NOT TO MODIFY: plumbing (arguments, paths, cluster, loop, checkpoints).
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train, gate and package the PPO auto-scaling policy (Ray RLlib).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--preset", default=None, choices=sorted(PRESETS), help="starting hyperparameters (default: quick)"
    )
    parser.add_argument("--out", default=None, help="output directory (default artifacts/model; SageMaker: "
                        "SM_OUTPUT_DATA_DIR)")  # fmt: skip
    parser.add_argument("--config", default=None, help="JSON file of hyperparameter overrides")
    parser.add_argument("--no-package", action="store_true", help="train only: no evaluation, gate or packaging")
    parser.add_argument(
        "--trace", action="append", default=[], metavar="FILE",
        help="a team's trace file (timestamp,requests or minute,requests), repeatable: its first 70 %% by time joins "
        "the training scenarios (as likely as each recorded trace, in its own requests per minute), its last 30 %% "
        "joins the gate's held-out cases",
    )  # fmt: skip
    parser.add_argument(
        "--fleet", default=None, metavar="FILE",
        help="one fleet object of the controller's schema (JSON): train for that fleet (its capacity, bounds, change "
        "limit and economics) instead of the default fleet; with --trace, a team's own fleet",
    )  # fmt: skip
    add_arguments(parser)
    return parser.parse_args(argv)


def resolve_config(args: argparse.Namespace, sm: SageMakerEnv) -> TrainConfig:
    if args.config is None and "config" in sm.channels:
        found = sorted(sm.channels["config"].glob("*.json"))
        if len(found) > 1:
            raise ValueError(f"input channel 'config' holds {len(found)} JSON files; give it exactly one")
        if found:
            args.config = str(found[0])
    return from_args(args, sm.hyperparameters)


def team_inputs(args: argparse.Namespace, sm: SageMakerEnv) -> None:
    """A SageMaker job's team data: the input channels ``trace`` (trace files, ``*.csv``) and ``fleet`` (one fleet
    file, ``*.json``), which the stage's state machine adds when its input names them; flags win."""
    if not args.trace and "trace" in sm.channels:
        args.trace = [str(p) for p in sorted(sm.channels["trace"].glob("*.csv"))]
        if not args.trace:
            raise ValueError(f"input channel 'trace' ({sm.channels['trace']}) holds no *.csv trace file")
    if args.fleet is None and "fleet" in sm.channels:
        found = sorted(sm.channels["fleet"].glob("*.json"))
        if len(found) != 1:
            raise ValueError(f"input channel 'fleet' must hold exactly one *.json fleet file, found {len(found)}")
        args.fleet = str(found[0])


def with_fleet(cfg: TrainConfig, path: str) -> tuple[TrainConfig, dict[str, Any]]:
    """``cfg`` training for the fleet of a fleet file (``training.evaluation.team.read_fleet``: the controller's
    schema): its simulator overrides in ``sim``; and the validated fleet object, for the metadata."""
    from training.evaluation.team import fleet_sim_overrides, read_fleet

    fleet = read_fleet(path)
    return apply(cfg, {"sim": {**cfg.sim, **fleet_sim_overrides(fleet)}}, f"--fleet {path}"), fleet


def output_paths(args: argparse.Namespace, cfg: TrainConfig, sm: SageMakerEnv) -> tuple[Path, Path]:
    if args.out:
        out = Path(args.out)
    elif sm.output_data_dir is not None:
        out = sm.output_data_dir
    else:
        out = ROOT / "artifacts" / "model"
    if cfg.checkpoint_dir:
        ckpt = Path(cfg.checkpoint_dir)
    elif sm.in_sagemaker:
        ckpt = Path(DEFAULT_CHECKPOINT_DIR)
    else:
        ckpt = out / "checkpoints"
    return out, ckpt


@contextmanager
def ray_runtime(cfg: TrainConfig, plan: ray_cluster.HostPlan | None, out: Path):
    """Ray for the driver: a private local cluster, or the head of the job's multi-host cluster."""
    import ray

    runtime_env = {
        "env_vars": {
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            "OMP_NUM_THREADS": str(cfg.runner_torch_threads),
        }
    }
    if plan is None:
        ray_cluster.init_local(max(cfg.num_env_runners, 1), cfg.object_store_mb, runtime_env)
        try:
            yield
        finally:
            ray.shutdown()
        return
    with ray_cluster.head_node(plan, cfg.object_store_mb, out / "ray_head.log") as address:
        ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING)
        try:
            ray_cluster.wait_for_nodes(len(plan.hosts))
            yield
        finally:
            ray.shutdown()


@dataclass
class Progress:
    """Everything a run has done so far; saved with every checkpoint (``state``) and restored on resume."""

    cfg: TrainConfig
    multi_host: bool
    iteration: int = 0
    timesteps: int = 0
    elapsed_s: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)
    hosts: dict[str, dict[str, float]] = field(default_factory=dict)
    best_ratio: float = -math.inf
    last_ratio: float = math.nan
    warm_start: dict[str, Any] | None = None

    @classmethod
    def resumed(cls, saved: dict[str, Any], cfg: TrainConfig, multi_host: bool) -> Progress:
        rows = saved["rows"]
        return cls(
            cfg=replace(cfg, run_name=saved["run_name"]),
            multi_host=multi_host,
            iteration=saved["iteration"],
            timesteps=saved["timesteps"],
            elapsed_s=saved["elapsed_s"],
            rows=rows,
            hosts=saved.get("hosts", {}),
            best_ratio=float(saved.get("best_profit_vs_oracle", -math.inf)),
            last_ratio=rows[-1]["profit_vs_oracle"] if rows else math.nan,
            warm_start=saved.get("warm_start"),
        )

    def summary(self) -> dict[str, Any]:
        """The training summary recorded in checkpoints and in the artifact's metadata."""
        last = self.rows[-1] if self.rows else {}
        return {
            "algorithm": "PPO (Ray RLlib 2.60, new API stack)",
            "run_name": self.cfg.run_name,
            "preset": self.cfg.preset,
            "config": to_dict(self.cfg),
            "iterations": last.get("iter", 0),
            "timesteps": last.get("timesteps", 0),
            "wall_s": last.get("time_s", 0.0),
            "final_validation_profit_vs_oracle": last.get("profit_vs_oracle"),
            "hosts": self.hosts,
            "multi_host": self.multi_host,
        }

    def state(self, best_ratio: float) -> dict[str, Any]:
        """The one state builder: what ``checkpoints.save`` writes beside the algorithm (``state.json``)."""
        return {
            "iteration": self.iteration,
            "timesteps": self.timesteps,
            "elapsed_s": self.elapsed_s,
            "run_name": self.cfg.run_name,
            "config": to_dict(self.cfg),
            "rows": self.rows,
            "hosts": self.hosts,
            "training": self.summary(),
            "warm_start": self.warm_start,
            "best_profit_vs_oracle": best_ratio,
        }


def start(
    cfg: TrainConfig, ckpt_root: Path, multi_host: bool, team_traces: tuple[str, ...] = ()
) -> tuple[Progress, Any, Path | None]:
    """The algorithm, resumed from the newest checkpoint or fresh (behaviour-cloned with ``bc_warm_start``)."""
    resume_from = checkpoints.latest(ckpt_root) if cfg.resume else None
    if resume_from is None:
        progress = Progress(cfg, multi_host)
    else:  # its config matches (checked in main, before Ray starts)
        progress = Progress.resumed(checkpoints.load_state(resume_from), cfg, multi_host)
        print(f"resuming {progress.cfg.run_name} from {resume_from} (iteration {progress.iteration})", flush=True)
    cfg = progress.cfg
    # A resumed run re-seeds its env runners so that it does not replay the scenarios it has already seen.
    algo = build_ppo_config(cfg, team_traces).debugging(seed=cfg.seed + 7919 * progress.iteration).build_algo()
    if resume_from is not None:
        algo.restore_from_path(str((resume_from / checkpoints.ALGO_DIR).resolve()))
    elif cfg.bc_warm_start:
        from training.rl.warm_start import warm_start

        progress.warm_start = ws = warm_start(algo, cfg, sim_config(cfg))
        print(
            f"warm start: behaviour-cloned the oracle on {ws['samples']} decisions "
            f"(accuracy {ws['accuracy']:.3f}) in {ws['seconds']} s",
            flush=True,
        )
    if resume_from is None and cfg.base_action_logit:
        from training.rl.warm_start import lean_to_base_action

        lean_to_base_action(algo, cfg.base_action_logit)
    return progress, algo, resume_from


def iterate(algo: Any, progress: Progress, node_host: dict[str, str]) -> tuple[float, dict[str, Any], list[dict]]:
    """One PPO iteration (sample, learn); returns the minutes simulated, the learner's stats and the runners'
    counters, and adds each host's decisions to ``progress.hosts``."""
    cfg = progress.cfg
    result = algo.train()
    progress.iteration += 1
    runners = runner_report(algo, cfg)
    steps = sum(r["steps"] for r in runners)  # minutes simulated, all fleets
    hosts = progress.hosts
    for r in runners:
        host = node_host.get(r["node"], "local")
        hosts.setdefault(host, {"runners": 0, "steps": 0.0})["steps"] += r["steps"] / cfg.decision_minutes
    for host in hosts:
        hosts[host]["runners"] = sum(1 for r in runners if node_host.get(r["node"], "local") == host)
    return steps, result.get("learners", {}).get("default_policy", {}), runners


def record(progress: Progress, steps: float, learner: dict[str, Any], runners: list[dict], dt: float) -> dict:
    """The iteration's curve row (``training.rl.curves``), appended to ``progress.rows``."""
    cfg = progress.cfg
    row = {
        "iter": progress.iteration,
        "timesteps": progress.timesteps + int(steps) // cfg.decision_minutes,
        "time_s": round(progress.elapsed_s, 2),
        "episode_return": (sum(r["reward"] for r in runners) / max(steps, 1)) * cfg.episode_minutes,
        "episode_profit": (sum(r["profit"] for r in runners) / max(steps, 1)) * cfg.episode_minutes,
        "profit_vs_oracle": progress.last_ratio,
        "entropy": float(learner.get("entropy", math.nan)),
        "kl": float(learner.get("mean_kl_loss", math.nan)),
        "vf_loss": float(learner.get("vf_loss", math.nan)),
        "policy_loss": float(learner.get("policy_loss", math.nan)),
        "vf_explained_var": float(learner.get("vf_explained_var", math.nan)),
        "lr": float(learner.get("default_optimizer_learning_rate", math.nan)),
        "steps_per_s": steps / max(dt, 1e-9),
    }
    progress.timesteps = row["timesteps"]
    progress.rows.append(row)
    return row


def checkpoint(algo: Any, progress: Progress, ckpt_root: Path, out: Path, validated: bool, done: bool) -> Path | None:
    """Save the iteration every ``checkpoint_every`` (and the last), and as ``best`` when it validated best;
    returns the regular checkpoint written, if any."""
    cfg = progress.cfg
    saved = None
    if progress.iteration % cfg.checkpoint_every == 0 or done:
        best = max(progress.best_ratio, progress.last_ratio) if validated else progress.best_ratio
        saved = checkpoints.save(algo, ckpt_root, progress.iteration, progress.state(best), cfg.keep_checkpoints)
        curves.write_csv(progress.rows, out / "training_curves.csv")
    if validated and progress.last_ratio > progress.best_ratio:
        progress.best_ratio = progress.last_ratio
        state = progress.state(progress.best_ratio)
        checkpoints.save(algo, ckpt_root, progress.iteration, state, 1, checkpoints.BEST)
    return saved


def select(progress: Progress, ckpt_root: Path, last: Path, tt_ratio: float) -> tuple[Path, dict[str, Any]]:
    """The checkpoint to package (the best validated one with ``select_best``, else the last) and the summary."""
    summary = {**progress.summary(), **training_domain(progress.cfg)}
    summary["validation_target_tracking_vs_oracle"] = tt_ratio
    chosen = checkpoints.best(ckpt_root) if progress.cfg.select_best else None
    if chosen is None:
        summary["selected"] = {"checkpoint": "last", "iteration": progress.iteration}
        return last, summary
    picked = checkpoints.load_state(chosen)
    summary["selected"] = {"checkpoint": "best", "iteration": picked["iteration"],
                           "validation_profit_vs_oracle": picked["best_profit_vs_oracle"]}  # fmt: skip
    print(
        f"packaging the best validated policy: iteration {picked['iteration']} "
        f"(validation profit vs oracle {picked['best_profit_vs_oracle']:.3f}; last {progress.last_ratio:.3f})",
        flush=True,
    )
    return chosen, summary


def train(
    cfg: TrainConfig, out: Path, ckpt_root: Path, multi_host: bool, team_traces: tuple[str, ...] = ()
) -> tuple[TrainConfig, Path, dict[str, Any]]:
    """The training loop; returns the final config, the checkpoint to package and a summary for the metadata.
    ``team_traces``: trace files whose training part joins the training scenarios (``--trace``)."""
    import torch
    from ray.tune.registry import register_env
    from tqdm.auto import tqdm

    from training.policies.network import NetworkPolicy
    from training.rl.export import numpy_policy, policy_net
    from training.rl.validation import ValidationSet

    torch.set_num_threads(cfg.driver_torch_threads)
    register_env(ENV_NAME, rllib_env_creator)
    validation = ValidationSet.build(
        sim_config(cfg), cfg.validation_scenarios, cfg.episode_minutes, cfg.trace_probability, fleet_distribution(cfg)
    )
    progress, algo, ckpt = start(cfg, ckpt_root, multi_host, team_traces)
    cfg, first = progress.cfg, progress.iteration + 1
    node_host = ray_cluster.node_hosts()
    started = time.perf_counter() - progress.elapsed_s
    # The bar on a terminal; in logs (SageMaker, CI) the per-iteration line is the progress report.
    bar = tqdm(
        total=cfg.num_iterations, initial=progress.iteration, desc=cfg.run_name, unit="iter",
        dynamic_ncols=True, disable=not sys.stderr.isatty(),
    )  # fmt: skip
    try:
        while progress.iteration < cfg.num_iterations:
            t0 = time.perf_counter()
            steps, learner, runners = iterate(algo, progress, node_host)
            out_of_time = cfg.time_budget_s > 0 and time.perf_counter() - started >= cfg.time_budget_s
            done = progress.iteration >= cfg.num_iterations or out_of_time
            validated = progress.iteration == first or progress.iteration % cfg.validation_every == 0 or done
            if validated:
                weights = algo.learner_group.get_weights()["default_policy"]
                net = numpy_policy(policy_net(weights, cfg.activation, cfg.ablate))
                progress.last_ratio = validation.profit_vs_oracle(NetworkPolicy(net))
            progress.elapsed_s = time.perf_counter() - started
            row = record(progress, steps, learner, runners, time.perf_counter() - t0)
            bar.update(1)
            bar.set_postfix(ret=f"{row['episode_return']:.1f}", vs_oracle=f"{progress.last_ratio:.3f}", refresh=False)
            tqdm.write(curves.log_line(row), file=sys.stdout)
            sys.stdout.flush()
            ckpt = checkpoint(algo, progress, ckpt_root, out, validated, done) or ckpt
            if out_of_time and progress.iteration < cfg.num_iterations:
                print(
                    f"time budget of {cfg.time_budget_s:.0f} s reached after iteration {progress.iteration}", flush=True
                )
                break
    finally:
        bar.close()
        algo.stop()
    if ckpt is None:
        raise RuntimeError("no iteration ran: nothing to package (is total_timesteps 0?)")
    curves.write_csv(progress.rows, out / "training_curves.csv")
    tt_ratio = validation.profit_vs_oracle(_tuned_target_tracking())
    curves.plot(progress.rows, out / "plots" / "training_curves.png", cfg.run_name, {"tuned target tracking": tt_ratio})
    chosen, summary = select(progress, ckpt_root, ckpt, tt_ratio)
    return cfg, chosen, summary


def _tuned_target_tracking() -> Any:
    from training.policies.rules import TargetTracking, load_tuned

    return TargetTracking(load_tuned()["target_tracking"])


def write_run_files(cfg: TrainConfig, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(json.dumps(to_dict(cfg), indent=1) + "\n")
    (out / "hyperparameters.md").write_text(f"# {cfg.run_name}\n\n{markdown_table(cfg)}")


def export_to_model_dir(tarball: Path, model_dir: Path) -> None:
    """SageMaker tars SM_MODEL_DIR itself: put the artifact's contents there, not the tarball."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(model_dir, filter="data")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        sm = SageMakerEnv.from_environ()
        args = parse_args(argv)
        cfg = resolve_config(args, sm)
        team_inputs(args, sm)
        team_fleet = None
        if args.fleet is not None:
            cfg, team_fleet = with_fleet(cfg, args.fleet)
        validate(cfg)
        team_traces = check_team_traces(args.trace, cfg.episode_minutes)
        plan = ray_cluster.plan_hosts(sm, cfg.ray_head_port)
        token_source = ray_cluster.configure_auth(sm)
    except (ValueError, ray_cluster.ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out, ckpt_root = output_paths(args, cfg, sm)
    out.mkdir(parents=True, exist_ok=True)
    if plan is not None and not plan.is_head:
        print(f"host {plan.current}: joining the Ray head on {plan.hosts[0]} ({plan.head_address})", flush=True)
        return ray_cluster.run_worker_host(plan, cfg.object_store_mb, out / f"ray_{plan.current}.log")

    cluster_cpus = plan.num_cpus * len(plan.hosts) if plan else (os.cpu_count() or 1)
    previous = checkpoints.latest(ckpt_root) if cfg.resume else None
    if not cfg.resume:
        aside = checkpoints.set_aside(ckpt_root)
        if aside is not None:
            print(f"--resume false: the checkpoints already in {ckpt_root} were moved to {aside}", flush=True)
    saved = checkpoints.load_state(previous) if previous else None
    cfg = finalize(cfg, run_name=saved["run_name"] if saved else "", num_runners=cluster_cpus)
    conflicts = resume_conflicts(saved["config"], cfg) if saved else []
    if conflicts:  # refused before Ray starts and before this run's files overwrite the resumed run's
        print(
            f"error: checkpoint {previous} was trained with other hyperparameters ({'; '.join(conflicts)}): use "
            "another --checkpoint-dir, or --resume false to start over (its checkpoints are then set aside)",
            file=sys.stderr,
        )
        return 2
    write_run_files(cfg, out)
    print(
        f"run {cfg.run_name}: {cfg.num_iterations} iterations of {cfg.train_batch_size} steps, "
        f"{cfg.num_env_runners} env runners x {cfg.num_envs_per_env_runner} envs"
        + (f", hosts {list(plan.hosts)}" if plan else "")
        + f"; Ray token auth ({token_source}); checkpoints in {ckpt_root}",
        flush=True,
    )
    with ray_runtime(cfg, plan, out):
        cfg, final_ckpt, summary = train(cfg, out, ckpt_root, multi_host=plan is not None, team_traces=team_traces)
    if team_traces:
        summary["team_traces"] = [load_trace(p).describe() for p in team_traces]
    if team_fleet is not None:
        summary["team_fleet"] = {"file": Path(args.fleet).name, "fleet": team_fleet}
    (out / "training_summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    if args.no_package:
        print(f"trained; final checkpoint {final_ckpt} (--no-package: no evaluation, gate or artifact)")
        return 0

    from training.rl.export import load_rllib_module, module_state, policy_net
    from training.rl.gate import gate_and_package

    module = load_rllib_module(final_ckpt)
    code = gate_and_package(
        net=policy_net(module_state(module), cfg.activation, cfg.ablate),
        module=module,
        out_dir=out,
        sim_config=sim_config(cfg),
        training={**summary, "checkpoint": str(final_ckpt)},
        model_version=cfg.run_name,
        eval_quick=cfg.eval == "quick",
        force=cfg.force,
        check_count=cfg.export_check_observations,
        noise_draws=cfg.noise_draws,
        seed=0,
        team_traces=team_traces,
        ablate=cfg.ablate,
        cells=cfg.fleet_distribution,
        distribution=fleet_distribution(cfg),
    )
    if code == 0 and sm.model_dir is not None:
        export_to_model_dir(out / "model.tar.gz", sm.model_dir)
        shutil.copy2(out / "report.json", sm.model_dir / "report.json")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
