"""The scoreboard from the command line: every tuned rule, the oracle and any packaged policy on the held-out
cases (``training.evaluation``), written as report.json, report.md and plots.

    python -m training.evaluate --out artifacts/eval [--quick] [--policy artifacts/model/model.tar.gz ...]
    python -m training.evaluate --trace trace.csv [--capacity-rpm-per-machine 300] [--policy model.tar.gz]

With ``--trace`` (a team's own traffic, ``training.evaluation.team``) the cases are the late part of each trace
file instead of the held-out cases, in the team's own requests per minute.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inference.economics import FIELDS
from simulator.config import SimConfig, fleet_config
from simulator.loads import TRAIN_FRACTION, TraceError
from training.evaluation.cases import evaluation_cases
from training.evaluation.report import write_report
from training.evaluation.scoreboard import default_policies, evaluate
from training.evaluation.team import team_cases
from training.policies.artifact import ArtifactPolicy


def sim_config(capacity: float, overrides: dict) -> SimConfig:
    """The simulator for ``capacity`` requests per minute per machine: the capacity noise keeps the default's
    relative size (30 rpm at 300) unless ``overrides`` (other SimConfig fields) set ``capacity_sigma``."""
    if not isinstance(overrides, dict):
        raise ValueError(f"expected a JSON object, got {overrides!r}")
    if "capacity_rpm_per_machine" in overrides:
        raise ValueError("set the capacity with --capacity-rpm-per-machine, not inside --sim")
    economics = {k: v for k, v in overrides.items() if k in FIELDS}
    rest = {k: v for k, v in overrides.items() if k not in FIELDS}
    return fleet_config(capacity, economics=economics, **rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="directory for report.json, report.md, plots/ (required without "
        "--trace; with it, default artifacts/eval-<trace name>)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="4 one-day synthetic scenarios, 2 days of each trace")
    parser.add_argument(
        "--policy", action="append", default=[], metavar="PATH",
        help="a packaged policy (model.tar.gz or its directory) to evaluate too; repeatable",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="capacity-noise seed (common to all policies)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--trace", action="append", default=[], metavar="FILE",
        help="a team's trace (timestamp,requests or minute,requests): score the policies on its late part (the "
        f"last {round(100 * (1 - TRAIN_FRACTION))} %% by time) instead of the held-out cases; repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--capacity-rpm-per-machine", type=float, default=SimConfig().capacity_rpm_per_machine, metavar="RPM",
        help="requests per minute one machine of the team's fleet serves (the trace is never rescaled) "
        "[default: %(default)s]",
    )  # fmt: skip
    parser.add_argument(
        "--sim", default="{}", metavar="JSON",
        help='other SimConfig fields, e.g. \'{"request_value": 1.2, "warming_cost": true}\'',
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.out is None and not args.trace:
        parser.error("--out is required (unless --trace is given)")
    try:
        config = sim_config(args.capacity_rpm_per_machine, json.loads(args.sim))
    except (TypeError, ValueError) as exc:
        parser.error(f"--capacity-rpm-per-machine / --sim: {exc}")
    team: list[dict] = []
    if args.trace:
        try:
            cases, team = team_cases(args.trace, capacity=config.capacity_rpm_per_machine)
        except (TraceError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        args.out = args.out or Path("artifacts", "eval-" + Path(args.trace[0]).stem)
    else:
        cases = evaluation_cases(quick=args.quick, capacity=config.capacity_rpm_per_machine)

    policies = default_policies()
    for path in args.policy:
        policy = ArtifactPolicy(path)
        policies[policy.name] = policy
    report = evaluate(policies, cases, config, seed=args.seed)
    report.extra["command"] = "python -m training.evaluate " + " ".join(sys.argv[1:] if argv is None else argv)
    report.extra["quick"] = args.quick
    if team:
        report.extra["team_traces"] = team
    write_report(report, args.out, plots=not args.no_plots)
    print(Path(args.out, "report.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
