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
from training.evaluation.cases import Case, in_cell, small_fleet_case, synthetic_case, trace_case
from training.evaluation.cells import SMALL, cells
from training.policies.base import rollout
from training.policies.rules import BASELINES, TUNED_CELLS_PATH, TUNED_PATH

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


BATCH_FLEETS = 900
"""Fleets simulated at once: several parameter values of all cases in one batched simulation."""


def mean_profit(
    name: str, values: np.ndarray, cases: list[Case], config: SimConfig, seed: int, progress: tqdm | None = None
) -> np.ndarray:
    """Mean profit per case of baseline ``name`` at each parameter value, every value on the same noise (common
    random numbers: each value's copy of the cases replays the noise one simulation of the cases draws from
    ``seed``). Several values run as one simulation (per-fleet parameters); a case with its own ``config`` (an
    economics cell's) is simulated with it."""
    out = np.empty(len(values))
    scenarios = [c.scenario for c in cases]
    past = [c.past for c in cases]
    configs = [c.config or config for c in cases]
    n = len(cases)
    noise = np.random.default_rng(seed).standard_normal((n, scenarios[0].minutes))
    per_batch = max(1, BATCH_FLEETS // n)
    for start in range(0, len(values), per_batch):
        chunk = values[start : start + per_batch]
        k = len(chunk)
        sim = FleetSim(configs * k, scenarios * k, noise=np.tile(noise, (k, 1)), past=past * k)
        params = np.repeat(chunk.astype(np.float64), n)
        reward = rollout(BASELINES[name](params), sim, past * k)["reward"]
        out[start : start + k] = reward.reshape(k, n).mean(axis=1)
        if progress is not None:
            progress.update(sim.minutes * k)
    return out


def tune(
    name: str,
    cases: list[Case],
    config: SimConfig,
    *,
    seed: int = 0,
    progress: bool = True,
    coarse_step: float = COARSE_STEP,
) -> dict[str, Any]:
    """Coarse then fine grid search of one baseline's parameter (the fine grid spans one coarse step either side
    of the best coarse point); returns its JSON entry."""
    param, lo, hi = GRIDS[name]
    minutes = {c.scenario.minutes for c in cases}
    if len(minutes) != 1:
        raise ValueError(f"tuning cases must all have the same length, got {sorted(minutes)}")
    coarse = np.round(np.arange(lo, hi + coarse_step / 2, coarse_step), 4)
    bar = tqdm(total=0, desc=f"tune {name}", unit="min", disable=not progress, mininterval=0.5)
    bar.total = (len(coarse) + 8) * cases[0].scenario.minutes
    coarse_profit = mean_profit(name, coarse, cases, config, seed, bar)
    best = coarse[int(np.argmax(coarse_profit))]
    fine = np.round(np.arange(best - coarse_step, best + coarse_step + FINE_STEP / 2, FINE_STEP), 4)
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


N_SMALL = 16
"""Small-fleet tuning cases (``training.evaluation.cases.small_fleet_case`` on the tuning stream)."""


def small_tuning_cases(minutes: int = MINUTES, count: int = N_SMALL) -> list[Case]:
    """Small fleets of the tuning stream (never evaluated on), as the scoreboard's small-fleet group draws them."""
    return [small_fleet_case(i, minutes, stream=TUNE_STREAM, prefix="tune-small") for i in range(count)]


def tune_cells(mode: str, *, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Every baseline tuned for every economics cell of ``mode`` (``training.evaluation.cells``), on the regular
    tuning cases and on the small-fleet tuning cases apart: ``{cell: {"regular"|"small": {baseline: entry}}}``."""
    regular, small = tuning_cases(), small_tuning_cases()
    out: dict[str, Any] = {}
    for cell in cells(mode):
        out[cell.name] = {}
        for fleet, base in (("regular", regular), (SMALL, small)):
            cases = [in_cell(c, cell) for c in base]
            entries = {name: tune(name, cases, cases[0].config, seed=seed, progress=progress) for name in GRIDS}
            for entry in entries.values():  # 22 objective curves would make the file 400 kB; rerun to see them
                entry.pop("grid")
            out[cell.name][fleet] = entries
            values = ", ".join(f"{n} {e['value']:g}" for n, e in entries.items())
            print(f"{cell.name} {fleet}: {values}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.policies.tuning", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=TUNED_PATH, help="JSON to write (default: %(default)s)")
    parser.add_argument("--only", nargs="*", choices=sorted(GRIDS), help="tune only these baselines")
    parser.add_argument("--seed", type=int, default=0, help="capacity-noise seed of the tuning runs")
    parser.add_argument(
        "--cells", choices=["quick", "full"], default=None,
        help=f"tune every baseline for every economics cell of this preset instead, into {TUNED_CELLS_PATH.name}",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.cells:
        start = time.perf_counter()
        tuned = tune_cells(args.cells, seed=args.seed)
        doc = {
            "command": f"python -m training.policies.tuning --cells {args.cells}",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "objective": "mean profit ($) per tuning scenario of the cell, same capacity noise for every value",
            "search": f"grid step {COARSE_STEP} over each range, then step {FINE_STEP} within +-0.01 of the best",
            "seed": args.seed,
            "regular_scenarios": [c.scenario.name for c in tuning_cases()],
            "small_scenarios": [c.scenario.name for c in small_tuning_cases()],
            "wall_s": round(time.perf_counter() - start, 1),
            "cells": tuned,
            "note": "grids dropped to keep the file small: rerun the command for the objective curves; "
            "at_grid_edge flags an optimum on the range's edge",
        }
        out = TUNED_CELLS_PATH if args.out == TUNED_PATH else args.out
        out.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {out}")
        return 0

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
