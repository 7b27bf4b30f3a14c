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
(
    TOT_REWARD, TOT_REVENUE, TOT_MACHINE_COST, TOT_DOWNTIME_COST, TOT_LOAD, TOT_SERVED, TOT_FAILED, TOT_DOWN,
    TOT_MACHINE_MINUTES, TOT_WARMING_MINUTES, TOT_SCALING_ACTIONS,
) = range(len(TOTAL_KEYS))  # fmt: skip


def kernel_inputs(configs: SimConfig | Sequence[SimConfig], n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's ``params`` (float64 (N, ``PARAM_KEYS``)) and ``flags`` (int64 (N, ``FLAG_KEYS``)): one row per
    fleet, from one config for all ``n`` fleets or one config per fleet."""
    if isinstance(configs, SimConfig):
        configs = [configs] * (1 if n is None else n)
    params = np.empty((len(configs), len(PARAM_KEYS)))
    flags = np.empty((len(configs), len(FLAG_KEYS)), dtype=np.int64)
    for i, c in enumerate(configs):
        params[i, P_MU] = c.capacity_rpm_per_machine
        params[i, P_SIGMA] = c.capacity_sigma
        params[i, P_VALUE] = c.request_value / 1000.0
        params[i, P_COST] = c.machine_cost
        params[i, P_DCOST] = c.downtime_cost
        params[i, P_DFRAC] = c.downtime_percent / 100.0
        flags[i, F_WARMUP] = c.warmup_latency
        flags[i, F_MIN] = c.min_machines
        flags[i, F_MAX] = c.max_machines
        flags[i, F_MAX_IN] = c.max_scale_in_per_step
        flags[i, F_MAX_OUT] = c.max_scale_out_per_step
        flags[i, F_PER_MACHINE] = c.capacity_noise == "machine"
        flags[i, F_WARMING_COST] = c.warming_cost
        flags[i, F_SERVING_FIRST] = c.cut_order == "serving_first"
    return params, flags


@_jit
def step_kernel(desired, active, ring, head, load, z, params, flags, out, totals):  # pragma: no cover - jitted
    """One minute for every fleet, in place: ``active`` and ``ring`` (machines warming, by arrival slot; its width
    at least every fleet's warm-up) change, ``out`` receives the minute (``OUT_*``) and ``totals`` accumulates it
    (``TOT_*``). ``params`` and ``flags`` hold one row per fleet (``kernel_inputs``)."""
    w = ring.shape[1]
    for i in range(desired.shape[0]):
        mu, sigma, value = params[i, P_MU], params[i, P_SIGMA], params[i, P_VALUE]
        cost, dcost, dfrac = params[i, P_COST], params[i, P_DCOST], params[i, P_DFRAC]
        warmup, min_m, max_m = flags[i, F_WARMUP], flags[i, F_MIN], flags[i, F_MAX]
        max_in, max_out = flags[i, F_MAX_IN], flags[i, F_MAX_OUT]
        per_machine, warming_cost = flags[i, F_PER_MACHINE] == 1, flags[i, F_WARMING_COST] == 1
        serving_first = flags[i, F_SERVING_FIRST] == 1
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
        totals[i, TOT_REWARD] += reward
        totals[i, TOT_REVENUE] += revenue
        totals[i, TOT_MACHINE_COST] += machine_cost
        totals[i, TOT_DOWNTIME_COST] += downtime_cost
        totals[i, TOT_LOAD] += lo
        totals[i, TOT_SERVED] += served
        totals[i, TOT_FAILED] += failed
        totals[i, TOT_DOWN] += down
        totals[i, TOT_MACHINE_MINUTES] += a
        totals[i, TOT_WARMING_MINUTES] += pending
        totals[i, TOT_SCALING_ACTIONS] += 1.0 if delta != 0 else 0.0
        active[i] += ring[i, head]  # a fleet without warm-up never writes the ring
        pending -= ring[i, head]
        ring[i, head] = 0
        out[i, OUT_NEXT_ACTIVE] = active[i]  # the fleet the next decision observes
        out[i, OUT_NEXT_PENDING] = pending
