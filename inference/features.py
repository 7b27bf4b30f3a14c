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

The featurizer is split in two so that the Gymnasium environment can compute the load part for a whole episode
at once and only the fleet part per step; ``featurize`` is exactly their concatenation.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

HISTORY = 16
"""Minutes of load history the policy sees; shorter ``load_rpm`` lists are left-padded with their oldest value."""

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
)
OBS_DIM = len(FEATURE_NAMES)
LOAD_DIM = HISTORY + 4
"""Width of the load part (``load_features``); the fleet part holds the remaining three features."""


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
        out = np.empty((*np.shape(need), OBS_DIM - LOAD_DIM))
    log_need1 = np.log1p(need)
    out[..., 0] = np.log1p(active) - log_need1
    out[..., 1] = np.log1p(np.add(active, pending)) - log_need1
    out[..., 2] = np.minimum(np.maximum(failed, 0.0) / np.maximum(last_load, 1.0), 1.0)
    return out


def featurize(
    load: np.ndarray,
    failed: np.ndarray,
    active: np.ndarray,
    pending: np.ndarray,
    capacity_rpm_per_machine: np.ndarray,
    minute: np.ndarray,
) -> np.ndarray:
    """The policy's observation for N decisions, float32 of shape (N, OBS_DIM).

    Arguments are numpy arrays with a leading batch dimension N: ``load`` (N, HISTORY) requests per minute,
    oldest first (see ``pad_history``); ``failed`` requests failed in the last minute; ``active`` and ``pending``
    machines; ``capacity_rpm_per_machine``; ``minute`` the minute of the week (UTC) being decided.
    """
    load = np.asarray(load, dtype=np.float64)
    cap = np.asarray(capacity_rpm_per_machine, dtype=np.float64)
    out = np.empty((*load.shape[:-1], OBS_DIM))
    load_features(load, cap, np.asarray(minute), out=out[..., :LOAD_DIM])
    fleet_features(
        load[..., -1] / cap,
        np.asarray(active, dtype=np.float64),
        np.asarray(pending, dtype=np.float64),
        np.asarray(failed, dtype=np.float64),
        load[..., -1],
        out=out[..., LOAD_DIM:],
    )
    return out.astype(np.float32)
