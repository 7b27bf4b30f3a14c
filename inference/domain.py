"""What a policy was trained on, read from its artifact's metadata, and which decisions lie outside it.

A decision outside is still answered, by the fallback rule (the shield's target tracking), with a reason that
says why. Three checks, each from a metadata key the training writes:

- ``training.economics_ranges`` ``{key: [low, high]}``: each value of the decision's ``economics``. A key
  without a range (or an artifact without the key) was trained at its default only (``economics.DEFAULTS``).
- ``training.fleet_size_range`` ``[low, high]``: the mean of the ``load_rpm`` sent, in machines' worth of
  capacity (the scale the training's mean fleet sizes are drawn in). Absent: no check (the shield's
  observation range still bounds ``log_need``).
- ``training.min_history_minutes``: the minutes of ``load_rpm`` sent (counted up to ``observation.history``).
  Absent: ``observation.history``, so the policy decides only on the full history it reads.

Ranges are inclusive and ``warming_cost`` counts as 0 or 1. A decision with fewer minutes of ``load_rpm`` than
the policy reads but at least ``min_history_minutes`` is decided by the policy (it was trained at that length)
and its reason says how many minutes it had (``history_note``): history is never padded silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import economics
from .contract import DecisionRequest


@dataclass(frozen=True)
class TrainingDomain:
    economics_low: np.ndarray
    """(len(economics.FIELDS),) inclusive lower bounds of the trained economics."""
    economics_high: np.ndarray
    fleet_size: tuple[float, float] | None
    """Inclusive range of mean fleet sizes (machines) trained on; None: not recorded, not checked."""
    history: int
    """Minutes of ``load_rpm`` the policy reads (``observation.history``)."""
    min_history: int
    """Fewest minutes of ``load_rpm`` the policy was trained to decide with."""

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> TrainingDomain:
        """The domain an artifact's metadata records; ``ValueError`` naming the key when it is malformed."""
        training = meta.get("training") or {}
        if not isinstance(training, Mapping):
            raise ValueError(f"training must be an object, got {type(training).__name__}")
        default = np.array([float(economics.DEFAULTS[k]) for k in economics.FIELDS])
        low, high = default.copy(), default.copy()
        ranges = training.get("economics_ranges") or {}
        if not isinstance(ranges, Mapping):
            raise ValueError("training.economics_ranges must be an object {key: [low, high]}")
        for key, pair in ranges.items():
            where = f"training.economics_ranges.{key}"
            if key not in economics.FIELDS:
                raise ValueError(f"{where}: unknown key (known: {', '.join(economics.FIELDS)})")
            j = economics.FIELDS.index(key)
            low[j], high[j] = _pair(pair, where)
        size = training.get("fleet_size_range")
        fleet_size = None if size is None else _pair(size, "training.fleet_size_range")
        observation = meta.get("observation") or {}
        history = observation.get("history") if isinstance(observation, Mapping) else None
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ValueError(f"observation.history must be a positive integer, got {history!r}")
        least = training.get("min_history_minutes", history)
        if isinstance(least, bool) or not isinstance(least, int) or not 1 <= least <= history:
            raise ValueError(f"training.min_history_minutes must be an integer in [1, {history}], got {least!r}")
        return cls(low, high, fleet_size, history, least)

    def sent_minutes(self, req: DecisionRequest) -> np.ndarray:
        """(N,) minutes of ``load_rpm`` each decision sent, counted up to what the policy reads."""
        return np.minimum((~np.isnan(req.history)).sum(axis=1), self.history)

    def outside(self, req: DecisionRequest) -> list[str | None]:
        """Per decision: why the policy must not decide it (the first reason found), or None."""
        econ = req.economics
        bad_econ = (econ < self.economics_low) | (econ > self.economics_high)
        sent = self.sent_minutes(req)
        short = sent < self.min_history
        if self.fleet_size is not None:
            with np.errstate(invalid="ignore"):
                size = np.nanmean(req.history, axis=1) / req.capacity
            bad_size = (size < self.fleet_size[0]) | (size > self.fleet_size[1])
        else:
            size, bad_size = None, np.zeros(len(req), dtype=bool)
        out: list[str | None] = [None] * len(req)
        for i in np.flatnonzero(bad_econ.any(axis=1) | short | bad_size).tolist():
            if bad_econ[i].any():
                j = int(np.argmax(bad_econ[i]))
                out[i] = (
                    f"economics.{economics.FIELDS[j]}={econ[i, j]:g} outside the training range "
                    f"[{self.economics_low[j]:g}, {self.economics_high[j]:g}]"
                )
            elif short[i]:
                out[i] = (
                    f"load_rpm holds {sent[i]} minutes; the policy was trained to decide with at least "
                    f"{self.min_history} (it reads {self.history})"
                )
            else:
                assert size is not None and self.fleet_size is not None
                out[i] = (
                    f"mean load of {size[i]:.3g} machines outside the training range of fleet sizes "
                    f"[{self.fleet_size[0]:g}, {self.fleet_size[1]:g}]"
                )
        return out

    def history_note(self, req: DecisionRequest) -> list[str | None]:
        """Per decision: a note for a reason when fewer minutes were sent than the policy reads, else None."""
        sent = self.sent_minutes(req)
        return [
            None if n >= self.history else f"load_rpm holds {n} of the {self.history} minutes the policy reads"
            for n in sent.tolist()
        ]


def _pair(value: Any, where: str) -> tuple[float, float]:
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)
    if not ok or value[0] > value[1]:
        raise ValueError(f"{where} must be [low, high] with finite low <= high, got {value!r}")
    return float(value[0]), float(value[1])
