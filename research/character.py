"""The character policy as a deployable network: each fleet's level learned from its character, by replaying every
level (the research counterpart of the product's character baseline, ``training.policies.character``).

    python -m research.character --out DIR [--preset quick|full] [--scenarios N] [--force] [--noise-draws 10]
                                 [--downtime-weight W | --match-availability] [--trace FILE]

(``--preset full`` matches availability unless a weight is given.)

PPO's greedy policy settles on one level of the action table for every fleet (docs/training.md): the differences
between neighbouring levels are small beside the noise its own exploration adds. This trainer asks the question
directly. The simulator can replay a training scenario under every level of the table on the same load and
capacity draws, so each scenario's profit at every level is known, not estimated from one exploring trajectory
(a counterfactual for every action, as in a contextual bandit with full feedback). A network of the artifact's own
shape regresses each level's profit over the base level's (dollars per day, mean squared error: the mean is the
objective, and the spikes make the differences heavy-tailed) from what the fleet's observation says of its
character (the product baseline's inputs, ``training.policies.character.CHARACTER_INPUTS``: its size, how much
of a day the caller sent, its noise, swing, spike rate and surprise; every other input is hidden in training and
its first-layer weights zeroed before packaging), at observations taken every ``OBSERVE_EVERY`` minutes of the base
level's run. Its greedy action is the level for that character, so the policy is tight on calm fleets and cautious
on spiky ones as far as the training scenarios show it pays, and it does not flip level from minute to minute (the
character moves slowly).

The gate also asks that the policy be down no more often than each group's best rule, which the profit alone does
not weigh: ``--match-availability`` charges each minute down, in each training group (the synthetic loads, each
trace's windows), the smallest price at which, on that group's training scenarios, the policy is down no more
often than any tuned rule (``calibrate_downtime_weights``).

The network is packaged as any policy is (``training.rl.gate.gate_and_package``: evaluation through the served
artifact and its shield, the gate over paired noise draws, the export check), so it deploys like PPO's.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from inference.actions import LEVELS, N_ACTIONS
from inference.features import OBS_DIM
from simulator.config import SimConfig, refuse_invalid
from simulator.fleet import FleetSim, desired_of, observation_of
from simulator.loads import TRAIN_STREAM, Scenario, check_team_traces, load_trace, sample_with_past
from training.evaluation.noise import MIN_DRAWS
from training.policies.base import Policy, clip_fleet, rollout
from training.policies.character import COLUMNS, OBSERVE_EVERY

DOLLARS_PER_UNIT = 100.0
"""Regression targets are profit differences in units of 100 $ per simulated day."""


@dataclass(frozen=True)
class CharacterConfig:
    """One character-policy run; invalid values are refused by name."""

    scenarios: int = 600
    """Training scenarios (``TRAIN_STREAM``: synthetic loads and trace windows, as PPO trains on)."""
    days: int = 3
    """Days each scenario runs at every level."""
    draws: int = 2
    """Capacity-noise draws each scenario runs at every level (common to all levels)."""
    base_level: float = 0.9
    """The level profits are measured against (the table's best single level on the full evaluation set)."""
    downtime_weight: float = 0.0
    """Dollars charged in training per minute down, beyond the simulator's ``downtime_cost``, in every group: the
    gate also asks that the policy be down no more often than the best rule, which the profit alone does not weigh
    enough."""
    downtime_weights: dict[str, float] = field(default_factory=dict)
    """A price per training group (``training_group``) instead of ``downtime_weight``: what ``match_availability``
    chooses, recorded in the packaged config."""
    match_availability: bool = False
    """Choose ``downtime_weights`` on the training scenarios (``calibrate_downtime_weights``): per group, the
    smallest price at which the policy is down no more often than any tuned rule on the same scenarios."""
    short_history_probability: float = 0.2
    """Share of scenarios whose day of history is cut short, as in PPO's training."""
    epochs: int = 60
    lr: float = 1e-3
    weight_decay: float = 1e-4
    validation_share: float = 0.1
    """Share of the scenarios held out to report the regression's gain over the base level."""
    seed: int = 1
    team_traces: tuple[str, ...] = ()
    """A team's trace files (``--trace``): their training part joins the training scenarios, their late part the
    gate's cases, as with ``python -m training.train --trace``."""
    eval: str = "quick"
    """Held-out cases of the gate ("quick" or "full")."""
    noise_draws: int = 10

    def __post_init__(self) -> None:
        checks = {
            "scenarios": self.scenarios >= 10,
            "days": self.days >= 1,
            "draws": self.draws >= 1,
            "base_level": self.base_level in LEVELS,
            "downtime_weight": self.downtime_weight >= 0,
            "downtime_weights": all(w >= 0 for w in self.downtime_weights.values()),
            "short_history_probability": 0.0 <= self.short_history_probability <= 1.0,
            "epochs": self.epochs >= 1,
            "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0,
            "validation_share": 0.0 < self.validation_share < 1.0,
            "eval": self.eval in ("quick", "full"),
            "noise_draws": self.noise_draws >= MIN_DRAWS,
        }
        refuse_invalid(self, checks)

    @property
    def downtime_price(self) -> float | dict[str, float]:
        """What ``Replay.profit`` charges a minute down: the per-group prices if chosen, else the one weight."""
        return self.downtime_weights or self.downtime_weight


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"scenarios": 600, "eval": "quick"},
    "full": {"scenarios": 1200, "eval": "full", "match_availability": True},
    "tiny": {"scenarios": 12, "days": 1, "draws": 1, "epochs": 2, "eval": "quick", "noise_draws": 2},
}
"""quick: 14 s of replay and fitting on 2 cores, then the gate on the quick set (about a minute); profit only (its
policy passes the quick set's gate, and the matched one is refused there, too cautious on the two World Cup days).
full: 66 s with the rules replayed and the downtime prices matched (the profit-only policy is refused on the full
set's availability, the matched one passes it), then the gate on the full set (about 4 minutes); ``--downtime-weight
0`` trains it profit only. tiny: tests only."""


