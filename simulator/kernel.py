"""The simulator's step kernel: one minute for every fleet, in place, with named columns.

Compiled by numba when it is installed (the same code serves 1 fleet or 100,000 fast); without numba (the
controller's Lambda, numpy only) the very same function runs as plain Python, with identical results
(``tests/training/test_sim.py`` checks it). Every column the kernel reads or writes is named here: the
parameters (``P_*``), the integer settings (``F_*``), the per-step output (``OUT_*``, ``STEP_KEYS``) and the
running totals (``TOT_*``, ``TOTAL_KEYS``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simulator.config import SimConfig

try:
    import numba
except ImportError:  # numpy-only runtimes: the kernel runs as plain Python
    numba = None


def _jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    return numba.njit(cache=True)(fn) if numba is not None else fn


JITTED = numba is not None
"""Whether the kernel is compiled (numba installed) or plain Python."""

PARAM_KEYS = ("capacity_mean", "capacity_sigma", "value_per_request", "machine_cost", "downtime_cost", "down_fraction")
P_MU, P_SIGMA, P_VALUE, P_COST, P_DCOST, P_DFRAC = range(len(PARAM_KEYS))

FLAG_KEYS = ("warmup", "min_machines", "max_machines", "max_in", "max_out", "per_machine", "warming_cost",
             "serving_first")  # fmt: skip
F_WARMUP, F_MIN, F_MAX, F_MAX_IN, F_MAX_OUT, F_PER_MACHINE, F_WARMING_COST, F_SERVING_FIRST = range(len(FLAG_KEYS))

STEP_KEYS = ("reward", "revenue", "machine_cost", "downtime_cost", "load", "served", "failed", "capacity", "down",
             "active", "pending", "delta", "next_active", "next_pending")  # fmt: skip
"""Column order of the kernel's per-step output (``FleetSim.last``); ``next_*`` are the fleet the next decision
observes, after the machines due next minute have joined."""
(
    OUT_REWARD, OUT_REVENUE, OUT_MACHINE_COST, OUT_DOWNTIME_COST, OUT_LOAD, OUT_SERVED, OUT_FAILED, OUT_CAPACITY,
    OUT_DOWN, OUT_ACTIVE, OUT_PENDING, OUT_DELTA, OUT_NEXT_ACTIVE, OUT_NEXT_PENDING,
) = range(len(STEP_KEYS))  # fmt: skip

TOTAL_KEYS = ("reward", "revenue", "machine_cost", "downtime_cost", "load", "served", "failed", "down",
              "machine_minutes", "warming_minutes", "scaling_actions")  # fmt: skip
"""Column order of the running totals (``FleetSim.totals``)."""
SUMMED = next(k for k, (step, total) in enumerate(zip(STEP_KEYS, TOTAL_KEYS)) if step != total)
"""The totals' first columns, reward to failed, are the sums of the step's columns of the same index."""
(
    TOT_REWARD, TOT_REVENUE, TOT_MACHINE_COST, TOT_DOWNTIME_COST, TOT_LOAD, TOT_SERVED, TOT_FAILED, TOT_DOWN,
    TOT_MACHINE_MINUTES, TOT_WARMING_MINUTES, TOT_SCALING_ACTIONS,
) = range(len(TOTAL_KEYS))  # fmt: skip


def kernel_inputs(c: SimConfig) -> tuple[np.ndarray, np.ndarray]:
    """One fleet's ``params`` (float64, ``PARAM_KEYS``) and ``flags`` (int64, ``FLAG_KEYS``) for a config."""
    params = np.empty(len(PARAM_KEYS))
    params[P_MU] = c.capacity_rpm_per_machine
    params[P_SIGMA] = c.capacity_sigma
    params[P_VALUE] = c.request_value / 1000.0
    params[P_COST] = c.machine_cost
    params[P_DCOST] = c.downtime_cost
    params[P_DFRAC] = c.downtime_percent / 100.0
    flags = np.empty(len(FLAG_KEYS), dtype=np.int64)
    flags[F_WARMUP] = c.warmup_latency
    flags[F_MIN] = c.min_machines
    flags[F_MAX] = c.max_machines
    flags[F_MAX_IN] = c.max_scale_in_per_step
    flags[F_MAX_OUT] = c.max_scale_out_per_step
    flags[F_PER_MACHINE] = c.capacity_noise == "machine"
    flags[F_WARMING_COST] = c.warming_cost
    flags[F_SERVING_FIRST] = c.cut_order == "serving_first"
    return params, flags


def kernel_inputs_per_fleet(configs: Sequence[SimConfig]) -> tuple[np.ndarray, np.ndarray]:
    """``step_kernel``'s ``params`` (N, ``PARAM_KEYS``) and ``flags`` (N, ``FLAG_KEYS``): one row per fleet's config
    (``kernel_inputs``), so that fleets of one simulation may differ in capacity, economics and warm-up."""
    rows = [kernel_inputs(c) for c in configs]
    return np.stack([p for p, _ in rows]), np.stack([f for _, f in rows])


