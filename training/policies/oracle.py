"""The clairvoyant oracle: the ceiling every policy is measured against (``profit_vs_oracle``).

It knows each scenario's future load exactly (it reads ``sim.loads`` at reset, which no deployable policy may
do) but not the capacity noise, and plans the serving fleet ``n_t`` for every minute to maximise expected profit
under the simulator's mechanics: machines ordered at minute ``t`` serve from ``t + W``; removal is immediate;
at most ``max_scale_out_per_step`` orders and ``max_scale_in_per_step`` removals a minute; the fleet starts at
the scenario's initial machines with nothing warming, so nothing can arrive before minute ``W``.

Expected profit of a minute with load ``L`` and ``n`` serving machines, capacity ``C ~ N(n mu, s)`` with
``s = n sigma`` (one draw for the fleet) or ``sqrt(n) sigma`` (per-machine draws), ``z = (L - n mu) / s``:

    g_t(n) = v * (L - (L - n mu) Phi(z) - s phi(z))           # v * E[min(L, C)], v = request value per request
             - machine_cost * n
             - downtime_cost * Phi((ceil(d L) - n mu) / s)     # P(served < d L), d = downtime_percent / 100

(the simulator floors capacity to whole requests: the downtime probability is exact, revenue is within half a
request). Dynamic programme over fleet sizes, backwards in time:

    V_t(n) = g_t(n) + max over n' in [n - max_in, n + max_out] of V_{t+1}(n') - w (n' - n)^+

with ``w = W * machine_cost`` when warming machines are billed (an arrival was billed for its W warming minutes)
and no increase allowed into minutes before ``W``. Each max is a sliding-window maximum (O(K) per minute, K
fleet sizes), so planning a scenario is O(T K).

Acting: the fleet (serving + warming) the plan holds after minute ``t``'s decision is
``F_t = n_{t+W} + sum_{s=t+1..t+W} (n_{s-1} - n_s)^+`` (everything warming now serves by ``t + W``, minus the
planned removals before then), and the oracle asks for exactly ``F_t``. The plan treats "remove c now" and
"order a now" in the same minute as two moves; the simulator nets them into one change, which keeps
``min(a, c)`` machines serving ``W`` minutes longer than planned (more capacity, a little more cost): the DP's
value is an upper bound on any policy's expected profit, and the executed plan is within
``min(a, c) * W * machine_cost`` of it per such minute. This is exact for ``cut_order="serving_first"``
(article 002, the default); with ``"warming_first"`` a removal while machines warm cancels orders instead, so
the executed plan can deviate from the planned one there.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from inference.features import HISTORY
from simulator.config import SimConfig
from simulator.fleet import FleetSim, Observation, expected_profit
from simulator.loads import load_moments
from training.policies.base import clip_fleet


def sliding_max(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``out[i] = max(x[i + lo : i + hi + 1])`` over the part of the window inside ``x`` (-inf if none).

    O(len(x)) for any window (prefix/suffix maxima when the window reaches an end of ``x``, otherwise the van
    Herk / Gil-Werman block algorithm)."""
    k = len(x)
    lo, hi = max(lo, -k), min(hi, k)
    out = np.full(k, -np.inf)
    if hi < lo:
        return out
    idx = np.arange(k)
    if lo <= -(k - 1):
        prefix = np.maximum.accumulate(x)
        end = idx + hi
        ok = end >= 0
        out[ok] = prefix[np.minimum(end[ok], k - 1)]
        return out
    if hi >= k - 1:
        suffix = np.maximum.accumulate(x[::-1])[::-1]
        start = idx + lo
        ok = start <= k - 1
        out[ok] = suffix[np.maximum(start[ok], 0)]
        return out
    w = hi - lo + 1
    # p[j] = x[j + lo]: the window of i is p[i : i + w]; pad with -inf to whole blocks of w.
    left = max(0, -lo)
    body = x[max(lo, 0) :]
    length = left + len(body)
    blocks = -(-max(length, k + w - 1) // w)
    p = np.full(blocks * w, -np.inf)
    p[left:length] = body
    grid = p.reshape(blocks, w)
    prefix = np.maximum.accumulate(grid, axis=1).ravel()
    suffix = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.maximum(suffix[idx], prefix[idx + w - 1])


def _steps_allowed(t: int, warmup: int, max_out: int) -> int:
    """Most machines that can join the serving fleet at minute ``t`` (none before the first orders arrive)."""
    return max_out if t >= warmup else 0


def plan_fleet(
    load: np.ndarray,
    config: SimConfig,
    initial: int,
    n_max: int | None = None,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Serving fleet per minute maximising expected profit for the load ``load`` (T,), and that expectation.

    ``initial`` machines serve at minute 0 with nothing warming. Fleet sizes range over
    ``[min_machines, n_max]`` (default: enough for 2.5x the peak load, and the initial fleet). With ``weights``
    (Q,), ``load`` is (T, Q): each minute's load is uncertain, taking value ``load[t, q]`` with probability
    ``weights[q]`` (quadrature nodes), and the plan maximises the expectation over it too.
    """
    load = np.asarray(load, dtype=np.float64)
    if weights is not None and (load.ndim != 2 or load.shape[1] != len(weights)):
        raise ValueError(f"load must be (minutes, {len(weights)}) with {len(weights)} weights, got {load.shape}")
    T = len(load)
    mu = config.capacity_rpm_per_machine
    lo_n = config.min_machines
    if n_max is None:
        n_max = max(initial, math.ceil(2.5 * float(load.max(initial=0.0)) / mu) + 10)
    hi_n = max(min(n_max, config.max_machines), lo_n)
    sizes = np.arange(lo_n, hi_n + 1)
    K = len(sizes)
    w = config.warmup_latency * config.machine_cost if config.warming_cost else 0.0
    a, b, W = config.max_scale_in_per_step, config.max_scale_out_per_step, config.warmup_latency

    values = np.empty((T, K))
    nxt = np.zeros(K)
    for t in range(T - 1, -1, -1):
        cont = np.zeros(K)
        if t + 1 < T:
            up = _steps_allowed(t + 1, W, b)
            cont = sliding_max(nxt, -a, 0)
            if up > 0:
                cont = np.maximum(cont, sliding_max(nxt - w * sizes, 1, up) + w * sizes)
        if weights is None:
            values[t] = expected_profit(config, load[t], sizes) + cont
        else:
            values[t] = weights @ expected_profit(config, load[t][:, None], sizes) + cont
        nxt = values[t]

    plan = np.empty(T, dtype=np.int64)
    prev = int(np.clip(initial, lo_n, hi_n)) - lo_n
    total = 0.0
    for t in range(T):
        up = _steps_allowed(t, W, b)
        lo_i, hi_i = max(prev - a, 0), min(prev + up, K - 1)
        cand = values[t, lo_i : hi_i + 1] - w * np.maximum(np.arange(lo_i, hi_i + 1) - prev, 0)
        j = int(np.argmax(cand))
        if t == 0:
            total = float(cand[j])
        prev = lo_i + j
        plan[t] = sizes[prev]
    return plan, total


def fleet_orders(plan: np.ndarray, warmup: int) -> np.ndarray:
    """The fleet (serving + warming) to ask for after each minute's decision to realise ``plan``:
    ``F_t = n_{t+W} + sum_{s=t+1..t+W} (n_{s-1} - n_s)^+`` (the plan holds still after its last minute)."""
    T = len(plan)
    ext = np.concatenate([plan, np.full(warmup, plan[-1])])
    cuts = np.concatenate([[0], np.maximum(ext[:-1] - ext[1:], 0)])  # cuts[s] = (n_{s-1} - n_s)^+
    csum = np.concatenate([[0], np.cumsum(cuts)])
    t = np.arange(T)
    return ext[t + warmup] + csum[t + warmup + 1] - csum[t + 1]


class Oracle:
    """Clairvoyant planner acting through the policy interface (see the module docstring)."""

    name = "oracle"

    def __init__(self) -> None:
        self._plans: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, float]] = {}

    def _plan(self, sim: FleetSim, i: int) -> tuple[np.ndarray, float]:
        return plan_fleet(sim.loads[i, HISTORY:], sim.configs[i], int(sim.active[i]))

    def _plan_inputs(self, sim: FleetSim, i: int) -> tuple[np.ndarray, ...]:
        """What ``_plan`` of fleet ``i`` depends on besides the config and the initial fleet."""
        return (sim.loads[i, HISTORY:],)

    def reset(self, sim: FleetSim) -> None:
        """Plan every fleet; a fleet planned before with the same inputs (the same case on another noise draw of
        a replay: capacity draws do not enter the plan) reuses its plan."""
        plans, fleets, values = [], [], []
        for i in range(sim.n):
            cfg = sim.configs[i]
            digest = hashlib.blake2b(digest_size=16)
            for part in self._plan_inputs(sim, i):
                digest.update(np.ascontiguousarray(part).tobytes())
            key = (digest.digest(), int(sim.active[i]), cfg)
            if key not in self._plans:
                plan, value = self._plan(sim, i)
                self._plans[key] = (plan, fleet_orders(plan, cfg.warmup_latency), value)
            plan, fleet, value = self._plans[key]
            plans.append(plan)
            fleets.append(fleet)
            values.append(value)
        self.plan = np.stack(plans)
        self.fleet = np.stack(fleets)
        self.expected_profit = np.array(values)

    def act(self, obs: Observation) -> np.ndarray:
        return clip_fleet(self.fleet[:, obs.t], obs)


RATE_NODES = 9
"""Gauss-Hermite nodes over each minute's load distribution in ``RateOracle``'s plan."""


class RateOracle(Oracle):
    """The ceiling of any deployable policy on synthetic loads: an oracle told each scenario's future *rate*
    (``Scenario.rate``: daily and weekly cycles, drift, wander and spikes, all of it ahead of time) but not the
    draws around it (the minute-to-minute noise, the Poisson counts, the capacity).

    Why it bounds every causal policy: what a deployed policy sees (the load up to ``t - 1 - lag``, its own
    fleet, past failures) tells it nothing about a future minute's noise that the rate does not (the noise is
    MA(1), so independent of anything at least two minutes older; counts and capacity draws are independent), so
    knowing the rate is at least as good as any history; and against a known rate with independent noise the best
    policy is an open-loop plan, which ``plan_fleet`` finds over the load's distribution (``load_moments``, a
    normal approximation integrated with ``RATE_NODES`` nodes). Its plan's expected profit (``expected_profit``
    after ``reset``) is therefore an upper bound on any causal policy's expected profit, and running it in the
    simulator shows what that bound earns on the realised loads.

    On a scenario without a rate (a recorded trace) it plans as the ``Oracle`` on the exact load: a looser bound
    of the same direction.
    """

    name = "rate oracle"

    def _plan_inputs(self, sim: FleetSim, i: int) -> tuple[np.ndarray, ...]:
        scenario = sim.scenarios[i]
        if scenario.rate is None:
            return super()._plan_inputs(sim, i)
        return (scenario.rate[HISTORY:], np.array([scenario.meta["spec"]["noise_sigma"]]))

    def _plan(self, sim: FleetSim, i: int) -> tuple[np.ndarray, float]:
        scenario = sim.scenarios[i]
        if scenario.rate is None:
            return super()._plan(sim, i)
        x, w = np.polynomial.hermite_e.hermegauss(RATE_NODES)
        mean, var = load_moments(scenario.rate[HISTORY:], scenario.meta["spec"]["noise_sigma"])
        nodes = np.maximum(mean[:, None] + np.sqrt(var)[:, None] * x, 0.0)
        return plan_fleet(nodes, sim.configs[i], int(sim.active[i]), weights=w / w.sum())
