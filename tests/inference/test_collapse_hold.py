"""A collapse of the traffic is held at the fleet's size before it for ski rental's break-even time
(``inference.actions.collapse_hold``), and nothing else is: a fade-out, a burst, sparse traffic."""

from __future__ import annotations

import numpy as np
import pytest

from inference import actions
from inference.economics import DEFAULTS, FIELDS
from inference.features import CONTEXT_MINUTES

CAP = 300.0


def economics(**overrides: float) -> np.ndarray:
    values = {**DEFAULTS, **overrides}
    return np.array([[float(values[k]) for k in FIELDS]])


def history(*parts: tuple[float, int]) -> np.ndarray:
    """One fleet's context: ``(rpm, minutes)`` parts, oldest first, left-padded with NaN (not sent)."""
    series = np.concatenate([np.full(m, float(v)) for v, m in parts])
    return np.concatenate([np.full(CONTEXT_MINUTES - series.size, np.nan), series])[None, :]


def reference(row: np.ndarray, cap: float, econ: np.ndarray) -> tuple[float, int, float]:
    """The docstring's definition, one minute at a time."""
    e = dict(zip(FIELDS, econ))
    span = int(max(actions.PEAK_WINDOW, np.ceil(actions.WARMUPS_IN_WINDOW * e["warmup_latency"])))
    for m in range(span - 1, row.size - 1):
        window = row[m - span + 1 : m + 1]
        rest = row[m + 1 :]
        later = np.nanmax(rest, initial=0.0)
        if np.isnan(window).any() or np.median(window) < actions.COLLAPSE_MIN_RPM or not row[m] > later:
            continue
        if later > actions.COLLAPSE_SHARE * np.median(window):
            continue
        peak = window.max() / cap
        loss = (e["warmup_latency"] + 1) * (e["downtime_cost"] + peak * cap * e["request_value"] / 1000)
        rent = peak * e["machine_cost"]
        hold = min(loss / rent if rent > 0 else np.inf, row.size)
        stopped = row.size - 1 - m
        return (peak if stopped <= hold else np.nan), stopped, hold
    return np.nan, 0, 0.0


def test_a_cliff_is_held_then_followed_at_the_break_even() -> None:
    econ = economics(machine_cost=1.0)
    # 10 machines' worth; loss of a return: 6 minutes x (200 + 10 x 0.27) $; rent 10 $ a minute: 121.6 minutes
    held, stopped, hold = actions.collapse_hold(history((3000, 200), (0, 40)), CAP, econ)
    assert (held[0], stopped[0]) == (10.0, 40)
    assert hold[0] == pytest.approx(6 * (200 + 10 * 0.27) / 10.0)
    load = history((3000, 200), (0, 40))
    assert actions.sizing_basis(load[:, -16:], CAP, load, econ)[0] == 10.0
    assert actions.sizing_basis(load[:, -16:], CAP)[0] == 0.0  # without the history: the window alone
    late = history((3000, 200), (0, 122))
    assert np.isnan(actions.collapse_hold(late, CAP, econ)[0][0])
    assert actions.sizing_basis(late[:, -16:], CAP, late, econ)[0] == 0.0


def test_noise_around_the_cliff_is_still_a_collapse() -> None:
    h = history((3000, 200), (0, 10), (40, 1), (0, 30))  # a few stray requests: 1.3 % of the level
    assert actions.collapse_hold(h, CAP, economics())[0][0] == 10.0
    h = history((3000, 190), (60, 1), (3000, 9), (0, 30))  # a dip before it (a minute at 2 % of the level)
    assert actions.collapse_hold(h, CAP, economics())[0][0] == 10.0
    h = history((3000, 200), (900, 1), (0, 30))  # a last minute only partly served
    assert actions.collapse_hold(h, CAP, economics())[0][0] == 10.0


def test_a_fade_out_is_followed() -> None:
    """A business-hours service fading out over hours to nothing: at most what its last minutes called for."""
    series = np.concatenate([np.full(300, 3000.0), np.linspace(3000, 0, 301), np.zeros(60)])
    h = np.concatenate([np.full(CONTEXT_MINUTES - series.size, np.nan), series])[None, :]
    held = actions.collapse_hold(h, CAP, economics())[0][0]
    assert np.isnan(held) or held < 0.1 * 3000 / CAP
    assert actions.sizing_basis(h[:, -16:], CAP, h, economics())[0] < 0.1 * 3000 / CAP


def test_a_one_minute_burst_is_no_collapse() -> None:
    assert np.isnan(actions.collapse_hold(history((100, 200), (5000, 1), (100, 30)), CAP, economics())[0][0])


def test_sparse_traffic_is_not_a_collapse() -> None:
    rng = np.random.default_rng(0)
    h = rng.poisson(1.0, (200, CONTEXT_MINUTES)).astype(float)
    assert np.isnan(actions.collapse_hold(h, 2.0, None)[0]).all()


def test_dear_machines_and_free_outages_are_not_held() -> None:
    econ = economics(machine_cost=5.0, downtime_cost=0.0, warmup_latency=1)
    held, _, hold = actions.collapse_hold(history((3000, 200), (0, 40)), CAP, econ)
    assert np.isnan(held[0]) and hold[0] < 1.0


def test_free_machines_are_held_for_the_history_sent() -> None:
    _, _, hold = actions.collapse_hold(history((3000, 200), (0, 40)), CAP, economics(machine_cost=0.0))
    assert hold[0] == CONTEXT_MINUTES


def test_a_collapse_before_the_history_was_sent_is_none() -> None:
    assert np.isnan(actions.collapse_hold(history((3000, 5), (0, 40)), CAP, economics())[0][0])
    assert np.isnan(actions.collapse_hold(history((0, 300)), CAP, economics())[0][0])


def test_the_batch_matches_the_definition_row_by_row() -> None:
    rng = np.random.default_rng(7)
    n = 120
    rows = []
    for i in range(n):
        level = rng.uniform(1, 3000)
        series = rng.poisson(level, CONTEXT_MINUTES).astype(float)
        if i % 3:  # a cliff in the last 300 minutes, sometimes with strays after it, sometimes a return
            at = int(rng.integers(CONTEXT_MINUTES - 300, CONTEXT_MINUTES - 1))
            series[at:] = np.where(rng.random(CONTEXT_MINUTES - at) < 0.05, level * 0.01, 0.0)
            if i % 5 == 0:
                series[at + int(rng.integers(1, CONTEXT_MINUTES - at)) :] = level
        sent = int(rng.integers(30, 400)) if i % 4 == 0 else CONTEXT_MINUTES
        series[: CONTEXT_MINUTES - sent] = np.nan
        rows.append(series)
    h = np.stack(rows)
    econ = np.stack(
        [
            economics(warmup_latency=int(rng.integers(0, 16)), machine_cost=float(rng.uniform(0.001, 0.5)))[0]
            for _ in range(n)
        ]
    )
    cap = rng.uniform(1, 500, n)
    held, stopped, hold = actions.collapse_hold(h, cap, econ)
    for i in range(n):
        want = reference(h[i], cap[i], econ[i])
        if np.isnan(want[0]):
            assert np.isnan(held[i]), i
        else:
            assert (held[i], stopped[i]) == pytest.approx(want[:2]), i
            assert hold[i] == pytest.approx(want[2]), i
    assert np.isfinite(held).sum() > 30  # the cases held are many, not an accident
