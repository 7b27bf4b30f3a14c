"""The one observation featurizer, shared by the simulator (training) and the serving handler.

It sees only what a real cloud can observe (the decision contract of DESIGN.md), never simulator internals.
Every feature is scale-free (loads are expressed in machines' worth of nominal capacity and as ratios), so one
policy serves a 5-machine fleet and a 500-machine fleet alike; only ``log_need`` tells the policy the absolute
scale, squashed so that the shield can detect loads beyond the training range.

| index | name | meaning |
| --- | --- | --- |
| 0 | log_need | log1p(last load / capacity per machine) / 5 |
| 1 .. HISTORY-1 | load_ratio_k | log((load[-1-k] + c) / (load[-1] + c)), c = one machine's capacity, clipped to +-3 |
| HISTORY .. HISTORY+3 | time | sin/cos of the minute of the day and of the week (UTC) |
| HISTORY+4 | log_active_vs_need | log((active + 1) / (need + 1)) |
| HISTORY+5 | log_fleet_vs_need | log((active + pending + 1) / (need + 1)) |
| HISTORY+6 | failed_fraction | failed requests / load in the last minute, in [0, 1] |
| HISTORY+7 .. | the fleet's character over the last day (``CONTEXT_NAMES``, ``context_features``) | |
| last 7 | the fleet's economics and scale, dimensionless (``ECONOMICS_NAMES``, ``economics_features``) | |

The character features tell a calm fleet from a spiky one, which 16 minutes cannot. Over the last
``DAY`` observed minutes (those the caller sent; ``NaN`` = not sent), ``c`` one machine's capacity:

| name | meaning |
| --- | --- |
| day_fraction | minutes of the day window the caller sent / DAY: how much of the rest to trust |
| noise | log((rms minute-to-minute change + 1) / (mean load + c)) / 5: noise relative to size |
| swing | log1p(standard deviation / (mean load + c)): the day's range (daily cycle, drift) |
| spike_rate | share of minutes whose load beat the previous 16 minutes' peak by more than ``SPIKE_MARGIN`` |
| surprise | 10 x mean of max(0, load / previous 16 minutes' peak - 1), clipped to 3: how high they beat it |
| yday_level | log((load DAY minutes before the newest + c) / (newest load + c)), clipped to +-3 |
| yday_rise | log((highest load of the 30 minutes after that one + c) / (that load + c)), clipped: what followed |

With less history each degrades to a neutral value (0) and ``day_fraction`` says so; one minute of history is
a sound request (every character feature 0). The simulator computes the same sums for a whole episode from
cumulative sums (``ContextTracker``); ``context_from_sums`` is the one formula both use.

The featurizer is split so that the Gymnasium environment can compute the load part for a whole episode at once
and only the fleet part per step; ``featurize`` is exactly the concatenation of the three parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

HISTORY = 16
"""Minutes of load history the policy sees; shorter ``load_rpm`` lists are left-padded with their oldest value."""
DAY = 1440
"""Minutes of the character window."""
YESTERDAY_AHEAD = 30
"""Minutes after the same time yesterday whose peak ``yday_rise`` compares."""
CONTEXT_MINUTES = DAY + HISTORY
"""Minutes of ``load_rpm`` the policy uses (the artifact's ``observation.history``): a day, and the 16 minutes
before its first minute that its spike count compares against."""
SPIKE_MARGIN = 0.1
CONTEXT_NAMES: tuple[str, ...] = (
    "day_fraction", "noise", "swing", "spike_rate", "surprise", "yday_level", "yday_rise",
)  # fmt: skip

ECONOMICS_NAMES: tuple[str, ...] = (
    "log_warmup", "log_cost_ratio", "log_outage_ratio", "availability", "warming_cost", "critical_ratio",
    "count_noise",
)  # fmt: skip
"""The fleet's economics and scale as dimensionless features (``economics_features``)."""

MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
RATIO_CLIP = 3.0

FEATURE_NAMES: tuple[str, ...] = (
    "log_need",
    *(f"load_ratio_{k}" for k in range(1, HISTORY)),
    "sin_day",
    "cos_day",
    "sin_week",
    "cos_week",
    "log_active_vs_need",
    "log_fleet_vs_need",
    "failed_fraction",
    *CONTEXT_NAMES,
    *ECONOMICS_NAMES,
)
OBS_DIM = len(FEATURE_NAMES)
LOAD_DIM = HISTORY + 4
"""Width of the load part (``load_features``)."""
FLEET_DIM = 3
"""Width of the fleet part (``fleet_features``)."""
CONTEXT_DIM = len(CONTEXT_NAMES)
"""Width of the character part (``context_features``)."""
ECONOMICS_DIM = len(ECONOMICS_NAMES)
"""Width of the economics part (``economics_features``), the last features."""
CONTEXT_END = LOAD_DIM + FLEET_DIM + CONTEXT_DIM
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "noise": ("noise", "swing"),
    "spikes": ("spike_rate", "surprise"),
    "yesterday": ("yday_level", "yday_rise"),
    "day": CONTEXT_NAMES,
}
"""The character features by what they describe, for ablations (``TrainConfig.ablate``, ``research.ablation``);
"day" is all of them. ``day_fraction`` belongs to no smaller group: it only says how far to trust the others."""