def input_mask() -> np.ndarray:
    """1 for the ``CHARACTER_INPUTS`` columns of the observation, 0 elsewhere."""
    mask = np.zeros(OBS_DIM, dtype=np.float32)
    mask[COLUMNS] = 1.0
    return mask


def training_scenarios(cfg: CharacterConfig, sim_config: SimConfig) -> tuple[list[Scenario], list[np.ndarray]]:
    """``cfg.scenarios`` training scenarios of ``cfg.days`` days with the history before each, drawn as PPO's."""
    rng = np.random.default_rng([TRAIN_STREAM, cfg.seed])
    team = tuple(load_trace(path) for path in cfg.team_traces)
    drawn = [
        sample_with_past(
            rng,
            cfg.days * 1440,
            short_history_probability=cfg.short_history_probability,
            capacity=sim_config.capacity_rpm_per_machine,
            team_traces=team,
        )
        for _ in range(cfg.scenarios)
    ]
    return [d[0] for d in drawn], [d[1] for d in drawn]


def training_group(scenario: Scenario) -> str:
    """The group a training scenario's availability is checked in, as the gate groups held-out cases: the
    synthetic loads together, each trace (recorded or a team's) on its own."""
    if "spec" in scenario.meta:
        return "synthetic"
    return str(scenario.meta.get("trace", scenario.name))


@dataclass
class Replay:
    """Every level of the table, and optionally tuned rules, on the same training scenarios and capacity draws."""

    observations: np.ndarray
    """(scenarios, samples, OBS_DIM): taken every ``OBSERVE_EVERY`` minutes of the base level's first draw."""
    reward: np.ndarray
    """(scenarios, N_ACTIONS): the simulator's profit ($) at each level, mean over the draws."""
    down: np.ndarray
    """(scenarios, N_ACTIONS): minutes down at each level, mean over the draws."""
    groups: list[str]
    """``training_group`` of each scenario."""
    rules: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """Rule name -> (profit, minutes down), each (scenarios,), on the same draws."""
    specs: list[dict[str, Any] | None] = field(default_factory=list)
    """Each scenario's generator parameters (``SyntheticSpec`` as a dict; None for a trace window)."""

    def profit(self, downtime_weight: float | Mapping[str, float]) -> np.ndarray:
        """(scenarios, N_ACTIONS): profit less ``downtime_weight`` $ per minute down, one price for every scenario
        or one per training group (every group of the replay named)."""
        if not isinstance(downtime_weight, Mapping):
            return self.reward - downtime_weight * self.down
        missing = sorted(set(self.groups) - set(downtime_weight))
        if missing:
            raise ValueError(f"no downtime price for training group(s) {', '.join(missing)}")
        return self.reward - np.array([downtime_weight[g] for g in self.groups])[:, None] * self.down


