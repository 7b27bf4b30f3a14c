"""The safety rules the shield (every decision, on the endpoint) and the controller (every minute, before it
applies one) share, after each applies its own change limit: never scale in while requests fail, then the fleet's
hard bounds. One definition and one wording, so a reason reads the same wherever it was given."""

from __future__ import annotations

NO_SCALE_IN_WHILE_FAILING = "no scale-in while requests fail"


def raised_to_min(low: int) -> str:
    return f"raised to min_machines {low}"


def lowered_to_max(high: int) -> str:
    return f"lowered to max_machines {high}"


def hold_and_bound(stepped: int, base: int, failing: bool, low: int, high: int) -> tuple[int, str | None]:
    """`stepped` (already within a change limit from `base`) kept at `base` or above while requests fail, then
    within [low, high] (hard: the bounds win); the value and the reason of the last rule that moved it."""
    kept = max(stepped, base) if failing else stepped
    bounded = min(max(kept, low), high)
    if bounded > kept:
        return bounded, raised_to_min(low)
    if bounded < kept:
        return bounded, lowered_to_max(high)
    if kept != stepped:
        return bounded, NO_SCALE_IN_WHILE_FAILING
    return bounded, None
