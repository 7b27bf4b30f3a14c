"""The scoreboard: every policy on the same held-out cases, the same capacity noise, against the oracle.

    python -m training.evaluate --out artifacts/eval [--quick] [--policy artifacts/model/model.tar.gz ...]

Cases: ``training.evaluation.cases``. Policies run batched through ``simulator.FleetSim`` (one
``training.policies.base.rollout`` per group of equally long cases) with common random numbers: the noise
depends only on the seed and the scenarios, so every policy faces the same capacities. Outputs
(``training.evaluation.report.write_report``): ``report.json`` (schema in docs/evaluation.md), ``report.md`` and
PNG plots.

API for other code (the PPO gate): ``evaluate(policies, cases, config) -> Report``, then ``report.summary()``
and ``report.result(policy, scenario)``. The report is one draw of the noise and decides nothing: the gate judges
on many draws (``training.evaluation.noise.replay``, ``training.evaluation.judge.judge``). Adding a policy is
one entry in the ``policies`` dict (any object with ``reset(sim)`` and ``act(obs)``, see
``training.policies.base``).
"""

from __future__ import annotations

import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from inference.features import HISTORY
from simulator.config import SimConfig, fleet_config
from simulator.fleet import FleetSim, StepResult
from simulator.loads import Scenario
from training.evaluation.cases import Case
from training.policies.base import Policy, rollout
from training.policies.character import Character
from training.policies.oracle import Oracle
from training.policies.rules import BASELINES, CellTuned, load_tuned, load_tuned_cells

METRIC_KEYS = (
    "profit", "revenue", "machine_cost", "downtime_cost", "minutes", "minutes_down", "pct_minutes_down",
    "requests", "requests_dropped", "pct_requests_dropped", "machine_minutes", "warming_minutes",
    "mean_machines", "scaling_actions",
)  # fmt: skip


def default_policies(
    tuned: dict[str, float] | None = None, oracle: bool = True, cells: bool = False
) -> dict[str, Policy]:
    """Every baseline with its tuned parameter (``load_tuned()`` when not given), and the oracle. With ``cells``,
    each baseline takes the parameter tuned for each case's economics cell and fleet kind (``CellTuned``,
    ``load_tuned_cells()``), and ``tuned`` for cases outside the cells."""
    tuned = load_tuned() if tuned is None else tuned
    missing = sorted(set(BASELINES) - set(tuned))
    if missing:
        raise ValueError(
            f"no tuned value for baseline(s) {', '.join(missing)}; rerun `python -m training.policies.tuning`"
        )
    policies: dict[str, Policy]
    if cells:
        per_cell = load_tuned_cells()
        policies = {
            name: CellTuned(name, {key: values[name] for key, values in per_cell.items()}, tuned[name])
            for name in BASELINES
        }
    else:
        policies = {name: cls(tuned[name]) for name, cls in BASELINES.items()}
    if oracle:
        policies["oracle"] = Oracle()
    return policies


def baselines(cells: bool = False) -> dict[str, Policy]:
    """What a candidate is judged against, in the scoreboard and the gate: every tuned rule (per economics cell
    with ``cells``), the character baseline (``training.policies.character``, fitted per economics on first use)
    and the oracle."""
    policies = default_policies(oracle=False, cells=cells)
    return {**policies, Character.name: Character(), "oracle": Oracle()}


def _group_seed(seed: int, scenarios: list[Scenario]) -> np.random.SeedSequence:
    """Noise seed of a batch: depends only on the seed and the scenarios, so every policy gets the same noise."""
    return np.random.SeedSequence([seed, zlib.crc32(",".join(s.name for s in scenarios).encode())])


RECORDED = ("active", "pending", "capacity", "down", "profit", "machine_cost", "downtime_cost")
"""Per-minute series ``run_policy(record=True)`` keeps for each case, beside its load."""


