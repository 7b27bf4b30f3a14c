"""The gate between a trained policy and a deployable artifact.

Before packaging, the policy is evaluated exactly as the endpoint will serve it: a staged copy of the artifact,
loaded by the serving handler, deciding every minute through ``predict_fn`` (greedy action, then the safety
shield, whose fallbacks and change limits count), with the evaluation report (``training.evaluation.scoreboard``) beside
every tuned baseline and the clairvoyant oracle, on held-out scenarios only:
synthetic seeds of the evaluation stream (never trained on) and the evaluation parts of both recorded traces.
It passes when it beats tuned target tracking on profit at equal or better availability (% of minutes down)
over all the held-out scenarios together (``training.evaluation.judge``, the one rule): ``scope="overall"``.
The same comparison is also made, and recorded, on each group: the held-out synthetic scenarios together, and
each recorded trace's evaluation part; with ``scope="each"`` (``--gate-scope each``) every group must pass too.

The report is one draw of the capacity noise; with ``noise_draws`` the gate also replays the held-out cases
under that many draws (``training.evaluation.noise``) and records, per group and per scenario, the candidate's paired
difference to every rule with a 95 % interval and a verdict (beats / tie / loses). Recorded, not blocking.

A failing policy is not packaged: a clear message on stderr and exit code ``EXIT_GATE_FAILED``, unless forced
(``--force``), in which case the metadata records ``gate.forced = true`` and the reason. ``report.json``,
``report.md`` and the plots are written either way, so the refusal can be read.

After packaging, the artifact is loaded back and must reproduce the RLlib module's greedy actions on 1,000
observations (``training.rl.export``); otherwise it is deleted and the exit code is ``EXIT_EXPORT_MISMATCH``.

    python -m training.gate --checkpoint CKPT --out DIR [--force] [--eval quick|full]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from inference.artifact import package_policy
from training.evaluation import noise
from training.evaluation.cases import evaluation_cases
from training.evaluation.judge import SCOPES, judge
from training.evaluation.report import write_report
from training.evaluation.scoreboard import Report, default_policies, evaluate
from training.policies.artifact import ArtifactPolicy
from training.rl.checkpoints import best, latest, load_state
from training.rl.config import EvalCases
from training.rl.export import check_observations, compare_greedy, numpy_policy
from training.sim.config import SimConfig
from training.sim.loads import data_sha256

CANDIDATE = "ppo"
UNDECIDED = {"passed": False, "forced": False, "reason": "being evaluated by the gate"}
"""Gate metadata of the staged artifact the gate evaluates (never shipped: packaging writes the decision)."""
BASELINE = "target_tracking"
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


def decide(report: Report, force: bool = False, scope: str = "overall") -> GateDecision:
    """The gate's decision on a report holding ``ppo`` and ``target_tracking`` (``training.evaluation.judge``)."""
    verdict = judge(report, CANDIDATE, BASELINE, scope)
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
    gate_scope: str = "overall",
    check_count: int = 1000,
    noise_draws: int = 0,
    seed: int = 0,
    progress: bool = True,
) -> int:
    """Evaluate, gate, package and check one trained network; returns the process exit code."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("model.tar.gz", "metadata.json"):
        (out / stale).unlink(missing_ok=True)
    policy = numpy_policy(net)
    check_obs, obs_spec = check_observations(policy, sim_config, check_count, seed)
    metadata = {
        "model_version": model_version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "observation": obs_spec,
        "training": training,
        "data_sha256": data_sha256(),
        "code_version": code_version(),
    }

    cases = evaluation_cases(quick=eval_quick, capacity=sim_config.capacity_rpm_per_machine)
    with tempfile.TemporaryDirectory(prefix="gate-") as staging:
        # The candidate is the artifact itself, served through the handler and its shield: the gate measures
        # what the endpoint would do (shield fallbacks and change limits included), not the bare network.
        staged = package_policy(net, staging, metadata={**metadata, "evaluation": {}, "gate": UNDECIDED})
        candidate = ArtifactPolicy(str(staged), name=CANDIDATE)
        policies = {**default_policies(), CANDIDATE: candidate}
        report = evaluate(policies, cases, sim_config, seed=seed, progress=progress)
        if noise_draws:
            rules = [name for name in policies if name not in (CANDIDATE, "oracle")]
            runs = {n: policies[n] for n in [*rules, CANDIDATE]}
            table = noise.profits(runs, cases, sim_config, noise_draws, progress=progress)
            groups = noise.summarise(table, cases, [CANDIDATE], rules)
            report.extra["noise_draws"] = {"draws": noise_draws, "candidate": CANDIDATE, "groups": groups}
    decision = decide(report, force, gate_scope)
    summary = report.summary()
    evaluation = {
        "cases": "quick" if eval_quick else "full",
        "scenarios": report.scenario_names,
        "summary": {name: summary[name] for name in (CANDIDATE, BASELINE, "oracle") if name in summary},
        "gate_checks": decision.checks,
    }
    report.extra.update({"gate": {**decision.metadata(), "checks": decision.checks}, "training": training})
    report.extra["command"] = " ".join(sys.argv)

    if not decision.passed and not force:
        report.policies[CANDIDATE]["parameters"]["path"] = None  # staged only, not packaged
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
    report.policies[CANDIDATE]["parameters"]["path"] = str(tarball)
    check = compare_greedy(module, tarball, check_obs)
    report.extra["export_check"] = check
    write_report(report, out)
    if not check["passed"]:
        tarball.unlink(missing_ok=True)
        (out / "metadata.json").unlink(missing_ok=True)
        print(
            f"EXPORT CHECK FAILED: the packaged network disagrees with the RLlib module on {check['mismatches']} of "
            f"{check['observations']} observations (max logit difference {check['max_abs_logit_diff']:.2e}); "
            "artifact removed.",
            file=sys.stderr,
        )
        return EXIT_EXPORT_MISMATCH
    status = "PASSED" if decision.passed else "FAILED but forced"
    print(f"gate {status}: {decision.reason}", flush=True)
    print(
        f"export check: greedy actions identical on {check['observations']} observations "
        f"(max logit difference {check['max_abs_logit_diff']:.2e}); packaged {tarball}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.gate", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="a checkpoint (iter_NNNNNN, best) or a checkpoint root"
    )
    parser.add_argument("--out", required=True, type=Path, help="directory for model.tar.gz, metadata.json, report")
    parser.add_argument("--force", action="store_true", help="package even if the gate fails (recorded)")
    parser.add_argument("--gate-scope", choices=SCOPES, default=None, help="default: as trained")
    parser.add_argument(
        "--eval", choices=get_args(EvalCases), default=None, help="evaluation cases (default: as trained)"
    )
    parser.add_argument(
        "--noise-draws", type=int, default=None, help="capacity-noise draws to record (default: as trained, else 10)"
    )
    args = parser.parse_args(argv)
    if args.noise_draws is not None and args.noise_draws < 0:
        parser.error(f"--noise-draws must be 0 or more, got {args.noise_draws}")

    from training.rl.export import load_rllib_module, module_state, policy_net

    if (args.checkpoint / "state.json").is_file():
        ckpt = args.checkpoint
    else:  # a checkpoint root: the best validated policy if the run kept one, else the newest checkpoint
        ckpt = best(args.checkpoint) or latest(args.checkpoint)
    if ckpt is None:
        parser.error(f"--checkpoint {args.checkpoint}: no complete checkpoint there")
    state = load_state(ckpt)
    cfg = state["config"]
    module = load_rllib_module(ckpt)
    net = policy_net(module_state(module), cfg["activation"])
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
        gate_scope=args.gate_scope or cfg.get("gate_scope", "overall"),
        check_count=cfg.get("export_check_observations", 1000),
        noise_draws=cfg.get("noise_draws", 10) if args.noise_draws is None else args.noise_draws,
    )


if __name__ == "__main__":
    raise SystemExit(main())
