"""How close can any deployable policy get to the oracle? The rate ceiling beside the oracle, the rules and a policy.

    python -m research.ceiling [--policy DIR/model.tar.gz ...] [--quick] [--draws 10] [--out artifacts/ceiling]

The oracle (``training.policies.oracle.Oracle``) knows every future minute's load exactly, its noise included; no
deployable policy can, so "profit / oracle" mixes what a policy fails to learn with what nobody can know. The rate
oracle (``RateOracle``) knows each synthetic scenario's future *rate* (cycles, drift, wander and spikes, all ahead
of time) but not the draws around it: its expected profit bounds any causal policy's on those scenarios. On the
recorded traces there is no rate, and it plans as the oracle does (the only bound there is). So the rate oracle's
total is an upper bound, generous in both parts, on what any policy that sees the past can make on the set.

Every policy runs on the same ``--draws`` capacity-noise draws (``training.evaluation.noise.replay``): the rate
oracle, the oracle, the tuned rules, the best single level of the action table on the full set (0.9, measured by
``research.levels``) and each ``--policy``. Reports total profit per group and as a fraction of the oracle's and
of the rate ceiling's, the plan's expected profit (the bound itself) beside what it earned on the realised loads,
and paired 95 % intervals. Writes ``ceiling.json`` and ``ceiling.md`` under ``--out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.actions import PEAK_WINDOW
from inference.features import HISTORY
from research import results
from research.actions import FixedSizing
from simulator.config import SimConfig
from simulator.fleet import FleetSim
from training import cli
from training.evaluation.cases import ALL, Case, evaluation_cases, groups
from training.evaluation.noise import Draws, Paired, pair_cell, replay
from training.evaluation.scoreboard import default_policies, run_policy
from training.policies.artifact import ArtifactPolicy
from training.policies.base import Policy
from training.policies.oracle import RateOracle, sliding_max

BEST_SINGLE_LEVEL = 0.9
"""The action table's best fixed level on the full evaluation set (``python -m research.levels --full``)."""
SURPRISE_RISE = 0.03
"""A minute is a surprise when its rate beats by more than this the peak a fleet serving it could be sized on."""
TARGET = 0.97
"""The quality target: total profit at least this fraction of the oracle's."""


def surprise_minutes(rate: np.ndarray, config: SimConfig) -> np.ndarray:
    """Simulated minutes (bool, ``len(rate) - HISTORY``) that no deployable policy can have provisioned for.

    The fleet serving minute ``t`` was ordered at ``t - warmup`` at the latest, by a decision that saw the load up to
    ``t - warmup - 1 - lag``: ``d = warmup + 1 + lag`` minutes earlier (8 by default). A minute is a surprise when its
    rate exceeds by more than ``SURPRISE_RISE`` the rate's peak over the ``PEAK_WINDOW`` minutes ending ``d``
    minutes earlier: a spike's onset or ramp, or a rise faster than anything seen, that only a policy which
    foresees the rate, or always holds the headroom, can serve."""
    d = config.warmup_latency + 1 + config.observation_lag_minutes
    reachable = sliding_max(np.asarray(rate, dtype=np.float64), -d - PEAK_WINDOW + 1, -d)[HISTORY:]
    return rate[HISTORY:] > (1.0 + SURPRISE_RISE) * reachable


