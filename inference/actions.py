"""The policy's discrete action table and how an action becomes a fleet size.

Every action sets the whole fleet (serving + warming) to the **peak** load of the recent window plus a safety
margin sized by **square-root staffing**::

    peak    = max(load[-window:]) / capacity            (machines' worth)
    window  = max(PEAK_WINDOW, WARMUPS_IN_WINDOW x warmup_latency) minutes
    desired = ceil(peak + level * (0.2 * peak + 2 * sqrt(peak)))

The margin has the two parts queueing practice gives a service fleet: one proportional to the load (the fleet's
capacity varies by 10 % from minute to minute, and traffic moves by percentages) and one growing as the square
root of the load (counting noise: a 5-machine fleet needs relatively far more headroom than a 300-machine one).
The policy picks the ``level``, i.e. how many "margins" the state it sees calls for (rising or falling traffic,
time of day, recent failures); ``level = 1`` is the margin that is best on average.

Why the window grows with the warm-up: sized on the window's peak, the fleet shrinks only once the whole window has
been lower, and a machine cut takes ``warmup_latency`` minutes to come back. With a 15-minute warm-up a 16-minute
window cuts a fleet that then cannot follow a ramp: on the NASA days at 2,000 $ a minute down, the fleet was cut
from 32 to 22 machines just before a morning ramp from 7.5 to 19.8 machines' worth and was down while the
re-ordered machines warmed up. A window of two warm-ups keeps the fleet until the load has stayed low for twice
the time it takes to recover. Measured at the economics' base level over 10 paired noise draws of the quick
cells: 386,119 to 391,365 $ in total, and the small fleets and NASA days at a 15-minute warm-up go from losing
to the predictive rule (profit, availability) to passing; on 64 validation fleets of the training distribution
it is ahead in total (rare outages avoided at high outage prices) and behind by small amounts on most
(``research/notes/training.md``). Fleets warming up in 8 minutes or less are unchanged.

A collapse of the traffic (it falls in a minute to under 5 % of the window's median minute and stays there) is held at
the size before it for ski rental's break-even time (``collapse_hold``): it is more often an upstream outage than
demand gone, and traffic that comes back after one comes back at once.

Why this table (measured by ``python -m research.actions``, per group of the evaluation report): a fleet
sized as a fixed multiple of the *last minute's* load follows per-minute noise down, and its scale-ins remove
serving machines that take ``warmup_latency`` minutes to come back: it loses to tuned target tracking on both
recorded traces at every multiple. Sized on the window's *peak*, the fleet shrinks only once a whole window has
been lower (the hysteresis target tracking gets from its 15-minute scale-in alarm), but the best multiple depends
on the fleet's size (2.0 below 10 machines, 1.35 above 100, on training scenarios): one multiple for all
over-provisions large fleets or starves small ones. The square-root margin removes that dependence, so a policy
that has not yet learned much about the state is already sized right for every fleet.

There is no "hold" action: sized on the window's peak, a steady level already keeps the fleet still, and a hold
that wins the greedy argmax in some states froze those fleets at whatever size they had (measured: a quick policy
with hold kept the World Cup fleet at 1.8 times target tracking's machine-minutes, 62 changes in 2 days).
"""

from __future__ import annotations

import numpy as np

from .features import HISTORY

