"""Tunes each baseline's one parameter on the training split and freezes it in ``tuned_baselines.json`` here.

    python -m training.policies.tuning            # rewrites training/policies/tuned_baselines.json (about 2 minutes)

Tuning scenarios (``tuning_cases``), disjoint from the evaluation: 24 synthetic loads from the tuning random
stream (``TUNE_STREAM``; evaluation uses ``EVAL_STREAM``) and 3 windows of each recorded trace's training part
(first 70 % by time; evaluation uses the last 30 %), 3 days each, with the load before them as history.

Search: a grid over the parameter's whole sensible range at a step of 0.01 (one point per 1 % of utilisation
target or of headroom), then a finer grid (step 0.0025) within +-0.01 of the best point; the value with the
highest mean profit per scenario wins. Every grid point runs on the same scenarios with the same capacity noise
(common random numbers: each point is one batched simulation of all scenarios from the same seed). The
whole objective curve is kept in the JSON so anyone can check that the optimum is interior and the grid fine
enough.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from inference.features import HISTORY
from simulator.config import SimConfig, fleet_config
from simulator.fleet import FleetSim
from simulator.loads import TRACES, TUNE_STREAM, Scenario, trace_part_minutes
from training.evaluation.cases import Case, synthetic_case, trace_case
from training.policies.base import rollout
from training.policies.rules import BASELINES, TUNED_PATH

MINUTES = 3 * 1440
N_SYNTHETIC = 24
TRACE_WINDOWS = 3
TRACE_MIN_PAST = 7 * 1440
"""Trace windows start late enough in the training part to have at least a week of history before them."""
GRIDS: dict[str, tuple[str, float, float]] = {
    "static": ("headroom", 0.60, 1.60),
    "target_tracking": ("target", 0.30, 0.98),
    "step_scaling": ("threshold", 0.30, 0.98),
    "hpa": ("target", 0.30, 0.98),
    "predictive": ("target", 0.30, 0.98),
}
"""Baseline -> (parameter, lowest, highest value searched)."""
COARSE_STEP = 0.01
FINE_STEP = 0.0025


def tuning_cases(
    minutes: int = MINUTES, n_synthetic: int = N_SYNTHETIC, trace_windows: int = TRACE_WINDOWS
) -> list[Case]:
    """Training-split scenarios for tuning (see the module docstring); all ``minutes`` long."""
    cases = [synthetic_case(i, minutes, stream=TUNE_STREAM, prefix="tune") for i in range(n_synthetic)]
    for name in sorted(TRACES):
        first = TRACE_MIN_PAST + 2 * HISTORY
        last = trace_part_minutes(name, "train") - minutes
        if last < first:
            raise ValueError(f"trace {name!r} training part is too short for {minutes}-minute tuning windows")
        for offset in np.linspace(first, last, trace_windows).astype(int):
            sc = trace_case(name, "train", minutes=minutes, offset=int(offset))
            renamed = Scenario(
                f"{name}-train@{offset}", sc.scenario.load, sc.scenario.start, sc.scenario.initial_machines,
                {**sc.scenario.meta, "window_offset": int(offset)},
            )  # fmt: skip
            cases.append(Case(renamed, sc.past, sc.kind))
    return cases


def mean_profit(
    name: str, values: np.ndarray, cases: list[Case], config: SimConfig, seed: int, progress: tqdm | None = None
) -> np.ndarray:
    """Mean profit per case of baseline ``name`` at each parameter value, every value on the same noise (one
    simulation of all cases per value, each built from the same seed: common random numbers)."""
    out = np.empty(len(values))
    scenarios = [c.scenario for c in cases]
    past = [c.past for c in cases]
    for k, value in enumerate(values):
        sim = FleetSim(config, scenarios, seed=seed, past=past)
        out[k] = rollout(BASELINES[name](float(value)), sim, past)["reward"].mean()
        if progress is not None:
            progress.update(sim.minutes)
    return out


def tune(name: str, cases: list[Case], config: SimConfig, *, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Coarse then fine grid search of one baseline's parameter; returns its JSON entry."""
    param, lo, hi = GRIDS[name]
    minutes = {c.scenario.minutes for c in cases}
    if len(minutes) != 1:
        raise ValueError(f"tuning cases must all have the same length, got {sorted(minutes)}")
    coarse = np.round(np.arange(lo, hi + COARSE_STEP / 2, COARSE_STEP), 4)
    bar = tqdm(total=0, desc=f"tune {name}", unit="min", disable=not progress, mininterval=0.5)
    bar.total = (len(coarse) + 8) * cases[0].scenario.minutes
    coarse_profit = mean_profit(name, coarse, cases, config, seed, bar)
    best = coarse[int(np.argmax(coarse_profit))]
    fine = np.round(np.arange(best - 0.01, best + 0.01 + FINE_STEP / 2, FINE_STEP), 4)
    fine = fine[(fine >= lo) & (fine <= hi) & ~np.isin(fine, coarse)]
    fine_profit = mean_profit(name, fine, cases, config, seed, bar)
    bar.close()
    values = np.concatenate([coarse, fine])
    profits = np.concatenate([coarse_profit, fine_profit])
    order = np.argsort(values)
    i = int(np.argmax(profits))
    return {
        "parameter": param,
        "value": float(values[i]),
        "mean_profit": float(profits[i]),
        "at_grid_edge": bool(values[i] in (lo, hi)),
        "grid": [[float(v), round(float(p), 2)] for v, p in zip(values[order], profits[order])],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.policies.tuning", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=TUNED_PATH, help="JSON to write (default: %(default)s)")
    parser.add_argument("--only", nargs="*", choices=sorted(GRIDS), help="tune only these baselines")
    parser.add_argument("--seed", type=int, default=0, help="capacity-noise seed of the tuning runs")
    args = parser.parse_args(argv)

    config = fleet_config()
    start = time.perf_counter()
    cases = tuning_cases()
    doc: dict[str, Any] = {}
    if args.out.is_file() and args.only:
        doc = json.loads(args.out.read_text())
    baselines = dict(doc.get("baselines", {}))
    for name in args.only or list(GRIDS):
        baselines[name] = tune(name, cases, config, seed=args.seed)
        entry = baselines[name]
        print(f"{name}: {entry['parameter']} = {entry['value']} (mean profit {entry['mean_profit']:.1f} $)")
    doc = {
        "command": "python -m training.policies.tuning",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "objective": "mean profit ($) per tuning scenario, same capacity noise for every parameter value",
        "search": f"grid step {COARSE_STEP} over each range, then step {FINE_STEP} within +-0.01 of the best",
        "seed": args.seed,
        "config": config.to_dict(),
        "scenarios": [c.scenario.name for c in cases],
        "minutes": cases[0].scenario.minutes,
        "wall_s": round(time.perf_counter() - start, 1),
        "baselines": {name: baselines[name] for name in GRIDS if name in baselines},
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
