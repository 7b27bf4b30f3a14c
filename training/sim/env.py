"""Gymnasium environment over the fleet simulator: one fleet, one scenario per episode.

## Description
An auto-scaler decides, once a minute, how many machines (serving + warming) a web fleet should hold. Machines
take ``warmup_latency`` minutes to start serving; load follows daily and weekly cycles, drifts, and spikes
without warning (or replays a recorded trace). Dynamics: ``simulator`` (article 002's simulator, batched).

## Action Space
``Discrete(N_ACTIONS)``: ``inference.actions.ACTION_TABLE``. Action k sets the fleet to
``ceil(peak + LEVELS[k] * (0.2 * peak + 2 * sqrt(peak)))`` machines, ``peak`` being the highest load of the
observed window in machines' worth (``inference.actions.sizing_basis``): square-root staffing. The basis's
holds (a collapse or recurring surges of the traffic, ``inference.actions.holds``) are off here, as the shield
is: rules around the policy at serving, measured by the scoreboard and the gate. With them on, a quick run lost
8 % of its iterations to reading a day of history per fleet per minute and scored lower
(``research/notes/training.md``).

## Observation Space
``Box(-inf, inf, (OBS_DIM,), float32)`` built by ``inference.features.featurize`` from the decision-contract
fields only (load history, failed requests, active and pending machines, capacity, time): the table is in
that module's docstring. The serving handler builds it with the same code.

## Rewards
Profit in dollars for the minute: ``served * 0.90 / 1000 - 0.05 * active - 200 * [success < 99.5 %]``
(article 002 defaults in ``SimConfig``). ``info`` carries each component: revenue, machine_cost,
downtime_cost, and load, served, failed, capacity, down, active, pending, delta.

## Starting State
A scenario from ``sampler`` (default: ``simulator.loads.sample_scenario``, random synthetic shapes and windows of
the recorded traces' training parts, 3 to 300 machines on average), with ``HISTORY`` minutes of load already
observed (and the day before it: ``sample_with_past``) and the scenario's initial fleet serving.
``options={"scenario": Scenario, "past": array}`` pins both. Observations are ``observation_lag_minutes`` old, as the
simulator's (``simulator.fleet``).

## Episode End
Never terminated. Truncated after ``episode_minutes`` steps (1000, article 002's ``max_time_steps``).

## Arguments
``config``: ``SimConfig`` or a dict of its fields (RLlib passes ``env_config`` dicts); ``trace_probability``:
share of training episodes replaying a recorded trace; ``short_history_probability``: share whose day of history
is cut short.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from inference.actions import N_ACTIONS, desired_from_action, sizing_basis
from inference.features import (
    CONTEXT_END,
    CONTEXT_MINUTES,
    FLEET_DIM,
    HISTORY,
    LOAD_DIM,
    MINUTES_PER_WEEK,
    OBS_DIM,
    economics_features,
    fleet_features,
    load_features,
)
from simulator.config import SimConfig
from simulator.fleet import STEP_KEYS, FleetSim
from simulator.loads import Scenario, sample_with_past, with_past

_NEXT_ACTIVE, _NEXT_PENDING = (STEP_KEYS.index(k) for k in ("next_active", "next_pending"))
Sampler = Callable[[np.random.Generator, int], Scenario | tuple[Scenario, np.ndarray]]


class FleetEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(
        self,
        config: SimConfig | dict[str, Any] | None = None,
        sampler: Sampler | None = None,
        trace_probability: float = 0.3,
        short_history_probability: float = 0.2,
    ):
        if isinstance(config, dict):
            config = dict(config)
            trace_probability = float(config.pop("trace_probability", trace_probability))
            short_history_probability = float(config.pop("short_history_probability", short_history_probability))
            config = SimConfig.from_dict(config)
        self.short_history_probability = short_history_probability
        self.config = config or SimConfig()
        self.trace_probability = trace_probability
        self.sampler = sampler or self._default_sampler
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self.sim: FleetSim | None = None

    def _default_sampler(self, rng: np.random.Generator, minutes: int) -> tuple[Scenario, np.ndarray]:
        return sample_with_past(
            rng,
            minutes,
            short_history_probability=self.short_history_probability,
            trace_probability=self.trace_probability,
            capacity=self.config.capacity_rpm_per_machine,
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if options.get("scenario") is not None:
            scenario, past = options["scenario"], options.get("past")
            past = np.zeros(0) if past is None else past
        else:
            scenario, past = with_past(self.sampler(self.np_random, self.config.episode_minutes))
        self.sim = FleetSim(self.config, [scenario], seed=int(self.np_random.integers(2**63)), past=[past], holds=False)
        self.steps = min(self.config.episode_minutes, self.sim.minutes)
        cap = self.config.capacity_rpm_per_machine
        windows = sliding_window_view(self.sim.observed_loads[0], HISTORY)[: self.steps + 1]
        minutes = (self.sim.start_minute[0] + np.arange(self.steps + 1)) % MINUTES_PER_WEEK
        # The load part of every observation of the episode at once; only the fleet part changes per step.
        self._load_obs = load_features(windows, np.full(len(windows), cap), minutes).astype(np.float32)
        self._need = windows[:, -1] / cap
        self._last = windows[:, -1]
        newest = self.sim.newest_column + np.arange(self.steps + 1)
        # The sizing basis of every step at once, from the history each step's observation carries (``observe``).
        first = self.sim.newest_column + 1 - CONTEXT_MINUTES
        history = sliding_window_view(self.sim.series[0], CONTEXT_MINUTES)[first : first + self.steps + 1]
        economics = np.repeat(self.sim.economics[:1], len(windows), axis=0)
        candidates = self.sim.hold_candidates[0, first + CONTEXT_MINUTES - 1 : first + CONTEXT_MINUTES + self.steps]
        self._basis = sizing_basis(windows, cap, history, economics, candidates=candidates)
        self._context = self.sim.tracker.at(newest, np.zeros_like(newest))
        self._economics = economics_features(self.sim.economics[:1], windows[:, -1], cap)
        self._active = self.sim.active.astype(np.float64)
        self._pending = self.sim.pending.astype(np.float64)
        self._failed = np.zeros(1)
        self._fleet = np.empty((1, FLEET_DIM))
        self.t = 0
        return self._obs(), {"scenario": scenario.name}

    def _obs(self) -> np.ndarray:
        t = self.t
        fleet_features(
            self._need[t : t + 1], self._active, self._pending, self._failed, self._last[t : t + 1], out=self._fleet
        )
        obs = np.empty(OBS_DIM, dtype=np.float32)
        obs[:LOAD_DIM] = self._load_obs[t]
        obs[LOAD_DIM : LOAD_DIM + FLEET_DIM] = self._fleet[0]
        obs[LOAD_DIM + FLEET_DIM : CONTEXT_END] = self._context[t]
        obs[CONTEXT_END:] = self._economics[t]
        return obs

    def step(self, action):
        assert self.sim is not None, "call reset() first"
        assert self.action_space.contains(action), f"invalid action {action!r}"
        t = self.t
        desired = desired_from_action(
            np.array([action]), self._basis[t : t + 1], self._active, self._pending, self.sim.economics[:1],
            self.config.capacity_rpm_per_machine,
        )  # fmt: skip
        out = self.sim.advance(desired)
        self._active, self._pending = out[:, _NEXT_ACTIVE], out[:, _NEXT_PENDING]
        self._failed = self.sim.observed_failed
        self.t += 1
        info = dict(zip(STEP_KEYS, out[0].tolist()))
        return self._obs(), info.pop("reward"), False, self.t >= self.steps, info
