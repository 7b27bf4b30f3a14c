"""`scipy.ndimage.gaussian_filter1d` for 1-D input and order 0: scipy's kernel and summation order."""

from __future__ import annotations

from typing import Any

import numpy as np

_PAD = {"nearest": "edge", "reflect": "symmetric", "mirror": "reflect", "wrap": "wrap", "constant": "constant"}


def _kernel(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    return phi / phi.sum()


def gaussian_filter1d(
    input: Any,  # scipy's parameter name
    sigma: float,
    axis: int = -1,
    order: int = 0,
    output: Any = None,
    mode: str = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
) -> np.ndarray:
    values = np.asarray(input, dtype=np.float64)
    if values.ndim != 1 or order != 0 or output is not None or mode not in _PAD:
        raise NotImplementedError("the Lambda stand-in supports 1-D input, order 0 and the default output only")
    radius = int(truncate * float(sigma) + 0.5)
    weights = _kernel(float(sigma), radius)
    extra = {"constant_values": cval} if mode == "constant" else {}
    padded = np.pad(values, radius, mode=_PAD[mode], **extra)  # type: ignore[call-overload]
    n = values.size
    out = padded[radius : radius + n] * weights[radius]
    for j in range(radius, 0, -1):
        out = out + (padded[radius - j : radius - j + n] + padded[radius + j : radius + j + n]) * weights[radius - j]
    return out
