"""The gate between a trained policy and a deployable artifact.

Before packaging, the policy is evaluated exactly as the endpoint will serve it: a staged copy of the artifact,
loaded by the serving handler, deciding every minute through ``predict_fn`` (the served action, then the safety
shield, whose fallbacks and change limits count), beside every baseline (``scoreboard.baselines``) and the oracle, on
held-out scenarios only: synthetic seeds of the evaluation stream (never trained on) and the evaluation parts of
both recorded traces. The evaluation report (``training.evaluation.scoreboard``, one draw of the capacity noise)
is the headline; it does not decide. The decision comes from ``noise_draws`` (at least 2) paired draws of the
capacity noise (``training.evaluation.noise``), judged by the one rule (``training.evaluation.judge``): the
policy is refused when any baseline beats it with 95 % confidence on any group (held-out synthetic, each
trace's evaluation part, all together), or when it is down more often than the group's best rule with 95 %
confidence. Every group's and every synthetic scenario's verdict is recorded in ``report.json`` and ``report.md``.

A failing policy is not packaged: a clear message on stderr and exit code ``EXIT_GATE_FAILED``, unless forced
(``--force``), in which case the metadata records ``gate.forced = true`` and the reason. ``report.json``,
``report.md`` and the plots are written either way, so the refusal can be read.

After packaging, the artifact is loaded back and must reproduce the RLlib module's served actions on 1,000
observations (``training.rl.export``); otherwise it is deleted and the exit code is ``EXIT_EXPORT_MISMATCH``.

    python -m training.gate --checkpoint CKPT --out DIR [--force] [--eval quick|full] [--noise-draws N]
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inference.artifact import package_policy
from simulator.config import SimConfig
from simulator.distribution import FleetDistribution
from simulator.loads import data_sha256
from training import cli
from training.evaluation import noise
from training.evaluation.cases import cell_cases, evaluation_cases
from training.evaluation.cells import cells as cells_of
from training.evaluation.judge import judge
from training.evaluation.report import write_report
from training.evaluation.scoreboard import baselines, evaluate
from training.evaluation.team import team_cases
from training.policies.artifact import ArtifactPolicy
from training.rl.checkpoints import best, latest, load_state
from training.rl.config import EvalCases, fleet_distribution, from_dict, sim_config, training_domain
from training.rl.export import check_observations, compare_actions, numpy_policy

CANDIDATE = "ppo"
UNDECIDED = {"passed": False, "forced": False, "reason": "being evaluated by the gate"}
"""Gate metadata of the staged artifact the gate evaluates (never shipped: packaging writes the decision)."""
BASELINE = "target_tracking"
"""The rule whose single-draw figures the artifact's metadata summarises beside the candidate and the oracle."""
EXIT_GATE_FAILED = 3
EXIT_EXPORT_MISMATCH = 4
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class GateDecision:
    passed: bool
    forced: bool
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {"passed": self.passed, "forced": self.forced, "reason": self.reason}


def decide(draws: noise.Draws, rules: list[str], force: bool = False, candidate: str = CANDIDATE) -> GateDecision:
    """The gate's decision on the noise draws of ``candidate`` and ``rules`` (``training.evaluation.judge``)."""
    verdict = judge(draws, candidate, rules)
    return GateDecision(verdict.passed, bool(force and not verdict.passed), verdict.reason, verdict.checks)


