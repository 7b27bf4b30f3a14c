"""The fleet simulator: N independent fleets advanced together by numpy, one step = one minute.

This is the only implementation of the fleet's dynamics; the Gymnasium environment (``training.sim.env``), the
evaluation and the vectorised training environment all run it.

Each step, for minute ``t`` and every fleet:

1. The decision ``desired`` (whole fleet: serving + warming) is clipped to ``[min_machines, max_machines]``
   and the change to ``[-max_scale_in_per_step, max_scale_out_per_step]``.
2. A cut removes machines in ``cut_order``; an increase orders machines that serve from minute ``t + W``
   (``W = warmup_latency``).
3. Minute ``t``'s load meets capacity ``floor(active * c)``, ``c ~ N(300, 30)`` drawn once for the fleet
   (article 002), or ``floor(N(active * 300, sqrt(active) * 30))`` with per-machine noise.
   ``served = min(load, capacity)``, ``failed = load - served``.
4. Reward (profit, dollars) = ``served * 0.90 / 1000 - 0.05 * active [- 0.05 * warming]
   - 200 * [served < 99.5 % of load]``.
5. Machines due at ``t + 1`` join the serving fleet.

Observation lag: deciding minute ``t``, the observation holds the load and failed requests of the minutes up
to ``t - 1 - L`` (``L = observation_lag_minutes``, CloudWatch's publication lag), and the fleet's machines now.
Minutes before the scenario's history come from its ``past`` when given, else they are the oldest minute known
repeated (``features.pad_history``). The observation also carries the last ``CONTEXT_MINUTES`` observed minutes
(``history``, ``NaN`` where neither the past nor the scenario has them) for the character features.

All capacity noise is drawn when the simulator is built, from its seed, so that two policies run on the same
seed face exactly the same capacities (common random numbers): differences in profit are the policies'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference.actions import desired_from_action, hold_candidates, sizing_basis
from inference.economics import FIELDS as ECONOMICS_FIELDS
from inference.features import (
    CONTEXT_MINUTES,
    DAY,
    HISTORY,
    MINUTES_PER_WEEK,
    ContextTracker,
    featurize,
    minute_of_week,
)
from simulator.config import SimConfig
from simulator.kernel import (
    OUT_ACTIVE,
    OUT_CAPACITY,
    OUT_DELTA,
    OUT_DOWN,
    OUT_DOWNTIME_COST,
    OUT_FAILED,
    OUT_LOAD,
    OUT_MACHINE_COST,
    OUT_PENDING,
    OUT_REVENUE,
    OUT_REWARD,
    OUT_SERVED,
    STEP_KEYS,
    TOTAL_KEYS,
    kernel_inputs_per_fleet,
    step_kernel,
)
from simulator.loads import Scenario

_SQRT_2PI = math.sqrt(2.0 * math.pi)


@dataclass
class Observation:
    """What a real cloud observes before deciding minute ``t``, for each of N fleets (the decision contract)."""

    load: np.ndarray
    """(N, HISTORY) requests per minute of the last HISTORY observed minutes (up to ``t - 1 - lag``), oldest
    first."""
    history: np.ndarray
    """(N, CONTEXT_MINUTES) the longer load history ending at the same minute as ``load``, ``NaN`` = unknown."""
    failed: np.ndarray
    """Requests that failed in the newest observed minute."""
    active: np.ndarray
    """Machines serving now."""
    pending: np.ndarray
    """Machines ordered and still warming up."""
    capacity_rpm_per_machine: np.ndarray
    minute: np.ndarray
    """Minute of the week (UTC) being decided."""
    min_machines: np.ndarray
    max_machines: np.ndarray
    t: int
    """Step index within the episode."""
    economics: np.ndarray | None = None
    """(N, len(inference.economics.FIELDS)) each fleet's economics (``warming_cost`` as 0/1); ``None``: defaults."""
    hold_candidates: np.ndarray | None = None
    """(N,) bool: the fleets whose sizing basis a hold can raise (``inference.actions.hold_candidates``; ``None``:
    any). A shortcut the simulator knows from the whole series; the basis is the same without it."""