def group_columns(groups: tuple[str, ...] | list[str]) -> np.ndarray:
    """Sorted observation columns of the features in ``groups`` (names of ``FEATURE_GROUPS``)."""
    unknown = [g for g in groups if g not in FEATURE_GROUPS]
    if unknown:
        raise ValueError(f"unknown feature group(s) {unknown}; known: {', '.join(FEATURE_GROUPS)}")
    names = {name for g in groups for name in FEATURE_GROUPS[g]}
    return np.array(sorted(FEATURE_NAMES.index(name) for name in names), dtype=np.int64)


def hide_groups(obs: np.ndarray, groups: tuple[str, ...] | list[str]) -> np.ndarray:
    """``obs`` (N, OBS_DIM) with the features of ``groups`` at 0, their "not known" value: what a policy trained
    without them saw (a copy; ``obs`` itself when there are none)."""
    if not groups:
        return obs
    out = np.array(obs, dtype=np.float32)
    out[:, group_columns(groups)] = 0.0
    return out


def minute_of_week(timestamps: datetime | list[datetime]) -> np.ndarray:
    """Minutes since Monday 00:00 UTC for each timestamp (naive timestamps are taken as UTC)."""
    stamps = [timestamps] if isinstance(timestamps, datetime) else timestamps
    out = np.empty(len(stamps), dtype=np.int64)
    for i, ts in enumerate(stamps):
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC)
        out[i] = ts.weekday() * MINUTES_PER_DAY + ts.hour * 60 + ts.minute
    return out


def pad_history(load_rpm: list[float] | np.ndarray) -> np.ndarray:
    """Last ``HISTORY`` minutes of one load list (oldest first), left-padded with the oldest value."""
    arr = np.asarray(load_rpm, dtype=np.float64)
    if arr.size >= HISTORY:
        return arr[-HISTORY:]
    return np.concatenate([np.full(HISTORY - arr.size, arr[0]), arr])


def load_need(load: np.ndarray, capacity_rpm_per_machine: np.ndarray) -> np.ndarray:
    """Machines' worth of the most recent minute's load, ``load[..., -1] / capacity``."""
    return load[..., -1] / capacity_rpm_per_machine


