"""The fleet's character over the last day (``inference.features`` context part): one formula for the handler's
direct sums and the simulator's cumulative sums, what each feature tells apart, and sound decisions with any
amount of history down to one minute."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference import contract, features
from inference.features import CONTEXT_DIM, CONTEXT_MINUTES, CONTEXT_NAMES, DAY, ContextTracker, context_features

CAP = np.array([300.0])
IDX = {name: i for i, name in enumerate(CONTEXT_NAMES)}


def calm(rng: np.random.Generator, minutes: int, machines: float = 10.0) -> np.ndarray:
    return rng.poisson(machines * 300.0, minutes).astype(np.float64)


def spiky(rng: np.random.Generator, minutes: int, machines: float = 10.0) -> np.ndarray:
    load = calm(rng, minutes, machines)
    for start in range(200, minutes, 480):  # three bursts a day, 3x the load for 20 minutes
        load[start : start + 20] *= 3.0
    return load


def test_tracker_equals_the_direct_sums_at_every_minute_with_gaps_in_the_history() -> None:
    rng = np.random.default_rng(0)
    series = np.stack([spiky(rng, 4000), calm(rng, 4000, 200.0), calm(rng, 4000, 2.0)])
    series[1, :2500] = np.nan  # watched for less than a day at first
    series[2, :3990] = np.nan  # ten minutes
    cap = np.full(3, 300.0)
    tracker = ContextTracker(series, cap)
    for newest in (0, 9, 15, 100, 1455, 1456, 2600, 3999):
        window = series[:, max(0, newest + 1 - CONTEXT_MINUTES) : newest + 1]
        np.testing.assert_allclose(tracker.at(np.full(3, newest)), context_features(window, cap), atol=1e-9)


def test_a_spiky_fleet_looks_different_from_a_calm_one_of_the_same_size() -> None:
    rng = np.random.default_rng(1)
    quiet = context_features(calm(rng, CONTEXT_MINUTES)[None, :], CAP)[0]
    bursty = context_features(spiky(rng, CONTEXT_MINUTES)[None, :], CAP)[0]
    assert quiet[IDX["day_fraction"]] == bursty[IDX["day_fraction"]] == 1.0
    assert bursty[IDX["spike_rate"]] > 0.001 > quiet[IDX["spike_rate"]]
    assert bursty[IDX["surprise"]] > 5 * quiet[IDX["surprise"]]
    assert bursty[IDX["noise"]] > quiet[IDX["noise"]] + 0.1
    assert bursty[IDX["swing"]] > quiet[IDX["swing"]]


def test_small_fleets_are_noisier_relative_to_their_size() -> None:
    rng = np.random.default_rng(2)
    small = context_features(calm(rng, CONTEXT_MINUTES, 3.0)[None, :], CAP)[0]
    large = context_features(calm(rng, CONTEXT_MINUTES, 300.0)[None, :], CAP)[0]
    assert small[IDX["noise"]] > large[IDX["noise"]]  # Poisson counting noise shrinks as 1 / sqrt(size)


def test_yesterday_tells_what_followed_the_same_time_of_day() -> None:
    load = np.full(CONTEXT_MINUTES, 3000.0)
    load[-DAY - 1 + 10 : -DAY - 1 + 20] = 9000.0  # yesterday, 10 to 20 minutes after the newest minute's time
    out = context_features(load[None, :], CAP)[0]
    assert out[IDX["yday_level"]] == pytest.approx(0.0)
    assert out[IDX["yday_rise"]] == pytest.approx(np.log(9300.0 / 3300.0))


@pytest.mark.parametrize("minutes", [1, 2, 16, 17, 100, DAY, CONTEXT_MINUTES, 10_080])
def test_any_amount_of_history_gets_a_sound_decision(minutes: int) -> None:
    """Down to one minute: the request is served, every feature finite, the day's character features degrade to
    neutral values and ``day_fraction`` says how much of the day was sent."""
    rng = np.random.default_rng(minutes)
    body = {
        "timestamp": "2024-05-06T12:00:00Z",
        "load_rpm": spiky(rng, minutes).tolist(),
        "failed_rpm": 0,
        "active_machines": 10,
        "pending_machines": 0,
        "capacity_rpm_per_machine": 300,
    }
    request = contract.parse_request(json.dumps(body), "application/json")
    assert request.history.shape == (1, min(minutes, CONTEXT_MINUTES))
    obs = features.featurize(
        request.load, request.failed, request.active, request.pending, request.capacity, request.minute,
        request.history,
    )  # fmt: skip
    assert obs.shape == (1, features.OBS_DIM) and np.isfinite(obs).all()
    context = obs[0, features.CONTEXT_END - CONTEXT_DIM : features.CONTEXT_END]
    assert context[IDX["day_fraction"]] == pytest.approx(min(minutes, DAY) / DAY)
    if minutes == 1:
        assert (context[1:] == 0.0).all()
    if minutes <= DAY:
        assert context[IDX["yday_level"]] == context[IDX["yday_rise"]] == 0.0


def test_a_batch_mixes_histories_of_any_length() -> None:
    rng = np.random.default_rng(3)
    lengths = (1, 30, CONTEXT_MINUTES + 500)
    loads = [spiky(rng, n).tolist() for n in lengths]
    instances = [
        {"timestamp": "2024-05-06T12:00:00Z", "load_rpm": load, "failed_rpm": 0, "active_machines": 10,
         "pending_machines": 0, "capacity_rpm_per_machine": 300}
        for load in loads
    ]  # fmt: skip
    request = contract.parse_request(json.dumps({"instances": instances}), "application/json")
    assert request.history.shape == (3, CONTEXT_MINUTES)
    for i, load in enumerate(loads):
        alone = features.pad_context(load)
        np.testing.assert_array_equal(request.history[i], alone)
        np.testing.assert_allclose(
            context_features(request.history[i : i + 1], CAP), context_features(np.asarray(load)[None, :], CAP)
        )