def attribute(
    policies: dict[str, Policy], cases: list[Case], config: SimConfig, reference: str = "oracle"
) -> dict[str, Any]:
    """Where each policy's gap to the oracle lies on the synthetic cases (noise draw 0): in surprise minutes or
    elsewhere, and how much of each is extra downtime cost or extra machine cost."""
    synthetic = [c for c in cases if c.scenario.rate is not None]
    masks = [surprise_minutes(c.scenario.rate, config) for c in synthetic]
    series = {name: run_policy(p, synthetic, config, seed=0, record=True)[1] for name, p in policies.items()}
    ref = series[reference]
    assert ref is not None
    out: dict[str, Any] = {"surprise_share_of_minutes": float(np.concatenate(masks).mean())}
    for name, recorded in series.items():
        assert recorded is not None
        parts = {"surprise": np.zeros(3), "elsewhere": np.zeros(3)}
        for k, mask in enumerate(masks):
            for part, m in (("surprise", mask), ("elsewhere", ~mask)):
                parts[part] += [
                    float((ref[k]["profit"][m] - recorded[k]["profit"][m]).sum()),
                    float((recorded[k]["downtime_cost"][m] - ref[k]["downtime_cost"][m]).sum()),
                    float((recorded[k]["machine_cost"][m] - ref[k]["machine_cost"][m]).sum()),
                ]
        out[name] = {
            part: dict(zip(("gap", "extra_downtime_cost", "extra_machine_cost"), v.tolist()))
            for part, v in parts.items()
        }
    return out


def planned_bound(cases: list[Case], config: SimConfig, oracle: RateOracle | None = None) -> list[float]:
    """The rate oracle's expected profit per case, as planned (the bound itself, before any draw); ``oracle``: one
    that has planned these cases already, whose plans are reused."""
    oracle = oracle or RateOracle()
    out = []
    for case in cases:
        oracle.reset(FleetSim(config, [case.scenario], seed=0, past=[case.past]))
        out.append(float(oracle.expected_profit[0]))
    return out


def summarise(draws: Draws, cases: list[Case], planned: list[float]) -> dict[str, Any]:
    by_group = {ALL: list(range(len(cases))), **groups(draws.scenarios)}
    policies = list(draws.profit)
    totals: dict[str, dict[str, Any]] = {}
    for name in policies:
        row: dict[str, Any] = {}
        for group, idx in by_group.items():
            profit = draws.profit[name][:, idx].sum(axis=1)
            oracle = draws.profit["oracle"][:, idx].sum(axis=1)
            ceiling = draws.profit["rate oracle"][:, idx].sum(axis=1)
            row[group] = {
                "profit": float(profit.mean()),
                "minutes_down": float(draws.minutes_down[name][:, idx].sum(axis=1).mean()),
                "vs_oracle": float(profit.mean() / oracle.mean()),
                "vs_rate_oracle": float(profit.mean() / ceiling.mean()),
                "minus_rate_oracle": Paired.of(profit - ceiling).to_json(),
            }
        totals[name] = row
    per_case = [
        {
            "scenario": name,
            "kind": kind,
            "oracle": float(draws.profit["oracle"][:, k].mean()),
            "rate_oracle": float(draws.profit["rate oracle"][:, k].mean()),
            "rate_oracle_planned": planned[k],
            **{p: float(draws.profit[p][:, k].mean()) for p in policies if "oracle" not in p},
        }
        for k, (kind, name) in enumerate(draws.scenarios)
    ]
    return {"draws": draws.draws, "groups": list(by_group), "totals": totals, "scenarios": per_case}


