"""Gate and package a checkpoint: the policy as served, judged against the tuned rules (``training.rl.gate``).

python -m training.gate --checkpoint CKPT --out DIR [--force] [--eval quick|full] [--noise-draws N]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training import cli
from training.evaluation.noise import MIN_DRAWS
from training.rl.config import EvalCases


@dataclass(frozen=True)
class Args:
    checkpoint: Path
    """A checkpoint (iter_NNNNNN, best) or a checkpoint root (its best validated policy, else its newest)."""
    out: Path
    """Directory for model.tar.gz, metadata.json and the report."""
    force: bool = False
    """Package even if the gate refuses the policy (recorded in the metadata)."""
    eval: EvalCases | None = None
    """Evaluation cases (default: as trained)."""
    noise_draws: int | None = None
    """Capacity-noise draws the gate judges on (default: as trained)."""

    def __post_init__(self) -> None:
        if self.noise_draws is not None and self.noise_draws < MIN_DRAWS:
            raise ValueError(
                f"--noise-draws must be at least {MIN_DRAWS} (an interval needs two), got {self.noise_draws}"
            )


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m training.gate", description=__doc__.split("\n")[0])
    from simulator.config import SimConfig
    from training.rl.checkpoints import best, latest, load_state
    from training.rl.export import load_rllib_module, module_state, policy_net
    from training.rl.gate import gate_and_package

    if (args.checkpoint / "state.json").is_file():
        ckpt = args.checkpoint
    else:  # a checkpoint root: the best validated policy if the run kept one, else the newest checkpoint
        ckpt = best(args.checkpoint) or latest(args.checkpoint)
    if ckpt is None:
        raise SystemExit(f"--checkpoint {args.checkpoint}: no complete checkpoint there")
    state = load_state(ckpt)
    cfg = state["config"]
    module = load_rllib_module(ckpt)
    ablate = tuple(cfg.get("ablate", ()))
    net = policy_net(module_state(module), cfg["activation"], ablate)
    eval_quick = (args.eval or cfg.get("eval", "quick")) == "quick"
    training = {**state.get("training", {}), "checkpoint": str(ckpt)}
    return gate_and_package(
        net=net,
        module=module,
        out_dir=args.out,
        sim_config=SimConfig().replace(**cfg.get("sim", {})),
        training=training,
        model_version=state["run_name"],
        eval_quick=eval_quick,
        force=args.force,
        check_count=cfg.get("export_check_observations", 1000),
        noise_draws=args.noise_draws or max(cfg.get("noise_draws", 10), MIN_DRAWS),
        ablate=ablate,
    )


if __name__ == "__main__":
    raise SystemExit(main())
