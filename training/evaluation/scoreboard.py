"""The scoreboard: every policy on the same held-out scenarios, the same capacity noise, against the oracle.

    python -m training.evaluate --out artifacts/eval [--quick] [--policy artifacts/model/model.tar.gz ...]

Scenarios (``evaluation_cases``), none of them used for tuning or training:

- ``synthetic-i``: held-out synthetic loads (``training.loads`` evaluation stream ``EVAL_STREAM``, random shapes
  of 3 to 300 machines on average), 3 days each (1 day with ``--quick``);
- ``nasa-eval``, ``worldcup-eval``: the evaluation part (last 30 % by time) of each recorded trace, scaled with
  the factor measured on its training part (mean 20 machines), the whole part (2 days with ``--quick``).

Each scenario comes with up to 14 days of the load before it (``Case.past``): the metric history a live system
would hold (the training part of a trace; the same synthetic generator's earlier days), which the predictive
rule forecasts from and the static rule sizes on. Policies run batched through ``training.sim.FleetSim`` with
common random numbers: the noise depends only on the seed and the scenarios, so every policy faces the same
capacities. Outputs (``training.report.write_report``): ``report.json`` (schema in docs/evaluation.md),
``report.md`` and PNG plots.

API for other code (the PPO gate): ``evaluate(policies, cases, config) -> Report``, then ``report.summary()``,
``report.result(policy, scenario)`` and ``gate(report, candidate, baseline)``. Adding a policy is one entry
in the ``policies`` dict (any object with ``reset(sim)`` and ``act(obs)``, see ``training.policies``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from inference.features import HISTORY
from training.policies.base import ArtifactPolicy, Policy, reset_policy
from training.policies.oracle import Oracle
from training.policies.rules import BASELINES
from training.sim.config import SimConfig
from training.sim.fleet import FleetSim
from training.sim.loads import EVAL_STREAM, TRACES, Scenario, initial_fleet, synthetic_scenario, trace_scenario

PAST_MINUTES = 14 * 1440
"""Metric history before each scenario (AWS predictive scaling uses up to 14 days)."""
SYNTHETIC = {"full": (16, 3 * 1440), "quick": (4, 1440)}
"""(number of held-out synthetic scenarios, minutes each)."""
TRACE_MINUTES = {"full": None, "quick": 2 * 1440}
"""Minutes of each trace's evaluation part (None: all of it)."""
TRACE_MEAN_MACHINES = 20.0
"""Traces are scaled so that their training part averages this many machines."""
TUNED_PATH = Path(__file__).resolve().parent.parent / "policies" / "tuned_baselines.json"
METRIC_KEYS = (
    "profit", "revenue", "machine_cost", "downtime_cost", "minutes", "minutes_down", "pct_minutes_down",
    "requests", "requests_dropped", "pct_requests_dropped", "machine_minutes", "warming_minutes",
    "mean_machines", "scaling_actions",
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    """A scenario to evaluate on, with the load observed before it (oldest first), for rules that use history."""

    scenario: Scenario
    past: np.ndarray
    kind: str
    """"synthetic" or "trace"."""


def _split_past(long: Scenario, past_minutes: int, capacity: float) -> tuple[Scenario, np.ndarray]:
    """Cut the first ``past_minutes`` of a long scenario off as its past; the rest is the scenario."""
    past = long.load[:past_minutes]
    load = long.load[past_minutes:]
    scenario = Scenario(
        name=long.name,
        load=load,
        start=long.start + timedelta(minutes=past_minutes),
        initial_machines=initial_fleet(load, capacity),
        meta={**long.meta, "past_minutes": past_minutes},
    )
    return scenario, past


def synthetic_case(
    index: int,
    minutes: int,
    *,
    stream: int = EVAL_STREAM,
    past_minutes: int = PAST_MINUTES,
    capacity: float = 300.0,
    prefix: str = "synthetic",
) -> Case:
    """Synthetic scenario ``index`` of random stream ``stream`` (``EVAL_STREAM``: held out), with its past."""
    rng = np.random.default_rng([stream, index])
    long = synthetic_scenario(rng, past_minutes + minutes, name=f"{prefix}-{index}", capacity=capacity)
    scenario, past = _split_past(long, past_minutes, capacity)
    return Case(scenario, past, "synthetic")


def trace_case(
    name: str,
    part: str,
    *,
    minutes: int | None = None,
    offset: int = 0,
    past_minutes: int = PAST_MINUTES,
    mean_machines: float = TRACE_MEAN_MACHINES,
    capacity: float = 300.0,
) -> Case:
    """A window of a trace's ``part`` (see ``training.loads.trace_scenario``) with up to ``past_minutes`` of the
    trace before it. The past of the evaluation part is the end of the training part."""
    scenario = trace_scenario(
        name, part, mean_machines=mean_machines, capacity=capacity, minutes=minutes, offset=offset
    )
    first = scenario.meta["first_minute"]  # raw index of the first simulated minute
    have = min(past_minutes, first - 2 * HISTORY)
    past = np.zeros(0)
    if have > 0:
        before = trace_scenario(
            name, "train", mean_machines=mean_machines, capacity=capacity, minutes=have,
            offset=first - 2 * HISTORY - have,
        )  # fmt: skip
        past = before.load[HISTORY:]
    scenario = Scenario(
        scenario.name, scenario.load, scenario.start, scenario.initial_machines,
        meta={**scenario.meta, "past_minutes": len(past)},
    )  # fmt: skip
    return Case(scenario, past, "trace")


def group_of(kind: str, name: str) -> str:
    """The group a scenario is judged in: the held-out synthetic loads together, each trace on its own."""
    return "held-out synthetic" if kind == "synthetic" else name


def evaluation_cases(quick: bool = False, capacity: float = 300.0) -> list[Case]:
    """The held-out scenarios of the scoreboard (see the module docstring)."""
    mode = "quick" if quick else "full"
    count, minutes = SYNTHETIC[mode]
    cases = [synthetic_case(i, minutes, capacity=capacity) for i in range(count)]
    cases += [trace_case(name, "eval", minutes=TRACE_MINUTES[mode], capacity=capacity) for name in sorted(TRACES)]
    return cases


def load_tuned(path: Path = TUNED_PATH) -> dict[str, float]:
    """Frozen tuned parameter of each baseline (``training/tuned_baselines.json``, written by
    ``python -m training.tuning``)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no tuned baselines; run `python -m training.tuning` to write it")
    doc = json.loads(path.read_text())
    try:
        return {name: float(entry["value"]) for name, entry in doc["baselines"].items()}
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: expected {{'baselines': {{name: {{'value': number}}}}}}: {err}") from None


def default_policies(tuned: dict[str, float] | None = None, oracle: bool = True) -> dict[str, Policy]:
    """Every baseline with its tuned parameter (``load_tuned()`` when not given), and the oracle."""
    tuned = load_tuned() if tuned is None else tuned
    missing = sorted(set(BASELINES) - set(tuned))
    if missing:
        raise ValueError(f"no tuned value for baseline(s) {', '.join(missing)}; rerun `python -m training.tuning`")
    policies: dict[str, Policy] = {name: cls(tuned[name]) for name, cls in BASELINES.items()}
    if oracle:
        policies["oracle"] = Oracle()
    return policies


def _group_seed(seed: int, scenarios: list[Scenario]) -> np.random.SeedSequence:
    """Noise seed of a batch: depends only on the seed and the scenarios, so every policy gets the same noise."""
    return np.random.SeedSequence([seed, zlib.crc32(",".join(s.name for s in scenarios).encode())])


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
    active, pending, capacity, down)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        groups[case.scenario.minutes].append(i)
    metrics: list[dict[str, float]] = [{} for _ in cases]
    series: list[dict[str, np.ndarray]] = [{} for _ in cases]
    for idx in groups.values():
        scenarios = [cases[i].scenario for i in idx]
        sim = FleetSim(config, scenarios, seed=_group_seed(seed, scenarios))
        reset_policy(policy, sim, [cases[i].past for i in idx])
        T = sim.minutes
        rec = {k: np.zeros((sim.n, T), dtype=np.float32) for k in ("active", "pending", "capacity", "down")}
        obs = sim.observe()
        for t in range(T):
            r = sim.step(policy.act(obs))
            if record:
                rec["active"][:, t] = r.active
                rec["pending"][:, t] = r.pending
                rec["capacity"][:, t] = r.capacity
                rec["down"][:, t] = r.down
            obs = sim.observe()
            if progress is not None:
                progress.update(1)
        tot = sim.totals
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
    config = config or SimConfig()
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
            "mean_load_machines": float(c.scenario.load[HISTORY:].mean() / config.capacity_rpm_per_machine),
            "peak_load_machines": float(c.scenario.load[HISTORY:].max() / config.capacity_rpm_per_machine),
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


def gate(report: Report, candidate: str, baseline: str = "target_tracking") -> dict[str, Any]:
    """Does ``candidate`` beat ``baseline`` on profit at equal or better availability?

    Passed when the candidate's total profit over all scenarios is higher and its overall % of minutes down is
    not higher. Also lists the scenarios where the candidate loses on profit."""
    for name in (candidate, baseline):
        if name not in report.results:
            raise KeyError(f"policy {name!r} is not in the report; it has {', '.join(report.results)}")
    s = report.summary()
    c, b = s[candidate], s[baseline]
    better_profit = c["total_profit"] > b["total_profit"]
    availability_ok = c["pct_minutes_down"] <= b["pct_minutes_down"]
    losses = [
        n for n in report.scenario_names if report.result(candidate, n)["profit"] < report.result(baseline, n)["profit"]
    ]
    reason = (
        f"{candidate} total profit {c['total_profit']:.0f} vs {baseline} {b['total_profit']:.0f}; "
        f"minutes down {c['pct_minutes_down']:.3f} % vs {b['pct_minutes_down']:.3f} %"
    )
    return {
        "passed": bool(better_profit and availability_ok),
        "reason": reason,
        "candidate": c,
        "baseline": b,
        "scenarios_lost": losses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory for report.json, report.md, plots/")
    parser.add_argument("--quick", action="store_true", help="4 one-day synthetic scenarios, 2 days of each trace")
    parser.add_argument(
        "--policy", action="append", default=[], metavar="PATH",
        help="a packaged policy (model.tar.gz or its directory) to evaluate too; repeatable",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="capacity-noise seed (common to all policies)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = parser.parse_args(argv)

    from training.evaluation.report import write_report

    policies = default_policies()
    for path in args.policy:
        policy = ArtifactPolicy(path)
        policies[policy.name] = policy
    cases = evaluation_cases(quick=args.quick)
    report = evaluate(policies, cases, SimConfig(), seed=args.seed)
    report.extra["command"] = "python -m training.evaluate " + " ".join(sys.argv[1:] if argv is None else argv)
    report.extra["quick"] = args.quick
    write_report(report, args.out, plots=not args.no_plots)
    print(Path(args.out, "report.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