def markdown(result: dict[str, Any]) -> str:
    groups_, totals = result["groups"], result["totals"]
    lines = [
        f"Mean profit over {result['draws']} paired capacity-noise draws, $ (fraction of the oracle's; of the rate "
        "ceiling's).",
        "",
        "| policy | " + " | ".join(groups_) + " |",
        "| --- |" + " ---: |" * len(groups_),
    ]
    for name, row in totals.items():
        cells = [
            f"{row[g]['profit']:,.0f} ({row[g]['vs_oracle']:.3f}; {row[g]['vs_rate_oracle']:.3f})" for g in groups_
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Each policy minus the rate ceiling (all scenarios, mean [95 % interval] wins/draws); minutes down:"]
    lines += [""]
    lines += [
        f"- {name}: {pair_cell(row[ALL]['minus_rate_oracle'])} $; {row[ALL]['minutes_down']:,.1f} minutes down"
        for name, row in totals.items()
    ]
    synthetic = [r for r in result["scenarios"] if r["kind"] == "synthetic"]
    lines += [
        "",
        "| scenario | oracle ($) | rate ceiling, planned ($) | rate ceiling, run ($) | run / oracle |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in synthetic:
        lines.append(
            f"| {r['scenario']} | {r['oracle']:,.0f} | {r['rate_oracle_planned']:,.0f} | {r['rate_oracle']:,.0f} | "
            f"{r['rate_oracle'] / r['oracle']:.3f} |"
        )
    planned = sum(r["rate_oracle_planned"] for r in synthetic)
    run = sum(r["rate_oracle"] for r in synthetic)
    oracle = sum(r["oracle"] for r in synthetic)
    lines.append(f"| all synthetic | {oracle:,.0f} | {planned:,.0f} | {run:,.0f} | {run / oracle:.3f} |")
    if "attribution" in result:
        lines += ["", *attribution_markdown(result)]
    return "\n".join(lines) + "\n"


def attribution_markdown(result: dict[str, Any]) -> list[str]:
    att, totals = result["attribution"], result["totals"]
    lines = [
        f"Where the gap to the oracle lies on the synthetic scenarios (draw 0; surprise minutes: "
        f"{att['surprise_share_of_minutes']:.1%} of them), $:",
        "",
        "| policy | gap | in surprise minutes | of it extra downtime cost | elsewhere | of it extra machine cost |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, parts in att.items():
        if not isinstance(parts, dict) or name == "oracle":
            continue
        sur, rest = parts["surprise"], parts["elsewhere"]
        lines.append(
            f"| {name} | {sur['gap'] + rest['gap']:,.0f} | {sur['gap']:,.0f} | {sur['extra_downtime_cost']:,.0f} | "
            f"{rest['gap']:,.0f} | {rest['extra_machine_cost']:,.0f} |"
        )
    fixed = f"fixed level {BEST_SINGLE_LEVEL:g}"
    if fixed in att:
        need = TARGET * totals["oracle"][ALL]["profit"] - totals[fixed][ALL]["profit"]
        traces = [g for g in result["groups"] if g not in (ALL, "held-out synthetic")]
        trace_gap = sum(totals["oracle"][g]["profit"] - totals[fixed][g]["profit"] for g in traces)
        reachable = att[fixed]["elsewhere"]["gap"] + trace_gap
        lines += [
            "",
            f"{TARGET:g} of the oracle needs {need:+,.0f} $ over {fixed}; all of its gap outside the surprise minutes "
            f"on the synthetic scenarios ({att[fixed]['elsewhere']['gap']:,.0f} $) and all of its gap on the traces "
            f"({trace_gap:,.0f} $) come to {reachable:,.0f} $ ({reachable / need:.0%} of it).",
        ]
    return lines


def measure(policy_paths: list[Path], quick: bool, draws: int, config: SimConfig) -> dict[str, Any]:
    cases = evaluation_cases(quick=quick)
    rate = RateOracle()
    policies: dict[str, Policy] = {"rate oracle": rate, **default_policies()}
    policies[f"fixed level {BEST_SINGLE_LEVEL:g}"] = FixedSizing("margin", BEST_SINGLE_LEVEL)
    for path in policy_paths:
        policies[str(path)] = ArtifactPolicy(str(path))
    result = summarise(replay(policies, cases, config, draws), cases, planned_bound(cases, config, rate))
    result["set"] = "quick" if quick else "full"
    result["attribution"] = attribute({k: v for k, v in policies.items() if k != "rate oracle"}, cases, config)
    return result


@dataclass(frozen=True, kw_only=True)
class Args(results.Judged):
    policy: tuple[Path, ...] = ()
    """A packaged policy (repeatable)."""
    quick: bool = False
    """The quick evaluation set (default: the full one)."""
    out: Path = Path("artifacts/ceiling")
    """Directory for the outputs."""

    def __post_init__(self) -> None:
        super().__post_init__()
        results.check_policies(self.policy)


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m research.ceiling", description=__doc__.splitlines()[0])
    result = measure(list(args.policy), args.quick, args.draws, SimConfig())
    results.write(args.out, "ceiling", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
