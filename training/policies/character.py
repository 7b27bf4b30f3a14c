"""The character baseline: each fleet's action of the table chosen from its character, fitted on the training split.

The policy acts on PPO's action table (``inference.actions``) but learns no dynamics. For each fleet economics it
is judged in (an economics cell and fleet kind of the scoreboard, or a team's own fleet), every action is replayed
on training-split scenarios under the same capacity draws (``replay``): the tuning stream's synthetic loads and
windows of each recorded trace's training part, or the tuning stream's small fleets, as the tuned rules are tuned.
Each scenario's profit at every action is then known, not estimated from one exploring trajectory. A ridge
regression on what the observation says of the fleet's character (``CHARACTER_INPUTS``: its size, how much of a
day the caller sent, its noise, swing, spike rate and surprise) predicts each action's profit per day; its terms
(none, linear, quadratic) and penalty are chosen by cross-validation, so where the character does not pay it is
the best single action. The policy takes the action with the highest prediction for the fleet's current character,
chosen again every hour (as often as the fit observes it); the fleet follows its load every minute.

It is a baseline, not a product: the scoreboard lists it and the gate refuses a candidate that it beats on a group
with 95 % confidence, as it refuses one that a tuned rule beats (``training.evaluation.scoreboard.baselines``).
Fits are cached per economics and fleet kind in each ``Character``, so the scoreboard's run and every noise draw
after it reuse them. The deployable network of the same idea is research (``research.character``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from inference.actions import N_ACTIONS
from inference.features import FEATURE_NAMES
from simulator.config import DEFAULT_CAPACITY_RPM, SimConfig, refuse_invalid
from simulator.fleet import FleetSim, Observation, desired_of, observation_of
from simulator.loads import TRACES, TUNE_STREAM, Scenario, trace_part_minutes
from training.evaluation.cases import SMALL, Case, small_fleet_case, synthetic_case, trace_case
from training.policies.base import clip_fleet, rollout

CHARACTER_INPUTS = ("log_need", "day_fraction", "noise", "swing", "spike_rate", "surprise")
"""Observation features the policy reads: the fleet's size and its character over the last day. The fast ones
(load ratios, time of day, fleet, failures) are not read: it picks a level for the fleet, not for the minute."""
COLUMNS = np.array([FEATURE_NAMES.index(name) for name in CHARACTER_INPUTS])
OBSERVE_EVERY = 60
"""Minutes between the observations taken of each training scenario (each one a row of the regression)."""
PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""Ridge penalties tried, per row of standardised inputs."""
REGULAR = "regular"


@dataclass(frozen=True)
class FitSettings:
    """How much of the training split each fit replays (every action on each scenario, ``draws`` times)."""

    synthetic: int = 48
    """Synthetic loads of the tuning stream (regular fleets)."""
    trace_windows: int = 4
    """Windows of each recorded trace's training part (regular fleets)."""
    small: int = 48
    """Small fleets of the tuning stream (the small-fleet kind)."""
    days: int = 1
    draws: int = 2
    """Capacity-noise draws each action runs on (common to all actions)."""
    folds: int = 4
    """Folds of the cross-validation that chooses the regression's terms and penalty."""
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "synthetic": self.synthetic >= 0,
            "trace_windows": self.trace_windows >= 0,
            "small": self.small >= 1,
            "days": self.days >= 1,
            "draws": self.draws >= 1,
            "folds": self.folds >= 2,
        }
        if all(checks.values()) and self.synthetic + self.trace_windows < 1:  # nothing to fit the regular kind on
            checks.update(synthetic=False, trace_windows=False)
        refuse_invalid(self, checks)


DEFAULT_SETTINGS = FitSettings()
"""What the scoreboard and the gate fit with."""


def _scaled(case: Case, capacity: float) -> Case:
    """``case`` (built at the default capacity) for fleets of ``capacity`` requests a minute per machine: the same
    fleet in machines, its requests scaled."""
    if capacity == DEFAULT_CAPACITY_RPM:
        return case
    k = capacity / DEFAULT_CAPACITY_RPM
    return replace(case, scenario=replace(case.scenario, load=case.scenario.load * k), past=case.past * k)


def training_cases(kind: str, config: SimConfig, settings: FitSettings) -> list[Case]:
    """The training-split scenarios a fit for ``kind`` fleets ("regular" or "small") replays, in ``config``: the
    tuning stream only (``TUNE_STREAM``; the scoreboard's held-out cases come from ``EVAL_STREAM`` and the traces'
    evaluation parts)."""
    minutes = settings.days * 1440
    if kind == SMALL:
        cases = [small_fleet_case(i, minutes, stream=TUNE_STREAM, prefix="fit-small") for i in range(settings.small)]
    else:
        cases = [synthetic_case(i, minutes, stream=TUNE_STREAM, prefix="fit") for i in range(settings.synthetic)]
        for name in sorted(TRACES) if settings.trace_windows else ():
            first, last = 7 * 1440, trace_part_minutes(name, "train") - minutes
            for offset in np.linspace(first, last, settings.trace_windows).astype(int):
                cases.append(trace_case(name, "train", minutes=minutes, offset=int(offset)))
        cases = [_scaled(c, config.capacity_rpm_per_machine) for c in cases]
    return [replace(c, config=config) for c in cases]


