"""Every knob of a PPO training run, its presets, and how they are overridden.

Precedence, lowest first: the dataclass defaults, the preset (``--preset``), a JSON file (``--config``), the
SageMaker hyperparameters (``SM_HPS``), then command-line flags. Every field is a flag of the same name
(``--num-epochs`` or ``--num_epochs``); ``python -m training.train --help`` lists them with their docstrings.
Derived values (train batch size, iterations, run name) are computed once, in ``finalize``.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import json
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from inference.economics import FIELDS
from inference.features import CONTEXT_MINUTES, FEATURE_GROUPS, HISTORY
from simulator.config import DEFAULT_CAPACITY_RPM, SimConfig, economics_of, fleet_config, refuse_invalid
from simulator.distribution import FleetDistribution
from training.sim.vector_env import RewardNormalization

GradClipBy = Literal["norm", "global_norm", "value"]
Activation = Literal["tanh", "relu"]
EvalCases = Literal["quick", "full"]

ENV_NAME = "FleetEnv"


@dataclass(frozen=True)
class TrainConfig:
    """A PPO run on the fleet simulator (Ray RLlib 2.60, new API stack)."""

    # Run
    exp_name: str = "ppo"
    """Experiment name, part of the run name ``{env}__{exp}__{seed}__{time}``."""
    seed: int = 1
    """Seed of the network initialisation and of the training scenario streams."""
    total_timesteps: int = 3_000_000
    """Environment steps (decisions: minutes simulated / ``decision_minutes``) to train for."""
    time_budget_s: float = 0.0
    """Stop after the iteration that crosses this many seconds of training (0: no limit)."""

    # Environment
    episode_minutes: int = 1000
    """Minutes per training episode (truncated, never terminated)."""
    trace_probability: float = 0.3
    """Probability that a training scenario is a window of a recorded trace's training part (else synthetic)."""
    short_history_probability: float = 0.3
    """Probability that a training scenario's day of history is cut to a random length, as for a fleet watched
    for less than a day (``simulator.loads.sample_with_past``): the policy learns to decide on little history."""
    fleet_distribution: bool = True
    """Draw each training episode's fleet (mean size, capacity per machine, economics) from
    ``simulator.distribution.FleetDistribution`` (with ``fleet_ranges``), so that one policy serves every fleet;
    false: every episode at ``sim`` (one fleet's economics, e.g. a team's own)."""
    fleet_ranges: dict = field(default_factory=dict)
    """Overrides of ``FleetDistribution``'s ranges, e.g. {"mean_machines": [1, 500], "warmup_latency": [0, 10]}."""
    ablate: tuple[str, ...] = ()
    """Feature groups to train without, held at 0 (``inference.features.FEATURE_GROUPS``: noise, spikes,
    yesterday, day), e.g. "noise,spikes": for ablations (``python -m research.ablation``); the packaged network
    ignores them (``training.rl.export.policy_net``)."""
    sim: dict = field(default_factory=dict)
    """Overrides of ``simulator.SimConfig`` fields for training and evaluation, e.g. {"warming_cost": true}."""
    decision_minutes: int = 5
    """Minutes each training decision holds its level (action repeat; ``training.sim.vector_env``); must divide
    ``episode_minutes``. Environment steps, ``gamma`` and ``lambda_`` count decisions; serving and evaluation still
    ask the policy every minute. Why 5: docs/training.md, "Decisions every 5 minutes"."""
    reward_normalization: RewardNormalization = "economics"
    """"economics": divide each episode's rewards by its fleet's dollar scale (``training.sim.vector_env.
    economics_scale``, needs ``fleet_distribution``); "mean_need": by its mean load in machines; "sqrt_need": by its
    square root; "none": raw dollars. A constant per episode: it only sets how much each fleet weighs in the
    gradient."""
    expected_rewards: bool = False
    """Train on each minute's profit in expectation over the capacity noise (``simulator.fleet.expected_profit``)
    instead of the sampled profit: the same optimal policy without the noise of the rare $200 downtime minutes.
    Evaluation, validation and the gate always use the sampled profit (measured effect: docs/training.md)."""
    downtime_penalty: float = 0.0
    """Training reward only: each minute down also costs this many units of the fleet's dollar scale
    (``training.sim.vector_env.economics_scale``, about a minute of the fleet's revenue), on top of its economics'
    ``downtime_cost``. The gate refuses a policy that is down more often than the best tuned rule even where the
    fleet prices an outage cheaply; this prices that availability into the reward (0: profit alone; needs the
    ``economics`` normalisation). Evaluation, validation and the gate report profit."""
    exclude_offered_revenue: bool = False
    """Subtract the revenue of the whole offered load from each minute's training reward, leaving minus the
    minute's costs (lost requests, machines, downtime): the load does not depend on the policy, so the optimal
    policy is unchanged, and the largest source of return variance (traffic noise times the request value) is
    gone. Evaluation, validation and the gate always report profit."""
    reward_scale: float = 1.0
    """Constant factor on the (normalised) training reward."""
    normalize_returns: bool = True
    """Also divide rewards by the running std of the discounted return (Gymnasium's NormalizeReward)."""

    # Sampling
    num_env_runners: int = 2
    """Remote env-runner actors (one CPU each); 0 samples in the driver. -1: one per CPU of the Ray cluster."""
    num_envs_per_env_runner: int = 128
    """Fleets each env runner steps at once (one batched simulator, one batched forward pass)."""
    rollout_fragment_length: int = 128
    """Steps per fleet each runner collects per sample call; train batch = runners x envs x this."""

    # Warm start (training.rl.warm_start)
    base_action_logit: float = 3.0
    """Added to the fresh policy's output bias for the action at offset 0 (``inference.actions.OFFSETS``): PPO
    starts near the economics' base level (the newsvendor's sizing, already a strong rule for every fleet: 0.92 of
    the oracle on the quick cells) and learns where the state calls for more or less, instead of starting from a
    uniform spread over every offset (0.69 of the oracle on validation at the first iteration). 0: off."""
    bc_warm_start: bool = False
    """Start PPO from a behaviour-cloned imitation of the clairvoyant oracle on training scenarios (off by
    default; measured: docs/training.md, "What did not work")."""
    bc_scenarios: int = 96
    """Training scenarios (episode_minutes each) the oracle demonstrates."""
    bc_epochs: int = 8
    """Cross-entropy passes over the demonstrations."""

    # PPO
    lr: float = 3e-4
    """Adam learning rate."""
    lr_final: float = 3e-5
    """Learning rate at the end of training, reached linearly (set equal to ``lr`` for a constant rate)."""
    gamma: float = 0.9
    """Discount factor per decision: 0.9 per 5 minutes is about 0.98 per minute (a horizon of ~50 minutes)."""
    lambda_: float = 0.8
    """GAE lambda per decision (about 0.95 per minute with 5-minute decisions)."""
    clip_param: float = 0.2
    """PPO policy-ratio clip."""
    vf_clip_param: float = 1000.0
    """Clip of the squared value error (RLlib clamps the loss: no gradient beyond it, so keep it loose)."""
    vf_loss_coeff: float = 0.5
    """Weight of the value-function loss."""
    entropy_coeff: float = 0.01
    """Entropy bonus weight at the start (how it was chosen: docs/training.md)."""
    entropy_coeff_final: float = 0.001
    """Entropy bonus weight reached (linearly) at ``entropy_decay_fraction`` of the training steps, then kept:
    a decisive policy at the end, because serving acts on one decoded action (``inference.policy.decode``) and a
    policy that spreads its probability over several similar levels can serve worse than its sampled behaviour."""
    entropy_decay_fraction: float = 1.0
    """Fraction of ``total_timesteps`` over which the entropy weight decays to its final value."""
    kl_coeff: float = 0.2
    """Initial weight of the adaptive KL penalty (0 disables it)."""
    kl_target: float = 0.01
    """KL divergence the adaptive penalty aims for."""
    num_epochs: int = 6
    """Passes over each train batch."""
    minibatch_size: int = 4096
    """SGD minibatch size."""
    grad_clip: float = 0.5
    """Gradient clip (see ``grad_clip_by``)."""
    grad_clip_by: GradClipBy = "norm"
    """"norm": clip each weight tensor's gradient norm on its own, so that the value network's large gradients
    cannot shrink the policy's (separate networks, one optimizer); "global_norm": one norm over all; "value"."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy and of the (separate) value network."""
    activation: Activation = "tanh"
    """Hidden activation of both networks ("tanh" or "relu")."""

    # Resources
    driver_torch_threads: int = 2
    """Torch threads of the driver (the learner): it runs while the env runners wait, so it may use every core."""
    runner_torch_threads: int = 1
    """Torch threads in each env-runner actor (one CPU each; more would fight the other runners)."""
    object_store_mb: int = 256
    """Ray object store per node, MiB (small: only weights and sample batches pass through it)."""
    ray_head_port: int = 6379
    """GCS port of the Ray head on the first SageMaker host."""

    # Validation, checkpoints, evaluation
    validation_scenarios: int = 16
    """Fixed validation scenarios (tuning stream, never evaluated on) for the per-iteration profit vs oracle."""
    select_best: bool = True
    """Package the iteration whose served policy did best on the validation set, not merely the last one."""
    validation_every: int = 1
    """Evaluate the served policy on the validation set every this many iterations (the log repeats the last)."""
    checkpoint_dir: str = ""
    """Checkpoint root (empty: /opt/ml/checkpoints on SageMaker, else OUT/checkpoints)."""
    checkpoint_every: int = 1
    """Save a checkpoint every this many iterations (1: an interruption loses at most one iteration)."""
    keep_checkpoints: int = 2
    """Checkpoints kept on disk (oldest deleted first)."""
    resume: bool = True
    """Resume from the newest checkpoint in ``checkpoint_dir`` if there is one."""
    eval: EvalCases = "quick"
    """Held-out cases of the gate's evaluation report: "quick" (4 one-day synthetic, 2 days of each trace's
    evaluation part) or "full" (16 three-day synthetic, each trace's whole evaluation part)."""
    noise_draws: int = 10
    """Capacity-noise draws (at least 2) on which the gate replays the held-out cases and judges the policy
    (``training.evaluation.judge``): refused when any tuned rule beats it with 95 % confidence on any group."""
    export_check_observations: int = 1000
    """Observations on which the export must reproduce the RLlib module's served actions."""
    force: bool = False
    """Package the policy even if it fails the gate (recorded as forced in the metadata)."""

    # Derived in finalize(); not settable.
    preset: str = "custom"
    """Name of the preset the run started from (set by the parser)."""
    train_batch_size: int = 0
    """Derived: runners x envs per runner x rollout fragment length."""
    num_iterations: int = 0
    """Derived: ceil(total_timesteps / train_batch_size)."""
    run_name: str = ""
    """Derived: ``{env}__{exp}__{seed}__{unix time}`` (kept across resumes)."""