def code_version() -> str:
    """git commit (with ``-dirty``) when run from a checkout, else a sha256 of our Python sources (SageMaker)."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        if rev:
            return f"git:{rev}"
    except (OSError, subprocess.SubprocessError):
        pass
    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("training/**/*.py"), *ROOT.glob("inference/**/*.py")]):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return f"sha256:{digest.hexdigest()[:16]}"


def gate_and_package(
    *,
    net: Any,
    module: Any,
    out_dir: str | Path,
    sim_config: SimConfig,
    training: dict[str, Any],
    model_version: str,
    eval_quick: bool,
    force: bool = False,
    check_count: int = 1000,
    noise_draws: int = 10,
    seed: int = 0,
    progress: bool = True,
    team_traces: tuple[str, ...] = (),
    ablate: tuple[str, ...] = (),
    candidate: str = CANDIDATE,
    cells: bool = False,
    distribution: FleetDistribution | None = None,
) -> int:
    """Evaluate, gate, package and check one trained network; returns the process exit code. ``module``: the
    trained model the export check compares the artifact with (an RLlib module, or ``net`` itself for a plain torch
    network). ``team_traces``: trace files whose late part (``training.evaluation.team``) joins the held-out cases;
    ``ablate``: the feature groups the run trained without (``net`` already ignores them; the export check shows
    them to the RLlib module as 0, as training did); ``candidate``: the policy's name in the report; ``distribution``:
    the fleets training drew (the observation ranges the shield trusts come from them); ``cells``: judge in
    every economics cell of the preset with the small-fleet group (``training.evaluation.cases.cell_cases``), each
    rule tuned per cell (a policy trained across fleets), instead of at ``sim_config`` alone."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("model.tar.gz", "metadata.json"):
        (out / stale).unlink(missing_ok=True)
    policy = numpy_policy(net)
    check_obs, obs_spec = check_observations(policy, sim_config, check_count, seed, distribution)
    metadata = {
        "model_version": model_version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "observation": obs_spec,
        "training": training,
        "data_sha256": data_sha256(),
        "code_version": code_version(),
    }

    if cells:
        cases = cell_cases(quick=eval_quick)
    else:
        cases = evaluation_cases(quick=eval_quick, capacity=sim_config.capacity_rpm_per_machine)
    team: list[dict[str, Any]] = []
    if team_traces:
        extra, team = team_cases(list(team_traces), capacity=sim_config.capacity_rpm_per_machine)
        cases += extra
    with tempfile.TemporaryDirectory(prefix="gate-") as staging:
        # The candidate is the artifact itself, served through the handler and its shield: the gate measures
        # what the endpoint would do (shield fallbacks and change limits included), not the bare network.
        staged = package_policy(net, staging, metadata={**metadata, "evaluation": {}, "gate": UNDECIDED})
        policies = {**baselines(cells=cells), candidate: ArtifactPolicy(str(staged), name=candidate)}
        started = time.perf_counter()
        report = evaluate(policies, cases, sim_config, seed=seed, progress=progress)
        evaluated = time.perf_counter()
        rules = [name for name in policies if name not in (candidate, "oracle")]
        runs = {n: policies[n] for n in [*rules, candidate]}
        draws = noise.replay(runs, cases, sim_config, noise_draws, progress=progress, workers=noise.default_workers())
        print(
            f"evaluated {len(policies)} policies on {len(cases)} cases in {evaluated - started:.0f} s, then "
            f"{noise_draws} paired noise draws of {len(runs)} in {time.perf_counter() - evaluated:.0f} s",
            flush=True,
        )
    decision = decide(draws, rules, force, candidate)
    summary = report.summary()
    evaluation = {
        "cases": "quick" if eval_quick else "full",
        "cells": [c.name for c in cells_of("quick" if eval_quick else "full")] if cells else [],
        "scenarios": report.scenario_names,
        "summary": {name: summary[name] for name in (candidate, BASELINE, "oracle") if name in summary},
        "noise_draws": noise_draws,
        "gate_checks": [c for c in decision.checks if c["blocking"]],
    }
    gate = {**decision.metadata(), "draws": noise_draws, "candidate": candidate, "rules": rules}
    report.extra.update({"gate": {**gate, "checks": decision.checks}, "training": training})
    report.extra["command"] = " ".join(sys.argv)
    if team:
        report.extra["team_traces"] = team

    if not decision.passed and not force:
        report.policies[candidate]["parameters"]["path"] = None  # staged only, not packaged
        write_report(report, out)
        print(
            f"GATE FAILED: the trained policy is not packaged. It {decision.reason}.\n"
            f"See {out / 'report.md'}. Train longer or with other hyperparameters, or rerun with --force to "
            "package it anyway (recorded as forced in its metadata).",
            file=sys.stderr,
        )
        return EXIT_GATE_FAILED

    metadata.update(evaluation=evaluation, gate=decision.metadata())
    tarball = package_policy(net, out, metadata=metadata)
    report.policies[candidate]["parameters"]["path"] = str(tarball)
    check = compare_actions(module, tarball, check_obs, ablate)
    report.extra["export_check"] = check
    write_report(report, out)
    if not check["passed"]:
        tarball.unlink(missing_ok=True)
        (out / "metadata.json").unlink(missing_ok=True)
        print(
            f"EXPORT CHECK FAILED: the packaged network disagrees with the trained model on {check['mismatches']} of "
            f"{check['observations']} observations (max logit difference {check['max_abs_logit_diff']:.2e}); "
            "artifact removed.",
            file=sys.stderr,
        )
        return EXIT_EXPORT_MISMATCH
    status = "PASSED" if decision.passed else "FAILED but forced"
    print(f"gate {status}: {decision.reason}", flush=True)
    print(
        f"export check: served actions ({check['decode']}) identical on {check['observations']} observations "
        f"(max logit difference {check['max_abs_logit_diff']:.2e}); packaged {tarball}",
        flush=True,
    )
    return 0


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
        if self.noise_draws is not None and self.noise_draws < noise.MIN_DRAWS:
            raise ValueError(
                f"--noise-draws must be at least {noise.MIN_DRAWS} (an interval needs two), got {self.noise_draws}"
            )


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m training.gate", description=__doc__.split("\n")[0])

    from training.rl.export import load_rllib_module, module_state, policy_net

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
    training = {**state.get("training", {}), **training_domain(from_dict(cfg)), "checkpoint": str(ckpt)}
    return gate_and_package(
        net=net,
        module=module,
        out_dir=args.out,
        sim_config=sim_config(from_dict(cfg)),
        training=training,
        model_version=state["run_name"],
        eval_quick=eval_quick,
        force=args.force,
        check_count=cfg.get("export_check_observations", 1000),
        noise_draws=args.noise_draws or max(cfg.get("noise_draws", 10), noise.MIN_DRAWS),
        ablate=ablate,
        cells=bool(cfg.get("fleet_distribution", False)),
        distribution=fleet_distribution(from_dict(cfg)),
    )


if __name__ == "__main__":
    raise SystemExit(main())
