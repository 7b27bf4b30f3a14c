"""The fleet simulator: N independent fleets advanced together by numpy, one step = one minute.

This is the only implementation of the fleet's dynamics; the Gymnasium environment (``training.env``), the
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

All capacity noise is drawn when the simulator is built, from its seed, so that two policies run on the same
seed face exactly the same capacities (common random numbers): differences in profit are the policies'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numba
import numpy as np
from scipy.special import ndtr

from inference.features import HISTORY, MINUTES_PER_WEEK, minute_of_week

from .config import SimConfig
from .loads import Scenario


@dataclass
class Observation:
    """What a real cloud observes before deciding minute ``t``, for each of N fleets (the decision contract)."""

    load: np.ndarray
    """(N, HISTORY) requests per minute of the last HISTORY minutes, oldest first."""
    failed: np.ndarray
    """Requests that failed in the last minute."""
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


TOTAL_KEYS = (
    "reward",
    "revenue",
    "machine_cost",
    "downtime_cost",
    "load",
    "served",
    "failed",
    "down",
    "machine_minutes",
    "warming_minutes",
    "scaling_actions",
)


class FleetSim:
    """N fleets, each on its own scenario; all scenarios must simulate the same number of minutes."""

    def __init__(
        self,
        config: SimConfig,
        scenarios: list[Scenario],
        seed: int | np.random.SeedSequence = 0,
        noise: np.ndarray | None = None,
    ):
        """``noise``: standard-normal capacity draws (N, minutes) to use instead of drawing them from ``seed``,
        e.g. to run many copies of one scenario on identical noise."""
        if not scenarios:
            raise ValueError("FleetSim needs at least one scenario")
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
        self.start_minute = minute_of_week([s.start for s in scenarios])
        if noise is None:
            noise = np.random.default_rng(seed).standard_normal((self.n, self.minutes))
        elif np.shape(noise) != (self.n, self.minutes):
            raise ValueError(f"noise must have shape {(self.n, self.minutes)}, got {np.shape(noise)}")
        self.noise = np.asarray(noise, dtype=np.float64)
        # Minute-major copies so that the kernel reads one contiguous row per step.
        self._loads_by_minute = np.ascontiguousarray(self.loads.T)
        self._noise_by_minute = np.ascontiguousarray(self.noise.T)
        self._cap = np.full(self.n, config.capacity_rpm_per_machine)
        self._min = np.full(self.n, config.min_machines, dtype=np.int64)
        self._max = np.full(self.n, config.max_machines, dtype=np.int64)
        c = config
        self._params = np.array(
            [
                c.capacity_rpm_per_machine,
                c.capacity_sigma,
                c.request_value / 1000.0,
                c.machine_cost,
                c.downtime_cost,
                c.downtime_percent / 100.0,
            ]
        )
        self._flags = np.array(
            [
                c.warmup_latency,
                c.min_machines,
                c.max_machines,
                c.max_scale_in_per_step,
                c.max_scale_out_per_step,
                c.capacity_noise == "machine",
                c.warming_cost,
                c.cut_order == "serving_first",
            ],
            dtype=np.int64,
        )
        self.reset()

    def reset(self) -> Observation:
        """Back to minute 0 with each scenario's initial fleet; the same noise is replayed."""
        self.t = 0
        w = max(self.config.warmup_latency, 1)
        self.active = np.array([s.initial_machines for s in self.scenarios], dtype=np.int64)
        self.ring = np.zeros((self.n, w), dtype=np.int64)
        self.head = 0
        self.failed = np.zeros(self.n)
        self._totals = np.zeros((self.n, len(TOTAL_KEYS)))
        self.last = np.zeros((self.n, len(STEP_KEYS)))
        return self.observe()

    @property
    def pending(self) -> np.ndarray:
        return self.ring.sum(axis=1)

    @property
    def start_times(self) -> list[datetime]:
        return [s.start for s in self.scenarios]

    def observe(self) -> Observation:
        t = min(self.t, self.minutes - 1)
        return Observation(
            load=self.loads[:, self.t : self.t + HISTORY],
            failed=self.failed,
            active=self.active.copy(),
            pending=self.pending,
            capacity_rpm_per_machine=self._cap,
            minute=(self.start_minute + t) % MINUTES_PER_WEEK,
            min_machines=self._min,
            max_machines=self._max,
            t=self.t,
        )

    def advance(self, desired: np.ndarray) -> np.ndarray:
        """Apply one decision per fleet and simulate one minute; returns the raw (N, len(STEP_KEYS)) output."""
        if self.t >= self.minutes:
            raise RuntimeError("episode is over: call reset()")
        out = np.empty((self.n, len(STEP_KEYS)))
        _step_kernel(
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
        if self.config.warmup_latency > 0:
            self.head = (self.head + 1) % self.ring.shape[1]
        self.last = out
        self.failed = out[:, _FAILED]
        self.t += 1
        return out

    def step(self, desired: np.ndarray) -> StepResult:
        """Apply one decision per fleet and simulate one minute."""
        out = self.advance(desired)
        return StepResult(
            reward=out[:, _REWARD],
            revenue=out[:, _REVENUE],
            machine_cost=out[:, _MACHINE_COST],
            downtime_cost=out[:, _DOWNTIME_COST],
            load=out[:, _LOAD],
            served=out[:, _SERVED],
            failed=self.failed,
            capacity=out[:, _CAPACITY],
            down=out[:, _DOWN] > 0,
            active=out[:, _ACTIVE],
            pending=out[:, _PENDING],
            delta=out[:, _DELTA],
            done=self.t >= self.minutes,
        )

    @property
    def totals(self) -> dict[str, np.ndarray]:
        """Sums over the minutes simulated so far, per fleet (see ``TOTAL_KEYS``)."""
        return {k: self._totals[:, i].copy() for i, k in enumerate(TOTAL_KEYS)}


STEP_KEYS = (
    "reward",
    "revenue",
    "machine_cost",
    "downtime_cost",
    "load",
    "served",
    "failed",
    "capacity",
    "down",
    "active",
    "pending",
    "delta",
    "next_active",
    "next_pending",
)
"""Column order of the kernel's per-step output (``FleetSim.last``); ``next_*`` are the fleet the next decision
observes, after the machines due next minute have joined."""
(
    _REWARD,
    _REVENUE,
    _MACHINE_COST,
    _DOWNTIME_COST,
    _LOAD,
    _SERVED,
    _FAILED,
    _CAPACITY,
    _DOWN,
    _ACTIVE,
    _PENDING,
    _DELTA,
    _NEXT_ACTIVE,
    _NEXT_PENDING,
) = range(len(STEP_KEYS))


def expected_reward(config: SimConfig, load: np.ndarray, active: np.ndarray, machine_cost: np.ndarray) -> np.ndarray:
    """The minute's profit in expectation over the capacity noise, given its load and serving fleet.

    The capacity draw is independent of everything the policy can know, so replacing the sampled reward by its
    expectation given (state, action) leaves every policy's expected return, hence the optimal policy,
    unchanged, while it turns the rare $200 downtime minutes into a smooth penalty ``200 * P(down)``: the
    variance that hides from PPO whether 1.35x or 1.55x headroom pays for a given fleet. Same formula as the
    kernel: down when ``floor(capacity) < downtime_percent * load``, i.e. ``capacity < ceil(...)``; the
    expected served requests are ``E[min(load, capacity)]`` for a normal capacity (the floor, half a request
    a minute, is ignored). Used for training only; evaluation always samples.
    """
    c = config
    load = np.asarray(load, dtype=np.float64)
    a = np.asarray(active, dtype=np.float64)
    mean = a * c.capacity_rpm_per_machine
    std = (np.sqrt(a) if c.capacity_noise == "machine" else a) * c.capacity_sigma
    threshold = np.ceil(c.downtime_percent / 100.0 * load - 1e-9)
    safe_std = np.where(std > 0, std, 1.0)
    p_down = np.where(std > 0, ndtr((threshold - mean) / safe_std), (mean < threshold).astype(np.float64))
    p_down = np.where(load > 0, p_down, 0.0)
    z = (load - mean) / safe_std
    shortfall = (load - mean) * ndtr(z) + safe_std * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    served = np.where(std > 0, load - shortfall, np.minimum(load, mean))
    return served * c.request_value / 1000.0 - machine_cost - c.downtime_cost * p_down


@numba.njit(cache=True)
def _step_kernel(desired, active, ring, head, load, z, params, flags, out, totals):  # pragma: no cover - jitted
    """One minute for every fleet, in place (numba: the same code serves 1 fleet or 100,000 fast)."""
    mu, sigma, value, cost, dcost, dfrac = params[0], params[1], params[2], params[3], params[4], params[5]
    warmup, min_m, max_m, max_in, max_out = flags[0], flags[1], flags[2], flags[3], flags[4]
    per_machine, warming_cost, serving_first = flags[5] == 1, flags[6] == 1, flags[7] == 1
    w = ring.shape[1]
    for i in range(desired.shape[0]):
        fleet = active[i]
        for k in range(w):
            fleet += ring[i, k]
        target = min(max(desired[i], min_m), max_m)
        delta = min(max(target - fleet, -max_in), max_out)
        if delta < 0:
            cuts = -delta
            if serving_first:
                take = min(cuts, active[i])
                active[i] -= take
                cuts -= take
            for k in range(w - 1, -1, -1):
                slot = (head + k) % w
                take = min(cuts, ring[i, slot])
                ring[i, slot] -= take
                cuts -= take
            if not serving_first:
                active[i] -= min(cuts, active[i])
        elif delta > 0:
            if warmup == 0:
                active[i] += delta
            else:
                ring[i, (head + warmup - 1) % w] += delta
        a = active[i]
        if per_machine:
            capacity = np.floor(max(a * mu + np.sqrt(a) * sigma * z[i], 0.0))
        else:
            capacity = np.floor(a * max(mu + sigma * z[i], 0.0))
        lo = load[i]
        served = min(lo, capacity)
        failed = lo - served
        down = 1.0 if (served < dfrac * lo and lo > 0) else 0.0
        pending = 0
        for k in range(w):
            pending += ring[i, k]
        revenue = served * value
        machine_cost = (a + pending if warming_cost else a) * cost
        downtime_cost = down * dcost
        reward = revenue - machine_cost - downtime_cost
        out[i, 0] = reward
        out[i, 1] = revenue
        out[i, 2] = machine_cost
        out[i, 3] = downtime_cost
        out[i, 4] = lo
        out[i, 5] = served
        out[i, 6] = failed
        out[i, 7] = capacity
        out[i, 8] = down
        out[i, 9] = a
        out[i, 10] = pending
        out[i, 11] = delta
        totals[i, 0] += reward
        totals[i, 1] += revenue
        totals[i, 2] += machine_cost
        totals[i, 3] += downtime_cost
        totals[i, 4] += lo
        totals[i, 5] += served
        totals[i, 6] += failed
        totals[i, 7] += down
        totals[i, 8] += a
        totals[i, 9] += pending
        totals[i, 10] += 1.0 if delta != 0 else 0.0
        if warmup > 0:
            active[i] += ring[i, head]
            pending -= ring[i, head]
            ring[i, head] = 0
        out[i, 12] = active[i]  # the fleet the next decision observes
        out[i, 13] = pending