DERIVED = frozenset({"preset", "train_batch_size", "num_iterations", "run_name"})

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "exp_name": "quick",
        "ablate": ("yesterday",),
        "total_timesteps": 8_000_000,
        "time_budget_s": 280.0,
    },
    "full": {
        "exp_name": "full",
        "ablate": ("yesterday",),
        "total_timesteps": 25_000_000,
        "hidden": (128, 128),
        "lr": 2e-4,
        "lr_final": 2e-5,
        "validation_every": 2,
        "checkpoint_every": 2,
        "eval": "full",
    },
    "tiny": {
        "exp_name": "tiny",
        "total_timesteps": 4096,
        "num_env_runners": 0,
        "num_envs_per_env_runner": 8,
        "rollout_fragment_length": 256,
        "minibatch_size": 1024,
        "num_epochs": 2,
        "hidden": (16, 16),
        "episode_minutes": 200,
        "validation_scenarios": 2,
        "noise_draws": 2,
    },
}
"""quick: the main job (a few minutes on 2 cores; its 280 s, about 115 iterations on 2 idle cores: in three
420-second runs the best validation within the first 115 iterations was within 0.004 of the run's best, reached
at iterations 93 to 121; 240 s reached only 82); full: the quality run; tiny: tests only (seconds)."""


