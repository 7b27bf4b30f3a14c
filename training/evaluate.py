"""The scoreboard from the command line: every tuned rule, the oracle and any packaged policy on the held-out
cases (``training.evaluation``), written as report.json, report.md and plots.

    python -m training.evaluate --out artifacts/eval [--quick] [--policy artifacts/model/model.tar.gz ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.evaluation.cases import evaluation_cases
from training.evaluation.report import write_report
from training.evaluation.scoreboard import default_policies, evaluate
from training.policies.artifact import ArtifactPolicy
from training.sim.config import SimConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory for report.json, report.md, plots/")
    parser.add_argument("--quick", action="store_true", help="4 one-day synthetic scenarios, 2 days of each trace")
    parser.add_argument(
        "--policy", action="append", default=[], metavar="PATH",
        help="a packaged policy (model.tar.gz or its directory) to evaluate too; repeatable",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="capacity-noise seed (common to all policies)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = parser.parse_args(argv)

    policies = default_policies()
    for path in args.policy:
        policy = ArtifactPolicy(path)
        policies[policy.name] = policy
    cases = evaluation_cases(quick=args.quick)
    report = evaluate(policies, cases, SimConfig(), seed=args.seed)
    report.extra["command"] = "python -m training.evaluate " + " ".join(sys.argv[1:] if argv is None else argv)
    report.extra["quick"] = args.quick
    write_report(report, args.out, plots=not args.no_plots)
    print(Path(args.out, "report.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
