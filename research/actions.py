"""The action-space ablation behind ``inference.actions``: fixed rules in the policy's own action space.

A rule that takes the same action every minute is what PPO would do if it ignored its observation, so it is the
bar below which the network has learned nothing about the state. Three sizing families are compared against tuned
target tracking, per group of the evaluation report (held-out synthetic loads together, then each trace's
evaluation part), on the same loads and capacity noise as the scoreboard, and on the training-side validation
scenarios (tuning stream) as a fraction of the oracle's profit::

    python -m research.actions            # quick evaluation set (seconds)
    python -m research.actions --full     # the full evaluation set (about a minute)

- ``last xM``: ``ceil(M x last minute's load)``, the first action table;
- ``peak xM``: ``ceil(M x peak of the last PEAK_WINDOW minutes)``, the second;
- ``margin Z``: the current table's action of level Z every minute (``inference.actions.desired_at_level``);
- ``seasonal Z``: the same level on the larger of the window's peak and a seasonal-naive forecast (yesterday's
  load over the next minutes, scaled to today; ``seasonal_basis``), the forecastable part of a day's history.

Prints one JSON document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from inference.actions import LEVELS, PEAK_WINDOW, desired_at_level, sizing_basis
from inference.features import DAY
from simulator.config import SimConfig
from simulator.fleet import FleetSim, Observation
from training import cli
from training.evaluation.cases import Case, evaluation_cases, group_of
from training.evaluation.scoreboard import default_policies, run_policy
from training.policies.base import Policy, clip_fleet
from training.rl.config import TrainConfig
from training.rl.validation import ValidationSet

MULTIPLIERS = (1.3, 1.4, 1.5, 1.6, 1.7)
BASES = ("last", "peak", "margin", "seasonal")
SEASONAL_AHEAD = 5
"""The seasonal forecast is yesterday's peak over the decided minute and the next ``SEASONAL_AHEAD`` (the best of
0-5, 3-8 and 5-10 minutes ahead on the full set)."""


def seasonal_basis(obs: Observation, lag: int) -> np.ndarray:
    """Machines' worth of a seasonal-naive forecast of minutes ``t .. t + SEASONAL_AHEAD``: yesterday's peak over
    them, times today's last ``PEAK_WINDOW`` observed minutes over the same minutes yesterday (clipped to 1/3..3).
    NaN where the history does not reach back a day."""
    h = obs.history
    newest = h.shape[1] - 1  # minute t - 1 - lag
    ahead = newest + np.arange(SEASONAL_AHEAD + 1) + 1 + lag - DAY
    yesterday = h[:, ahead].max(axis=1)
    now = h[:, -PEAK_WINDOW:].sum(axis=1)
    then = h[:, newest + 1 - PEAK_WINDOW - DAY : newest + 1 - DAY].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.clip(now / then, 1 / 3, 3.0)
    return ratio * yesterday / obs.capacity_rpm_per_machine


class FixedSizing:
    """The same sizing every minute: ``basis`` "last" or "peak" times ``value``, or "margin" at level ``value``."""

    def __init__(self, basis: str, value: float) -> None:
        if basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
        if basis in ("margin", "seasonal") and value not in LEVELS:
            raise ValueError(f"level must be one of the action table's {LEVELS}, got {value}")
        self.basis, self.value = basis, value
        self.name = f"{basis} {value}" if basis in ("margin", "seasonal") else f"{basis} x{value}"
        self.lag = SimConfig().observation_lag_minutes

    def reset(self, sim: FleetSim) -> None:
        self.lag = sim.config.observation_lag_minutes

    def act(self, obs: Observation) -> np.ndarray:
        cap = obs.capacity_rpm_per_machine
        if self.basis == "last":
            return clip_fleet(np.ceil(obs.load[:, -1] / cap * self.value - 1e-9), obs)
        peak = sizing_basis(obs.load, cap, obs.history, obs.economics)  # the product's window
        if self.basis == "peak":
            return clip_fleet(np.ceil(peak * self.value - 1e-9), obs)
        if self.basis == "seasonal":
            forecast = seasonal_basis(obs, self.lag)
            peak = np.where(np.isfinite(forecast), np.maximum(peak, forecast), peak)
        return clip_fleet(desired_at_level(self.value, peak, obs.active, obs.pending), obs)


def by_group(policy: Policy, cases: list[Case], config: SimConfig) -> dict[str, float]:
    """Profit ($) of ``policy`` in each of the gate's groups (``training.evaluation.cases.group_of``), and in total."""
    metrics, _ = run_policy(policy, cases, config, seed=0)
    out: dict[str, float] = {}
    for m, c in zip(metrics, cases):
        group = group_of(c.kind, c.scenario.name)
        out[group] = out.get(group, 0.0) + m["profit"]
    out["total"] = sum(m["profit"] for m in metrics)
    return {k: round(v, 1) for k, v in out.items()}


def rules() -> list[FixedSizing]:
    levels = [z for z in LEVELS if 0.5 <= z <= 1.5]
    return [FixedSizing(b, m) for b in ("last", "peak") for m in MULTIPLIERS] + [
        FixedSizing(b, z) for b in ("margin", "seasonal") for z in levels
    ]


@dataclass(frozen=True)
class Args:
    full: bool = False
    """The full evaluation set (default: the quick one)."""
    validation_scenarios: int = 96
    """Training-side scenarios (1,000 minutes each) scored as a fraction of the oracle's profit."""


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m research.actions", description=__doc__.splitlines()[0])
    config = SimConfig()
    cases = evaluation_cases(quick=not args.full)
    training = TrainConfig()  # the training run's episode length and share of trace scenarios
    validation = ValidationSet.build(
        config, args.validation_scenarios, training.episode_minutes, training.trace_probability
    )
    tt = default_policies(oracle=False)["target_tracking"]
    rows = {"target_tracking (tuned)": {**by_group(tt, cases, config), "validation": validation.profit_vs_oracle(tt)}}
    for rule in rules():
        rows[rule.name] = {**by_group(rule, cases, config), "validation": validation.profit_vs_oracle(rule)}
    base = rows["target_tracking (tuned)"]
    groups = [k for k in base if k not in ("total", "validation")]
    beats = {name: all(row[g] > base[g] for g in groups) for name, row in rows.items() if row is not base}
    doc = {
        "evaluation": "full" if args.full else "quick",
        "profit": rows,
        "validation": f"profit / oracle on {args.validation_scenarios} training-side scenarios (tuning stream)",
        "beats_target_tracking_in_every_group": beats,
    }
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