def load_features(
    load: np.ndarray, capacity_rpm_per_machine: np.ndarray, minute: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Load part of the observation, shape (N, LOAD_DIM), written into ``out`` when given.

    ``load`` is (N, HISTORY) requests per minute, oldest first; ``minute`` the minute of the week (UTC) being
    decided. Works on any leading batch shape, so the simulator can featurize a whole episode in one call.
    """
    if out is None:
        out = np.empty((*load.shape[:-1], LOAD_DIM))
    cap = np.asarray(capacity_rpm_per_machine, dtype=np.float64)
    last = load[..., -1]
    ratios = out[..., 1:HISTORY]
    np.divide(load[..., -2::-1] + cap[..., None], (last + cap)[..., None], out=ratios)
    np.log(ratios, out=ratios)
    np.minimum(np.maximum(ratios, -RATIO_CLIP, out=ratios), RATIO_CLIP, out=ratios)
    out[..., 0] = np.log1p(last / cap) / 5.0
    day = (2.0 * np.pi / MINUTES_PER_DAY) * (minute % MINUTES_PER_DAY)
    week = (2.0 * np.pi / MINUTES_PER_WEEK) * (minute % MINUTES_PER_WEEK)
    out[..., HISTORY] = np.sin(day)
    out[..., HISTORY + 1] = np.cos(day)
    out[..., HISTORY + 2] = np.sin(week)
    out[..., HISTORY + 3] = np.cos(week)
    return out


def fleet_features(
    need: np.ndarray,
    active: np.ndarray,
    pending: np.ndarray,
    failed: np.ndarray,
    last_load: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Fleet part of the observation, shape (N, 3): supply against demand, and the failure rate."""
    if out is None:
        out = np.empty((*np.shape(need), FLEET_DIM))
    log_need1 = np.log1p(need)
    out[..., 0] = np.log1p(active) - log_need1
    out[..., 1] = np.log1p(np.add(active, pending)) - log_need1
    out[..., 2] = np.minimum(np.maximum(failed, 0.0) / np.maximum(last_load, 1.0), 1.0)
    return out


@dataclass(frozen=True)
class MinuteSeries:
    """What each minute of a load series contributes to the character sums (``NaN`` where it cannot)."""

    load: np.ndarray
    change2: np.ndarray
    """Squared change from the minute before."""
    spike: np.ndarray
    """1.0 when the load beat the previous HISTORY minutes' peak by more than ``SPIKE_MARGIN``, else 0.0."""
    excess: np.ndarray
    """max(0, load / previous peak - 1)."""
    ahead_peak: np.ndarray
    """Highest load of the ``YESTERDAY_AHEAD`` minutes after this one (``NaN`` unless all were sent)."""


def minute_series(load: np.ndarray) -> MinuteSeries:
    """Per-minute contributions of a (N, L) load series, oldest first, ``NaN`` = not sent."""
    x = np.asarray(load, dtype=np.float64)
    length = x.shape[1]
    change2 = np.full_like(x, np.nan)
    change2[:, 1:] = (x[:, 1:] - x[:, :-1]) ** 2
    prior = np.full_like(x, np.nan)  # the previous HISTORY minutes' peak (fmax skips minutes not sent)
    for k in range(1, min(HISTORY, length - 1) + 1):
        np.fmax(prior[:, k:], x[:, :-k], out=prior[:, k:])
    with np.errstate(over="ignore"):  # a huge jump over a tiny peak is an infinite ratio: capped below
        ratio = x / np.where(prior > 0, prior, np.nan) - 1.0
    ratio = np.where((prior == 0) & ~np.isnan(x), np.where(x > 0, np.inf, 0.0), ratio)
    spike = np.where(np.isnan(ratio), np.nan, (ratio > SPIKE_MARGIN).astype(np.float64))
    excess = np.where(np.isnan(ratio), np.nan, np.minimum(np.maximum(ratio, 0.0), 1e6))
    ahead = np.full_like(x, np.nan)  # NaN propagates: a peak only where all its minutes were sent
    if length > YESTERDAY_AHEAD:
        ahead[:, :-YESTERDAY_AHEAD] = x[:, 1 : length - YESTERDAY_AHEAD + 1]
        for k in range(2, YESTERDAY_AHEAD + 1):
            np.maximum(
                ahead[:, :-YESTERDAY_AHEAD], x[:, k : length - YESTERDAY_AHEAD + k], out=ahead[:, :-YESTERDAY_AHEAD]
            )
    return MinuteSeries(x, change2, spike, excess, ahead)


def context_from_sums(
    count: np.ndarray,
    load_sum: np.ndarray,
    load2_sum: np.ndarray,
    change_count: np.ndarray,
    change2_sum: np.ndarray,
    spike_count: np.ndarray,
    spike_sum: np.ndarray,
    excess_sum: np.ndarray,
    newest: np.ndarray,
    yesterday: np.ndarray,
    yesterday_ahead: np.ndarray,
    capacity_rpm_per_machine: np.ndarray,
) -> np.ndarray:
    """The character features (N, CONTEXT_DIM) from the day window's sums (the one formula; see the module
    docstring). ``yesterday`` and ``yesterday_ahead`` are ``NaN`` when not sent."""
    cap = np.asarray(capacity_rpm_per_machine, dtype=np.float64)
    out = np.zeros((len(count), CONTEXT_DIM))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = load_sum / np.maximum(count, 1.0)
        rms = np.sqrt(np.maximum(change2_sum, 0.0) / np.maximum(change_count, 1.0))
        std = np.sqrt(np.maximum(load2_sum / np.maximum(count, 1.0) - mean * mean, 0.0))
        out[:, 0] = count / DAY
        out[:, 1] = np.where(change_count >= 1, np.clip(np.log((rms + 1.0) / (mean + cap)), -10.0, 2.0) / 5.0, 0.0)
        out[:, 2] = np.where(count >= 2, np.log1p(std / (mean + cap)), 0.0)
        out[:, 3] = np.where(spike_count >= 1, spike_sum / np.maximum(spike_count, 1.0), 0.0)
        out[:, 4] = np.where(spike_count >= 1, np.minimum(10.0 * excess_sum / np.maximum(spike_count, 1.0), 3.0), 0.0)
        level = np.log((yesterday + cap) / (newest + cap))
        rise = np.log((yesterday_ahead + cap) / (yesterday + cap))
    out[:, 5] = np.where(np.isnan(level), 0.0, np.clip(level, -RATIO_CLIP, RATIO_CLIP))
    out[:, 6] = np.where(np.isnan(rise), 0.0, np.clip(rise, -RATIO_CLIP, RATIO_CLIP))
    return out


def _nan_sum(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = ~np.isnan(values)
    return ok.sum(axis=-1).astype(np.float64), np.where(ok, values, 0.0).sum(axis=-1)


def context_features(history: np.ndarray, capacity_rpm_per_machine: np.ndarray) -> np.ndarray:
    """Character features (N, CONTEXT_DIM) of (N, L) load histories ending at the newest observed minute,
    oldest first, ``NaN`` = not sent (``pad_context``); any L >= 1."""
    series = minute_series(history)
    day = slice(-min(DAY, series.load.shape[1]), None)
    count, load_sum = _nan_sum(series.load[:, day])
    _, load2_sum = _nan_sum(series.load[:, day] ** 2)
    change_count, change2_sum = _nan_sum(series.change2[:, day])
    spike_count, spike_sum = _nan_sum(series.spike[:, day])
    _, excess_sum = _nan_sum(series.excess[:, day])
    n, length = series.load.shape
    yesterday = series.load[:, -1 - DAY] if length > DAY else np.full(n, np.nan)
    ahead = series.ahead_peak[:, -1 - DAY] if length > DAY else np.full(n, np.nan)
    return context_from_sums(
        count, load_sum, load2_sum, change_count, change2_sum, spike_count, spike_sum, excess_sum,
        series.load[:, -1], yesterday, ahead, capacity_rpm_per_machine,
    )  # fmt: skip


def pad_context(load_rpm: list[float] | np.ndarray, width: int = CONTEXT_MINUTES) -> np.ndarray:
    """The last ``width`` minutes of one load list (oldest first), left-padded with ``NaN`` (not sent)."""
    arr = np.asarray(load_rpm, dtype=np.float64)[-width:]
    return np.concatenate([np.full(width - arr.size, np.nan), arr])


class ContextTracker:
    """The character features of every minute of N long load series, from cumulative sums: the simulator's
    (and the training environment's) O(1)-per-step version of ``context_features``, same formula."""

    def __init__(self, series: np.ndarray, capacity_rpm_per_machine: np.ndarray):
        """``series`` (N, L): each fleet's load, oldest first, ``NaN`` where not observed (e.g. before its past)."""
        s = minute_series(series)
        self.cap = np.broadcast_to(np.asarray(capacity_rpm_per_machine, dtype=np.float64), series.shape[:1])
        self.load = s.load
        self.ahead = s.ahead_peak
        n, length = series.shape
        self._cum = np.zeros((8, n, length + 1))
        for j, part in enumerate((s.load, s.change2, s.spike)):  # counts of minutes sent
            np.cumsum(~np.isnan(part), axis=-1, out=self._cum[j, :, 1:])
        for j, part in enumerate((s.load, s.load * s.load, s.change2, s.spike, s.excess), start=3):  # sums
            np.cumsum(np.nan_to_num(part), axis=-1, out=self._cum[j, :, 1:])
        self._rows = np.arange(series.shape[0])

    def at(self, newest: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Features (K, CONTEXT_DIM) for windows ending at columns ``newest`` of fleets ``rows`` (default: one
        column per fleet, in order)."""
        end = np.asarray(newest, dtype=np.int64) + 1
        begin = np.maximum(end - DAY, 0)
        rows = self._rows if rows is None else np.asarray(rows)
        sums = self._cum[:, rows, end] - self._cum[:, rows, begin]
        count, change_count, spike_count, load_sum, load2_sum, change2_sum, spike_sum, excess_sum = sums
        back = end - 1 - DAY
        has = back >= 0
        yesterday = np.where(has, self.load[rows, np.maximum(back, 0)], np.nan)
        ahead = np.where(has, self.ahead[rows, np.maximum(back, 0)], np.nan)
        return context_from_sums(
            count, load_sum, load2_sum, change_count, change2_sum, spike_count, spike_sum, excess_sum,
            self.load[rows, end - 1], yesterday, ahead, self.cap[rows],
        )  # fmt: skip


def economics_features(
    economics: np.ndarray | None, last_load: np.ndarray, capacity_rpm_per_machine: np.ndarray
) -> np.ndarray:
    """The economics part (N, ECONOMICS_DIM): the fleet's economics relative to what its machines earn.

    ``economics`` is (N, len(inference.economics.FIELDS)) in that order (``warming_cost`` as 0/1; ``None``: every
    fleet at ``economics.DEFAULTS``); ``last_load`` the newest minute's requests. With ``v`` the revenue of one
    fully busy machine per minute (capacity x request value) and ``R = v (need + 1)`` the fleet's revenue per
    minute at its load:

    | name | value |
    | --- | --- |
    | log_warmup | log1p(warm-up minutes) / 2 |
    | log_cost_ratio | log(machine cost / v), clipped to [-8, 4], / 3: the share of a busy machine's revenue it costs |
    | log_outage_ratio | log1p(downtime cost / R) / 5, clipped to [0, 3]: a minute down in minutes of revenue |
    | availability | -log10(1 - downtime_percent / 100 + 1e-4) / 4: how strict "down" is |
    | warming_cost | 1 when warming machines are billed |
    | critical_ratio | u / (u + machine cost), u = v + downtime cost / (need + 1): the newsvendor's service level |
    | count_noise | 1 / sqrt(1 + newest load): the relative Poisson noise of the request count |
    """
    from .economics import DEFAULTS, FIELDS

    last = np.asarray(last_load, dtype=np.float64)
    cap = np.broadcast_to(np.asarray(capacity_rpm_per_machine, dtype=np.float64), last.shape)
    if economics is None:
        economics = np.array([[float(DEFAULTS[k]) for k in FIELDS]])
    econ = np.broadcast_to(np.asarray(economics, dtype=np.float64), (*last.shape, len(FIELDS)))
    col = {k: econ[..., i] for i, k in enumerate(FIELDS)}
    need = last / cap
    busy = np.maximum(cap * col["request_value"] / 1000.0, 1e-9)
    cost = np.maximum(col["machine_cost"], 1e-9)
    out = np.empty((*last.shape, ECONOMICS_DIM))
    out[..., 0] = np.log1p(np.maximum(col["warmup_latency"], 0.0)) / 2.0
    out[..., 1] = np.clip(np.log(cost / busy), -8.0, 4.0) / 3.0
    out[..., 2] = np.minimum(np.log1p(col["downtime_cost"] / (busy * (need + 1.0))) / 5.0, 3.0)
    out[..., 3] = -np.log10(1.0 - col["downtime_percent"] / 100.0 + 1e-4) / 4.0
    out[..., 4] = col["warming_cost"]
    under = busy + col["downtime_cost"] / (need + 1.0)
    out[..., 5] = under / (under + cost)
    out[..., 6] = 1.0 / np.sqrt(1.0 + np.maximum(last, 0.0))
    return out


def featurize(
    load: np.ndarray,
    failed: np.ndarray,
    active: np.ndarray,
    pending: np.ndarray,
    capacity_rpm_per_machine: np.ndarray,
    minute: np.ndarray,
    history: np.ndarray | None = None,
    context: np.ndarray | None = None,
    economics: np.ndarray | None = None,
) -> np.ndarray:
    """The policy's observation for N decisions, float32 of shape (N, OBS_DIM).

    Arguments are numpy arrays with a leading batch dimension N: ``load`` (N, HISTORY) requests per minute,
    oldest first (see ``pad_history``); ``failed`` requests failed in the last minute; ``active`` and ``pending``
    machines; ``capacity_rpm_per_machine``; ``minute`` the minute of the week (UTC) being decided; ``history``
    (N, L) the longer load history ending at the same minute, ``NaN`` = not sent (``pad_context``); without it,
    ``load`` is all the history there is. ``context``: the character features already computed from the same
    history (``ContextTracker``, the simulator's fast path), used instead.
    """
    load = np.asarray(load, dtype=np.float64)
    cap = np.broadcast_to(np.asarray(capacity_rpm_per_machine, dtype=np.float64), load.shape[:-1])
    out = np.empty((*load.shape[:-1], OBS_DIM))
    load_features(load, cap, np.asarray(minute), out=out[..., :LOAD_DIM])
    fleet_features(
        load[..., -1] / cap,
        np.asarray(active, dtype=np.float64),
        np.asarray(pending, dtype=np.float64),
        np.asarray(failed, dtype=np.float64),
        load[..., -1],
        out=out[..., LOAD_DIM : LOAD_DIM + FLEET_DIM],
    )
    if context is None:
        context = context_features(load if history is None else history, cap)
    out[..., LOAD_DIM + FLEET_DIM : CONTEXT_END] = context
    out[..., CONTEXT_END:] = economics_features(economics, load[..., -1], cap)
    return out.astype(np.float32)