@lru_cache(maxsize=1)
def field_docs() -> dict[str, str]:
    """Each field's docstring (the string literal under it), for ``--help`` and the hyperparameter table."""
    tree = ast.parse(inspect.getsource(TrainConfig))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for prev, node in itertools.pairwise(body):
        if isinstance(prev, ast.AnnAssign) and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docs[prev.target.id] = " ".join(str(node.value.value).split())  # type: ignore[union-attr]
    return docs


def _types() -> dict[str, Any]:
    return get_type_hints(TrainConfig)


def coerce(name: str, value: Any) -> Any:
    """``value`` (from JSON, a string flag or SM_HPS) converted to field ``name``'s type, or a ValueError."""
    types = _types()
    if name not in types:
        raise ValueError(f"unknown training hyperparameter {name!r}; known: {', '.join(sorted(types))}")
    kind = types[name]
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"not an integer: {value!r}")
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if kind is float:
            return float(value)
        if kind is str:
            return str(value)
        if get_origin(kind) is Literal:
            if str(value) not in get_args(kind):
                raise ValueError(f"not one of {', '.join(get_args(kind))}: {value!r}")
            return str(value)
        if kind is dict:
            parsed = json.loads(value) if isinstance(value, str) else value
            if not isinstance(parsed, dict):
                raise ValueError(f"not a JSON object: {value!r}")
            return parsed
        if kind == tuple[str, ...]:
            if isinstance(value, str):
                text = value.strip()
                parsed = json.loads(text) if text.startswith("[") else text.split(",")
            else:
                parsed = value
            return tuple(str(v).strip() for v in parsed if str(v).strip())
        if kind == tuple[int, ...]:
            if isinstance(value, str):
                text = value.strip()
                parsed = json.loads(text) if text.startswith("[") else [p for p in text.split(",") if p.strip()]
            else:
                parsed = value
            out = tuple(int(v) for v in parsed)
            if not out or min(out) < 1:
                raise ValueError(f"need at least one positive width: {value!r}")
            return out
    except (TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"hyperparameter {name}={value!r}: {exc}") from None
    raise TypeError(f"field {name} has unsupported type {kind}")


