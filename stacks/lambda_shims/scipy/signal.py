"""`scipy.signal.lfilter` for 1-D input: scipy's direct form II transposed loop."""

from __future__ import annotations

from typing import Any

import numpy as np


def lfilter(b: Any, a: Any, x: Any, axis: int = -1, zi: Any = None) -> Any:
    """y[k] = (sum b[i] x[k-i] - sum_{i>=1} a[i] y[k-i]) / a[0]; returns (y, zf) when zi is given."""
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise NotImplementedError("the Lambda stand-in supports 1-D input only")
    order = max(a.size, b.size)
    b = np.pad(b, (0, order - b.size)) / a[0]
    a = np.pad(a, (0, order - a.size)) / a[0]
    z = np.zeros(max(order - 1, 0)) if zi is None else np.array(zi, dtype=np.float64).reshape(-1)
    y = np.empty_like(x)
    for k in range(x.size):
        xk = x[k]
        if order > 1:
            yk = z[0] + b[0] * xk
            for n in range(order - 2):
                z[n] = z[n + 1] + xk * b[n + 1] - yk * a[n + 1]
            z[order - 2] = xk * b[order - 1] - yk * a[order - 1]
        else:
            yk = xk * b[0]
        y[k] = yk
    return y if zi is None else (y, z)
