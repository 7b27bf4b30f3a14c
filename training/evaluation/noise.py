"""Is a policy's lead over the rules real, or one draw of the capacity noise? The scoreboard under many draws,
with paired statistics (``benchmarks.noise`` is the command line; the gate records the same table).

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

    python -m benchmarks.noise --policy artifacts/model/model.tar.gz [--seeds 10] [--full] [--json FILE]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from training.evaluation.cases import ALL, Case, groups
from training.evaluation.scoreboard import run_policy
from training.policies.base import Policy
from training.sim.config import SimConfig


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
        from scipy import stats

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
    columns = groups((c.kind, c.scenario.name) for c in cases)
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