def apply(config: TrainConfig, values: dict[str, Any], source: str) -> TrainConfig:
    """``config`` with ``values`` applied; unknown or derived keys are refused naming ``source``."""
    changes = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name == "lambda":
            name = "lambda_"
        if name in DERIVED:
            raise ValueError(f"{source}: {name!r} is derived and cannot be set")
        try:
            changes[name] = coerce(name, value)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    return replace(config, **changes)


def validate(cfg: TrainConfig) -> None:
    checks = {
        "total_timesteps": cfg.total_timesteps >= 1,
        "time_budget_s": cfg.time_budget_s >= 0,
        "episode_minutes": cfg.episode_minutes >= 1,
        "decision_minutes": cfg.decision_minutes >= 1 and cfg.episode_minutes % cfg.decision_minutes == 0,
        "trace_probability": 0.0 <= cfg.trace_probability <= 1.0,
        "short_history_probability": 0.0 <= cfg.short_history_probability <= 1.0,
        "reward_scale": cfg.reward_scale > 0,
        "num_env_runners": cfg.num_env_runners >= -1,
        "num_envs_per_env_runner": cfg.num_envs_per_env_runner >= 1,
        "rollout_fragment_length": cfg.rollout_fragment_length >= 1,
        "bc_scenarios": cfg.bc_scenarios >= 1,
        "bc_epochs": cfg.bc_epochs >= 1,
        "lr": cfg.lr > 0,
        "lr_final": cfg.lr_final > 0,
        "gamma": 0.0 < cfg.gamma <= 1.0,
        "lambda_": 0.0 <= cfg.lambda_ <= 1.0,
        "clip_param": cfg.clip_param > 0,
        "vf_clip_param": cfg.vf_clip_param > 0,
        "vf_loss_coeff": cfg.vf_loss_coeff >= 0,
        "entropy_coeff": cfg.entropy_coeff >= 0,
        "entropy_coeff_final": cfg.entropy_coeff_final >= 0,
        "entropy_decay_fraction": 0.0 < cfg.entropy_decay_fraction <= 1.0,
        "kl_coeff": cfg.kl_coeff >= 0,
        "kl_target": cfg.kl_target > 0,
        "num_epochs": cfg.num_epochs >= 1,
        "minibatch_size": cfg.minibatch_size >= 1,
        "grad_clip": cfg.grad_clip > 0,
        "driver_torch_threads": cfg.driver_torch_threads >= 1,
        "runner_torch_threads": cfg.runner_torch_threads >= 1,
        "object_store_mb": cfg.object_store_mb >= 64,
        "ray_head_port": 1 <= cfg.ray_head_port <= 65535,
        "validation_scenarios": cfg.validation_scenarios >= 1,
        "validation_every": cfg.validation_every >= 1,
        "checkpoint_every": cfg.checkpoint_every >= 1,
        "keep_checkpoints": cfg.keep_checkpoints >= 1,
        "export_check_observations": cfg.export_check_observations >= 1,
        "noise_draws": cfg.noise_draws >= 2,
        "ablate": all(g in FEATURE_GROUPS for g in cfg.ablate),
        "reward_normalization": cfg.fleet_distribution or cfg.reward_normalization != "economics",
        "downtime_penalty": cfg.downtime_penalty >= 0
        and (cfg.downtime_penalty == 0 or cfg.reward_normalization == "economics"),
    }
    for name, kind in _types().items():  # every Literal field: its value is one of the choices
        if get_origin(kind) is Literal:
            checks[name] = getattr(cfg, name) in get_args(kind)
    refuse_invalid(cfg, checks, "training hyperparameter(s)")


