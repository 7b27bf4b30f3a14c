"""The policy's discrete action table and how an action becomes a fleet size.

Action 0 holds the fleet (serving + warming) as it is. Every other action sets the fleet to a headroom
multiple of the **peak** load of the observed window, in machines' worth: ``desired = ceil(peak * multiplier)``
with ``peak = max(load[-PEAK_WINDOW:]) / capacity``.

Why the peak and not the last minute: per-minute load is noisy, and a fleet sized on the last minute follows
that noise down, and a scale-in removes serving machines that take ``warmup_latency`` minutes to come back. Sized
on the window's peak, the fleet only shrinks once a whole window has been lower, which is the hysteresis a tuned
target-tracking rule gets from its 15-minute scale-in alarm. Measured on the quick evaluation set (commands in
docs/training.md): a fixed multiplier of the last minute loses to tuned target tracking on both recorded traces
whatever its value, a fixed 1.45 x peak beats it on synthetic loads and on both traces. Sizing relative to
observed load keeps the action scale-free (one policy for any fleet size); the policy learns *how much*
headroom the traffic it sees needs, which a rule fixes once. No multiplier goes below 1.1: exploring lower ones
(0.7 to 1.0 were tried) only caused downtime.
"""

from __future__ import annotations

import numpy as np

from .features import HISTORY

HOLD = 0
PEAK_WINDOW = HISTORY
"""Minutes of load history whose peak the headroom multipliers apply to (the whole observed window)."""
HEADROOM: tuple[float, ...] = (1.1, 1.2, 1.25, 1.3, 1.35, 1.4, 1.45, 1.5, 1.55, 1.6, 1.7, 1.8, 2.0, 2.5)
"""Multipliers of the window's peak load (in machines) for actions 1..len(HEADROOM): fine steps where the
profit-maximising headroom lies (1.3 to 1.6 for 10 % capacity noise and a $200 downtime minute)."""

ACTION_TABLE: tuple[dict[str, object], ...] = (
    {"action": HOLD, "kind": "hold"},
    *({"action": i + 1, "kind": "headroom", "multiplier": m} for i, m in enumerate(HEADROOM)),
)
N_ACTIONS = len(ACTION_TABLE)
_MULTIPLIERS = np.array([0.0, *HEADROOM])


def sizing_basis(load: np.ndarray, capacity_rpm_per_machine: np.ndarray) -> np.ndarray:
    """Machines' worth of the peak load of the last ``PEAK_WINDOW`` minutes, ``max(load[..., -W:]) / capacity``.

    ``load`` is (..., HISTORY) requests per minute, oldest first (``features.pad_history``)."""
    return np.max(load[..., -PEAK_WINDOW:], axis=-1) / capacity_rpm_per_machine


def desired_from_action(action: np.ndarray, basis: np.ndarray, active: np.ndarray, pending: np.ndarray) -> np.ndarray:
    """Whole fleet (serving + warming) each action asks for, int64, vectorised over a batch.

    ``basis`` is ``sizing_basis`` of the observed load.
    """
    action = np.asarray(action, dtype=np.int64)
    if action.size and (action.min() < 0 if action.size > 1 else action.item() < 0):
        raise ValueError(f"action must be in [0, {N_ACTIONS}), got {action}")
    try:
        multiplier = _MULTIPLIERS[action]
    except IndexError:
        raise ValueError(f"action must be in [0, {N_ACTIONS}), got {action}") from None
    sized = np.ceil(np.multiply(basis, multiplier) - 1e-9)
    return np.where(action == HOLD, np.add(active, pending), sized).astype(np.int64)
