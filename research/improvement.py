"""One step of policy improvement over the best fixed level: does learning beat the action table this way?

    python -m research.improvement [--base 0.9] [--hold 5] [--horizon 40] [--batches 100] [--full] [--draws 10]

Rollout policy improvement: from the states that the fixed-level policy visits on training-side scenarios (the
training distribution, ``TRAIN_STREAM``), every action of the table is branched with common random numbers (each
copy replays the same load and capacity draws), held ``--hold`` minutes, then the base level is followed for the
rest of ``--horizon`` minutes. Each branch is scored by its expected profit over the capacity noise
(``expected_profit``), so branches differ only by their action. The advantage over the base action (scaled by
``sqrt(basis + 1)``, the fleet's size) is regressed by the policy's own MLP (mean squared error: the mean is what
the improvement needs, and spikes make the advantages heavy-tailed), and the greedy action on the regression is
the improved policy. Greedy on exact Q-values of the base, it would be at least as good as the base; what this
measures is how much of that survives estimating them from the observation.

The improved network is packaged as an artifact and replayed against the base level and the tuned rules on the
evaluation set (``--draws`` paired noise draws): as the endpoint serves it (every minute, shield included), and
with each greedy decision held ``--hold`` minutes as in its branches. Prints and writes ``improvement.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from inference.actions import LEVELS, N_ACTIONS, sizing_basis
from inference.artifact import load_artifact, observation_spec, package_policy
from inference.features import DAY
from inference.policy import MLPSpec, build_torch
from research import results
from research.actions import FixedSizing
from research.ceiling import BEST_SINGLE_LEVEL
from research.character import level_shares, regress
from simulator.config import SimConfig
from simulator.fleet import FleetSim, Observation, desired_of, expected_profit, observation_of
from simulator.kernel import OUT_ACTIVE, OUT_LOAD
from simulator.loads import TRAIN_STREAM, sample_with_past
from training import cli
from training.evaluation.cases import ALL, evaluation_cases, groups
from training.evaluation.noise import Paired, replay
from training.evaluation.scoreboard import default_policies
from training.policies.artifact import ArtifactPolicy
from training.policies.base import Policy, clip_fleet


def branch_batch(
    rng: np.random.Generator,
    config: SimConfig,
    *,
    base: int,
    hold: int,
    horizon: int,
    every: int,
    scenarios: int,
    minutes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observations (S, OBS_DIM), advantages over ``base`` (S, N_ACTIONS) and fleet scales (S,) of the states the
    base level visits every ``every`` minutes on ``scenarios`` fresh training scenarios."""
    drawn = [sample_with_past(rng, minutes, short_history_probability=0.2) for _ in range(scenarios)]
    scen, past = [d[0] for d in drawn], [d[1] for d in drawn]
    walk = FleetSim(config, scen, seed=int(rng.integers(2**31)), past=past)
    copies = FleetSim(config, scen * N_ACTIONS, noise=np.tile(walk.noise, (N_ACTIONS, 1)), past=past * N_ACTIONS)
    actions = np.repeat(np.arange(N_ACTIONS), scenarios)
    follow = np.full(scenarios * N_ACTIONS, base)
    obs_rows, adv_rows, scale_rows = [], [], []
    obs = walk.observe()
    for t in range(minutes - horizon):
        if t % every == 0:
            obs_rows.append(observation_of(obs, walk.context()))
            scale_rows.append(np.sqrt(sizing_basis(obs.load, obs.capacity_rpm_per_machine) + 1.0))
            copies.t, copies.head = t, walk.head
            copies.active = np.tile(walk.active, N_ACTIONS)
            copies.ring = np.tile(walk.ring, (N_ACTIONS, 1))
            q = np.zeros(scenarios * N_ACTIONS)
            for k in range(horizon):
                o = copies.observe()
                out = copies.advance(clip_fleet(desired_of(actions if k < hold else follow, o), o))
                q += expected_profit(config, out[:, OUT_LOAD], out[:, OUT_ACTIVE])
            q = q.reshape(N_ACTIONS, scenarios).T
            adv_rows.append(q - q[:, [base]])
        walk.advance(clip_fleet(desired_of(np.full(scenarios, base), obs), obs))
        obs = walk.observe()
    return np.concatenate(obs_rows), np.concatenate(adv_rows), np.concatenate(scale_rows)