def finalize(cfg: TrainConfig, *, run_name: str = "", num_runners: int | None = None) -> TrainConfig:
    """Validate and fill the derived fields. ``num_runners`` resolves ``num_env_runners=-1`` (cluster CPUs)."""
    validate(cfg)
    runners = cfg.num_env_runners if cfg.num_env_runners >= 0 else max(1, num_runners or 1)
    batch = max(runners, 1) * cfg.num_envs_per_env_runner * cfg.rollout_fragment_length
    return replace(
        cfg,
        num_env_runners=runners,
        train_batch_size=batch,
        num_iterations=-(-cfg.total_timesteps // batch),
        run_name=run_name or f"{ENV_NAME}__{cfg.exp_name}__{cfg.seed}__{int(time.time())}",
    )


RESUME_FREE = frozenset(
    {
        "exp_name", "total_timesteps", "time_budget_s", "driver_torch_threads", "runner_torch_threads",
        "object_store_mb", "ray_head_port", "validation_every", "select_best", "checkpoint_dir", "checkpoint_every",
        "keep_checkpoints", "resume", "eval", "export_check_observations", "noise_draws", "force",
        *DERIVED,
    }
)  # fmt: skip
"""Fields a resumed run may change: how long it runs, where it writes, how it is evaluated and gated. Every other
field shapes what is learned, so a checkpoint trained with other values is not this run's to resume."""


def resume_conflicts(saved: dict[str, Any], cfg: TrainConfig) -> list[str]:
    """``field: saved -> asked`` for each learning field in which a checkpoint's config differs from ``cfg``."""
    out = []
    for key, value in to_dict(cfg).items():
        if key in RESUME_FREE:
            continue
        before = saved.get(key, "(not recorded)")
        if before != value:
            out.append(f"{key}: {before!r} -> {value!r}")
    return out


def sim_config(cfg: TrainConfig) -> SimConfig:
    """The simulator configuration of training, validation and evaluation."""
    if "episode_minutes" in cfg.sim:
        raise ValueError("set episode_minutes as its own hyperparameter, not inside 'sim'")
    sim = dict(cfg.sim)
    capacity = sim.pop("capacity_rpm_per_machine", DEFAULT_CAPACITY_RPM)
    economics = {k: sim.pop(k) for k in FIELDS if k in sim}
    try:
        return fleet_config(capacity, economics=economics, **sim, episode_minutes=cfg.episode_minutes)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"hyperparameter sim={cfg.sim!r}: {exc}") from None


def fleet_distribution(cfg: TrainConfig) -> FleetDistribution | None:
    """The distribution training draws its fleets from, or None (every episode at ``sim_config``)."""
    if not cfg.fleet_distribution:
        return None
    try:
        return FleetDistribution.from_dict(cfg.fleet_ranges)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"hyperparameter fleet_ranges={cfg.fleet_ranges!r}: {exc}") from None


