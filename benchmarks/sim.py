"""Speed figures of the simulator and the evaluation, printed as one JSON object (medians over repeats).

    python -m benchmarks.sim [--repeats 5] [--eval-repeats 3] [--skip-eval]

- ``batched_sim``: environment-steps/s of ``FleetSim.step`` over many fleets, pinned to one core (target
  >= 1,000,000); ``batched_sim_with_observe`` also builds each minute's ``Observation`` and decides "hold",
  which is what a batched policy loop pays on top of the policy itself.
- ``gym_env``: steps/s of one ``training.sim.env.FleetEnv`` with random actions, episode resets included (target
  >= 50,000).
- ``evaluation``: wall time of ``evaluate`` for every tuned baseline and the oracle on every scenario of the
  full scoreboard, scenario construction included, plots excluded (target < 120 s).

The process pins itself to one CPU (``os.sched_setaffinity``) and limits BLAS threads before importing numpy,
so the figures are per core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

from training import cli  # noqa: E402

TARGETS = {"batched_sim": 1_000_000.0, "gym_env": 50_000.0, "evaluation_s": 120.0}


def _pin_one_core() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def bench_batched(fleets: int, minutes: int, repeats: int) -> tuple[dict, dict]:
    from simulator.config import SimConfig
    from simulator.fleet import FleetSim
    from simulator.loads import eval_synthetic

    distinct = [eval_synthetic(i, minutes) for i in range(64)]
    sim = FleetSim(SimConfig(), [distinct[i % 64] for i in range(fleets)], seed=0)
    hold = sim.active.copy()
    sim.step(hold)  # compile / load the kernel before timing
    step_rates, loop_rates = [], []
    for _ in range(repeats):
        sim.reset()
        start = time.perf_counter()
        for _ in range(sim.minutes):
            sim.step(hold)
        step_rates.append(fleets * sim.minutes / (time.perf_counter() - start))
        sim.reset()
        start = time.perf_counter()
        for _ in range(sim.minutes):
            obs = sim.observe()
            sim.step(obs.active + obs.pending)
        loop_rates.append(fleets * sim.minutes / (time.perf_counter() - start))
    common = {"fleets": fleets, "minutes": minutes, "repeats": repeats}
    step = {
        **common,
        "env_steps_per_s": statistics.median(step_rates),
        "all": [round(r) for r in step_rates],
        "target": TARGETS["batched_sim"],
        "meets_target": statistics.median(step_rates) >= TARGETS["batched_sim"],
    }
    loop = {**common, "env_steps_per_s": statistics.median(loop_rates), "all": [round(r) for r in loop_rates]}
    return step, loop


def bench_gym(steps: int, repeats: int) -> dict:
    from training.sim.env import FleetEnv

    env = FleetEnv()
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, steps).tolist()
    rates = []
    for r in range(repeats):
        env.reset(seed=r)
        start = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        rates.append(steps / (time.perf_counter() - start))
    return {
        "steps": steps,
        "repeats": repeats,
        "steps_per_s": statistics.median(rates),
        "all": [round(r) for r in rates],
        "episode_minutes": env.config.episode_minutes,
        "target": TARGETS["gym_env"],
        "meets_target": statistics.median(rates) >= TARGETS["gym_env"],
    }


def bench_evaluation(repeats: int) -> dict:
    from simulator.config import SimConfig
    from training.evaluation.cases import evaluation_cases
    from training.evaluation.scoreboard import default_policies, evaluate

    walls = []
    scenarios = policies = steps = 0
    for _ in range(repeats):
        start = time.perf_counter()
        cases = evaluation_cases(quick=False)
        pols = default_policies()
        report = evaluate(pols, cases, SimConfig(), record=False, progress=False)
        walls.append(time.perf_counter() - start)
        scenarios, policies = len(cases), len(pols)
        steps = sum(c.scenario.minutes for c in cases) * len(pols)
        del report
    return {
        "wall_s": statistics.median(walls),
        "all": [round(w, 2) for w in walls],
        "repeats": repeats,
        "scenarios": scenarios,
        "policies": policies,
        "fleet_minutes_simulated": steps,
        "target_s": TARGETS["evaluation_s"],
        "meets_target": statistics.median(walls) < TARGETS["evaluation_s"],
    }


@dataclass(frozen=True)
class Args:
    repeats: int = 5
    """Repeats of the simulator benchmarks."""
    eval_repeats: int = 3
    """Repeats of the full evaluation."""
    fleets: int = 16384
    """Fleets in the batched benchmark."""
    minutes: int = 500
    """Minutes per batched run."""
    gym_steps: int = 100_000
    """Steps per Gymnasium run."""
    skip_eval: bool = False
    """Skip the full-evaluation timing."""


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m benchmarks.sim", description=__doc__.split("\n")[0])

    core = _pin_one_core()
    batched, loop = bench_batched(args.fleets, args.minutes, args.repeats)
    out = {
        "host": {"python": platform.python_version(), "machine": platform.machine(), "pinned_core": core},
        "batched_sim": batched,
        "batched_sim_with_observe": loop,
        "gym_env": bench_gym(args.gym_steps, args.repeats),
    }
    if not args.skip_eval:
        out["evaluation"] = bench_evaluation(args.eval_repeats)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
