"""Per economics cell: the policy against the best tuned rule and the oracle, over paired capacity-noise draws.

    python -m training.evaluation.scorecard --policy artifacts/model/model.tar.gz [--full] [--draws 10]
    python -m training.evaluation.scorecard --policy MODEL --trace FILE --capacity-rpm-per-machine 2 \\
        --economics '{"warmup_latency": 10, "downtime_cost": 1000, "machine_cost": 0.02}' [--name ROW]

Without ``--trace``: the gate's cases (``training.evaluation.cases.cell_cases``: every held-out case and the
small-fleet group in every cell of the preset), each rule tuned per cell (``tuned_cells.json``). With ``--trace``:
the late 30 % of a team's trace (``training.evaluation.team``) at the given capacity and economics, each rule
tuned on three windows of the trace's early 70 % at those economics first (as the team would tune its own).

The rules include the character baseline (``training.policies.character``), as in the gate. Prints one Markdown row
per cell (and per group with ``--groups``): oracle, best rule (the highest mean profit there), policy, policy /
oracle, policy - best rule with its 95 % interval over the draws, and the verdict against every rule (beats:
interval above zero against all; loses: below zero against one). ``--json`` writes it all.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from inference.economics import parse
from simulator.config import fleet_config
from simulator.loads import load_trace, team_part_minutes
from training.evaluation import noise
from training.evaluation.cases import ALL, Case, cell_cases, groups
from training.evaluation.team import team_case
from training.policies.artifact import ArtifactPolicy
from training.policies.character import Character
from training.policies.oracle import Oracle
from training.policies.rules import BASELINES, CellTuned, load_tuned, load_tuned_cells
from training.policies.tuning import tune

CANDIDATE = "policy"
TEAM_WINDOWS = 3
TEAM_WINDOW_MINUTES = 2 * 1440


def team_rows(path: str, capacity: float, economics: dict[str, Any], name: str) -> tuple[list[Case], dict]:
    """The late part of ``path`` as one case in cell ``name``, and each rule tuned on its early part there."""
    trace = load_trace(path)
    config = fleet_config(capacity, economics=economics)
    meta = {"cell": name, "fleet": "team"}

    def placed(case: Case) -> Case:
        scenario = replace(case.scenario, name=f"{name}/{case.scenario.name}", meta={**case.scenario.meta, **meta})
        return replace(case, scenario=scenario, config=config, cell=name)

    late = placed(team_case(trace, "eval", capacity=capacity))
    room = team_part_minutes(trace, "train") - TEAM_WINDOW_MINUTES
    if room < 0:
        raise ValueError(f"{path}: its early part is shorter than a {TEAM_WINDOW_MINUTES}-minute tuning window")
    offsets = np.linspace(0, room, TEAM_WINDOWS).astype(int)
    early = [
        placed(team_case(trace, "train", minutes=TEAM_WINDOW_MINUTES, offset=int(o), capacity=capacity))
        for o in offsets
    ]
    early = [replace(c, scenario=replace(c.scenario, name=f"{c.scenario.name}@{o}")) for c, o in zip(early, offsets)]
    tuned = {rule: tune(rule, early, config, progress=False)["value"] for rule in BASELINES}
    return [late], {(name, "team"): tuned}


def scorecard(draws: noise.Draws, rules: list[str], by_group: bool) -> list[dict[str, Any]]:
    """One entry per cell (and per group): totals, best rule, policy / oracle, paired differences, verdict."""
    rows = []
    for label, idx in groups(draws.scenarios).items():
        if not by_group and not label.endswith(ALL):
            continue
        total = {p: draws.profit[p][:, idx].sum(axis=1) for p in draws.profit}
        minutes = float(draws.minutes[idx].sum())
        best = max(rules, key=lambda r: total[r].mean())
        vs = {r: noise.Paired.of(total[CANDIDATE] - total[r]) for r in rules}
        verdicts = {p.verdict for p in vs.values()}
        ordered = sorted([*rules, CANDIDATE], key=lambda p: -total[p].mean())
        down = {p: 100.0 * draws.minutes_down[p][:, idx].sum(axis=1).mean() / minutes for p in (CANDIDATE, best)}
        oracle = float(total["oracle"].mean())
        rows.append({
            "scope": label.removesuffix(f": {ALL}"),
            "oracle": oracle,
            "best_rule": best,
            "best_rule_profit": float(total[best].mean()),
            "policy": float(total[CANDIDATE].mean()),
            "policy_vs_oracle": float(total[CANDIDATE].mean()) / oracle if oracle > 0 else None,
            "best_rule_vs_oracle": float(total[best].mean()) / oracle if oracle > 0 else None,
            "vs_best": vs[best].to_json(),
            "vs": {r: p.to_json() for r, p in vs.items()},
            "verdict": "loses" if "loses" in verdicts else "ties" if "tie" in verdicts else "beats",
            "rank": ordered.index(CANDIDATE) + 1,
            "of": len(ordered),
            "pct_minutes_down": down,
        })  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]], draws: int) -> str:
    lines = [
        f"| cell | oracle $ | best tuned rule $ | policy $ | policy / oracle | best rule / oracle "
        f"| policy - best rule $ [95 %] ({draws} draws) | vs every rule | rank |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        ratio = "n/a" if r["policy_vs_oracle"] is None else f"{r['policy_vs_oracle']:.3f}"
        best_ratio = "n/a" if r["best_rule_vs_oracle"] is None else f"{r['best_rule_vs_oracle']:.3f}"
        lines.append(
            f"| {r['scope']} | {r['oracle']:,.0f} | {r['best_rule']} {r['best_rule_profit']:,.0f} "
            f"| {r['policy']:,.0f} | {ratio} | {best_ratio} | {noise.pair_cell(r['vs_best'])} | {r['verdict']} "
            f"| {r['rank']} of {r['of']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.scorecard", description=__doc__.split("\n")[0])
    parser.add_argument("--policy", required=True, help="model.tar.gz (or its directory)")
    parser.add_argument("--full", action="store_true", help="the full preset's cells and cases (default: quick)")
    parser.add_argument("--draws", type=int, default=10, help="paired capacity-noise draws [%(default)s]")
    parser.add_argument("--groups", action="store_true", help="also one row per group of each cell")
    parser.add_argument("--trace", help="a team's trace file instead of the held-out cases")
    parser.add_argument("--capacity-rpm-per-machine", type=float, default=300.0, metavar="RPM")
    parser.add_argument("--economics", default="{}", help="the team fleet's economics (JSON, inference.economics)")
    parser.add_argument("--name", default="team", help="the row's name with --trace [%(default)s]")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    try:
        economics = parse(json.loads(args.economics), "--economics")
    except ValueError as exc:
        parser.error(str(exc))
    if args.trace:
        cases, tuned = team_rows(args.trace, args.capacity_rpm_per_machine, economics, args.name)
    else:
        cases, tuned = cell_cases(quick=not args.full), load_tuned_cells()
    default = load_tuned()
    rules = {name: CellTuned(name, {k: v[name] for k, v in tuned.items()}, default[name]) for name in BASELINES}
    rules[Character.name] = Character()  # the character baseline, fitted for each cell's (or the team's) economics
    policies = {**rules, CANDIDATE: ArtifactPolicy(args.policy, name=CANDIDATE), "oracle": Oracle()}
    draws = noise.replay(policies, cases, fleet_config(), args.draws, workers=noise.default_workers())
    rows = scorecard(draws, list(rules), args.groups)
    if args.trace:
        rows = [{**r, "economics": economics, "capacity_rpm_per_machine": args.capacity_rpm_per_machine,
                 "tuned": tuned[(args.name, "team")]} for r in rows]  # fmt: skip
    print(markdown(rows, args.draws))
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