def run_policy(
    policy: Policy,
    cases: list[Case],
    config: SimConfig,
    *,
    seed: int = 0,
    record: bool = False,
    progress: tqdm | None = None,
) -> tuple[list[dict[str, float]], list[dict[str, np.ndarray]] | None]:
    """Run one policy on every case (cases of equal length share one batched simulation).

    Returns the metrics of each case (``METRIC_KEYS``) and, with ``record``, its per-minute series (load,
    active, pending, capacity, down, and the money: profit, machine_cost, downtime_cost in $). A case with its own
    ``config`` (an economics cell's) is simulated with it, else with ``config``."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        groups[case.scenario.minutes].append(i)
    metrics: list[dict[str, float]] = [{} for _ in cases]
    series: list[dict[str, np.ndarray]] = [{} for _ in cases]
    for idx in groups.values():
        scenarios = [cases[i].scenario for i in idx]
        configs = [cases[i].config or config for i in idx]
        sim = FleetSim(configs, scenarios, seed=_group_seed(seed, scenarios), past=[cases[i].past for i in idx])
        T = sim.minutes
        rec = {k: np.zeros((sim.n, T), dtype=np.float32) for k in RECORDED}

        def on_step(t: int, obs: Any, desired: Any, r: StepResult, rec: dict[str, np.ndarray] = rec) -> None:
            if record:
                rec["active"][:, t] = r.active
                rec["pending"][:, t] = r.pending
                rec["capacity"][:, t] = r.capacity
                rec["down"][:, t] = r.down
                rec["profit"][:, t] = r.reward
                rec["machine_cost"][:, t] = r.machine_cost
                rec["downtime_cost"][:, t] = r.downtime_cost
            if progress is not None:
                progress.update(1)

        tot = rollout(policy, sim, [cases[i].past for i in idx], on_step=on_step)
        for j, i in enumerate(idx):
            metrics[i] = _metrics(tot, j, T)
            if record:
                series[i] = {"load": sim.loads[j, HISTORY:].astype(np.float32), **{k: v[j] for k, v in rec.items()}}
    return metrics, (series if record else None)


def _metrics(tot: dict[str, np.ndarray], j: int, minutes: int) -> dict[str, float]:
    load, failed, down = float(tot["load"][j]), float(tot["failed"][j]), float(tot["down"][j])
    return {
        "profit": float(tot["reward"][j]),
        "revenue": float(tot["revenue"][j]),
        "machine_cost": float(tot["machine_cost"][j]),
        "downtime_cost": float(tot["downtime_cost"][j]),
        "minutes": minutes,
        "minutes_down": int(down),
        "pct_minutes_down": 100.0 * down / minutes,
        "requests": load,
        "requests_dropped": failed,
        "pct_requests_dropped": 100.0 * failed / load if load > 0 else 0.0,
        "machine_minutes": float(tot["machine_minutes"][j]),
        "warming_minutes": float(tot["warming_minutes"][j]),
        "mean_machines": float(tot["machine_minutes"][j]) / minutes,
        "scaling_actions": int(tot["scaling_actions"][j]),
    }


@dataclass
class Report:
    """Results of ``evaluate``: ``results[policy][k]`` are the metrics of ``scenarios[k]``."""

    scenarios: list[dict[str, Any]]
    results: dict[str, list[dict[str, Any]]]
    config: dict[str, Any]
    policies: dict[str, dict[str, Any]]
    seed: int
    wall_s: float
    series: dict[str, list[dict[str, np.ndarray]]] | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scenario_names(self) -> list[str]:
        return [s["name"] for s in self.scenarios]

    def result(self, policy: str, scenario: str) -> dict[str, Any]:
        """Metrics of one policy on one scenario."""
        return self.results[policy][self.scenario_names.index(scenario)]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per policy over all scenarios: total profit, mean/min profit_vs_oracle, overall downtime and drops."""
        out = {}
        for name, rows in self.results.items():
            minutes = sum(r["minutes"] for r in rows)
            requests = sum(r["requests"] for r in rows)
            ratios = [r["profit_vs_oracle"] for r in rows if r.get("profit_vs_oracle") is not None]
            out[name] = {
                "total_profit": sum(r["profit"] for r in rows),
                "mean_profit_vs_oracle": float(np.mean(ratios)) if ratios else None,
                "min_profit_vs_oracle": float(np.min(ratios)) if ratios else None,
                "pct_minutes_down": 100.0 * sum(r["minutes_down"] for r in rows) / minutes,
                "pct_requests_dropped": 100.0 * sum(r["requests_dropped"] for r in rows) / requests,
                "machine_minutes": sum(r["machine_minutes"] for r in rows),
                "scaling_actions": sum(r["scaling_actions"] for r in rows),
                "scenarios": len(rows),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        """The documented ``report.json`` (docs/evaluation.md)."""
        return {
            "schema_version": 1,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": self.seed,
            "wall_s": round(self.wall_s, 2),
            "config": self.config,
            "policies": [{"name": n, **info} for n, info in self.policies.items()],
            "summary": [{"name": n, **s} for n, s in self.summary().items()],
            "scenarios": [
                {**s, "policies": [{"name": p, **self.results[p][k]} for p in self.results]}
                for k, s in enumerate(self.scenarios)
            ],
            **self.extra,
        }


def _describe(policy: Policy) -> dict[str, Any]:
    if hasattr(policy, "describe"):
        return {"class": type(policy).__name__, "parameters": policy.describe()}
    params = {}
    for key in ("headroom", "target_param", "threshold_param"):
        value = getattr(policy, key, None)
        if isinstance(value, (int, float)):
            params[key.removesuffix("_param")] = float(value)
    return {"class": type(policy).__name__, "parameters": params}


def evaluate(
    policies: dict[str, Policy],
    cases: list[Case],
    config: SimConfig | None = None,
    *,
    seed: int = 0,
    record: bool = True,
    progress: bool = True,
) -> Report:
    """Run every policy on every case; ``profit_vs_oracle`` is filled in when an ``"oracle"`` policy is present."""
    if not policies:
        raise ValueError("evaluate needs at least one policy")
    if not cases:
        raise ValueError("evaluate needs at least one case")
    config = config or fleet_config()
    start = time.perf_counter()
    lengths = sorted({c.scenario.minutes for c in cases})
    steps = sum(lengths)
    results: dict[str, list[dict[str, Any]]] = {}
    series: dict[str, list[dict[str, np.ndarray]]] = {}
    bar = tqdm(total=steps * len(policies), desc="evaluate", unit="min", disable=not progress, mininterval=0.5)
    for name, policy in policies.items():
        bar.set_postfix_str(name)
        metrics, recorded = run_policy(policy, cases, config, seed=seed, record=record, progress=bar)
        results[name] = metrics
        if recorded is not None:
            series[name] = recorded
    bar.close()
    for rows in results.values():
        for k, row in enumerate(rows):
            ref = results["oracle"][k]["profit"] if "oracle" in results else 0.0
            row["profit_vs_oracle"] = row["profit"] / ref if ref > 0 else None
    scenarios = [
        {
            "name": c.scenario.name,
            "kind": c.kind,
            "minutes": c.scenario.minutes,
            "start": c.scenario.start.isoformat(),
            "initial_machines": c.scenario.initial_machines,
            "mean_load_machines": float(
                c.scenario.load[HISTORY:].mean() / (c.config or config).capacity_rpm_per_machine
            ),
            "peak_load_machines": float(
                c.scenario.load[HISTORY:].max() / (c.config or config).capacity_rpm_per_machine
            ),
            "cell": c.cell,
            "meta": _jsonable(c.scenario.meta),
        }
        for c in cases
    ]
    return Report(
        scenarios=scenarios,
        results=results,
        config=config.to_dict(),
        policies={name: _describe(p) for name, p in policies.items()},
        seed=seed,
        wall_s=time.perf_counter() - start,
        series=series if record else None,
    )


def _capacity(case: Case, config: SimConfig) -> float:
    return (case.config or config).capacity_rpm_per_machine


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
