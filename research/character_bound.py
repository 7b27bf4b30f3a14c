"""How much of a fleet's best level could any amount of history tell? The character bound.

    python -m research.character_bound [--scenarios 2400] [--draws 10] [--policy DIR/model.tar.gz] [--quick]
                                         [--out DIR]

The character policy (``research.character``) reads a day of each fleet's history (its size, noise, swing, spike
rate) and picks the level of the action table. A longer history (a week, a month) can only tell it more about the
same thing: the parameters the fleet's load is generated from. On synthetic fleets those parameters are known
(``simulator.loads.SyntheticSpec``: size, daily swing, weekend, drift, wander, noise, spikes per day), so a
policy *told* them bounds what any history could add. This benchmark measures that bound two ways:

- **Training side, cross-validated** (``--scenarios`` training scenarios of ``research.character``'s kind, their
  synthetic ones, every level replayed on common capacity draws, 5 folds): the gain over level 0.9 of the level
  chosen from (a) the character the observation shows after a full day (the character policy's inputs and network),
  (b) the generator's true parameters (``SPEC_INPUTS``, the same regression), and (c) each scenario's best level
  in hindsight, which also knows where this scenario's spikes fell and how its draws went: luck no history holds.
- **Held-out, paired** (the full evaluation set's synthetic fleets, or the quick set's with ``--quick``;
  ``--draws`` capacity-noise draws, the gate's draws): each fleet at the level the true-parameter model picks for
  it, judged against the tuned rules by the gate's own rule (``training.evaluation.judge``): the group's verdict
  and every scenario's, beside level 0.9 and, with ``--policy``, a packaged policy on the same draws.

If (b) is close to (a), more history has little to add; if the held-out fleets a tuned rule beats are beaten even
at the true parameters' level, what decides those scenarios is the realised load, not the fleet's character.
Writes ``character_bound.json`` and ``character_bound.md`` under ``--out``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from inference.actions import LEVELS, N_ACTIONS
from research import results
from research.actions import FixedSizing
from research.character import (
    DOLLARS_PER_UNIT,
    CharacterConfig,
    choose,
    fit_network,
    regress,
    replay_levels,
)
from simulator.config import SimConfig
from training import cli
from training.evaluation.cases import evaluation_cases, group_of
from training.evaluation.judge import judge, scenario_verdicts
from training.evaluation.noise import Draws, Paired, pair_cell, replay
from training.evaluation.scoreboard import default_policies
from training.policies.artifact import ArtifactPolicy
from training.policies.base import Policy

SPEC_INPUTS = (
    "mean_machines",
    "daily_amplitude",
    "weekend_factor",
    "drift_per_week",
    "wander_sigma",
    "noise_sigma",
    "spikes_per_day",
)
"""The generator's parameters the true-character model reads (``mean_machines`` as its logarithm); the peak hour
and the spikes' shape ranges are the same for every fleet or say nothing of its level."""
FOLDS = 5
SMALL_MACHINES = 15.0
"""Fleets of fewer machines (the generator's mean) are reported apart: where the rules win."""
SPEC_EPOCHS = 400
"""Epochs of the true-parameter regression: one row per scenario, so many more passes than the character's."""


def spec_inputs(specs: list[dict[str, float]]) -> np.ndarray:
    """(fleets, len(SPEC_INPUTS)) raw inputs of the true-parameter model."""
    return np.array([[np.log(s[k]) if k == "mean_machines" else s[k] for k in SPEC_INPUTS] for s in specs])


class SpecModel:
    """Each level's profit over the base level's regressed on the generator's parameters (standardised), the
    character policy's loss and optimiser; ``levels`` is its greedy choice."""

    def __init__(self, raw: np.ndarray, target: np.ndarray, train: np.ndarray, cfg: CharacterConfig) -> None:
        import torch

        self.mean, self.scale = raw[train].mean(axis=0), raw[train].std(axis=0) + 1e-9
        torch.manual_seed(cfg.seed)
        width = 64
        self.net = torch.nn.Sequential(
            torch.nn.Linear(raw.shape[1], width),
            torch.nn.Tanh(),
            torch.nn.Linear(width, width),
            torch.nn.Tanh(),
            torch.nn.Linear(width, N_ACTIONS),
        )
        x, y = self._tensor(raw), torch.tensor(target, dtype=torch.float32)
        rows = torch.from_numpy(np.flatnonzero(train))
        regress(self.net, x, y, rows, epochs=SPEC_EPOCHS, lr=cfg.lr, weight_decay=cfg.weight_decay, batch=64)

    def _tensor(self, raw: np.ndarray) -> Any:
        import torch

        return torch.tensor((raw - self.mean) / self.scale, dtype=torch.float32)

    def levels(self, raw: np.ndarray) -> np.ndarray:
        """Action index per fleet."""
        import torch

        with torch.no_grad():
            return self.net(self._tensor(raw)).argmax(dim=1).numpy()


