"""`scipy.special.ndtr`: the standard normal CDF."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_ERFC = np.frompyfunc(math.erfc, 1, 1)


def ndtr(x: Any) -> Any:
    """0.5 * erfc(-x / sqrt(2)), elementwise, float64 (a scalar for a scalar)."""
    values = np.asarray(x, dtype=np.float64)
    result = 0.5 * np.asarray(_ERFC(-values / math.sqrt(2.0)), dtype=np.float64)
    return result[()] if result.ndim == 0 else result
