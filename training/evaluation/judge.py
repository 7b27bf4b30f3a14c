"""The one rule that judges a candidate against a baseline on an evaluation report (the gate's rule).

The candidate passes a group of scenarios when its total profit there is higher than the baseline's and its
share of minutes down is not higher. Groups: the held-out synthetic scenarios together, each recorded trace's
evaluation part on its own (``training.evaluation.cases.group_of``), and all scenarios together. With
``scope="overall"`` (the issue's rule) only "all scenarios" decides; with ``"each"`` every group must pass too.
Every check has the same shape, whichever group it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args

from training.evaluation.cases import ALL, GateScope, groups
from training.evaluation.scoreboard import Report

SCOPES = get_args(GateScope)


@dataclass
class Judgement:
    passed: bool
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)


def check(report: Report, candidate: str, baseline: str, label: str, names: list[str], blocking: bool) -> dict:
    """One group's comparison: both policies' profit and % of minutes down over ``names``, and the verdict."""
    totals = {}
    for policy in (candidate, baseline):
        rows = [report.result(policy, n) for n in names]
        minutes = sum(r["minutes"] for r in rows)
        totals[policy] = (sum(r["profit"] for r in rows), 100.0 * sum(r["minutes_down"] for r in rows) / minutes)
    (profit, down), (base_profit, base_down) = totals[candidate], totals[baseline]
    return {
        "scope": label,
        "scenarios": names,
        "profit": profit,
        "baseline_profit": base_profit,
        "pct_minutes_down": down,
        "baseline_pct_minutes_down": base_down,
        "passed": bool(profit > base_profit and down <= base_down),
        "blocking": blocking,
        "reason": (
            f"{label}: {candidate} total profit {profit:.0f} vs {baseline} {base_profit:.0f}; "
            f"minutes down {down:.3f} % vs {base_down:.3f} %"
        ),
    }


def judge(report: Report, candidate: str, baseline: str = "target_tracking", scope: GateScope = "overall") -> Judgement:
    """Apply the rule (module docstring) to ``report``, which must hold both policies."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    for name in (candidate, baseline):
        if name not in report.results:
            raise KeyError(f"policy {name!r} is not in the report; it has {', '.join(report.results)}")
    names = report.scenario_names
    found = groups((s["kind"], s["name"]) for s in report.scenarios)
    checks = [
        check(report, candidate, baseline, label, [names[i] for i in idx], blocking=scope == "each")
        for label, idx in found.items()
    ]
    checks.append(check(report, candidate, baseline, ALL, names, blocking=True))
    failed = [c for c in checks if c["blocking"] and not c["passed"]]
    rule = f"{baseline} on profit at equal or better availability"
    if not failed:
        return Judgement(True, f"beats {rule}: {checks[-1]['reason']}", checks)
    return Judgement(False, f"does not beat {rule} in: " + "; ".join(c["reason"] for c in failed), checks)