def cross_validated(
    observations: np.ndarray, profit: np.ndarray, raw: np.ndarray, cfg: CharacterConfig
) -> dict[str, np.ndarray]:
    """Gain over the base level ($ per scenario, (scenarios,)) of the level chosen out of fold from the observed
    character (mean over the scenario's observations, as ``research.character.fit`` reports it), from the true
    parameters, and in hindsight."""
    n = len(profit)
    base = LEVELS.index(cfg.base_level)
    target = (profit - profit[:, [base]]) / (cfg.days * DOLLARS_PER_UNIT)
    fold = np.random.default_rng(cfg.seed).integers(0, FOLDS, n)
    rows = np.arange(n)
    observed, spec = np.zeros(n), np.zeros(n)
    for k in range(FOLDS):
        out = fold == k
        chosen = choose(fit_network(observations, profit, ~out, cfg), observations[out])
        observed[out] = (profit[rows[out, None], chosen] - profit[out, base, None]).mean(axis=1)
        picked = SpecModel(raw, target, ~out, cfg).levels(raw[out])
        spec[out] = profit[out, picked] - profit[out, base]
    return {"observed": observed, "spec": spec, "hindsight": profit.max(axis=1) - profit[:, base]}


def training_side(cfg: CharacterConfig, sim_config: SimConfig) -> tuple[dict[str, Any], SpecModel]:
    """The cross-validated comparison on the training scenarios' synthetic fleets, and the true-parameter model
    fitted on all of them."""
    replayed = replay_levels(cfg, sim_config)
    observations, profit = replayed.observations, replayed.profit(cfg.downtime_price)
    specs = [spec for spec in replayed.specs if spec is not None]
    synthetic = np.array([spec is not None for spec in replayed.specs])
    observations, profit = observations[synthetic], profit[synthetic]
    raw = spec_inputs(specs)
    gains = cross_validated(observations, profit, raw, cfg)
    base = LEVELS.index(cfg.base_level)
    small = np.array([s["mean_machines"] < SMALL_MACHINES for s in specs])
    per_day = 1.0 / cfg.days

    def row(mask: np.ndarray) -> dict[str, float]:
        return {
            "fleets": int(mask.sum()),
            "base_profit_per_day": float(profit[mask, base].sum() * per_day),
            **{f"{name}_gain_per_day": float(g[mask].sum() * per_day) for name, g in gains.items()},
        }

    target = (profit - profit[:, [base]]) / (cfg.days * DOLLARS_PER_UNIT)
    model = SpecModel(raw, target, np.ones(len(raw), dtype=bool), cfg)
    summary = {"all synthetic": row(np.ones(len(raw), dtype=bool)), f"below {SMALL_MACHINES:g} machines": row(small)}
    return summary, model


def assembled(draws: Draws, name: str, levels: dict[int, float]) -> None:
    """Add candidate ``name`` to ``draws``: on case ``k`` the fixed level ``levels[k]`` (its column of
    ``level {z}``), the same capacity draws as every policy."""
    draws.profit[name] = np.stack([draws.profit[f"level {z:g}"][:, k] for k, z in sorted(levels.items())], axis=1)
    draws.minutes_down[name] = np.stack(
        [draws.minutes_down[f"level {z:g}"][:, k] for k, z in sorted(levels.items())], axis=1
    )


def held_out(
    model: SpecModel, cfg: CharacterConfig, policy_path: Path | None, draws: int, quick: bool, sim_config: SimConfig
) -> dict[str, Any]:
    """The true-parameter level on the held-out synthetic fleets, judged against the tuned rules."""
    cases = evaluation_cases(quick=quick)
    synthetic = [k for k, c in enumerate(cases) if c.kind == "synthetic"]
    raw = spec_inputs([cases[k].scenario.meta["spec"] for k in synthetic])
    chosen = {k: LEVELS[a] for k, a in zip(synthetic, model.levels(raw))}
    rules: dict[str, Policy] = default_policies(oracle=False)
    policies: dict[str, Policy] = dict(rules)
    base = f"level {cfg.base_level:g}"
    for z in sorted({*chosen.values(), cfg.base_level}):
        policies[f"level {z:g}"] = FixedSizing("margin", z)
    if policy_path is not None:
        policies["policy"] = ArtifactPolicy(str(policy_path))
    replayed = replay(policies, cases, sim_config, draws)
    only = Draws(
        scenarios=[replayed.scenarios[k] for k in synthetic],
        minutes=replayed.minutes[synthetic],
        profit={p: v[:, synthetic] for p, v in replayed.profit.items()},
        minutes_down={p: v[:, synthetic] for p, v in replayed.minutes_down.items()},
    )
    assembled(only, "true parameters", {i: chosen[k] for i, k in enumerate(synthetic)})
    candidates = ["true parameters", base] + ["policy"] * (policy_path is not None)
    judgements = {c: judge(only, c, list(rules)) for c in candidates}
    verdicts = {c: scenario_verdicts(j) for c, j in judgements.items()}
    group = {c: next(ch for ch in j.checks if ch["scope"] == group_of("synthetic", "")) for c, j in judgements.items()}
    total = {c: only.profit[c].sum(axis=1) for c in candidates}
    rows = []
    for i, k in enumerate(synthetic):
        case = cases[k]
        spec = case.scenario.meta["spec"]
        rows.append({
            "scenario": case.scenario.name,
            "mean_machines": float(case.scenario.load.mean() / sim_config.capacity_rpm_per_machine),
            "spikes_per_day": float(spec["spikes_per_day"]),
            "noise_sigma": float(spec["noise_sigma"]),
            "level": chosen[k],
            "profit": {c: float(only.profit[c][:, i].mean()) for c in candidates},
            "verdict": {c: verdicts[c][case.scenario.name] for c in candidates},
        })  # fmt: skip
    return {
        "set": "quick" if quick else "full",
        "draws": draws,
        "scenarios": rows,
        "total": {c: float(t.mean()) for c, t in total.items()},
        "lost": {c: sum(v == "loses" for v in verdicts[c].values()) for c in candidates},
        "group_passed": {c: bool(group[c]["passed"]) for c in candidates},
        "group_reason": {c: group[c]["reason"] for c in candidates},
        "vs_base": {c: Paired.of(total[c] - total[base]).to_json() for c in candidates if c != base},
        **({"true_parameters_minus_policy": Paired.of(total["true parameters"] - total["policy"]).to_json()}
           if policy_path is not None else {}),
    }  # fmt: skip


