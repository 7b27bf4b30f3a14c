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

Two patterns hold the fleet above that for ski rental's break-even time (``holds``): a collapse of the traffic (it
falls in a minute to under 5 % of the window's median minute and stays there) keeps the size before it
(``collapse_hold``: more often an upstream outage than demand gone, and traffic comes back from one at once), and
traffic that has surged twice or more in the day keeps the last surge's peak (``surge_hold``: a cron job, a
top-of-the-hour rush).

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
SURGE_RATIO = 2.0
"""A minute carrying at least this many times the peak of the ``SURGE_PRIOR`` minutes before it is a surge
(``surge_hold``), when that peak is at least ``COLLAPSE_MIN_RPM``."""
SURGE_PRIOR = 4
SURGE_SIGMAS = 5.0
"""A surge also exceeds that peak by this many square roots of it (counting noise: at a few requests a minute a
doubling is chance)."""
SURGES_TO_HOLD = 2
"""Surges in the history sent before the last one is held: one is a spike, two are a habit."""
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


Hold = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(held, since, hold)`` per fleet: machines' worth held (``NaN``: none), minutes since the event that started
it, and the minutes it is held for (``_break_even``; 0: no such event)."""


def sizing_basis(
    load: np.ndarray,
    capacity_rpm_per_machine: np.ndarray | float,
    history: np.ndarray | None = None,
    economics: np.ndarray | None = None,
    *,
    precomputed: list[Hold] | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Machines' worth of the peak load of the last ``max(PEAK_WINDOW, WARMUPS_IN_WINDOW x warmup_latency)``
    minutes (module docstring), or what a collapse or recurring surges of the traffic hold it at (``holds``).

    ``load`` is (N, HISTORY) requests per minute, oldest first (``features.pad_history``); ``history`` (N, width)
    the longer window ending at the same minute (``features.pad_context``, ``NaN`` = not sent; ``None``: none, the
    window is ``load``'s); ``economics`` (N, len(inference.economics.FIELDS)) for each fleet's warm-up (``None``:
    the defaults). ``precomputed``: ``holds`` of these arguments, when the caller needs them too;
    ``candidates``: (N,) bool, the only fleets that can hold (``hold_candidates``), to skip the others."""
    peak = np.max(load[..., -PEAK_WINDOW:], axis=-1)
    if history is not None:
        from .economics import FIELDS

        span = _span(_economics_rows(economics, len(peak))[:, FIELDS.index("warmup_latency")], np.shape(history)[1])
        longest = int(span.max(initial=PEAK_WINDOW))
        if longest > PEAK_WINDOW:  # only the minutes some window reaches back to are read
            tail = np.asarray(history[:, -longest:], dtype=np.float64)
            inside = (np.arange(longest) >= longest - span[:, None]) & ~np.isnan(tail)
            peak = np.maximum(peak, np.max(np.where(inside, tail, -np.inf), axis=1))
        held = _held(history, capacity_rpm_per_machine, economics, precomputed, candidates)
        peak = np.where(np.isnan(held), peak, np.fmax(peak, held * capacity_rpm_per_machine))
    return peak / capacity_rpm_per_machine


def _held(
    history: np.ndarray,
    cap: np.ndarray | float,
    economics: np.ndarray | None,
    precomputed: list[Hold] | None,
    candidates: np.ndarray | None,
) -> np.ndarray:
    """The largest basis any hold keeps, per fleet (``NaN``: none); with ``candidates``, only those are examined."""
    if precomputed is not None:
        return np.fmax.reduce([h[0] for h in precomputed])
    if candidates is None:
        return np.fmax.reduce([h[0] for h in holds(history, cap, economics)])
    n = np.shape(history)[0]
    held = np.full(n, np.nan)
    rows = np.flatnonzero(candidates)
    if rows.size:
        caps = np.broadcast_to(np.asarray(cap, dtype=np.float64), (n,))[rows]
        econ = None if economics is None else _economics_rows(economics, n)[rows]
        held[rows] = np.fmax.reduce([h[0] for h in holds(history[rows], caps, econ)])
    return held


def holds(
    history: np.ndarray, capacity_rpm_per_machine: np.ndarray | float, economics: np.ndarray | None = None
) -> list[Hold]:
    """Every hold of the sizing basis: ``[collapse_hold(...), surge_hold(...)]``."""
    return [
        collapse_hold(history, capacity_rpm_per_machine, economics),
        surge_hold(history, capacity_rpm_per_machine, economics),
    ]


def hold_candidates(series: np.ndarray, width: int) -> np.ndarray:
    """(N, L) bool: for a history of ``width`` minutes ending at each column of ``series`` (N, L; ``NaN`` = not
    sent), whether a hold is possible at all (the newest minute below ``COLLAPSE_SHARE`` of the busiest, or
    ``SURGES_TO_HOLD`` surges). The simulator computes it once per series and passes one column a minute as
    ``sizing_basis``'s ``candidates``: the same bases, without reading a day of history per fleet per minute."""
    x = np.asarray(series, dtype=np.float64)
    busiest = np.nan_to_num(x, nan=0.0)
    step = 1
    while step < width:  # the max over the last `width` columns, by doubling (the last step overlaps)
        shift = min(step, width - step)
        busiest[:, shift:] = np.maximum(busiest[:, shift:], busiest[:, :-shift])
        step += shift
    collapse = np.nan_to_num(x, nan=np.inf) <= COLLAPSE_SHARE * busiest
    count = np.cumsum(_surges(x), axis=1)  # surges in the window ending at each column (at least a row's count)
    inside = count.copy()
    inside[:, width - 1 :] -= count[:, : count.shape[1] - width + 1]
    return collapse | (inside >= SURGES_TO_HOLD)