@dataclass
class StepResult:
    """What happened in one minute, per fleet. Money in dollars."""

    reward: np.ndarray
    revenue: np.ndarray
    machine_cost: np.ndarray
    downtime_cost: np.ndarray
    load: np.ndarray
    served: np.ndarray
    failed: np.ndarray
    capacity: np.ndarray
    down: np.ndarray
    active: np.ndarray
    """Machines that served this minute (counts, as floats like every column of the kernel's output)."""
    pending: np.ndarray
    """Machines warming up during this minute (after this step's orders)."""
    delta: np.ndarray
    """Change to the fleet actually applied (after clipping to the bounds and per-step limits)."""
    done: bool


class FleetSim:
    """N fleets, each on its own scenario; all scenarios must simulate the same number of minutes."""

    def __init__(
        self,
        config: SimConfig | Sequence[SimConfig],
        scenarios: list[Scenario],
        seed: int | np.random.SeedSequence = 0,
        noise: np.ndarray | None = None,
        past: list[np.ndarray] | None = None,
        holds: bool = True,
    ):
        """``noise``: standard-normal capacity draws (N, minutes) to use instead of drawing them from ``seed``,
        e.g. to run many copies of one scenario on identical noise. ``past``: each fleet's load before its
        scenario's history, oldest first, as the metrics a live system holds (only the last ``DAY + lag``
        minutes are used; ``NaN`` = unknown). ``config``: one for every fleet, or one per fleet (each fleet's
        capacity, noise, bounds and economics; the observation lag must be the same for all). ``holds``: whether
        the sizing basis's holds apply (``inference.actions.holds``; training's environments run without them)."""
        if not scenarios:
            raise ValueError("FleetSim needs at least one scenario")
        configs = [config] * len(scenarios) if isinstance(config, SimConfig) else list(config)
        if len(configs) != len(scenarios):
            raise ValueError(f"need one config per scenario ({len(scenarios)}), got {len(configs)}")
        if len({c.observation_lag_minutes for c in configs}) != 1:
            raise ValueError("all fleets of one simulator must share observation_lag_minutes")
        config = configs[0]
        self.configs = configs
        lengths = {len(s.load) for s in scenarios}
        if len(lengths) != 1:
            raise ValueError(f"all scenarios must have the same length, got {sorted(lengths)}")
        self.config = config
        self.scenarios = scenarios
        self.n = len(scenarios)
        self.loads = np.stack([np.asarray(s.load, dtype=np.float64) for s in scenarios])
        self.minutes = self.loads.shape[1] - HISTORY
        if self.minutes < 1:
            raise ValueError(f"scenarios need more than HISTORY={HISTORY} minutes of load")
        self.lag = config.observation_lag_minutes
        if past is not None and len(past) != self.n:
            raise ValueError(f"past must hold one array per fleet ({self.n}), got {len(past)}")
        # Each fleet's known load: the past's last DAY + lag minutes (NaN where unknown), then the scenario's.
        self._past_len = DAY + self.lag
        known = np.full((self.n, self._past_len), np.nan)
        for i, p in enumerate(past or []):
            tail = np.asarray(p, dtype=np.float64)[-self._past_len :]
            if tail.size:
                known[i, self._past_len - tail.size :] = tail
        self.series = np.concatenate([known, self.loads], axis=1)
        # What the cloud has published when minute t is decided: row i, columns t .. t + HISTORY - 1; minutes
        # before anything known are the oldest known minute.
        lead = self.series[:, self._past_len - self.lag :]
        oldest = lead[np.arange(self.n), np.argmax(~np.isnan(lead), axis=1)]
        self.observed_loads = np.where(np.isnan(lead), oldest[:, None], lead)
        self._tracker: ContextTracker | None = None
        self._hold_candidates: np.ndarray | None = None
        self.holds = holds
        self.start_minute = minute_of_week([s.start for s in scenarios])
        if noise is None:
            noise = np.random.default_rng(seed).standard_normal((self.n, self.minutes))
        elif np.shape(noise) != (self.n, self.minutes):
            raise ValueError(f"noise must have shape {(self.n, self.minutes)}, got {np.shape(noise)}")
        self.noise = np.asarray(noise, dtype=np.float64)
        # Minute-major copies so that the kernel reads one contiguous row per step.
        self._loads_by_minute = np.ascontiguousarray(self.loads.T)
        self._noise_by_minute = np.ascontiguousarray(self.noise.T)
        self._cap = np.array([c.capacity_rpm_per_machine for c in configs], dtype=np.float64)
        self._min = np.array([c.min_machines for c in configs], dtype=np.int64)
        self._max = np.array([c.max_machines for c in configs], dtype=np.int64)
        self.economics = np.array([[float(getattr(c, k)) for k in ECONOMICS_FIELDS] for c in configs])
        """(N, len(inference.economics.FIELDS)) each fleet's economics, ``warming_cost`` as 0/1."""
        self._params, self._flags = kernel_inputs_per_fleet(configs)
        self.reset()

    def reset(self) -> Observation:
        """Back to minute 0 with each scenario's initial fleet; the same noise is replayed."""
        self.t = 0
        w = max(max(c.warmup_latency for c in self.configs), 1)
        self.active = np.array([s.initial_machines for s in self.scenarios], dtype=np.int64)
        self.ring = np.zeros((self.n, w), dtype=np.int64)
        self.head = 0
        self.failed = np.zeros(self.n)
        # Column t: failed requests of minute t - 1 - lag (0 before minute 0), the value observed deciding t.
        self._failed_seen = np.zeros((self.n, self.minutes + self.lag + 1))
        self._totals = np.zeros((self.n, len(TOTAL_KEYS)))
        self.last = np.zeros((self.n, len(STEP_KEYS)))
        return self.observe()

    @property
    def capacity(self) -> np.ndarray:
        """(N,) each fleet's nominal requests per minute per machine."""
        return self._cap

    @property
    def pending(self) -> np.ndarray:
        return self.ring.sum(axis=1)

    @property
    def newest_column(self) -> int:
        """Column of ``series`` holding the newest observed minute (``t - 1 - lag``)."""
        return self._past_len + HISTORY + self.t - 1 - self.lag

    def context(self) -> np.ndarray:
        """The character features (N, CONTEXT_DIM) of the current observation from cumulative sums
        (``features.ContextTracker``): what ``featurize`` computes from ``observe().history``, in O(1) per step."""
        return self.tracker.at(np.full(self.n, self.newest_column))

    @property
    def tracker(self) -> ContextTracker:
        """Cumulative sums of the character features over ``series`` (built on first use)."""
        if self._tracker is None:
            self._tracker = ContextTracker(self.series, self._cap)
        return self._tracker

    @property
    def hold_candidates(self) -> np.ndarray:
        """(N, columns of ``series``) whether a hold of the sizing basis is possible deciding with the history
        ending at each column (``inference.actions.hold_candidates``; built on first use)."""
        if self._hold_candidates is None:
            self._hold_candidates = (
                hold_candidates(self.series, CONTEXT_MINUTES) if self.holds else np.zeros(self.series.shape, bool)
            )
        return self._hold_candidates

    @property
    def observed_failed(self) -> np.ndarray:
        """Failed requests of the newest minute observed deciding minute ``t`` (``t - 1 - lag``)."""
        return self._failed_seen[:, self.t]

    def observe(self) -> Observation:
        t = min(self.t, self.minutes - 1)
        return Observation(
            load=self.observed_loads[:, self.t : self.t + HISTORY],
            history=self.series[:, self.newest_column + 1 - CONTEXT_MINUTES : self.newest_column + 1],
            failed=self.observed_failed,
            active=self.active.copy(),
            pending=self.pending,
            capacity_rpm_per_machine=self._cap,
            minute=(self.start_minute + t) % MINUTES_PER_WEEK,
            min_machines=self._min,
            max_machines=self._max,
            t=self.t,
            economics=self.economics,
            hold_candidates=self.hold_candidates[:, self.newest_column],
        )

    def advance(self, desired: np.ndarray) -> np.ndarray:
        """Apply one decision per fleet and simulate one minute; returns the raw (N, len(STEP_KEYS)) output."""
        if self.t >= self.minutes:
            raise RuntimeError("episode is over: call reset()")
        out = np.empty((self.n, len(STEP_KEYS)))
        step_kernel(
            np.asarray(desired, dtype=np.int64).reshape(self.n),
            self.active,
            self.ring,
            self.head,
            self._loads_by_minute[HISTORY + self.t],
            self._noise_by_minute[self.t],
            self._params,
            self._flags,
            out,
            self._totals,
        )
        self.head = (self.head + 1) % self.ring.shape[1]
        self.last = out
        self.failed = out[:, OUT_FAILED]
        self._failed_seen[:, self.t + self.lag + 1] = self.failed
        self.t += 1
        return out

    def step(self, desired: np.ndarray) -> StepResult:
        """Apply one decision per fleet and simulate one minute."""
        out = self.advance(desired)
        return StepResult(
            reward=out[:, OUT_REWARD],
            revenue=out[:, OUT_REVENUE],
            machine_cost=out[:, OUT_MACHINE_COST],
            downtime_cost=out[:, OUT_DOWNTIME_COST],
            load=out[:, OUT_LOAD],
            served=out[:, OUT_SERVED],
            failed=self.failed,
            capacity=out[:, OUT_CAPACITY],
            down=out[:, OUT_DOWN] > 0,
            active=out[:, OUT_ACTIVE],
            pending=out[:, OUT_PENDING],
            delta=out[:, OUT_DELTA],
            done=self.t >= self.minutes,
        )

    @property
    def totals(self) -> dict[str, np.ndarray]:
        """Sums over the minutes simulated so far, per fleet (see ``TOTAL_KEYS``)."""
        return {k: self._totals[:, i].copy() for i, k in enumerate(TOTAL_KEYS)}