def replay_levels(cfg: CharacterConfig, sim_config: SimConfig, rules: dict[str, Policy] | None = None) -> Replay:
    """Every level of the table on ``cfg.scenarios`` training scenarios over ``cfg.draws`` capacity draws shared
    by all levels, and each of ``rules`` on the same scenarios and draws (given the history before each, its
    missing minutes left out)."""
    minutes = cfg.days * 1440
    scenarios, past = training_scenarios(cfg, sim_config)
    base = LEVELS.index(cfg.base_level)
    reward = np.zeros((cfg.scenarios, N_ACTIONS))
    down = np.zeros((cfg.scenarios, N_ACTIONS))
    rules = rules or {}
    rule_totals = {name: (np.zeros(cfg.scenarios), np.zeros(cfg.scenarios)) for name in rules}
    known_past = [p[~np.isnan(p)] for p in past]
    seen: list[np.ndarray] = []
    with tqdm(total=cfg.draws * (N_ACTIONS + len(rules)), desc="replaying every level", unit="run") as bar:
        for draw in range(cfg.draws):
            noise = np.random.default_rng([TRAIN_STREAM, cfg.seed, draw]).standard_normal((cfg.scenarios, minutes))
            for action in range(N_ACTIONS):
                sim = FleetSim(sim_config, scenarios, noise=noise, past=past)
                record = action == base and draw == 0
                actions = np.full(cfg.scenarios, action)
                obs = sim.observe()
                while sim.t < sim.minutes:
                    if record and sim.t % OBSERVE_EVERY == 0:
                        seen.append(observation_of(obs, sim.context()))
                    sim.step(clip_fleet(desired_of(actions, obs), obs))
                    obs = sim.observe()
                reward[:, action] += sim.totals["reward"] / cfg.draws
                down[:, action] += sim.totals["down"] / cfg.draws
                bar.update(1)
            for name, policy in rules.items():
                totals = rollout(policy, FleetSim(sim_config, scenarios, noise=noise, past=past), known_past)
                rule_totals[name][0][:] += totals["reward"] / cfg.draws
                rule_totals[name][1][:] += totals["down"] / cfg.draws
                bar.update(1)
    return Replay(
        np.stack(seen, axis=1),
        reward,
        down,
        [training_group(s) for s in scenarios],
        rule_totals,
        [s.meta.get("spec") for s in scenarios],
    )


AVAILABILITY_WEIGHTS = (0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1200.0)
"""Downtime prices ($ per minute down) ``calibrate_downtime_weights`` tries in a group, smallest first."""
REFINE_STEPS = 2
"""Bisections between the last price that failed and the first that passed (profit falls fast with the price)."""


def calibrate_downtime_weights(
    replay: Replay, cfg: CharacterConfig
) -> tuple[dict[str, float], list[dict[str, Any]], Any]:
    """A price per minute down for each training group: the smallest at which the fitted levels are down, in that
    group's training scenarios and draws, no more often than any tuned rule there (blind to the held-out cases).

    One network serves every group, so the prices are a Lagrangian relaxation with one multiplier per group (the
    gate checks availability per group): starting from zero, each group that fails has its price raised through
    ``AVAILABILITY_WEIGHTS`` to the first that passes, then ``REFINE_STEPS`` bisections below it, the other prices
    held; rounds repeat until every group passes (a price raised in one group can move another's choices). The
    comparison is with the least-down rule, not the most profitable one as the gate's: which rule earns most differs
    between the training scenarios and the held-out ones (HPA against predictive scaling on the synthetic loads).
    A group no price of the grid matches keeps the largest (the gate will see it). Returns the prices, each fit's
    check, and the network fitted at the prices (what ``fit`` would fit there)."""
    if not replay.rules:
        raise ValueError("calibrating the downtime prices needs the rules replayed: replay_levels(..., rules=...)")
    rows = np.arange(len(replay.down))[:, None]
    held = validation_split(len(replay.down), cfg)
    members = {g: np.array([x == g for x in replay.groups]) for g in sorted(set(replay.groups))}
    rule = {g: min(replay.rules, key=lambda r: replay.rules[r][1][m].sum()) for g, m in members.items()}
    tried: list[dict[str, Any]] = []
    nets: dict[tuple[float, ...], tuple[Any, dict[str, bool]]] = {}

    def check(prices: dict[str, float]) -> dict[str, bool]:
        key = tuple(prices[g] for g in members)
        if key in nets:
            return nets[key][1]
        net = fit_network(replay.observations, replay.profit(prices), ~held, cfg)
        chosen = choose(net, replay.observations)
        down = replay.down[rows, chosen].mean(axis=1)
        reward = replay.reward[rows, chosen].mean(axis=1)
        groups = {
            g: {
                "rule": rule[g],
                "minutes_down": float(down[m].sum()),
                "rule_minutes_down": float(replay.rules[rule[g]][1][m].sum()),
                "profit_minus_rule": float(reward[m].sum() - replay.rules[rule[g]][0][m].sum()),
            }
            for g, m in members.items()
        }
        ok = {g: v["minutes_down"] <= v["rule_minutes_down"] for g, v in groups.items()}
        nets[key] = (net, ok)
        tried.append({"downtime_weights": dict(prices), "passed": all(ok.values()), "groups": groups})
        print(
            "downtime prices "
            + ", ".join(f"{g} {w:g}" for g, w in prices.items())
            + ": "
            + "; ".join(
                f"{g} {'passes' if ok[g] else 'fails'}, down {v['minutes_down']:.0f} vs {v['rule']} "
                f"{v['rule_minutes_down']:.0f} min, profit {v['profit_minus_rule']:+,.0f} $"
                for g, v in groups.items()
            ),
            flush=True,
        )
        return ok

    def lowest_passing(prices: dict[str, float], group: str) -> float:
        failed = prices[group]
        for weight in (w for w in AVAILABILITY_WEIGHTS if w > failed):
            if check({**prices, group: weight})[group]:
                break
            failed = weight
        else:
            return AVAILABILITY_WEIGHTS[-1]
        low, high = failed, weight
        for _ in range(REFINE_STEPS):
            mid = (low + high) / 2
            low, high = (low, mid) if check({**prices, group: mid})[group] else (mid, high)
        return high

    prices = dict.fromkeys(members, 0.0)
    for _ in range(len(members) + 1):
        failing = [g for g, ok in check(prices).items() if not ok and prices[g] < AVAILABILITY_WEIGHTS[-1]]
        if not failing:
            break
        for group in failing:
            prices[group] = lowest_passing(prices, group)
    check(prices)
    return prices, tried, nets[tuple(prices[g] for g in members)][0]