@_jit
def order(desired, active, ring, head, flags):  # pragma: no cover - jitted
    """One fleet's decision for this minute: ``desired`` clipped to the bounds, the change to the per-step limits;
    a cut removes machines in cut order, an increase orders machines into ``ring`` (in place). Returns the
    serving machines after the cut and the change applied."""
    warmup, min_m, max_m = flags[F_WARMUP], flags[F_MIN], flags[F_MAX]
    max_in, max_out = flags[F_MAX_IN], flags[F_MAX_OUT]
    serving_first = flags[F_SERVING_FIRST] == 1
    w = ring.shape[0]
    fleet = active
    for k in range(w):
        fleet += ring[k]
    target = min(max(desired, min_m), max_m)
    delta = min(max(target - fleet, -max_in), max_out)
    if delta < 0:
        cuts = -delta
        if serving_first:
            take = min(cuts, active)
            active -= take
            cuts -= take
        for k in range(w - 1, -1, -1):
            slot = (head + k) % w
            take = min(cuts, ring[slot])
            ring[slot] -= take
            cuts -= take
        if not serving_first:
            active -= min(cuts, active)
    elif delta > 0:
        if warmup == 0:
            active += delta
        else:
            ring[(head + warmup - 1) % w] += delta
    return active, delta


@_jit
def capacity_of(active, z, params, flags):  # pragma: no cover - jitted
    """Requests ``active`` serving machines serve in a minute whose capacity draw is ``z`` (0: nominal)."""
    mu, sigma = params[P_MU], params[P_SIGMA]
    if flags[F_PER_MACHINE] == 1:
        return np.floor(max(active * mu + np.sqrt(active) * sigma * z, 0.0))
    return np.floor(active * max(mu + sigma * z, 0.0))


@_jit
def account(load, capacity, active, pending, params, flags):  # pragma: no cover - jitted
    """A minute's accounting, the one implementation: ``(reward, revenue, machine_cost, downtime_cost, served,
    failed, down)`` for ``load`` requests meeting ``capacity``, ``active`` serving and ``pending`` warming."""
    served = min(load, capacity)
    failed = load - served
    down = 1.0 if (served < params[P_DFRAC] * load and load > 0) else 0.0
    revenue = served * params[P_VALUE]
    machine_cost = (active + pending if flags[F_WARMING_COST] == 1 else active) * params[P_COST]
    downtime_cost = down * params[P_DCOST]
    return revenue - machine_cost - downtime_cost, revenue, machine_cost, downtime_cost, served, failed, down


@_jit
def arrive(active, ring, head, flags):  # pragma: no cover - jitted
    """The machines due next minute join the serving fleet (``ring[head]`` emptied in place); the serving count."""
    if flags[F_WARMUP] > 0:
        active += ring[head]
        ring[head] = 0
    return active


@_jit
def step_kernel(desired, active, ring, head, load, z, params, flags, out, totals):  # pragma: no cover - jitted
    """One minute for every fleet, in place: ``active`` and ``ring`` (machines warming, by arrival slot; its width
    at least every fleet's warm-up) change, ``out`` receives the minute (``OUT_*``) and ``totals`` accumulates it
    (``TOT_*``). ``params`` and ``flags`` hold one row per fleet (``kernel_inputs_per_fleet``)."""
    w = ring.shape[1]
    for i in range(desired.shape[0]):
        a, delta = order(desired[i], active[i], ring[i], head, flags[i])
        active[i] = a
        capacity = capacity_of(a, z[i], params[i], flags[i])
        lo = load[i]
        pending = 0
        for k in range(w):
            pending += ring[i, k]
        reward, revenue, machine_cost, downtime_cost, served, failed, down = account(
            lo, capacity, a, pending, params[i], flags[i]
        )
        out[i, OUT_REWARD] = reward
        out[i, OUT_REVENUE] = revenue
        out[i, OUT_MACHINE_COST] = machine_cost
        out[i, OUT_DOWNTIME_COST] = downtime_cost
        out[i, OUT_LOAD] = lo
        out[i, OUT_SERVED] = served
        out[i, OUT_FAILED] = failed
        out[i, OUT_CAPACITY] = capacity
        out[i, OUT_DOWN] = down
        out[i, OUT_ACTIVE] = a
        out[i, OUT_PENDING] = pending
        out[i, OUT_DELTA] = delta
        for k in range(SUMMED):
            totals[i, k] += out[i, k]
        totals[i, TOT_DOWN] += down
        totals[i, TOT_MACHINE_MINUTES] += a
        totals[i, TOT_WARMING_MINUTES] += pending
        totals[i, TOT_SCALING_ACTIONS] += 1.0 if delta != 0 else 0.0
        if flags[i, F_WARMUP] > 0:
            pending -= ring[i, head]
        active[i] = arrive(a, ring[i], head, flags[i])
        out[i, OUT_NEXT_ACTIVE] = active[i]  # the fleet the next decision observes
        out[i, OUT_NEXT_PENDING] = pending
