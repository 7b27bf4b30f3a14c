"""What the character baseline adds to the gate, and how it fares against the tuned rules; prints one JSON object.

    python -m benchmarks.character [--full] [--draws 10]

On the gate's cases (``training.evaluation.cases.cell_cases``: every economics cell of the preset with the
small-fleet group), as the gate runs them: the baseline's fits (one per economics and fleet kind), its scoreboard
run and its ``--draws`` noise draws, each in wall and CPU seconds, beside target tracking's run and draws (what one
tuned rule costs); then the baseline judged as a candidate against the tuned rules on the same draws
(``training.evaluation.judge``): which groups it beats, ties and loses.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from typing import Any

from simulator.config import SimConfig
from training.evaluation import noise
from training.evaluation.cases import cell_cases
from training.evaluation.judge import judge
from training.evaluation.scoreboard import baselines, run_policy
from training.policies.character import fleet_key


def timed(fn: Any) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return {"wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(time.process_time() - cpu, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.character", description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the full preset's cells and cases (default: quick)")
    parser.add_argument("--draws", type=int, default=10, help="noise draws, as the gate's (default: %(default)s)")
    args = parser.parse_args(argv)
    cases, config = cell_cases(quick=not args.full), SimConfig()
    policies = baselines(cells=True)
    character = policies["character"]
    out: dict[str, Any] = {"preset": "full" if args.full else "quick", "cases": len(cases), "draws": args.draws}
    out["character_fit"] = timed(lambda: character.prepare([fleet_key(c.config or config, c.scenario) for c in cases]))
    out["character_scoreboard"] = timed(lambda: run_policy(character, cases, config, seed=0))
    out["target_tracking_scoreboard"] = timed(lambda: run_policy(policies["target_tracking"], cases, config, seed=0))
    rules = [n for n in policies if n not in ("oracle", "character")]
    runs: dict[str, noise.Draws] = {}
    for name in [*rules, "character"]:
        one = {name: policies[name]}
        took = timed(lambda one=one: runs.update({n: noise.replay(one, cases, config, args.draws) for n in one}))
        if name in ("character", "target_tracking"):
            out[f"{name}_draws"] = took
    first = runs["character"]
    draws = noise.Draws(
        first.scenarios,
        first.minutes,
        {n: d.profit[n] for n, d in runs.items()},
        {n: d.minutes_down[n] for n, d in runs.items()},
    )
    verdict = judge(draws, "character", rules)
    groups = [c for c in verdict.checks if c["blocking"]]
    out["vs_tuned_rules"] = {
        "passed": verdict.passed,
        "groups": dict(Counter("fails" if not c["passed"] else c["verdict"] for c in groups)),
        "failing": [c["reason"] for c in groups if not c["passed"]],
        "all_scenarios": next(c["reason"] for c in groups if c["scope"] == "all scenarios"),
    }
    out["models"] = character.describe()["models"]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