def _span(warmup: np.ndarray, width: int) -> np.ndarray:
    """Minutes of each fleet's sizing window, ``max(PEAK_WINDOW, WARMUPS_IN_WINDOW x warmup)``, at most ``width``."""
    return np.clip(np.ceil(WARMUPS_IN_WINDOW * warmup), PEAK_WINDOW, width).astype(np.int64)


def _economics_rows(economics: np.ndarray | None, n: int) -> np.ndarray:
    from .economics import DEFAULTS, FIELDS

    default = np.array([float(DEFAULTS[k]) for k in FIELDS])
    return np.broadcast_to(default if economics is None else np.asarray(economics, np.float64), (n, len(FIELDS)))


def _break_even(level: np.ndarray, extra: np.ndarray, econ: np.ndarray, cap: np.ndarray, cap_at: int) -> np.ndarray:
    """Ski rental's break-even minutes. Keeping ``extra`` machines costs ``extra x machine_cost`` a minute; not
    keeping them, when ``level`` machines' worth of load arrives at once, costs a warm-up down,
    ``(warmup_latency + 1) x (downtime_cost + level x busy)`` (``busy``: a busy machine's revenue a minute). Keep
    them until the rent paid equals that loss, which is within twice the best choice whatever comes, and at most
    ``cap_at`` minutes (the history sent)."""
    from .economics import FIELDS

    busy = cap * econ[:, FIELDS.index("request_value")] / 1000.0
    loss = (econ[:, FIELDS.index("warmup_latency")] + 1.0) * (econ[:, FIELDS.index("downtime_cost")] + level * busy)
    rent = extra * econ[:, FIELDS.index("machine_cost")]
    return np.minimum(np.where(rent > 0.0, loss / np.where(rent > 0.0, rent, 1.0), np.inf), cap_at)


