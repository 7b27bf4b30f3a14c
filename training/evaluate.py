"""The scoreboard from the command line: every tuned rule, the character baseline, the oracle and any packaged
policy on the held-out cases (``training.evaluation``), written as report.json, report.md and plots.

    python -m training.evaluate --out artifacts/eval [--quick] [--policy artifacts/model/model.tar.gz ...]
    python -m training.evaluate --trace trace.csv [--capacity-rpm-per-machine 300] [--policy model.tar.gz]
    python -m training.evaluate --trace trace.csv --fleet fleet.json --policy model.tar.gz [--draws 10]

With ``--trace`` (a team's own traffic, ``training.evaluation.team``) the cases are the late part of each trace file
instead of the held-out cases, in the team's own requests per minute; the fleet is ``--fleet`` (one fleet object of
the controller's schema: capacity, bounds, change limit, economics) or ``--capacity-rpm-per-machine`` and ``--sim``;
the rules are what the team would run instead (no character baseline). Each ``--policy`` then gets a verdict against
every tuned rule over ``--draws`` (at least 10) paired capacity-noise draws: "beats" / "ties" / "loses to" a rule by
$X [95 % interval], printed and in report.md and report.json (``team_verdicts``).
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
from training.evaluation.noise import default_workers, replay
from training.evaluation.report import write_report
from training.evaluation.scoreboard import baselines, default_policies, evaluate
from training.evaluation.team import (
    MIN_VERDICT_DRAWS,
    fleet_sim_config,
    read_fleet,
    team_cases,
    verdict_line,
    verdicts,
)
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
        "--capacity-rpm-per-machine", type=float, default=None, metavar="RPM",
        help="requests per minute one machine of the team's fleet serves (the trace is never rescaled) "
        f"[default: {SimConfig().capacity_rpm_per_machine:g}]",
    )  # fmt: skip
    parser.add_argument(
        "--fleet", type=Path, default=None, metavar="FILE",
        help="one fleet object of the controller's schema (JSON, as in a stage's fleets): the fleet's capacity, "
        "bounds, change limit and economics; instead of --capacity-rpm-per-machine",
    )  # fmt: skip
    parser.add_argument(
        "--draws", type=int, default=MIN_VERDICT_DRAWS, metavar="N",
        help=f"with --trace: paired capacity-noise draws of each policy's verdict (at least {MIN_VERDICT_DRAWS}) "
        "[default: %(default)s]",
    )  # fmt: skip
    parser.add_argument(
        "--sim", default="{}", metavar="JSON",
        help='other SimConfig fields, e.g. \'{"request_value": 1.2, "warming_cost": true}\'',
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.out is None and not args.trace:
        parser.error("--out is required (unless --trace is given)")
    if args.draws < MIN_VERDICT_DRAWS:
        parser.error(f"--draws: a verdict needs at least {MIN_VERDICT_DRAWS} paired draws, got {args.draws}")
    if args.fleet is not None and args.capacity_rpm_per_machine is not None:
        parser.error("--fleet gives the capacity: leave out --capacity-rpm-per-machine")
    try:
        if args.fleet is not None:
            config = fleet_sim_config(read_fleet(args.fleet), json.loads(args.sim))
        else:
            capacity = args.capacity_rpm_per_machine
            capacity = SimConfig().capacity_rpm_per_machine if capacity is None else capacity
            config = sim_config(capacity, json.loads(args.sim))
    except (TypeError, ValueError) as exc:
        parser.error(f"{'--fleet' if args.fleet else '--capacity-rpm-per-machine'} / --sim: {exc}")
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

    # A team's verdict is against what the team would run instead (the tuned rules); the held-out scoreboard also
    # lists the character baseline the gate judges against (its per-minute decisions double --trace's time).
    defaults = default_policies() if args.trace else baselines()
    policies = dict(defaults)
    for path in args.policy:
        policy = ArtifactPolicy(path)
        policies[policy.name] = policy
    report = evaluate(policies, cases, config, seed=args.seed)
    if team and args.policy:
        candidates = [name for name in policies if name not in defaults]
        rules = [name for name in defaults if name != "oracle"]
        runs = {n: policies[n] for n in [*rules, *candidates]}
        draws = replay(runs, cases, config, args.draws, workers=default_workers())
        report.extra["team_verdicts"] = [v for c in candidates for v in verdicts(draws, c, rules)]
    report.extra["command"] = "python -m training.evaluate " + " ".join(sys.argv[1:] if argv is None else argv)
    report.extra["quick"] = args.quick
    if team:
        report.extra["team_traces"] = team
    write_report(report, args.out, plots=not args.no_plots)
    print(Path(args.out, "report.md").read_text())
    if team and not args.policy:
        print("no --policy given: pass a packaged policy (model.tar.gz) to get its verdict against every rule")
    for v in report.extra.get("team_verdicts", []):
        print(verdict_line(v))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
