"""Limits: change per minute from the minute's base, no scale-in while requests fail, hard bounds, and a base
that makes repeated runs of one minute land on the same count."""

from __future__ import annotations

import pytest

from controller.limits import limit, minute_base
from tests.controller.fakes import fleets

(FLEET,) = fleets("a", min_machines=2, max_machines=40, max_change_per_minute=5)


def test_the_targets_own_bounds_clamp_last_with_their_reason() -> None:
    assert limit(FLEET, 15, 10, False, lowest=1, highest=12) == limit(FLEET, 15, 10, False, None, 12)
    assert limit(FLEET, 15, 10, False, None, 12).reason == "clamped to the target's own maximum 12"
    assert limit(FLEET, 15, 10, False, None, 12).applied == 12
    assert limit(FLEET, 3, 4, False, 6, None).applied == 6  # the group's MinSize above the fleet's bound
    assert limit(FLEET, 14, 10, False, 1, 20).reason is None  # inside: nothing said


@pytest.mark.parametrize(
    ("proposed", "base", "failing", "applied", "reason"),
    [
        (12, 10, False, 12, None),
        (30, 10, False, 15, "change limited to 5 machines per minute from 10"),
        (1, 10, False, 5, "change limited to 5 machines per minute from 10"),
        (7, 10, True, 10, "no scale-in while requests fail"),
        (14, 10, True, 14, None),  # scaling out while failing is fine
        (0, 4, False, 2, "raised to min_machines 2"),
        (60, 38, False, 40, "lowered to max_machines 40"),
        (50, 60, True, 40, "lowered to max_machines 40"),  # bounds are hard, even against rule 2
        (0, 0, False, 2, "raised to min_machines 2"),  # bounds are hard, even against rule 1... from 0 to 2 is 2
    ],
)
def test_rules(proposed: int, base: int, failing: bool, applied: int, reason: str | None) -> None:
    out = limit(FLEET, proposed, base, failing)
    assert (out.applied, out.reason, out.base) == (applied, reason, base)


def test_bounds_override_the_change_limit() -> None:
    (f,) = fleets("a", min_machines=20, max_machines=40, max_change_per_minute=2)
    assert limit(f, 25, 1, False).applied == 20


def test_minute_base_is_stored_once_per_minute() -> None:
    assert minute_base(None, 100, current=7) == 7
    assert minute_base({"minute": 100, "base": 7}, 100, current=12) == 7  # the same minute again: same base
    assert minute_base({"minute": 99, "base": 7}, 100, current=12) == 12  # a new minute starts from the target
    assert minute_base({"minute": 101, "base": 7}, 100, current=12) is None  # a late retry of an older minute


def test_repeated_runs_of_a_minute_do_not_compound() -> None:
    base = minute_base(None, 100, current=10)
    first = limit(FLEET, 30, base, False).applied
    entry = {"minute": 100, "base": base}
    again = limit(FLEET, 30, minute_base(entry, 100, current=first), False).applied
    assert first == again == 15
    nxt = limit(FLEET, 30, minute_base(entry, 101, current=again), False).applied
    assert nxt == 20  # only the next minute moves on
