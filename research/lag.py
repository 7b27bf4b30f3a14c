"""What the observation lag costs the rules: the full scoreboard's rules at several lags, with tuned values at hand.

    python -m research.lag                                  # lags 0 and 2, training/policies/tuned_baselines.json
    git show 1f1526d:training/policies/tuned_baselines.json > /tmp/lag0.json
    python -m research.lag --tuned /tmp/lag0.json           # the values tuned before the lag existed

Every rule and the oracle on the full held-out set (seed 0, the scoreboard's cases and noise), once per lag
(``SimConfig.observation_lag_minutes``); prints total profit and % of minutes down per policy and lag as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from simulator.config import SimConfig
from training import cli
from training.evaluation.cases import evaluation_cases
from training.evaluation.scoreboard import default_policies, evaluate
from training.policies.rules import TUNED_PATH, load_tuned


@dataclass(frozen=True)
class Args:
    tuned: Path = TUNED_PATH
    """Tuned values of the rules."""
    lags: tuple[int, ...] = (0, 2)
    """Observation lags, in minutes."""
    quick: bool = False
    """The quick evaluation set."""


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m research.lag", description=__doc__.splitlines()[0])
    tuned = load_tuned(args.tuned)
    cases = evaluation_cases(quick=args.quick)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for lag in args.lags:
        report = evaluate(
            default_policies(tuned), cases, SimConfig(observation_lag_minutes=lag), record=False, progress=False
        )
        out[f"lag {lag}"] = {
            name: {"total_profit": round(s["total_profit"], 2), "pct_minutes_down": round(s["pct_minutes_down"], 3)}
            for name, s in report.summary().items()
        }
    print(json.dumps({"tuned": str(args.tuned), "tuned_values": tuned, "results": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
