"""Is a policy's lead over the rules real, or one draw of the capacity noise? The scoreboard under many draws.

The evaluation report and the gate score every policy on one draw of the fleet's capacity noise (``seed`` 0).
On a small group (two World Cup days, a 5-machine fleet) that draw alone moves a policy's profit by 1 to 3 %,
as much as the gaps between good policies. This benchmark replays the same held-out loads under ``--seeds``
draws, every policy on the same draw each time (paired), and prints for each group of the report (held-out
synthetic loads together, each trace's evaluation part, all together) and for each scenario:

- each policy's mean profit over the draws and its standard deviation;
- for each candidate (``--policy``, served exactly as the endpoint serves it), the paired difference against
  every tuned rule: mean, 95 % confidence interval (Student's t over the draws) and the draws it wins;
- whether the candidate beats every rule with the interval above zero ("beats", or "tie" when some interval
  straddles zero, or "loses").

    python -m training.bench_noise --policy artifacts/model/model.tar.gz [--seeds 10] [--full] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats
from tqdm import tqdm

from training.evaluation.scoreboard import Case, default_policies, evaluation_cases, group_of, run_policy
from training.policies.base import ArtifactPolicy, Policy
from training.sim.config import SimConfig

ALL = "all scenarios"


@dataclass(frozen=True)
class Paired:
    """A candidate's profit minus a rule's, over paired noise draws."""

    mean: float
    lo: float
    hi: float
    wins: int
    draws: int

    @classmethod
    def of(cls, diff: np.ndarray) -> Paired:
        n = len(diff)
        mean = float(diff.mean())
        if n < 2:
            return cls(mean, mean, mean, int((diff > 0).sum()), n)
        half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n))
        return cls(mean, mean - half, mean + half, int((diff > 0).sum()), n)

    @property
    def verdict(self) -> str:
        return "beats" if self.lo > 0 else "loses" if self.hi < 0 else "tie"


def pair_cell(pair: dict) -> str:
    """One paired difference as text, ``mean [95 % interval] wins/draws`` (this CLI and ``report.md``)."""
    return f"{pair['mean']:+,.0f} [{pair['lo']:+,.0f}, {pair['hi']:+,.0f}] {pair['wins']}/{pair['draws']}"


def profits(
    policies: dict[str, Policy], cases: list[Case], config: SimConfig, seeds: int, progress: bool = True
) -> dict[str, np.ndarray]:
    """Profit of each policy, (seeds, cases): draw ``s`` is ``run_policy(..., seed=s)`` for every policy."""
    out = {name: np.zeros((seeds, len(cases))) for name in policies}
    with tqdm(total=seeds * len(policies), desc="noise draws", unit="run", disable=not progress) as bar:
        for s in range(seeds):
            for name, policy in policies.items():
                metrics, _ = run_policy(policy, cases, config, seed=s)
                out[name][s] = [m["profit"] for m in metrics]
                bar.update(1)
    return out


def summarise(
    table: dict[str, np.ndarray], cases: list[Case], candidates: list[str], rules: list[str]
) -> dict[str, dict]:
    """Per group and per scenario: mean and s.d. of every policy, paired differences of each candidate."""
    columns: dict[str, list[int]] = {}
    for i, case in enumerate(cases):
        columns.setdefault(group_of(case.kind, case.scenario.name), []).append(i)
    columns[ALL] = list(range(len(cases)))
    for i, case in enumerate(cases):
        if case.kind == "synthetic":  # traces are already groups of their own
            columns[case.scenario.name] = [i]
    doc: dict[str, dict] = {}
    for label, idx in columns.items():
        sums = {name: t[:, idx].sum(axis=1) for name, t in table.items()}
        entry: dict = {"mean": {n: float(v.mean()) for n, v in sums.items()}}
        entry["sd"] = {n: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for n, v in sums.items()}
        for cand in candidates:
            pairs = {rule: Paired.of(sums[cand] - sums[rule]) for rule in rules}
            verdicts = {p.verdict for p in pairs.values()}
            entry[cand] = {
                "vs": {rule: vars(p) | {"verdict": p.verdict} for rule, p in pairs.items()},
                "verdict": "loses" if "loses" in verdicts else "tie" if "tie" in verdicts else "beats",
            }
        doc[label] = entry
    return doc


def render(doc: dict[str, dict], candidates: list[str], rules: list[str], seeds: int) -> str:
    lines = [f"paired over {seeds} capacity-noise draws; difference = candidate - rule, mean [95 % interval] wins"]
    for cand in candidates:
        lines.append(f"\n{cand}")
        for label, entry in doc.items():
            mean, sd = entry["mean"][cand], entry["sd"][cand]
            cells = [f"{rule} {pair_cell(entry[cand]['vs'][rule])}" for rule in rules]
            lines.append(
                f"  {label:20s} {mean:>12,.0f} ± {sd:>7,.0f}  {entry[cand]['verdict']:5s} | " + "; ".join(cells)
            )
        counted = [e[cand]["verdict"] for k, e in doc.items() if k.startswith("synthetic-") or "-eval" in k]
        lines.append(
            f"  scenarios: beats every rule on {counted.count('beats')}, ties on {counted.count('tie')}, "
            f"loses to some rule on {counted.count('loses')} of {len(counted)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.bench_noise", description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="append", required=True, help="a packaged model.tar.gz (repeatable)")
    parser.add_argument("--seeds", type=int, default=10, help="capacity-noise draws (default 10)")
    parser.add_argument("--full", action="store_true", help="the full evaluation set (default: the quick one)")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")

    rules = default_policies(oracle=False)
    candidates: dict[str, Policy] = {}
    for path in args.policy:
        if not Path(path).exists():
            parser.error(f"--policy {path}: no such file or directory")
        name = path if path not in candidates else f"{path} ({len(candidates)})"
        candidates[name] = ArtifactPolicy(path, name=name)
    cases = evaluation_cases(quick=not args.full)
    table = profits({**rules, **candidates}, cases, SimConfig(), args.seeds)
    doc = summarise(table, cases, list(candidates), list(rules))
    print(render(doc, list(candidates), list(rules), args.seeds))
    if args.json:
        args.json.write_text(json.dumps({"seeds": args.seeds, "full": args.full, "groups": doc}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
