"""What may be applied: the decision within the fleet's bounds and change limit, never a scale-in while requests
fail, and the same answer however often a minute is run.

In this order (a later rule wins):

1. **Change per minute.** At most `max_change_per_minute` machines away from the minute's **base**: the target's
   desired count when the minute's first run read it. The base is kept per fleet as `{minute, base}` in the state
   store, so a retried or repeated run for the same minute limits from the same base and never compounds.
2. **No scale-in while requests fail** (`failed_rpm > 0`): not below the base.
3. **Bounds.** `min_machines <= applied <= max_machines` (hard: they override 1 and 2).
   Rules 2 and 3 are the shield's own (`inference.rules`: one definition, one wording).
4. **The target's own bounds** (an Auto Scaling group's MinSize and MaxSize, read each run): a count beyond them is
   clamped with its reason instead of being refused by AWS.

A run for a minute older than the fleet's stored minute (a late retry of an old event) is superseded: it acts on
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.config import FleetConfig
from inference import rules


@dataclass(frozen=True)
class Limited:
    applied: int
    base: int
    reason: str | None
    """The last rule that moved the decision, or None when it passed unchanged."""


def minute_base(entry: Mapping[str, Any] | None, minute: int, current: int) -> int | None:
    """The base of `minute`: the stored one when the minute already ran, else `current`; None: superseded."""
    if entry is not None:
        stored = int(entry["minute"])
        if stored == minute:
            return int(entry["base"])
        if stored > minute:
            return None
    return current


def limit(
    fleet: FleetConfig,
    proposed: int,
    base: int,
    failing: bool,
    lowest: int | None = None,
    highest: int | None = None,
) -> Limited:
    """Apply the rules above to the decision `proposed` (serving plus warming machines); `lowest`/`highest`: the
    target's own bounds, if it has any."""
    step = fleet.max_change_per_minute
    stepped = min(max(proposed, base - step), base + step)
    applied, reason = rules.hold_and_bound(stepped, base, failing, fleet.min_machines, fleet.max_machines)
    if highest is not None and applied > highest:
        return Limited(applied=highest, base=base, reason=f"clamped to the target's own maximum {highest}")
    if lowest is not None and applied < lowest:
        return Limited(applied=lowest, base=base, reason=f"clamped to the target's own minimum {lowest}")
    if reason is None and stepped != proposed:
        reason = f"change limited to {step} machines per minute from {base}"
    return Limited(applied=applied, base=base, reason=reason)