def training_domain(cfg: TrainConfig) -> dict[str, Any]:
    """What the policy was trained on, for the artifact's metadata: ``economics_ranges`` ({key: [low, high]} of
    ``inference.economics.FIELDS``), ``fleet_size_range`` ([low, high] mean machines) and
    ``capacity_rpm_range``; without a distribution, the one fleet of ``sim_config``. ``min_history_minutes``: the
    least ``load_rpm`` a decision needs for the policy to decide (training cut episodes' history to as little as
    the observed window when ``short_history_probability`` > 0; else the whole window the policy reads)."""
    config = sim_config(cfg)
    least = HISTORY - config.observation_lag_minutes if cfg.short_history_probability > 0 else CONTEXT_MINUTES
    dist = fleet_distribution(cfg)
    if dist is not None:
        return {
            "min_history_minutes": least,
            "economics_ranges": dist.economics_ranges(),
            "fleet_size_range": list(map(float, dist.mean_machines)),
            "capacity_rpm_range": list(map(float, dist.capacity_rpm)),
            "fleet_distribution": dist.to_dict(),
        }
    economics = {k: float(v) for k, v in economics_of(config).items()}
    return {
        "min_history_minutes": least,
        "economics_ranges": {k: [v, v] for k, v in economics.items()},
        "fleet_size_range": [3.0, 300.0],
        "capacity_rpm_range": [config.capacity_rpm_per_machine] * 2,
    }


def load_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"--config {path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--config {path}: not valid JSON ({exc})") from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: expected a JSON object of hyperparameters")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per settable field (``--num-epochs`` and ``--num_epochs``), help from the field docstrings."""
    docs = field_docs()
    group = parser.add_argument_group("hyperparameters (override preset and --config)")
    for f in fields(TrainConfig):
        if f.name in DERIVED:
            continue
        flags = [f"--{f.name.replace('_', '-').rstrip('-')}"]
        if "_" in f.name.rstrip("_"):
            flags.append(f"--{f.name.rstrip('_')}")
        if f.name == "lambda_":
            flags = ["--lambda", "--lambda-", "--lambda_"]
        default = f.default if f.default_factory is MISSING else f.default_factory()
        extra: dict[str, Any] = {"nargs": "?", "const": "true"} if isinstance(default, bool) else {}
        group.add_argument(
            *flags,
            dest=f"hp_{f.name}",
            default=None,
            metavar=type(default).__name__.upper(),
            help=f"{docs.get(f.name, '')} [default: {default!r}]".replace("%", "%%"),  # argparse formats help
            **extra,
        )


def from_args(args: argparse.Namespace, hps: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults < preset < --config JSON < SageMaker hyperparameters < flags; then ``finalize``-ready.

    The preset is ``--preset``, else the ``preset`` hyperparameter (SageMaker), else "quick"."""
    hps = dict(hps or {})
    preset = args.preset or str(hps.pop("preset", "quick"))
    hps.pop("preset", None)
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    cfg = replace(apply(TrainConfig(), PRESETS[preset], f"preset {preset}"), preset=preset)
    if args.config:
        cfg = apply(cfg, load_json(args.config), f"--config {args.config}")
    if hps:
        cfg = apply(cfg, hps, "SM_HPS")
    flags = {k[3:]: v for k, v in vars(args).items() if k.startswith("hp_") and v is not None}
    return apply(cfg, flags, "command line")


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """A config saved by ``to_dict`` (a checkpoint's), fields this code does not know left out."""
    known = {f.name for f in fields(TrainConfig)}
    return apply(TrainConfig(), {k: v for k, v in values.items() if k in known and k not in DERIVED}, "checkpoint")


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    out = asdict(cfg)
    out["hidden"] = list(cfg.hidden)
    out["ablate"] = list(cfg.ablate)
    return out


def markdown_table(cfg: TrainConfig) -> str:
    """Hyperparameters as a Markdown table (CleanRL's ``add_text`` habit), written beside the curves."""
    rows = "\n".join(f"| {k} | {v} |" for k, v in to_dict(cfg).items())
    return f"| parameter | value |\n| --- | --- |\n{rows}\n"
