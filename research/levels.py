"""What the policy learned: the safety level it picks on each held-out fleet, beside that fleet's best fixed level.

    python -m research.levels --policy DIR/model.tar.gz [--full] [--draws 10] [--out DIR]

For every evaluation scenario: its size (mean load in machines), its character as the policy sees it at the first
decision (``noise`` and ``spike_rate`` of ``inference.features``), the levels of the action table the served
policy chose (greedy action on draw 0; median and interquartile range over the scenario's minutes), and the fixed
level of the table that earns most on that scenario (mean over ``--draws`` capacity-noise draws). The served policy
and every fixed level run on the same draws (``training.evaluation.noise.replay``), so the totals come with paired
95 % intervals: the policy against the best single level, and against the best level chosen per scenario (an upper
bound of any "character -> level" map within the table, chosen on the same draws). The tuned rules run on the same
draws too, and the gate's rule (``training.evaluation.judge``) says which fixed levels, and whether the policy, it
would accept; the policy is also compared with the best level the gate accepts, what a team bound by the gate could
run instead. A policy that sees each fleet's character should pick tight levels on calm fleets and cautious ones
on spiky fleets, near each fleet's best fixed level; one that does not picks the same level everywhere.

Writes ``levels.json`` (``scenarios`` and ``totals``), ``levels.md`` and ``levels.png`` (level against size,
coloured by noise) under ``--out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.actions import LEVELS
from inference.features import FEATURE_NAMES
from research import results
from research.actions import FixedSizing
from simulator.config import SimConfig
from simulator.fleet import FleetSim, Observation, observation_of
from training import cli
from training.evaluation.cases import evaluation_cases
from training.evaluation.judge import judge
from training.evaluation.noise import Paired, pair_cell, replay
from training.evaluation.scoreboard import default_policies, run_policy
from training.policies.artifact import ArtifactPolicy

NOISE, SPIKES = FEATURE_NAMES.index("noise"), FEATURE_NAMES.index("spike_rate")


class RecordingPolicy:
    """The served policy, recording the level of its greedy action and the observation of its first minute."""

    def __init__(self, policy: ArtifactPolicy) -> None:
        self.policy = policy
        self.name = policy.name
        self.levels: list[np.ndarray] = []
        self.first: np.ndarray | None = None

    def reset(self, sim: FleetSim) -> None:
        self.policy.reset(sim)
        self.levels, self.first = [], None

    def act(self, obs: Observation) -> np.ndarray:
        features = observation_of(obs)
        if self.first is None:
            self.first = features
        self.levels.append(np.asarray(LEVELS)[self.policy.loaded.policy.logits(features).argmax(axis=1)])
        return self.policy.act(obs)


def measure(policy_path: Path, full: bool, draws: int, config: SimConfig) -> dict[str, Any]:
    cases = evaluation_cases(quick=not full)
    fixed_names = [f"level {z:g}" for z in LEVELS]
    policies = {name: FixedSizing("margin", z) for name, z in zip(fixed_names, LEVELS)}
    policies["policy"] = ArtifactPolicy(str(policy_path))
    rules = default_policies(oracle=False)
    draws_of = replay({**policies, **rules}, cases, config, draws, progress=False)
    profit = draws_of.profit  # name -> (draws, cases)
    gate = {name: judge(draws_of, name, list(rules)) for name in [*fixed_names, "policy"]}
    fixed = np.stack([profit[name] for name in fixed_names])  # (levels, draws, cases)
    best = fixed.mean(axis=1).argmax(axis=0)  # each case's best level over the draws
    served = profit["policy"]
    rows = []
    for k, case in enumerate(cases):
        recorder = RecordingPolicy(ArtifactPolicy(str(policy_path)))
        run_policy(recorder, [case], config, seed=0)
        chosen = np.concatenate(recorder.levels)
        assert recorder.first is not None
        rows.append({
            "scenario": case.scenario.name,
            "mean_machines": float(case.scenario.load.mean() / config.capacity_rpm_per_machine),
            "noise": float(recorder.first[0, NOISE]),
            "spike_rate": float(recorder.first[0, SPIKES]),
            "policy_level_median": float(np.median(chosen)),
            "policy_level_q25": float(np.quantile(chosen, 0.25)),
            "policy_level_q75": float(np.quantile(chosen, 0.75)),
            "policy_profit": float(served[:, k].mean()),
            "best_fixed_level": float(LEVELS[best[k]]),
            "best_fixed_profit": float(fixed[best[k], :, k].mean()),
            "fixed_profit_by_level": {str(z): round(float(p), 2) for z, p in zip(LEVELS, fixed[:, :, k].mean(axis=1))},
        })  # fmt: skip
    single = int(fixed.sum(axis=2).mean(axis=1).argmax())  # the best level for every case together
    per_case = fixed[best, :, np.arange(len(cases))].sum(axis=0)  # (draws,): each case at its own best level
    totals = {
        "draws": draws,
        "policy": float(served.sum(axis=1).mean()),
        "best_single_level": float(LEVELS[single]),
        "best_single_level_profit": float(fixed[single].sum(axis=1).mean()),
        "best_level_per_scenario_profit": float(per_case.mean()),
        "policy_minus_best_single_level": Paired.of(served.sum(axis=1) - fixed[single].sum(axis=1)).to_json(),
        "policy_minus_best_level_per_scenario": Paired.of(served.sum(axis=1) - per_case).to_json(),
        "gate_passed": {name: gate[name].passed for name in [*fixed_names, "policy"]},
        "gate_reason": {name: gate[name].reason for name in [*fixed_names, "policy"]},
    }
    passing = [k for k, name in enumerate(fixed_names) if gate[name].passed]
    if passing:  # the table's best level among those the gate accepts: what a team bound by the gate could run
        best_passing = max(passing, key=lambda k: fixed[k].sum(axis=1).mean())
        totals["best_gate_passing_level"] = float(LEVELS[best_passing])
        totals["best_gate_passing_level_profit"] = float(fixed[best_passing].sum(axis=1).mean())
        totals["policy_minus_best_gate_passing_level"] = Paired.of(
            served.sum(axis=1) - fixed[best_passing].sum(axis=1)
        ).to_json()
    return {"scenarios": rows, "totals": totals}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = np.array([r["mean_machines"] for r in rows])
    noise = np.array([r["noise"] for r in rows])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    med = np.array([r["policy_level_median"] for r in rows])
    err = np.array([[m - r["policy_level_q25"], r["policy_level_q75"] - m] for m, r in zip(med, rows)]).T
    ax.errorbar(size, med, yerr=err, fmt="none", ecolor="grey", alpha=0.6, zorder=1)
    points = ax.scatter(size, med, c=noise, cmap="viridis", marker="o", label="policy (median, IQR)", zorder=2)
    ax.scatter(size, [r["best_fixed_level"] for r in rows], c=noise, cmap="viridis", marker="x", s=60,
               label="best fixed level of the scenario", zorder=3)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("mean load (machines)")
    ax.set_ylabel("safety level of the action table")
    fig.colorbar(points, label="noise feature (first decision)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Safety level picked by the policy vs the best fixed level, per held-out scenario", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(result: dict[str, Any]) -> str:
    rows, totals = result["scenarios"], result["totals"]
    lines = [
        "| scenario | mean machines | noise | spike rate | policy level (median, IQR) | best fixed level | "
        "policy profit ($) | best fixed profit ($) |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['mean_machines']:.1f} | {r['noise']:.3f} | {r['spike_rate']:.4f} | "
            f"{r['policy_level_median']:g} ({r['policy_level_q25']:g} to {r['policy_level_q75']:g}) | "
            f"{r['best_fixed_level']:g} | {r['policy_profit']:,.0f} | {r['best_fixed_profit']:,.0f} |"
        )
    lines += [
        "",
        f"Totals over {totals['draws']} paired draws: policy {totals['policy']:,.0f} $; best single level "
        f"({totals['best_single_level']:g}) {totals['best_single_level_profit']:,.0f} $; best level per scenario "
        f"{totals['best_level_per_scenario_profit']:,.0f} $.",
        f"Policy - best single level: {pair_cell(totals['policy_minus_best_single_level'])} $; policy - best level "
        f"per scenario: {pair_cell(totals['policy_minus_best_level_per_scenario'])} $ "
        "(mean [95 % interval] wins/draws).",
    ]
    passed = [name for name, ok in totals["gate_passed"].items() if ok and name != "policy"]
    verdict = "passes" if totals["gate_passed"]["policy"] else "is refused by"
    lines.append(
        f"The gate's rule (against the tuned rules, over the same draws): the policy {verdict} it; fixed levels it "
        f"accepts: {', '.join(passed) or 'none'}."
    )
    if "best_gate_passing_level" in totals:
        lines.append(
            f"Policy - best level the gate accepts ({totals['best_gate_passing_level']:g}, "
            f"{totals['best_gate_passing_level_profit']:,.0f} $): "
            f"{pair_cell(totals['policy_minus_best_gate_passing_level'])} $."
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class Args(results.Judged):
    policy: Path
    """A packaged policy (model.tar.gz)."""
    full: bool = False
    """The full evaluation set (default: the quick one)."""
    out: Path = Path("artifacts/levels")
    """Directory for the outputs."""


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m research.levels", description=__doc__.splitlines()[0])
    result = measure(args.policy, args.full, args.draws, SimConfig())
    results.write(args.out, "levels", result, markdown(result))
    plot(result["scenarios"], args.out / "levels.png")
    print(f"wrote {args.out / 'levels.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