def expected_profit(
    config: SimConfig, load: float | np.ndarray, serving: np.ndarray, machine_cost: np.ndarray | None = None
) -> np.ndarray:
    """A minute's profit in expectation over the capacity noise, given its load and serving machines.

    With ``L`` the load, ``n`` the serving machines, capacity ``C ~ N(n mu, s)``, ``s = n sigma`` (one draw for
    the fleet) or ``sqrt(n) sigma`` (per-machine draws), ``z = (L - n mu) / s``::

        g(n) = v * (L - (L - n mu) Phi(z) - s phi(z))           # v * E[min(L, C)], v = value per request
               - machine_cost                                   # default: machine_cost * n
               - downtime_cost * Phi((ceil(d L) - n mu) / s)     # P(served < d L), d = downtime_percent / 100

    The kernel floors capacity to whole requests: the downtime probability is exact, revenue within half a
    request. The oracle plans with it; training may use it as a low-variance reward (the capacity draw is
    independent of everything the policy knows, so the optimal policy is unchanged). Evaluation always samples.
    Needs scipy (imported here, so that the simulator itself runs on numpy alone).
    """
    from scipy.special import ndtr

    c = config
    load = np.asarray(load, dtype=np.float64)
    n = np.asarray(serving, dtype=np.float64)
    mean = n * c.capacity_rpm_per_machine
    sd = n * c.capacity_sigma if c.capacity_noise == "fleet" else np.sqrt(n) * c.capacity_sigma
    threshold = np.ceil(c.downtime_percent / 100.0 * load - 1e-9)
    safe_sd = np.where(sd > 0, sd, 1.0)
    z = (load - mean) / safe_sd
    shortfall = (load - mean) * ndtr(z) + safe_sd * np.exp(-0.5 * z * z) / _SQRT_2PI
    served = np.where(sd > 0, load - shortfall, np.minimum(load, np.floor(mean)))
    p_down = np.where(sd > 0, ndtr((threshold - mean) / safe_sd), (np.floor(mean) < threshold).astype(np.float64))
    p_down = np.where(load > 0, p_down, 0.0)
    cost = c.machine_cost * n if machine_cost is None else machine_cost
    return served * (c.request_value / 1000.0) - cost - c.downtime_cost * p_down


def observation_of(obs: Observation, context: np.ndarray | None = None) -> np.ndarray:
    """The policy's observation (N, OBS_DIM) for a simulator observation: the one featurizer, nothing else.
    ``context``: its character features already computed (``FleetSim.context``), else from ``obs.history``."""
    return featurize(
        obs.load,
        obs.failed,
        obs.active,
        obs.pending,
        obs.capacity_rpm_per_machine,
        obs.minute,
        obs.history,
        context,
        economics=obs.economics,
    )


def desired_of(action: np.ndarray, obs: Observation) -> np.ndarray:
    """Whole fleet each action index asks for, given the observation it was chosen on."""
    basis = sizing_basis(
        obs.load, obs.capacity_rpm_per_machine, obs.history, obs.economics, candidates=obs.hold_candidates
    )
    return desired_from_action(action, basis, obs.active, obs.pending, obs.economics, obs.capacity_rpm_per_machine)
