"""Stand-in for numba in the controller's Lambda package: `njit` runs the decorated function as plain Python.

That is what numba itself does with NUMBA_DISABLE_JIT=1; a simulated fleet steps one minute per run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def njit(*args: Any, **kwargs: Any) -> Any:
    """`@njit` and `@njit(cache=True, ...)` both return the function unchanged."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        return function

    return decorate


jit = njit