@dataclass
class Replay:
    """Every action of the table on the same scenarios and capacity draws."""

    inputs: np.ndarray
    """(scenarios, samples, len(CHARACTER_INPUTS)): taken every ``OBSERVE_EVERY`` minutes."""
    profit: np.ndarray
    """(scenarios, N_ACTIONS): the simulator's profit ($ per day) at each action, mean over the draws."""
    down: np.ndarray
    """(scenarios, N_ACTIONS): minutes down per day at each action, mean over the draws."""


class _Fixed:
    """Each fleet holds one action of the table for the whole run."""

    def __init__(self, actions: np.ndarray):
        self.actions = actions

    def reset(self, sim: FleetSim) -> None:
        self.sim, self.seen = sim, []

    def act(self, obs: Observation) -> np.ndarray:
        if obs.t % OBSERVE_EVERY == 0:
            self.seen.append(observation_of(obs, self.sim.context())[:, COLUMNS])
        return clip_fleet(desired_of(self.actions, obs), obs)


def replay(cases: list[Case], draws: int, seed: int) -> Replay:
    """Every action on every case (one batched simulation per draw: each case copied once per action, all copies
    on that draw's noise), each case in its own ``config``."""
    n, lengths = len(cases), sorted({c.scenario.minutes for c in cases})
    if len(lengths) != 1:
        raise ValueError(f"cases to replay must all have the same length, got {lengths}")
    minutes = lengths[0]
    scenarios: list[Scenario] = [c.scenario for c in cases] * N_ACTIONS
    configs = [c.config for c in cases] * N_ACTIONS
    past = [c.past for c in cases] * N_ACTIONS
    actions = np.repeat(np.arange(N_ACTIONS), n)
    profit, down = np.zeros((n, N_ACTIONS)), np.zeros((n, N_ACTIONS))
    inputs: np.ndarray | None = None
    for draw in range(draws):
        noise = np.random.default_rng([seed, draw]).standard_normal((n, minutes))
        policy = _Fixed(actions)
        totals = rollout(policy, FleetSim(configs, scenarios, noise=np.tile(noise, (N_ACTIONS, 1)), past=past), past)
        profit += totals["reward"].reshape(N_ACTIONS, n).T / draws
        down += totals["down"].reshape(N_ACTIONS, n).T / draws
        if inputs is None:  # the character inputs read the load only: every copy and draw sees the same
            inputs = np.stack(policy.seen, axis=1)[:n]
    days = minutes / 1440
    return Replay(inputs, profit / days, down / days)  # type: ignore[arg-type]


_PAIRS = np.triu_indices(len(CHARACTER_INPUTS))
FORMS = ("constant", "linear", "quadratic")
"""The regression's terms, simplest first: none (the best single action), the inputs, the inputs with their
squares and pairwise products."""


def _design(x: np.ndarray, form: str) -> np.ndarray:
    """The terms of ``form`` of the standardised inputs (rows, k)."""
    if form == "constant":
        return x[:, :0]
    if form == "linear":
        return x
    return np.concatenate([x, x[:, _PAIRS[0]] * x[:, _PAIRS[1]]], axis=1)


@dataclass
class Model:
    """The fitted regression: each action's predicted profit per day over the reference action's."""

    form: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    """(terms, N_ACTIONS)."""
    intercept: np.ndarray
    """(N_ACTIONS,)."""
    summary: dict[str, Any]

    def choose(self, inputs: np.ndarray) -> np.ndarray:
        """The greedy action for each row of character inputs (rows, k)."""
        z = _design((inputs - self.mean) / self.scale, self.form)
        return np.argmax(z @ self.coef + self.intercept, axis=1)


