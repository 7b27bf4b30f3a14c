"""The one target-tracking fallback rule: what the shield uses when the policy cannot be trusted, and what the
controller uses when the endpoint cannot be reached or answers wrongly.

``desired = ceil(need / target_utilisation)`` machines (serving plus warming), ``need`` being the last minute's
load in machines' worth of nominal capacity. Works on scalars and on arrays (element-wise).
"""

from __future__ import annotations

import numpy as np

from .contract import MAX_MACHINES

TARGET_UTILISATION = 0.7
"""Utilisation the rule aims at (the shield's default, ``AUTOSCALER_SHIELD_TARGET_UTILISATION``)."""


def target_tracking(
    last_load_rpm: np.ndarray | float,
    capacity_rpm_per_machine: np.ndarray | float,
    target_utilisation: float = TARGET_UTILISATION,
) -> np.ndarray:
    """Fleet size (int64, capped at ``MAX_MACHINES``) that runs ``last_load_rpm`` at ``target_utilisation``.

    ``last_load_rpm`` requests in the most recent minute, ``capacity_rpm_per_machine`` nominal requests per minute
    one machine serves; both broadcast. A scalar in gives a 0-d result (``int(...)`` it).
    """
    need = np.asarray(last_load_rpm, dtype=np.float64) / np.asarray(capacity_rpm_per_machine, dtype=np.float64)
    return np.ceil(np.minimum(need / target_utilisation, MAX_MACHINES) - 1e-9).astype(np.int64)
