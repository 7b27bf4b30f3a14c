"""The one rule that judges a candidate against the tuned rules: the gate's decision and the noise benchmark's
verdicts (``research.noise``) both come from ``judge``.

Evidence: every policy replayed on the held-out cases under the same capacity-noise draws
(``training.evaluation.noise.Draws``, at least two draws), never one draw. For each group and each tuned rule,
the paired difference candidate - rule of the profit summed over the group's scenarios, one value per draw,
and its 95 % interval (Student's t over the draws, ``noise.Paired``). A group fails when

- profit: some tuned rule beats the candidate with 95 % confidence (its interval lies entirely below zero), or
- availability: the candidate is down more often than the group's best rule (the rule with the highest mean
  profit there, the one a team would run instead) with 95 % confidence: the paired difference of the share of
  minutes down (rule - candidate, in percentage points) lies entirely below zero. Profit already prices a
  minute down at 200 $; this keeps a candidate from buying its profit with outages against the best rule.

The candidate passes when no group fails. Groups (blocking): the held-out synthetic scenarios together, each
recorded trace's evaluation part (``training.evaluation.cases.group_of``) and all scenarios together. Each
synthetic scenario gets the same check, recorded but not blocking (a trace is a group of its own). A tie (the
interval holds zero) passes: with 2 draws (t with 1 degree of freedom: 12.7 standard errors) only a large,
consistent loss refuses; with 10 draws (2.26) a loss of about one standard deviation of the draws does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training.evaluation.cases import ALL, groups
from training.evaluation.noise import Draws, Paired, pair_cell


@dataclass
class Judgement:
    passed: bool
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    """One per group (``blocking``) then one per synthetic scenario, all of one shape."""


def check(draws: Draws, candidate: str, rules: list[str], label: str, idx: list[int], blocking: bool) -> dict:
    """The rule (module docstring) on the cases ``idx``: profit against every rule, availability against the best."""
    policies = [*rules, candidate]
    profit = {p: draws.profit[p][:, idx].sum(axis=1) for p in policies}
    minutes = float(draws.minutes[idx].sum())
    down = {p: 100.0 * draws.minutes_down[p][:, idx].sum(axis=1) / minutes for p in policies}
    vs = {rule: Paired.of(profit[candidate] - profit[rule]) for rule in rules}
    verdicts = {p.verdict for p in vs.values()}
    best = max(rules, key=lambda r: profit[r].mean())
    avail = Paired.of(down[best] - down[candidate])
    beaten_by = [rule for rule, p in vs.items() if p.verdict == "loses"]
    failures = [f"{rule} beats {candidate}: {candidate} - {rule} {pair_cell(vars(vs[rule]))} $" for rule in beaten_by]
    if avail.verdict == "loses":
        failures.append(
            f"{candidate} is down {down[candidate].mean():.3f} % of minutes vs {best}'s {down[best].mean():.3f} % "
            f"({best} - {candidate} {pair_cell(vars(avail), unit='pp')} pp)"
        )
    closest = min(rules, key=lambda r: vs[r].mean)
    summary = f"closest rule {closest}: {candidate} - {closest} {pair_cell(vars(vs[closest]))} $"
    return {
        "scope": label,
        "scenarios": [draws.scenarios[i][1] for i in idx],
        "blocking": blocking,
        "passed": not failures,
        "mean": {p: float(profit[p].mean()) for p in policies},
        "sd": {p: float(profit[p].std(ddof=1)) for p in policies},
        "vs": {rule: p.to_json() for rule, p in vs.items()},
        "verdict": "loses" if "loses" in verdicts else "tie" if "tie" in verdicts else "beats",
        "availability": {
            "rule": best,
            "pct_minutes_down": float(down[candidate].mean()),
            "rule_pct_minutes_down": float(down[best].mean()),
            **avail.to_json(),
        },
        "reason": f"{label}: " + ("; ".join(failures) if failures else summary),
    }


def judge(draws: Draws, candidate: str, rules: list[str]) -> Judgement:
    """Apply the rule (module docstring) to ``draws``, which must hold the candidate and every rule."""
    for name in (candidate, *rules):
        if name not in draws.profit:
            raise KeyError(f"policy {name!r} is not in the draws; they have {', '.join(draws.profit)}")
    if not rules or candidate in rules:
        raise ValueError(f"rules must be one or more policies other than the candidate, got {rules}")
    found = groups(draws.scenarios)
    found[ALL] = list(range(len(draws.scenarios)))
    checks = [check(draws, candidate, rules, label, idx, blocking=True) for label, idx in found.items()]
    checks += [
        check(draws, candidate, rules, name, [i], blocking=False)
        for i, (kind, name) in enumerate(draws.scenarios)
        if kind == "synthetic"
    ]
    failed = [c for c in checks if c["blocking"] and not c["passed"]]
    n = draws.draws
    if not failed:
        overall = next(c for c in checks if c["scope"] == ALL)
        return Judgement(
            True,
            f"no tuned rule beats {candidate} with 95 % confidence on any group over {n} noise draws, nor is it "
            f"less available than the best rule of any group ({overall['reason']})",
            checks,
        )
    return Judgement(
        False, f"loses with 95 % confidence over {n} noise draws in " + "; ".join(c["reason"] for c in failed), checks
    )


def scenario_verdicts(judgement: Judgement) -> dict[str, str]:
    """Scenario -> verdict against every rule (beats / tie / loses): each synthetic scenario and each trace."""
    return {c["scope"]: c["verdict"] for c in judgement.checks if c["scenarios"] == [c["scope"]]}
