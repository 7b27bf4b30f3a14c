"""Is a policy's lead over the rules real, or one draw of the capacity noise? The scoreboard under many draws.

Replays the held-out loads under ``--seeds`` draws of the capacity noise, every policy on the same draw each time
(paired), and prints per group (held-out synthetic together, each trace's evaluation part, all together) and per
synthetic scenario each candidate's mean profit and s.d., its paired difference to every tuned rule with a
95 % interval and the draws it wins, and the gate's verdict: the same judging function as the gate
(``training.evaluation.judge``), so "would pass the gate" here means the gate would pass it on these draws.

    python -m research.noise --policy artifacts/model/model.tar.gz [--seeds 10] [--full] [--json FILE]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from simulator.config import SimConfig
from training import cli
from training.evaluation.cases import evaluation_cases
from training.evaluation.judge import Judgement, judge, scenario_verdicts
from training.evaluation.noise import MIN_DRAWS, pair_cell, replay
from training.evaluation.scoreboard import default_policies
from training.policies.artifact import ArtifactPolicy
from training.policies.base import Policy


def render(judgements: dict[str, Judgement], rules: list[str], seeds: int) -> str:
    lines = [f"paired over {seeds} capacity-noise draws; difference = candidate - rule, mean [95 % interval] wins"]
    for cand, judgement in judgements.items():
        lines.append(f"\n{cand}: gate {'passes' if judgement.passed else 'REFUSES'}: {judgement.reason}")
        for c in judgement.checks:
            mean, sd = c["mean"][cand], c["sd"][cand]
            cells = [f"{rule} {pair_cell(c['vs'][rule])}" for rule in rules]
            a = c["availability"]
            lines.append(
                f"  {c['scope']:20s} {mean:>12,.0f} ± {sd:>7,.0f}  {c['verdict']:5s} | "
                + "; ".join(cells)
                + f" | % down {a['pct_minutes_down']:.3f} vs {a['rule']} {a['rule_pct_minutes_down']:.3f}"
            )
        counted = list(scenario_verdicts(judgement).values())
        lines.append(
            f"  scenarios: beats every rule on {counted.count('beats')}, ties on {counted.count('tie')}, "
            f"loses to some rule on {counted.count('loses')} of {len(counted)}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Args:
    policy: tuple[str, ...]
    """A packaged model.tar.gz (repeatable)."""
    seeds: int = 10
    """Capacity-noise draws."""
    full: bool = False
    """The full evaluation set (default: the quick one)."""
    json: Path | None = None
    """Also write the summary as JSON here."""

    def __post_init__(self) -> None:
        if self.seeds < MIN_DRAWS:
            raise ValueError(f"--seeds must be at least {MIN_DRAWS} (an interval needs two draws), got {self.seeds}")
        for path in self.policy:
            if not Path(path).exists():
                raise ValueError(f"--policy {path}: no such file or directory")


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m research.noise", description=__doc__.splitlines()[0])

    rules = default_policies(oracle=False)
    candidates: dict[str, Policy] = {}
    for path in args.policy:
        name = path if path not in candidates else f"{path} ({len(candidates)})"
        candidates[name] = ArtifactPolicy(path, name=name)
    cases = evaluation_cases(quick=not args.full)
    draws = replay({**rules, **candidates}, cases, SimConfig(), args.seeds)
    judgements = {cand: judge(draws, cand, list(rules)) for cand in candidates}
    print(render(judgements, list(rules), args.seeds))
    if args.json:
        doc = {cand: {"passed": j.passed, "reason": j.reason, "checks": j.checks} for cand, j in judgements.items()}
        args.json.write_text(json.dumps({"seeds": args.seeds, "full": args.full, "candidates": doc}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
