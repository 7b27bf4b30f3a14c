"""Which of the fleet's character features earn their keep: the same run trained without each group, judged on
the same held-out draws.

    python -m research.ablation [--groups none noise spikes yesterday day] [--seeds 1 2] [--preset quick]
                                  [--draws 10] [--full] [--out artifacts/ablation] [--retrain]

For every group of ``inference.features.FEATURE_GROUPS`` ("none" is the run with every feature) and every seed,
``python -m training.train --preset P --seed S --ablate G`` trains a policy that sees that group as 0 (its
"not known" value; the packaged network ignores it, ``training.rl.export.policy_net``). Runs already under
``--out`` are reused unless ``--retrain``. Every packaged policy and every tuned rule are then replayed on the same
capacity-noise draws of the held-out cases (``training.evaluation.noise.replay``) and:

- each run gets the gate's verdict (``training.evaluation.judge``: would the gate have packaged it?);
- each ablated run is paired with the run of the same seed that saw every feature: its difference in profit per
  group (held-out synthetic, each trace, all), mean and 95 % interval over the draws. A group that helps shows
  negative differences when removed.

The interval is over capacity-noise draws for fixed networks: it says whether two trained networks differ, not
whether the feature does. Different seeds train different networks: a group whose removal moves the profit the
same way at every seed is evidence; one that flips sign between seeds is within training noise.

Writes ``ablation.json`` and ``ablation.md`` under ``--out``; each run's directory keeps its training output
(``train.log``, ``report.md``, ``model.tar.gz``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from inference.features import FEATURE_GROUPS, group_columns
from research import results
from simulator.config import SimConfig
from training import cli
from training.evaluation.cases import ALL, evaluation_cases, groups
from training.evaluation.judge import judge
from training.evaluation.noise import Paired, pair_cell, replay
from training.evaluation.scoreboard import default_policies
from training.policies.artifact import ArtifactPolicy

BASELINE = "none"
"""The run that sees every feature."""


def run_name(group: str, seed: int) -> str:
    return f"{group}-s{seed}"


def train(out: Path, group: str, seed: int, preset: str) -> dict[str, Any]:
    """One training run into ``out`` (packaged even if its own gate refuses it: this benchmark judges it)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [
        *(sys.executable, "-m", "training.train", "--preset", preset, "--seed", str(seed), "--out", str(out)),
        *("--force", "--noise-draws", "2", "--checkpoint-dir", str(out / "checkpoints"), "--resume", "false"),
        *("--time-budget-s", "0"),  # the preset's steps, however busy the machine: the same run every time
    ]
    if group != BASELINE:
        cmd += ["--ablate", group]
    t0 = time.perf_counter()
    with open(out / "train.log", "w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0 or not (out / "model.tar.gz").is_file():
        raise RuntimeError(f"training {out.name} failed (exit {code}); see {out / 'train.log'}")
    return {"command": " ".join(cmd[1:]), "wall_s": round(time.perf_counter() - t0, 1)}


def measure(runs: dict[str, Path], baseline_of: dict[str, str], full: bool, draws: int) -> dict[str, Any]:
    """Replay every run and every tuned rule on the same draws; verdicts and paired differences (docstring)."""
    config = SimConfig()
    cases = evaluation_cases(quick=not full, capacity=config.capacity_rpm_per_machine)
    rules = {name: p for name, p in default_policies().items() if name != "oracle"}
    policies = {**rules, **{name: ArtifactPolicy(str(path / "model.tar.gz"), name=name) for name, path in runs.items()}}
    replayed = replay(policies, cases, config, draws)
    scopes = groups(replayed.scenarios)
    scopes[ALL] = list(range(len(cases)))
    result: dict[str, Any] = {"draws": draws, "cases": "full" if full else "quick", "runs": {}}
    for name in runs:
        verdict = judge(replayed, name, list(rules))
        entry: dict[str, Any] = {
            "profit": {scope: float(replayed.profit[name][:, idx].sum(axis=1).mean()) for scope, idx in scopes.items()},
            "gate_passed": verdict.passed,
            "gate_reason": verdict.reason,
        }
        base = baseline_of.get(name)
        if base is not None:
            entry["baseline"] = base
            entry["minus_baseline"] = {
                scope: Paired.of(
                    replayed.profit[name][:, idx].sum(axis=1) - replayed.profit[base][:, idx].sum(axis=1)
                ).to_json()
                for scope, idx in scopes.items()
            }
        result["runs"][name] = entry
    result["scopes"] = list(scopes)
    return result


def markdown(result: dict[str, Any]) -> str:
    scopes = result["scopes"]
    lines = [
        f"Profit over {result['draws']} paired capacity-noise draws ({result['cases']} held-out cases); each ablated "
        "run minus the run of the same seed that saw every feature, mean [95 % interval] wins/draws, $.",
        "",
        "| run | gate | " + " | ".join(scopes) + " |",
        "| --- | --- | " + " | ".join("---" for _ in scopes) + " |",
    ]
    for name, run in result["runs"].items():
        if "minus_baseline" in run:
            cells = [pair_cell(run["minus_baseline"][s]) for s in scopes]
        else:
            cells = [f"{run['profit'][s]:,.0f} (all features)" for s in scopes]
        lines.append(f"| {name} | {'passes' if run['gate_passed'] else 'refused'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class Args(results.Judged):
    groups: tuple[str, ...] = (BASELINE, *FEATURE_GROUPS)
    """'none' (every feature) and groups of ``inference.features.FEATURE_GROUPS`` to train without."""
    seeds: tuple[int, ...] = (1, 2)
    """Training seeds."""
    preset: str = "quick"
    """Training preset."""
    full: bool = False
    """The full evaluation set (default: the quick one)."""
    out: Path = Path("artifacts/ablation")
    """Directory for the runs and the results."""
    retrain: bool = False
    """Train again even where a run is already packaged."""

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            group_columns([g for g in self.groups if g != BASELINE])
        except ValueError as exc:
            raise ValueError(f"{exc} (or '{BASELINE}')") from None


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m research.ablation", description=__doc__.splitlines()[0])
    groups_ = [BASELINE, *(g for g in args.groups if g != BASELINE)]  # the baseline always runs, first
    planned = {run_name(g, s): (g, s) for s in args.seeds for g in groups_}
    runs = {name: args.out / name for name in planned}
    trained: dict[str, Any] = {}
    todo = [name for name, path in runs.items() if args.retrain or not (path / "model.tar.gz").is_file()]
    for name in tqdm(todo, desc="training runs", unit="run"):
        trained[name] = train(runs[name], *planned[name], args.preset)
    baseline_of = {run_name(g, s): run_name(BASELINE, s) for s in args.seeds for g in groups_ if g != BASELINE}
    result = measure(runs, baseline_of, args.full, args.draws)
    result.update(preset=args.preset, seeds=list(args.seeds), trained_now=trained)
    results.write(args.out, "ablation", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