def fit(x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> tuple[Any, np.ndarray]:
    """The policy MLP regressing ``y`` on ``x`` (MSE, Adam); returns it and the held-out tenth's indices."""
    import torch

    torch.manual_seed(seed)
    net = build_torch(MLPSpec())
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    order = torch.randperm(len(xt))
    held_out, train = order[: len(xt) // 10], order[len(xt) // 10 :]
    regress(net, xt, yt, train, epochs=epochs, lr=1e-3, weight_decay=0.0, batch=2048)
    return net, held_out.numpy()


class HeldGreedy:
    """A packaged network's greedy action, re-chosen every ``hold`` minutes and held in between (no shield)."""

    def __init__(self, path: Path, hold: int) -> None:
        self.policy = load_artifact(path).policy
        self.hold = hold
        self.name = f"held {hold} min"
        self.action: np.ndarray | None = None

    def reset(self, sim: FleetSim) -> None:
        self.action = None

    def act(self, obs: Observation) -> np.ndarray:
        if self.action is None or obs.t % self.hold == 0:
            self.action = self.policy.logits(observation_of(obs)).argmax(axis=1)
        return clip_fleet(desired_of(self.action, obs), obs)


def measure(args: Args, config: SimConfig) -> dict[str, Any]:
    base = LEVELS.index(args.base)
    rng = np.random.default_rng([TRAIN_STREAM, args.seed])
    start = time.perf_counter()
    parts = [
        branch_batch(
            rng,
            config,
            base=base,
            hold=args.hold,
            horizon=args.horizon,
            every=args.every,
            scenarios=args.scenarios,
            minutes=args.minutes,
        )
        for _ in tqdm(range(args.batches), desc="branching", unit="batch")
    ]
    x, adv, scale = (np.concatenate(p) for p in zip(*parts))
    branching_s = time.perf_counter() - start
    net, held_out = fit(x, adv / scale[:, None], args.epochs, args.seed)
    import torch

    with torch.no_grad():
        greedy = net(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy()
    metadata = {
        "model_version": f"improvement-{args.base:g}-hold{args.hold}",
        "observation": observation_spec(x, config.observation_lag_minutes),
        "training": {"algorithm": "rollout policy improvement (research.improvement)", **vars(args) | {"out": ""}},
        "evaluation": {},
        "gate": {"passed": False, "forced": True, "reason": "a benchmark's network, not gated"},
        "data_sha256": "",
        "code_version": "",
    }
    path = package_policy(net, args.out, metadata=metadata)
    cases = evaluation_cases(quick=not args.full)
    base_name = f"level {args.base:g}"
    rules = {k: v for k, v in default_policies(oracle=False).items() if k != "static"}
    policies: dict[str, Policy] = {**rules, base_name: FixedSizing("margin", args.base)}
    policies |= {"served": ArtifactPolicy(str(path)), "held": HeldGreedy(path, args.hold)}
    draws = replay(policies, cases, config, args.draws)
    by_group = {ALL: list(range(len(cases))), **groups(draws.scenarios)}
    evaluation = {
        name: {
            group: {
                "profit": float(draws.profit[name][:, idx].sum(axis=1).mean()),
                f"minus_{base_name}": Paired.of(
                    draws.profit[name][:, idx].sum(axis=1) - draws.profit[base_name][:, idx].sum(axis=1)
                ).to_json(),
            }
            for group, idx in by_group.items()
        }
        for name in policies
    }
    return {
        "states": len(x),
        "branching_s": round(branching_s, 1),
        "mean_advantage_per_level": {str(z): float(v) for z, v in zip(LEVELS, adv.mean(axis=0))},
        "share_best_per_level": level_shares(adv.argmax(axis=1)),
        "held_out_gain_per_state": float(adv[held_out, greedy[held_out]].mean()),
        "greedy_share_per_level": level_shares(greedy),
        "evaluation_set": "full" if args.full else "quick",
        "draws": args.draws,
        "evaluation": evaluation,
    }


@dataclass(frozen=True, kw_only=True)
class Args(results.Judged):
    base: float = BEST_SINGLE_LEVEL
    """The fixed level improved on (a level of the action table)."""
    hold: int = 5
    """Minutes each branched action is held."""
    horizon: int = 40
    """Minutes each branch is scored over."""
    every: int = 15
    """Minutes between branched states."""
    batches: int = 100
    """Batches of fresh training scenarios."""
    scenarios: int = 48
    """Scenarios per batch."""
    minutes: int = DAY
    """Minutes per scenario."""
    epochs: int = 40
    """Regression epochs."""
    seed: int = 77
    """Seed of the scenarios and the network."""
    full: bool = False
    """The full evaluation set (default: the quick one)."""
    out: Path = Path("artifacts/improvement")
    """Directory for the outputs."""

    def __post_init__(self) -> None:
        if self.base not in LEVELS:
            raise ValueError(f"--base must be a level of the action table {LEVELS}, got {self.base}")
        if not 1 <= self.hold <= self.horizon < self.minutes:
            raise ValueError("need 1 <= --hold <= --horizon < --minutes")
        super().__post_init__()


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv, prog="python -m research.improvement", description=__doc__.splitlines()[0])
    result = measure(args, SimConfig())
    results.write(args.out, "improvement", result)
    print(json.dumps({k: v for k, v in result.items() if k != "evaluation"}, indent=1))
    for name, row in result["evaluation"].items():
        cells = "; ".join(
            f"{g}: {r['profit']:,.0f} ({r[f'minus_level {args.base:g}']['mean']:+,.0f} "
            f"[{r[f'minus_level {args.base:g}']['lo']:+,.0f}, {r[f'minus_level {args.base:g}']['hi']:+,.0f}])"
            for g, r in row.items()
        )
        print(f"{name}: {cells}")
    print(f"wrote {args.out}/improvement.json and the improved network's model.tar.gz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