def collapse_hold(
    history: np.ndarray, capacity_rpm_per_machine: np.ndarray | float, economics: np.ndarray | None = None
) -> Hold:
    """What a fleet whose traffic collapsed is held at: ``(held, stopped, hold)``.

    A collapse: every minute since some minute ``m`` carried less than ``COLLAPSE_SHARE`` of the median minute of
    the sizing window ending at ``m`` (all of whose minutes were sent): the load fell in a minute or two from a
    level, not over hours, and not from sparse traffic (a median below ``COLLAPSE_MIN_RPM``). The fleet keeps that
    window's peak for the break-even time of holding it (``_break_even``), counted from ``m``; ``stopped`` is the
    minutes since ``m``.

    Why: traffic that all but stops in a minute is more often an upstream outage (DNS, network, a client's
    release, a gap in the metrics) than demand gone, and it comes back at once, not as a morning ramp: a fleet
    that followed it down is then down for a whole warm-up. Traffic that fades out (a business-hours service at
    night), a one-minute burst and sparse traffic are no collapse; dear machines with cheap outages are hardly
    held at all."""
    from .economics import FIELDS

    history = np.asarray(history, dtype=np.float64)
    n, width = history.shape
    held, hold, stopped = np.full(n, np.nan), np.zeros(n), np.zeros(n, dtype=np.int64)
    if width <= PEAK_WINDOW:  # a collapse needs a whole window before it and a minute after
        return held, stopped, hold
    # Necessary: the newest minute follows the collapse, so it is below COLLAPSE_SHARE of the fleet's busiest
    # minute. The work below is on those fleets alone (few, unless traffic is sparse).
    some = np.flatnonzero(history[:, -1] <= COLLAPSE_SHARE * np.fmax.reduce(history, axis=1))  # NaN: False
    if some.size == 0:
        return held, stopped, hold
    econ = _economics_rows(economics, n)
    cap = np.broadcast_to(np.asarray(capacity_rpm_per_machine, dtype=np.float64), (n,))
    part = history[some]
    load = np.where(np.isnan(part), -np.inf, part)
    after = np.full(part.shape, np.inf)  # the most any later minute carried (+inf for the newest: no "after" yet)
    after[:, :-1] = np.maximum.accumulate(load[:, ::-1], axis=1)[:, -2::-1]
    # Candidates: the last minute of each level, i.e. a minute that carried more than every later one.
    rows, cols = np.nonzero(load > after)
    if rows.size == 0:
        return held, stopped, hold
    warmup = econ[some[rows], FIELDS.index("warmup_latency")]
    span = _span(warmup, width)
    back = cols[:, None] - np.arange(int(span.max()))[None, :]  # the sizing window ending at the candidate
    window = part[rows[:, None], np.maximum(back, 0)]
    inside = np.arange(back.shape[1]) < span[:, None]
    complete = np.all(~inside | ((back >= 0) & ~np.isnan(window)), axis=1)  # every minute of it was sent
    ordered = np.sort(np.where(inside, window, np.inf), axis=1)  # the window's minutes first (NaN: not complete)
    k, r = span, np.arange(len(span))
    typical = 0.5 * (ordered[r, (k - 1) // 2] + ordered[r, k // 2])  # the window's median
    fell = complete & (typical >= COLLAPSE_MIN_RPM) & (after[rows, cols] <= COLLAPSE_SHARE * typical)
    if not fell.any():
        return held, stopped, hold
    rows, cols, window, inside = rows[fell], cols[fell], window[fell], inside[fell]
    first = np.unique(rows, return_index=True)[1]  # np.nonzero is row-major: each fleet's earliest (largest) fall
    at = some[rows[first]]
    peak = np.max(np.where(inside[first], window[first], 0.0), axis=1) / cap[at]
    stopped[at] = width - 1 - cols[first]
    hold[at] = _break_even(peak, peak, econ[at], cap[at], width)
    held[at] = np.where(stopped[at] <= hold[at], peak, np.nan)
    return held, stopped, hold


def _surges(x: np.ndarray) -> np.ndarray:
    """(N, L) bool: the minutes that are surges (``surge_hold``) within ``x`` (the first ``SURGE_PRIOR`` cannot be:
    the minutes before them are not in ``x``)."""
    n, width = x.shape
    surge = np.zeros((n, width), dtype=bool)
    if width <= SURGE_PRIOR:
        return surge
    before = x[:, SURGE_PRIOR - 1 : -1].copy()  # the peak of the SURGE_PRIOR minutes before (NaN: one not sent)
    for k in range(2, SURGE_PRIOR + 1):
        np.maximum(before, x[:, SURGE_PRIOR - k : width - k], out=before)
    with np.errstate(invalid="ignore"):
        bar = np.maximum(SURGE_RATIO * before, before + SURGE_SIGMAS * np.sqrt(np.maximum(before, 0.0)))
        surge[:, SURGE_PRIOR:] = (x[:, SURGE_PRIOR:] >= bar) & (before >= COLLAPSE_MIN_RPM)
    return surge


def surge_hold(
    history: np.ndarray, capacity_rpm_per_machine: np.ndarray | float, economics: np.ndarray | None = None
) -> Hold:
    """What a fleet whose traffic surges again and again is held at: ``(held, since, hold)``.

    A surge: a minute carrying at least ``SURGE_RATIO`` times the peak ``p`` of the ``SURGE_PRIOR`` minutes before it
    and at least ``p + SURGE_SIGMAS x sqrt(p)`` (all sent, ``p`` at least ``COLLAPSE_MIN_RPM``). With
    ``SURGES_TO_HOLD`` or more in the history sent, the fleet keeps the peak of the last one's sizing window for the
    break-even time of the machines it holds beyond the present window's peak (``_break_even``), counted from that
    surge; ``since`` is the minutes since it.

    Why: a surge outruns any warm-up, so a fleet sized on the recent window is down for a warm-up at each one. A
    load that surges every hour (a cron job, a batch client, a top-of-the-hour rush) would have the fleet cut
    between surges and down at every one; one surge in a day is a spike the window already handles."""
    from .economics import FIELDS

    x = np.asarray(history, dtype=np.float64)
    n, width = x.shape
    held, hold, since = np.full(n, np.nan), np.zeros(n), np.zeros(n, dtype=np.int64)
    # Necessary: SURGES_TO_HOLD minutes that at least double the one before (NaN compares False).
    doubled = (x[:, 1:] >= SURGE_RATIO * x[:, :-1]) & (x[:, 1:] >= SURGE_RATIO * COLLAPSE_MIN_RPM)
    if not (np.count_nonzero(doubled, axis=1) >= SURGES_TO_HOLD).any():
        return held, since, hold
    surge = _surges(x)
    enough = surge.sum(axis=1) >= SURGES_TO_HOLD
    if not enough.any():
        return held, since, hold
    at = np.flatnonzero(enough)
    last = width - 1 - np.argmax(surge[at, ::-1], axis=1)
    econ = _economics_rows(economics, n)[at]
    cap = np.broadcast_to(np.asarray(capacity_rpm_per_machine, dtype=np.float64), (n,))[at]
    span = _span(econ[:, FIELDS.index("warmup_latency")], width)
    cols = np.arange(width)
    own = (cols >= last[:, None]) & (cols < (last + span)[:, None])  # the surge's own sizing window
    level = np.nanmax(np.where(own, x[at], np.nan), axis=1) / cap
    recent = cols >= (width - span)[:, None]
    now = np.nanmax(np.where(recent, x[at], np.nan), axis=1) / cap
    since[at] = width - 1 - last
    hold[at] = _break_even(level, level - now, econ, cap, width)
    held[at] = np.where((level > now) & (since[at] <= hold[at]), level, np.nan)
    return held, since, hold


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