def _ridge(z: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression of ``y`` (rows, A) on ``z`` (rows, terms), the intercept not penalised."""
    zm, ym = z.mean(axis=0), y.mean(axis=0)
    zc = z - zm
    gram = zc.T @ zc + penalty * len(z) * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, zc.T @ (y - ym))
    return coef, ym - zm @ coef


def fit(data: Replay, settings: FitSettings) -> Model:
    """The regression of ``data`` (module docstring). Its terms (``FORMS``) and penalty (``PENALTIES``) are
    chosen by ``settings.folds``-fold cross-validation over the scenarios (the highest held-out profit of the
    actions chosen; the simpler on a tie), then it is refitted on all of them. Targets are each action's profit
    over the action best on average (the constant fit's choice): neighbouring actions share most of their noise,
    so the differences are far less noisy than the profits."""
    n, samples, k = data.inputs.shape
    x = data.inputs.reshape(-1, k)
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    standard = (x - mean) / scale
    reference = int(np.argmax(data.profit.sum(axis=0)))
    y = np.repeat(data.profit - data.profit[:, [reference]], samples, axis=0)
    scenario = np.repeat(np.arange(n), samples)
    fold = np.random.default_rng(settings.seed).permutation(n) % settings.folds
    candidates = [("constant", 0.0), *((f, p) for f in FORMS[1:] for p in PENALTIES)]
    scores: dict[tuple[str, float], float] = {}
    for form, penalty in candidates:
        z, total = _design(standard, form), 0.0
        for f in range(settings.folds):
            held = fold[scenario] == f
            coef, intercept = _ridge(z[~held], y[~held], penalty)
            chosen = np.argmax(z[held] @ coef + intercept, axis=1)
            total += float(data.profit[scenario[held], chosen].sum()) / samples
        scores[(form, penalty)] = total
    form, penalty = max(candidates, key=lambda c: scores[c] + 1e-9 * (len(candidates) - candidates.index(c)))
    coef, intercept = _ridge(_design(standard, form), y, penalty)
    model = Model(form, mean, scale, coef, intercept, {})
    model.summary = {
        "scenarios": n,
        "form": form,
        "penalty": penalty,
        "cross_validated_profit_per_day": round(scores[(form, penalty)], 1),
        "best_single_action_profit_per_day": round(scores[("constant", 0.0)], 1),
        "actions_chosen": np.bincount(model.choose(x), minlength=N_ACTIONS).tolist(),
    }
    return model


def fleet_key(config: SimConfig, scenario: Scenario) -> tuple[SimConfig, str]:
    """What a fleet's model is fitted for: its simulator config (its economics and capacity) and its kind, "small"
    for the small-fleet group's fleets (``meta["fleet"]``, set by ``training.evaluation.cases.in_cell``)."""
    return config, SMALL if scenario.meta.get("fleet") == SMALL else REGULAR


class Character:
    """The character baseline as a policy (module docstring). Each fleet's model is the one fitted for its
    ``fleet_key``; models missing at ``reset`` are fitted then, all in one replay."""

    name = "character"

    def __init__(self, settings: FitSettings | None = None):
        self.settings = settings or DEFAULT_SETTINGS
        self.models: dict[tuple[SimConfig, str], Model] = {}
        self.fit_seconds = 0.0

    def prepare(self, keys: list[tuple[SimConfig, str]]) -> None:
        """Fit the models of ``keys`` not fitted yet (replays of equal length run as one simulation)."""
        missing = [k for k in dict.fromkeys(keys) if k not in self.models]
        if not missing:
            return
        start = time.perf_counter()
        per_key = {key: training_cases(key[1], key[0], self.settings) for key in missing}
        cases = [c for group in per_key.values() for c in group]
        data = replay(cases, self.settings.draws, self.settings.seed)
        at = 0
        for key, group in per_key.items():
            rows = slice(at, at + len(group))
            at += len(group)
            self.models[key] = fit(Replay(data.inputs[rows], data.profit[rows], data.down[rows]), self.settings)
        self.fit_seconds += time.perf_counter() - start

    def reset(self, sim: FleetSim, past: list[np.ndarray] | None = None) -> None:
        keys = [fleet_key(c, s) for c, s in zip(sim.configs, sim.scenarios)]
        self.prepare(keys)
        self.sim = sim
        rows: dict[tuple[SimConfig, str], list[int]] = {}
        for i, key in enumerate(keys):
            rows.setdefault(key, []).append(i)
        self.fleets = {k: np.array(v) for k, v in rows.items()}
        self.actions: np.ndarray | None = None

    def act(self, obs: Observation) -> np.ndarray:
        """The fleet follows its window's peak every minute (``desired_of``); its action is chosen again every
        ``OBSERVE_EVERY`` minutes, as often as the fit observed the character."""
        if obs.t % OBSERVE_EVERY == 0 or self.actions is None:
            inputs = observation_of(obs, self.sim.context())[:, COLUMNS]
            self.actions = np.empty(len(inputs), dtype=np.int64)
            for key, rows in self.fleets.items():
                self.actions[rows] = self.models[key].choose(inputs[rows])
        return clip_fleet(desired_of(self.actions, obs), obs)

    def describe(self) -> dict[str, Any]:
        """What the report records: the fit settings, seconds spent fitting, and each model's summary."""
        return {
            "settings": asdict(self.settings),
            "fit_seconds": round(self.fit_seconds, 1),
            "models": [
                {"fleet": kind, "economics": _economics(config), **model.summary}
                for (config, kind), model in self.models.items()
            ],
        }


def _economics(config: SimConfig) -> dict[str, Any]:
    from inference.economics import FIELDS

    return {"capacity_rpm_per_machine": config.capacity_rpm_per_machine, **{k: getattr(config, k) for k in FIELDS}}