def measure(scenarios: int, draws: int, policy_path: Path | None, quick: bool, sim_config: SimConfig) -> dict[str, Any]:
    cfg = replace(CharacterConfig(scenarios=scenarios), short_history_probability=0.0)
    training, model = training_side(cfg, sim_config)
    return {
        "config": {
            "scenarios": scenarios,
            "days": cfg.days,
            "draws": cfg.draws,
            "folds": FOLDS,
            "seed": cfg.seed,
            "base_level": cfg.base_level,
        },
        "training_side": training,
        "held_out": held_out(model, cfg, policy_path, draws, quick, sim_config),
    }


def markdown(result: dict[str, Any]) -> str:
    cfg, held = result["config"], result["held_out"]
    lines = [
        f"Training side ({cfg['scenarios']} training scenarios of {cfg['days']} days, their synthetic fleets, every "
        f"level on {cfg['draws']} common draws, {cfg['folds']}-fold cross-validation): gain over level "
        f"{cfg['base_level']:g}, $ per day",
        "",
        f"| fleets | count | level {cfg['base_level']:g} profit / day | observed character (a day) | true parameters "
        "| hindsight |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in result["training_side"].items():
        lines.append(
            f"| {name} | {r['fleets']} | {r['base_profit_per_day']:,.0f} | {r['observed_gain_per_day']:+,.0f} | "
            f"{r['spec_gain_per_day']:+,.0f} | {r['hindsight_gain_per_day']:+,.0f} |"
        )
    candidates = list(held["total"])
    lines += [
        "",
        f"Held-out synthetic fleets of the {held['set']} set, {held['draws']} paired draws (mean profit $; verdict "
        "against every tuned rule by the gate's rule):",
        "",
        "| scenario | mean machines | spikes / day (true) | true-parameter level | " + " | ".join(candidates) + " |",
        "| --- | ---: | ---: | ---: | " + " | ".join("---" for _ in candidates) + " |",
    ]
    for r in held["scenarios"]:
        cells = " | ".join(f"{r['profit'][c]:,.0f} ({r['verdict'][c]})" for c in candidates)
        lines.append(
            f"| {r['scenario']} | {r['mean_machines']:.1f} | {r['spikes_per_day']:.2f} | {r['level']:g} | {cells} |"
        )
    lines += [
        "",
        f"| candidate | total ($) | vs level {cfg['base_level']:g} | scenarios lost to a rule | synthetic group |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for c in candidates:
        vs = pair_cell(held["vs_base"][c]) if c in held["vs_base"] else ""
        group = "passed" if held["group_passed"][c] else "refused: " + held["group_reason"][c].split(": ", 1)[1]
        lines.append(
            f"| {c} | {held['total'][c]:,.0f} | {vs} | {held['lost'][c]} of {len(held['scenarios'])} | {group} |"
        )
    if "true_parameters_minus_policy" in held:
        lines += ["", f"True parameters - policy: {pair_cell(held['true_parameters_minus_policy'])} $."]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class Args(results.Judged):
    scenarios: int = 2400
    """Training scenarios replayed under every level."""
    policy: Path | None = None
    """A packaged policy to replay on the same held-out draws."""
    quick: bool = False
    """The quick evaluation set's fleets (default: the full set's)."""
    out: Path = Path("artifacts/character_bound")
    """Directory for the outputs."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scenarios < 10 * FOLDS:
            raise ValueError(f"--scenarios must be >= {10 * FOLDS} ({FOLDS} folds)")
        results.check_policies([self.policy] if self.policy is not None else [])


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m research.character_bound", description=__doc__.splitlines()[0])
    result = measure(args.scenarios, args.draws, args.policy, args.quick, SimConfig())
    results.write(args.out, "character_bound", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