PEAK_WINDOW = HISTORY
"""Minutes of load history whose peak the fleet is sized on at the least (the whole observed window)."""
WARMUPS_IN_WINDOW = 2.0
"""The sizing window is at least this many warm-ups long (``sizing_basis``), when the request sent that much
history."""
MARGIN_PROPORTIONAL = 0.2
"""Share of the peak in one safety margin (capacity noise and proportional swings of the load)."""
MARGIN_SQRT = 2.0
"""Multiple of the square root of the peak (in machines) in one safety margin (counting noise of the load)."""
LEVELS: tuple[float, ...] = (0.5, 0.65, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5, 3.0)
"""Absolute safety margins at article 002's prices, fine steps around 1, where the profit-maximising level lies
there (the fixed-level rules of the benchmarks size with them)."""
OFFSETS: tuple[float, ...] = (-1.0, -0.65, -0.5, -0.35, -0.2, -0.1, 0.0, 0.1, 0.2, 0.35, 0.5, 1.0, 1.5)
"""Actions 0..len(OFFSETS)-1: the margin level over the fleet's economics' base level (``base_level``), never below
0 (the window's peak alone). Offset 0 is the newsvendor's level; the policy learns when the state calls for more
or less."""
NOISE_UNITS = 3.3
"""Standard deviations of the fleet's need per safety margin (``base_level``): with it, article 002's prices put
a 50-machine fleet's base level at 1, the level measured best there."""
MAX_LEVEL = 6.0
COLLAPSE_SHARE = 0.05
"""A load below this share of the median minute of the sizing window before it has collapsed (``collapse_hold``)."""
COLLAPSE_MIN_RPM = 3.0
"""Requests a minute below which a level is too sparse to tell a collapse from counting noise (at 3 a minute a
silent minute has a probability of 5 %)."""
BISECTIONS = 14
"""Bisection steps of ``base_level`` (its bracket is at most about 9 standard deviations wide: 1e-3 of one)."""
SCALE_IN_TOLERANCE = 0.1
"""A decision that would shrink the fleet by less than this fraction keeps it as it is (as Kubernetes' HPA
ignores changes within 10 %). Scaling in removes serving machines that take minutes to come back, so a policy
that hesitates between neighbouring levels would otherwise shave the fleet and re-order it all the time: measured,
a policy spread like PPO's over levels 0.9 to 1.5 makes 0.880 of the oracle's profit without the tolerance and
0.900 with it, while a fixed level is unaffected (0.925 and 0.924)."""

ACTION_TABLE: tuple[dict[str, object], ...] = tuple(
    {"action": i, "kind": "margin_over_base", "level": z} for i, z in enumerate(OFFSETS)
)
N_ACTIONS = len(ACTION_TABLE)
_OFFSETS = np.array(OFFSETS)


def base_level(economics: np.ndarray | None, basis: np.ndarray, capacity_rpm_per_machine: np.ndarray) -> np.ndarray:
    """The newsvendor's margin level for each fleet's economics and size, in [0, ``MAX_LEVEL``].

    The need over the next minutes is taken as normal around the window's peak with standard deviation
    ``s = margin / NOISE_UNITS * sqrt((W + 2) / 7)`` machines (``margin`` one safety margin, ``W`` the warm-up: a
    longer warm-up forecasts further ahead). One more machine costs ``machine_cost`` a minute and saves, when it is
    the one short, a busy machine's revenue ``v`` (capacity x request value) and, at the edge of an outage, the
    downtime cost ``D``: the ``z`` with ``machine_cost = v (1 - Phi(z)) + D phi(z) / s`` balances them, and the
    margin is ``z s`` machines, i.e. level ``z s / margin``. ``economics``: (N, len(inference.economics.FIELDS))
    in that order (``None``: the defaults)."""
    from .economics import DEFAULTS, FIELDS

    basis = np.asarray(basis, dtype=np.float64)
    if economics is None:
        economics = np.array([[float(DEFAULTS[k]) for k in FIELDS]])
    econ = np.broadcast_to(np.asarray(economics, dtype=np.float64), (*basis.shape, len(FIELDS)))
    warmup, cost, value, outage = (econ[..., FIELDS.index(k)] for k in ("warmup_latency", "machine_cost",
                                                                         "request_value", "downtime_cost"))  # fmt: skip
    busy = np.asarray(capacity_rpm_per_machine, dtype=np.float64) * value / 1000.0
    spread = np.sqrt((np.maximum(warmup, 0.0) + 2.0) / 7.0) / NOISE_UNITS
    sd = np.maximum(margin(basis) * spread, 1e-3)
    # For z >= 1 the tail is below phi(z), so the saving is below (v + D / s) phi(z): no z past the one where that
    # bound equals the machine's cost pays for itself. That bracket is a few z wide, and bisection on it reaches
    # 1e-3 of a level in BISECTIONS steps (30 steps on [0, MAX_LEVEL / spread] made it most of a training step).
    free = cost <= 0.0  # every machine pays for itself: the bracket is the whole range
    bound = (busy + outage / sd) / (np.where(free, 1.0, cost) * np.sqrt(2.0 * np.pi))
    lo = np.zeros_like(sd)
    hi = np.sqrt(2.0 * np.log(np.maximum(bound, 1.0)))
    hi = np.where(free, MAX_LEVEL / spread, np.minimum(np.maximum(hi, 1.0), MAX_LEVEL / spread))
    for _ in range(BISECTIONS):  # bisection: the saving falls as z grows
        mid = 0.5 * (lo + hi)
        tail = 0.5 * _erfc(mid / np.sqrt(2.0))
        saving = busy * tail + outage * np.exp(-0.5 * mid * mid) / (np.sqrt(2.0 * np.pi) * sd)
        above = saving > cost
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    # the largest z known to pay for itself (0 if none does)
    return np.where(free, MAX_LEVEL, np.minimum(lo * spread, MAX_LEVEL))


