"""The sizing basis's holds (``inference.actions.holds``), each for ski rental's break-even time: a collapse of the
traffic is held at the size before it, and surges that recur at the last one's peak; nothing else is held (a
fade-out, a one-off burst, sparse or smooth traffic)."""

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


def matches_reference(hold_of, reference_of, h: np.ndarray, cap: np.ndarray, econ: np.ndarray) -> np.ndarray:
    """Assert that each row of the batched ``hold_of`` is ``reference_of`` of that row alone; return what is held."""
    held, since, hold = hold_of(h, cap, econ)
    for i in range(len(h)):
        want = reference_of(h[i], cap[i], econ[i])
        if np.isnan(want[0]):
            assert np.isnan(held[i]), i
        else:
            assert (held[i], since[i], hold[i]) == pytest.approx(want), i
    return held


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
    held = matches_reference(actions.collapse_hold, reference, h, rng.uniform(1, 500, n), econ)
    assert np.isfinite(held).sum() > 30  # the cases held are many, not an accident


def cron(minutes: int, burst: float = 1400.0, base: float = 180.0) -> np.ndarray:
    """One fleet's day: ``base`` rpm, and ``burst`` rpm for the first 5 minutes of every hour."""
    t = np.arange(minutes)
    return np.where(t % 60 < 5, burst, base).astype(float)


def surge_reference(row: np.ndarray, cap: float, econ: np.ndarray) -> tuple[float, int, float]:
    """``surge_hold``'s docstring, one minute at a time."""
    e = dict(zip(FIELDS, econ))
    prior, width = actions.SURGE_PRIOR, row.size
    surges = [
        t
        for t in range(prior, width)
        if not np.isnan(row[t - prior : t + 1]).any()
        and row[t - prior : t].max() >= actions.COLLAPSE_MIN_RPM
        and row[t] >= actions.SURGE_RATIO * row[t - prior : t].max()
        and row[t] >= row[t - prior : t].max() + actions.SURGE_SIGMAS * np.sqrt(row[t - prior : t].max())
    ]
    if len(surges) < actions.SURGES_TO_HOLD:
        return np.nan, 0, 0.0
    last = surges[-1]
    span = int(min(max(actions.PEAK_WINDOW, np.ceil(actions.WARMUPS_IN_WINDOW * e["warmup_latency"])), width))
    level = np.nanmax(row[last : last + span]) / cap
    now = np.nanmax(row[width - span :]) / cap
    loss = (e["warmup_latency"] + 1) * (e["downtime_cost"] + level * cap * e["request_value"] / 1000)
    rent = (level - now) * e["machine_cost"]
    hold = min(loss / rent if rent > 0 else np.inf, width)
    since = width - 1 - last
    return (level if level > now and since <= hold else np.nan), since, hold


def test_recurring_surges_are_held_at_the_last_ones_peak() -> None:
    day = cron(CONTEXT_MINUTES - 30)[None, :]  # the last surge began 30 + 5 - ... minutes before the newest
    day = np.concatenate([day, np.full((1, 30), 180.0)], axis=1)
    held, since, hold = actions.surge_hold(day, CAP, economics())
    assert held[0] == pytest.approx(1400.0 / CAP) and since[0] > actions.PEAK_WINDOW
    assert actions.sizing_basis(day[:, -16:], CAP, day, economics())[0] == pytest.approx(1400.0 / CAP)
    # 5 warm-up minutes + 1 down at 200 $ and 4.67 machines' worth; 4.07 machines kept at 0.05 $: 5,975 minutes
    assert hold[0] == CONTEXT_MINUTES
    dear = economics(machine_cost=50.0, downtime_cost=20.0)
    assert np.isnan(actions.surge_hold(day, CAP, dear)[0][0])  # 0.6 minutes: not worth holding


def test_one_surge_is_a_spike_not_a_habit() -> None:
    day = np.full((1, CONTEXT_MINUTES), 180.0)
    day[0, -200:-195] = 1400.0
    assert np.isnan(actions.surge_hold(day, CAP, economics())[0][0])


@pytest.mark.parametrize("rate", [0.5, 3.0, 40.0, 3000.0])
def test_noise_and_smooth_days_are_no_surges(rate: float) -> None:
    rng = np.random.default_rng(3)
    t = np.arange(CONTEXT_MINUTES)
    smooth = rate * (1.0 + 0.8 * np.sin(2 * np.pi * t / 1440.0))
    h = rng.poisson(np.tile(smooth, (50, 1))).astype(float)
    assert np.isnan(actions.surge_hold(h, CAP, economics())[0]).all()


def test_surges_in_batch_match_the_definition_row_by_row() -> None:
    rng = np.random.default_rng(11)
    n = 80
    rows = []
    for i in range(n):
        level = rng.uniform(2, 2000)
        series = rng.poisson(level, CONTEXT_MINUTES).astype(float)
        for _ in range(int(rng.integers(0, 6))):  # a few surges of random height and length, mostly recent
            at, length = int(rng.integers(CONTEXT_MINUTES - 600, CONTEXT_MINUTES - 5)), int(rng.integers(1, 30))
            series[at : at + length] *= rng.uniform(1.5, 10.0)
        if i % 4 == 0:
            series[: int(rng.integers(10, CONTEXT_MINUTES))] = np.nan
        rows.append(series)
    h = np.stack(rows)
    econ = np.stack([economics(warmup_latency=int(rng.integers(0, 16)), machine_cost=rng.uniform(0.01, 1))[0]
                     for _ in range(n)])  # fmt: skip
    held = matches_reference(actions.surge_hold, surge_reference, h, rng.uniform(1, 300, n), econ)
    assert np.isfinite(held).sum() > 10


def test_hold_candidates_never_miss_a_hold() -> None:
    """The simulator's shortcut (``hold_candidates``, from the whole series) only skips fleets no hold raises."""
    rng = np.random.default_rng(5)
    width, n = 300, 12
    series = rng.poisson(rng.uniform(1, 500, (n, 1)), (n, 900)).astype(float)
    series[0, 500:] = 0.0  # a collapse
    series[1] = cron(900)  # recurring surges
    series[2, 400:420] = series[2, 400:420] * 6  # one surge
    series[3, :200] = np.nan  # history that starts late
    candidates = actions.hold_candidates(series, width)
    checked = 0
    for end in range(width - 1, 900, 3):
        window = series[:, end - width + 1 : end + 1]
        held = np.fmax.reduce([h[0] for h in actions.holds(window, 2.0, None)])
        assert not (np.isfinite(held) & ~candidates[:, end]).any(), end
        load = window[:, -16:]
        np.testing.assert_array_equal(
            actions.sizing_basis(load, 2.0, window, None, candidates=candidates[:, end]),
            actions.sizing_basis(load, 2.0, window, None),
        )
        checked += int(np.isfinite(held).sum())
    assert checked > 100  # the holds checked are many
