"""The policy's discrete action table and how an action becomes a fleet size.

Action 0 holds the fleet (serving + warming) as it is. Every other action sets the fleet to a headroom
multiple of the machines' worth of the last minute's load: ``desired = ceil(need * multiplier)``. Sizing
relative to observed load keeps the action scale-free (one policy for any fleet size) and lets the policy
learn *how much headroom* to keep for the traffic it sees, which is what a hand-tuned target does statically.
"""

from __future__ import annotations

import numpy as np

HOLD = 0
HEADROOM: tuple[float, ...] = (0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.7, 2.0, 2.5, 3.0)
"""Multipliers of the last minute's load (in machines) for actions 1..len(HEADROOM)."""

ACTION_TABLE: tuple[dict[str, object], ...] = (
    {"action": HOLD, "kind": "hold"},
    *({"action": i + 1, "kind": "headroom", "multiplier": m} for i, m in enumerate(HEADROOM)),
)
N_ACTIONS = len(ACTION_TABLE)
_MULTIPLIERS = np.array([0.0, *HEADROOM])


def desired_from_action(action: np.ndarray, need: np.ndarray, active: np.ndarray, pending: np.ndarray) -> np.ndarray:
    """Whole fleet (serving + warming) each action asks for, int64, vectorised over a batch.

    ``need`` is the machines' worth of the last minute's load (``features.load_need``).
    """
    action = np.asarray(action, dtype=np.int64)
    if action.size and (action.min() < 0 if action.size > 1 else action.item() < 0):
        raise ValueError(f"action must be in [0, {N_ACTIONS}), got {action}")
    try:
        multiplier = _MULTIPLIERS[action]
    except IndexError:
        raise ValueError(f"action must be in [0, {N_ACTIONS}), got {action}") from None
    sized = np.ceil(np.multiply(need, multiplier) - 1e-9)
    return np.where(action == HOLD, np.add(active, pending), sized).astype(np.int64)
