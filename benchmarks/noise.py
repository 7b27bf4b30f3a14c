"""Is a policy's lead over the rules real, or one draw of the capacity noise? The scoreboard under many draws.

Replays the held-out loads under ``--seeds`` draws of the capacity noise, every policy on the same draw each time
(paired), and prints per group (held-out synthetic together, each trace's evaluation part, all together) and per
scenario each policy's mean profit and s.d., and each candidate's paired difference to every tuned rule with a
95 % interval and the draws it wins (``training.evaluation.noise``).

    python -m benchmarks.noise --policy artifacts/model/model.tar.gz [--seeds 10] [--full] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.evaluation.cases import evaluation_cases
from training.evaluation.noise import pair_cell, profits, summarise
from training.evaluation.scoreboard import default_policies
from training.policies.artifact import ArtifactPolicy
from training.policies.base import Policy
from training.sim.config import SimConfig


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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.noise", description=__doc__.splitlines()[0])
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
