"""Is a policy's lead over the rules real, or one draw of the capacity noise? Every policy replayed on the same
held-out loads under many draws of the noise (paired), and the paired statistics the judge decides on
(``training.evaluation.judge``; ``research.noise`` is the command line, the gate runs the same).

The evaluation report scores every policy on one draw of the fleet's capacity noise (``seed`` 0). On a small
group (two World Cup days, a 5-machine fleet) that draw alone moves a policy's profit by 1 to 3 %, as much as the
gaps between good policies. ``replay`` runs every policy under ``seeds`` draws, every policy on the same draw each
time, and records each case's profit and minutes down; ``Paired`` is a candidate's difference to a rule over
those draws: mean, 95 % confidence interval (Student's t over the draws) and the draws it wins.

    python -m research.noise --policy artifacts/model/model.tar.gz [--seeds 10] [--full] [--json FILE]
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from simulator.config import SimConfig
from training.evaluation.cases import Case
from training.evaluation.scoreboard import run_policy
from training.policies.base import Policy

MIN_DRAWS = 2
"""An interval needs two draws (Student's t with one degree of freedom is the widest, and still defined)."""


@dataclass(frozen=True)
class Paired:
    """A candidate's outcome minus a rule's over paired noise draws (positive: the candidate did better)."""

    mean: float
    lo: float
    hi: float
    wins: int
    draws: int

    @classmethod
    def of(cls, diff: np.ndarray) -> Paired:
        """Mean and 95 % interval of ``diff`` (one value per draw; at least ``MIN_DRAWS``), draws above zero."""
        n = len(diff)
        if n < MIN_DRAWS:
            raise ValueError(f"a 95 % interval needs at least {MIN_DRAWS} draws, got {n}")
        from scipy import stats

        mean = float(diff.mean())
        half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n))
        return cls(mean, mean - half, mean + half, int((diff > 0).sum()), n)

    @property
    def verdict(self) -> str:
        """ "beats" (interval above zero), "loses" (below zero) or "tie" (it holds zero)."""
        return "beats" if self.lo > 0 else "loses" if self.hi < 0 else "tie"

    def to_json(self) -> dict:
        return vars(self) | {"verdict": self.verdict}


def pair_cell(pair: dict, unit: str = "$") -> str:
    """One paired difference as text, ``mean [95 % interval] wins/draws`` (the CLI and ``report.md``)."""
    spec = "+,.0f" if unit == "$" else "+.3f"
    return f"{pair['mean']:{spec}} [{pair['lo']:{spec}}, {pair['hi']:{spec}}] {pair['wins']}/{pair['draws']}"


@dataclass(frozen=True)
class Draws:
    """Every policy on every case under the same capacity-noise draws: what ``training.evaluation.judge`` judges."""

    scenarios: list[tuple[str, str]]
    """(kind, name) of each case."""
    minutes: np.ndarray
    """(cases,): minutes of each case."""
    profit: dict[str, np.ndarray]
    """policy -> (draws, cases) profit in $."""
    minutes_down: dict[str, np.ndarray]
    """policy -> (draws, cases) minutes down."""

    @property
    def draws(self) -> int:
        return len(next(iter(self.profit.values())))


def default_workers() -> int:
    """Processes for ``replay``: one per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def replay(
    policies: dict[str, Policy],
    cases: list[Case],
    config: SimConfig,
    seeds: int,
    progress: bool = True,
    workers: int = 1,
) -> Draws:
    """Draw ``s`` is ``run_policy(..., seed=s)`` for every policy, ``s`` in ``range(seeds)``.

    ``workers`` > 1 runs the draws in that many processes (spawned, each given the policies as they are, fits
    included): every draw is the same computation wherever it runs, so the result is the same."""
    if seeds < MIN_DRAWS:
        raise ValueError(f"seeds must be at least {MIN_DRAWS} (an interval needs two draws), got {seeds}")
    profit = {name: np.zeros((seeds, len(cases))) for name in policies}
    down = {name: np.zeros((seeds, len(cases))) for name in policies}
    with tqdm(total=seeds * len(policies), desc="noise draws", unit="run", disable=not progress) as bar:

        def record(s: int, outcome: dict[str, tuple[list[float], list[float]]]) -> None:
            for name, (p, d) in outcome.items():
                profit[name][s], down[name][s] = p, d
            bar.update(len(outcome))

        if workers > 1 and seeds > 1:
            context = multiprocessing.get_context("spawn")  # no inherited threads or locks (Ray, torch, BLAS)
            with ProcessPoolExecutor(
                min(workers, seeds), mp_context=context, initializer=_start_worker, initargs=(policies, cases, config)
            ) as pool:
                futures = {pool.submit(_draw, s): s for s in range(seeds)}
                for future in as_completed(futures):
                    record(futures[future], future.result())
        else:
            for s in range(seeds):
                record(s, _draw(s, policies, cases, config))
    return Draws(
        scenarios=[(c.kind, c.scenario.name) for c in cases],
        minutes=np.array([c.scenario.minutes for c in cases], dtype=float),
        profit=profit,
        minutes_down=down,
    )


_WORKER: dict[str, Any] = {}
"""A replay worker's policies, cases and config (``_start_worker``)."""


def _start_worker(policies: dict[str, Policy], cases: list[Case], config: SimConfig) -> None:
    _WORKER.update(policies=policies, cases=cases, config=config)


def _draw(
    s: int,
    policies: dict[str, Policy] | None = None,
    cases: list[Case] | None = None,
    config: SimConfig | None = None,
) -> dict[str, tuple[list[float], list[float]]]:
    """Every policy's (profit, minutes down) per case on draw ``s`` (a worker's own policies when not given)."""
    policies = _WORKER["policies"] if policies is None else policies
    cases = _WORKER["cases"] if cases is None else cases
    config = _WORKER["config"] if config is None else config
    out = {}
    for name, policy in policies.items():
        metrics, _ = run_policy(policy, cases, config, seed=s)
        out[name] = ([m["profit"] for m in metrics], [m["minutes_down"] for m in metrics])
    return out