def validation_split(n: int, cfg: CharacterConfig) -> np.ndarray:
    """True for the scenarios held out of fitting (``cfg.validation_share`` of ``n``, drawn from ``cfg.seed``)."""
    return np.random.default_rng(cfg.seed).random(n) < cfg.validation_share


def regress(net: Any, x: Any, y: Any, train: Any, *, epochs: int, lr: float, weight_decay: float, batch: int) -> None:
    """Fit ``net`` to ``y`` on the rows ``train`` of ``x`` (tensors): mean squared error, Adam, shuffled batches."""
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in tqdm(range(epochs), desc="fitting", unit="epoch"):
        order = train[torch.randperm(len(train))]
        for i in range(0, len(order), batch):
            j = order[i : i + batch]
            loss = ((net(x[j]) - y[j]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()


def level_shares(actions: np.ndarray) -> dict[str, float]:
    """Share of ``actions`` on each level of the table."""
    return {str(z): float(v) for z, v in zip(LEVELS, np.bincount(actions, minlength=N_ACTIONS) / len(actions))}


def fit_network(observations: np.ndarray, profit: np.ndarray, train: np.ndarray, cfg: CharacterConfig) -> Any:
    """The policy network fitted on the scenarios where ``train`` (bool, (scenarios,)) is set: each level's
    profit over the base level's (``cfg.days * DOLLARS_PER_UNIT``) regressed on the observations' character
    inputs, its other first-layer weights zeroed (the packaged network reads the character only)."""
    import torch

    from inference.policy import MLPSpec, build_torch

    samples = observations.shape[1]
    base = LEVELS.index(cfg.base_level)
    target = (profit - profit[:, [base]]) / (cfg.days * DOLLARS_PER_UNIT)
    mask = input_mask()
    x = torch.tensor(observations.reshape(-1, OBS_DIM) * mask, dtype=torch.float32)
    y = torch.tensor(np.repeat(target, samples, axis=0), dtype=torch.float32)
    rows = torch.from_numpy(np.flatnonzero(np.repeat(train, samples)))
    torch.manual_seed(cfg.seed)
    net = build_torch(MLPSpec())
    regress(net, x, y, rows, epochs=cfg.epochs, lr=cfg.lr, weight_decay=cfg.weight_decay, batch=1024)
    with torch.no_grad():
        net[0].weight[:, torch.from_numpy(mask == 0)] = 0.0
    return net


def choose(net: Any, observations: np.ndarray) -> np.ndarray:
    """The greedy action of ``net`` for each observation: (scenarios, samples) action indices."""
    import torch

    n, samples, _ = observations.shape
    with torch.no_grad():
        x = torch.tensor(observations.reshape(-1, OBS_DIM) * input_mask(), dtype=torch.float32)
        return net(x).argmax(dim=1).numpy().reshape(n, samples)


def fit(
    observations: np.ndarray, profit: np.ndarray, cfg: CharacterConfig, net: Any | None = None
) -> tuple[Any, dict[str, Any]]:
    """The policy network regressing each level's profit over the base level's from the character inputs; and
    what it gains over the base level on the held-out scenarios (chosen level's profit minus the base's). ``net``:
    one already fitted on these inputs (the calibration's), summarised rather than fitted again."""
    n, samples, _ = observations.shape
    base = LEVELS.index(cfg.base_level)
    held = validation_split(n, cfg)
    net = net if net is not None else fit_network(observations, profit, ~held, cfg)
    chosen = choose(net, observations).reshape(-1)
    scenario = np.repeat(np.arange(n), samples)
    rows = np.flatnonzero(held[scenario])
    gain = profit[scenario[rows], chosen[rows]] - profit[scenario[rows], base]
    summary = {
        "training_scenarios": int((~held).sum()),
        "held_out_scenarios": int(held.sum()),
        "held_out_gain_over_base_per_day": float(gain.sum() / samples / cfg.days) if len(rows) else None,
        "held_out_base_profit_per_day": float(profit[held, base].sum() / cfg.days),
        "best_level_per_scenario_gain_per_day": float((profit.max(axis=1) - profit[:, base]).sum() / cfg.days),
        "levels_chosen": level_shares(chosen),
    }
    return net, summary


def train(cfg: CharacterConfig, out: Path, *, force: bool = False, sim_config: SimConfig | None = None) -> int:
    """Replay, fit, then gate and package under ``out``; returns the process exit code (``gate_and_package``)."""
    from training.rl.gate import gate_and_package

    sim_config = sim_config or SimConfig()
    start = time.perf_counter()
    if cfg.match_availability:
        from training.evaluation.scoreboard import default_policies

        rules = {k: v for k, v in default_policies(oracle=False).items() if k != "static"}
        replay = replay_levels(cfg, sim_config, rules)
        prices, tried, fitted = calibrate_downtime_weights(replay, cfg)
        cfg = replace(cfg, downtime_weights=prices)
        calibration: dict[str, Any] = {"availability_calibration": tried}
    else:
        replay, calibration, fitted = replay_levels(cfg, sim_config), {}, None
    net, summary = fit(replay.observations, replay.profit(cfg.downtime_price), cfg, fitted)
    summary.update(calibration)
    summary["train_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary, indent=1), flush=True)
    training = {"algorithm": "character: per-level replay, regression on the character", "config": asdict(cfg)}
    return gate_and_package(
        net=net,
        module=net,
        out_dir=out,
        sim_config=sim_config,
        training={**training, **summary},
        model_version=f"character-{cfg.eval}-{cfg.seed}",
        eval_quick=cfg.eval == "quick",
        force=force,
        noise_draws=cfg.noise_draws,
        seed=0,
        team_traces=cfg.team_traces,
        candidate="character-network",  # "character" is the baseline it is judged beside
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m research.character", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory for model.tar.gz, metadata.json, report")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--scenarios", type=int, help="training scenarios (preset: quick 600, full 1200)")
    parser.add_argument("--seed", type=int, help="scenario, noise and initialisation seed (default 1)")
    parser.add_argument("--eval", choices=("quick", "full"), help="held-out cases of the gate (preset's)")
    parser.add_argument("--noise-draws", type=int, help="paired noise draws the gate judges over (default 10)")
    parser.add_argument(
        "--downtime-weight", type=float, help="extra $ per minute down in training, in every group (default 0)"
    )
    parser.add_argument(
        "--match-availability",
        action="store_true",
        help="choose a downtime price per training group: down no more often there than any tuned rule (the full "
        "preset's default)",
    )
    parser.add_argument("--force", action="store_true", help="package even if the gate fails (recorded)")
    parser.add_argument(
        "--trace", action="append", default=[], metavar="FILE", help="a team's trace (timestamp,requests), repeatable"
    )
    args = parser.parse_args(argv)
    given = {
        k: v
        for k, v in vars(args).items()
        if k in ("scenarios", "seed", "eval", "noise_draws", "downtime_weight", "match_availability")
        and v not in (None, False)
    }
    if args.match_availability and args.downtime_weight is not None:
        parser.error("--match-availability chooses the downtime prices: give it or --downtime-weight, not both")
    if args.downtime_weight is not None:
        given["match_availability"] = False  # a weight given replaces the preset's matching
    try:
        cfg = CharacterConfig(**{**PRESETS[args.preset], **given})
        team = check_team_traces(args.trace, cfg.days * 1440)
    except ValueError as err:
        parser.error(str(err))
    cfg = replace(cfg, team_traces=team)
    return train(cfg, args.out, force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