def _erfc(x: np.ndarray) -> np.ndarray:
    """erfc for x >= 0 to 1.5e-7 (Abramowitz and Stegun 7.1.26), numpy only."""
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return poly * np.exp(-x * x)


def margin(basis: np.ndarray) -> np.ndarray:
    """One safety margin in machines, ``0.2 * basis + 2 * sqrt(basis)``."""
    basis = np.asarray(basis, dtype=np.float64)
    return MARGIN_PROPORTIONAL * basis + MARGIN_SQRT * np.sqrt(np.maximum(basis, 0.0))


def sizing_basis(
    load: np.ndarray,
    capacity_rpm_per_machine: np.ndarray | float,
    history: np.ndarray | None = None,
    economics: np.ndarray | None = None,
    *,
    collapse: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Machines' worth of the peak load of the last ``max(PEAK_WINDOW, WARMUPS_IN_WINDOW x warmup_latency)``
    minutes (module docstring), or what a collapse of the traffic is held at (``collapse_hold``; ``collapse``:
    its result for these arguments, when the caller needs it too).

    ``load`` is (N, HISTORY) requests per minute, oldest first (``features.pad_history``); ``history`` (N, width)
    the longer window ending at the same minute (``features.pad_context``, ``NaN`` = not sent; ``None``: none, the
    window is ``load``'s); ``economics`` (N, len(inference.economics.FIELDS)) for each fleet's warm-up (``None``:
    the defaults)."""
    peak = np.max(load[..., -PEAK_WINDOW:], axis=-1)
    if history is not None:
        from .economics import DEFAULTS, FIELDS

        if economics is None:
            warmup = np.full(len(peak), float(DEFAULTS["warmup_latency"]))
        else:
            warmup = np.asarray(economics, dtype=np.float64)[:, FIELDS.index("warmup_latency")]
        span = np.clip(np.ceil(WARMUPS_IN_WINDOW * warmup), PEAK_WINDOW, np.shape(history)[1]).astype(np.int64)
        longest = int(span.max(initial=PEAK_WINDOW))
        if longest > PEAK_WINDOW:  # only the minutes some window reaches back to are read
            tail = np.asarray(history[:, -longest:], dtype=np.float64)
            inside = (np.arange(longest) >= longest - span[:, None]) & ~np.isnan(tail)
            peak = np.maximum(peak, np.max(np.where(inside, tail, -np.inf), axis=1))
        held = (collapse or collapse_hold(history, capacity_rpm_per_machine, economics))[0]
        peak = np.where(np.isnan(held), peak, np.fmax(peak, held * capacity_rpm_per_machine))
    return peak / capacity_rpm_per_machine


def collapse_hold(
    history: np.ndarray,
    capacity_rpm_per_machine: np.ndarray | float,
    economics: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a fleet whose traffic collapsed is held at: ``(held, stopped, hold)`` per fleet.

    A collapse: every minute since some minute ``m`` carried less than ``COLLAPSE_SHARE`` of the median minute of
    the sizing window ending at ``m`` (all of whose minutes were sent): the load fell in a minute or two from a
    level, not over hours, and not from sparse traffic (a median below ``COLLAPSE_MIN_RPM``). ``held`` is
    that window's peak in machines' worth (``NaN``: nothing held), ``stopped`` the minutes since ``m`` and ``hold``
    how long a collapse is held (0 where there is none).

    Why: traffic that all but stops in a minute is more often an upstream outage (DNS, network, a client's
    release, a gap in the metrics) than demand gone, and it comes back at once, not as a morning ramp: a fleet
    that followed it down is then down for a whole warm-up. Holding is renting against that loss, so the hold is
    ski rental's break-even rule, within twice the best choice whatever the outage's length: keep the fleet while
    the machines held have cost less than the loss they avoid, ``(warmup_latency + 1) x (downtime_cost + held x
    busy) / (held x machine_cost)`` minutes (``busy``: a busy machine's revenue a minute), at most the history
    sent, then follow. Traffic that fades out (a business-hours service at night), a one-minute burst and sparse
    traffic are no collapse; dear machines with cheap outages are hardly held at all."""
    from .economics import DEFAULTS, FIELDS

    history = np.asarray(history, dtype=np.float64)
    n, width = history.shape
    held, hold, stopped = np.full(n, np.nan), np.zeros(n), np.zeros(n, dtype=np.int64)
    default = np.array([float(DEFAULTS[k]) for k in FIELDS])
    econ = np.broadcast_to(default if economics is None else np.asarray(economics, np.float64), (n, len(FIELDS)))
    cap = np.broadcast_to(np.asarray(capacity_rpm_per_machine, dtype=np.float64), (n,))
    # Necessary: the newest minute follows the collapse, so it is below COLLAPSE_SHARE of the fleet's busiest
    # minute. The work below is on those fleets alone (few, unless traffic is sparse).
    newest = np.nan_to_num(history[:, -1], nan=np.inf)
    some = np.flatnonzero(newest <= COLLAPSE_SHARE * np.max(np.nan_to_num(history, nan=0.0), axis=1))
    if some.size == 0:
        return held, stopped, hold
    part = history[some]
    load = np.where(np.isnan(part), -np.inf, part)
    after = np.full(part.shape, np.inf)  # the most any later minute carried (+inf for the newest: no "after" yet)
    after[:, :-1] = np.maximum.accumulate(load[:, ::-1], axis=1)[:, -2::-1]
    # Candidates: the last minute of each level, i.e. a minute that carried more than every later one.
    rows, cols = np.nonzero(load > after)
    if rows.size == 0:
        return held, stopped, hold
    warmup = econ[some[rows], FIELDS.index("warmup_latency")]
    span = np.clip(np.ceil(WARMUPS_IN_WINDOW * warmup), PEAK_WINDOW, width).astype(np.int64)
    back = cols[:, None] - np.arange(int(span.max()))[None, :]  # the sizing window ending at the candidate
    window = part[rows[:, None], np.maximum(back, 0)]
    inside = np.arange(back.shape[1]) < span[:, None]
    complete = np.all(~inside | ((back >= 0) & ~np.isnan(window)), axis=1)  # every minute of it was sent
    typical = np.nanmedian(np.where(inside, window, np.nan), axis=1)
    fell = complete & (typical >= COLLAPSE_MIN_RPM) & (after[rows, cols] <= COLLAPSE_SHARE * typical)
    if not fell.any():
        return held, stopped, hold
    rows, cols, window, inside, warmup = rows[fell], cols[fell], window[fell], inside[fell], warmup[fell]
    first = np.unique(rows, return_index=True)[1]  # np.nonzero is row-major: each fleet's earliest (largest) fall
    at = some[rows[first]]
    peak = np.max(np.where(inside[first], window[first], 0.0), axis=1) / cap[at]
    e = econ[at]
    busy = peak * cap[at] * e[:, FIELDS.index("request_value")] / 1000.0
    loss = (warmup[first] + 1.0) * (e[:, FIELDS.index("downtime_cost")] + busy)
    rent = peak * e[:, FIELDS.index("machine_cost")]
    stopped[at] = width - 1 - cols[first]
    hold[at] = np.minimum(np.where(rent > 0.0, loss / np.where(rent > 0.0, rent, 1.0), np.inf), width)
    held[at] = np.where(stopped[at] <= hold[at], peak, np.nan)
    return held, stopped, hold


def fleet_for_level(basis: np.ndarray, level: np.ndarray | float) -> np.ndarray:
    """``ceil(basis + level * (0.2 * basis + 2 * sqrt(basis)))`` machines, as floats."""
    basis = np.asarray(basis, dtype=np.float64)
    return np.ceil(basis + np.multiply(level, margin(basis)) - 1e-9)


def desired_from_action(
    action: np.ndarray,
    basis: np.ndarray,
    active: np.ndarray,
    warming: np.ndarray,
    economics: np.ndarray | None = None,
    capacity_rpm_per_machine: np.ndarray | float = 300.0,
) -> np.ndarray:
    """Whole fleet (serving + warming) each action asks for, int64, vectorised over a batch.

    ``basis`` is ``sizing_basis`` of the observed load, ``active`` and ``warming`` the machines serving and warming
    up now; the level is the action's offset over ``base_level`` of the fleet's ``economics`` (``None``: the
    defaults) and capacity; cuts follow ``desired_at_level``.
    """
    action = np.asarray(action, dtype=np.int64)
    if action.size and (action.min() < 0 if action.size > 1 else action.item() < 0):
        raise ValueError(f"action must be in [0, {N_ACTIONS}), got {action}")
    try:
        offset = _OFFSETS[action]
    except IndexError:
        raise ValueError(f"action must be in [0, {N_ACTIONS}), got {action}") from None
    level = np.maximum(base_level(economics, basis, capacity_rpm_per_machine) + offset, 0.0)
    return desired_at_level(level, basis, active, warming)


def desired_at_level(
    level: np.ndarray | float, basis: np.ndarray, active: np.ndarray, warming: np.ndarray
) -> np.ndarray:
    """Whole fleet at margin ``level`` (``fleet_for_level``), int64, except that a cut keeps the fleet
    (``active + warming``) when it is less than ``SCALE_IN_TOLERANCE`` of it or while machines are warming up.

    Why no cut while warming: a cut decided while machines are still warming up means the need fell before they
    could serve, and where a cut removes serving machines first (``SimConfig.cut_order``, as a scale-in that
    terminates running tasks does) it leaves the fleet with warming machines alone: measured on the small-fleet
    group at a 15-minute warm-up and 2,000 $ a minute down, the economics' base level made -23,028 $ with such
    cuts and -7,027 $ without them, over 10 paired noise draws (``research/notes/training.md``)."""
    sized = fleet_for_level(basis, level)
    warming = np.asarray(warming, dtype=np.float64)
    fleet = np.asarray(active, dtype=np.float64) + warming
    keep = (sized < fleet) & ((sized >= fleet * (1.0 - SCALE_IN_TOLERANCE)) | (warming > 0))
    return np.where(keep, fleet, sized).astype(np.int64)
