"""The action-space ablation behind ``inference.actions``: fixed-multiplier rules in the policy's own action space.

A rule that always takes the same headroom action is what PPO would do if it ignored its observation, so it is
the bar below which the network has learned nothing about the state. Two sizing bases are compared, each at
several multipliers, against tuned target tracking, per group of the evaluation report (held-out synthetic loads
together, then each trace's evaluation part), on the same loads and capacity noise as the scoreboard::

    python -m training.bench_actions            # quick evaluation set (seconds)
    python -m training.bench_actions --full     # the full evaluation set (about a minute)

``last``: ``ceil(m x last minute's load)``, the action table before the peak basis. ``peak``: ``ceil(m x peak of
the last PEAK_WINDOW minutes)`` (``inference.actions.sizing_basis``), the current one. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from inference.actions import sizing_basis

from .config import SimConfig
from .evaluate import Case, default_policies, evaluation_cases, run_policy
from .policies import Policy, clip_fleet
from .sim import FleetSim, Observation

MULTIPLIERS = (1.3, 1.4, 1.45, 1.5, 1.55, 1.6, 1.7)


class FixedHeadroom:
    """Always the same headroom ``multiplier`` over ``basis`` ("last" minute or window "peak")."""

    def __init__(self, multiplier: float, basis: str) -> None:
        if basis not in ("last", "peak"):
            raise ValueError(f"basis must be 'last' or 'peak', got {basis!r}")
        self.multiplier, self.basis = multiplier, basis
        self.name = f"{basis} x{multiplier}"

    def reset(self, sim: FleetSim) -> None:
        pass

    def act(self, obs: Observation) -> np.ndarray:
        cap = obs.capacity_rpm_per_machine
        base = sizing_basis(obs.load, cap) if self.basis == "peak" else obs.load[:, -1] / cap
        return clip_fleet(np.ceil(base * self.multiplier - 1e-9), obs)


def by_group(policy: Policy, cases: list[Case], config: SimConfig) -> dict[str, float]:
    """Profit ($) of ``policy`` on the synthetic cases together, on each trace case, and in total."""
    metrics, _ = run_policy(policy, cases, config, seed=0)
    out = {"synthetic": sum(m["profit"] for m, c in zip(metrics, cases) if c.kind == "synthetic")}
    out.update({c.scenario.name: m["profit"] for m, c in zip(metrics, cases) if c.kind == "trace"})
    out["total"] = sum(m["profit"] for m in metrics)
    return {k: round(v, 1) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full evaluation set (default: the quick one)")
    args = parser.parse_args(argv)
    config = SimConfig()
    cases = evaluation_cases(quick=not args.full)
    tt = by_group(default_policies(oracle=False)["target_tracking"], cases, config)
    rows = {"target_tracking (tuned)": tt}
    for basis in ("last", "peak"):
        for m in MULTIPLIERS:
            rule = FixedHeadroom(m, basis)
            rows[rule.name] = by_group(rule, cases, config)
    beats = {
        name: all(v > tt[k] for k, v in row.items()) for name, row in rows.items() if name != "target_tracking (tuned)"
    }
    print(
        json.dumps(
            {"evaluation": "full" if args.full else "quick", "profit": rows, "beats_tt_everywhere": beats}, indent=1
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
