"""Load generation, trace replay and the train/evaluation split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.features import HISTORY
from simulator.loads import (
    TRAIN_FRACTION,
    TraceError,
    eval_synthetic,
    read_trace,
    sample_scenario,
    synthetic_scenario,
    trace_part_minutes,
    trace_scenario,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


GOOD_ROWS = "".join(f"{i},{10 + i}\n" for i in range(2 * HISTORY))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("minute,load\n" + GOOD_ROWS, r"trace\.csv:1: expected header"),
        ("minute,requests\n0,5\n1,-3\n" + GOOD_ROWS, r"trace\.csv:3: requests '-3' must be a finite number >= 0"),
        ("minute,requests\n0,5\n1,abc\n", r"trace\.csv:3: requests 'abc' is not a number"),
        ("minute,requests\n0,5\n1,nan\n", r"trace\.csv:3: requests 'nan' must be a finite"),
        ("minute,requests\n0,5,7\n", r"trace\.csv:2: expected 2 columns"),
        ("minute,requests\n0,5\n2,5\n", r"trace\.csv:3: minute 2 out of sequence, expected 1"),
        ("minute,requests\nx,5\n", r"trace\.csv:2: minute 'x' is not an integer"),
        ("minute,requests\n0,5\n", r"trace\.csv: only 1 minutes"),
        ("", r"trace\.csv:1: expected header"),
    ],
)
def test_bad_trace_files_name_the_file_and_line(tmp_path, text, match):
    with pytest.raises(TraceError, match=match):
        read_trace(write(tmp_path, text))


def test_missing_trace_file_is_named(tmp_path):
    with pytest.raises(TraceError, match=r"nope\.csv: trace file not found"):
        read_trace(tmp_path / "nope.csv")


def test_good_trace_reads(tmp_path):
    np.testing.assert_array_equal(
        read_trace(write(tmp_path, "minute,requests\n" + GOOD_ROWS)), 10 + np.arange(2 * HISTORY)
    )


def test_recorded_traces_load_with_their_documented_lengths():
    assert trace_part_minutes("nasa", "train") + trace_part_minutes("nasa", "eval") + HISTORY == 39692
    assert trace_part_minutes("worldcup", "eval") == 57600 - int(57600 * TRAIN_FRACTION)


def test_eval_part_history_is_the_end_of_the_training_part():
    ev = trace_scenario("worldcup", "eval")
    tr = trace_scenario("worldcup", "train")
    assert ev.meta["first_minute"] == int(57600 * TRAIN_FRACTION)
    # same scale factor (measured on the training part) and the history continues the training part
    assert ev.meta["scale_factor"] == pytest.approx(tr.meta["scale_factor"])
    np.testing.assert_array_equal(ev.load[:HISTORY], tr.load[-HISTORY:])


def test_traces_scale_to_the_requested_mean_on_the_training_part():
    for name in ("nasa", "worldcup"):
        tr = trace_scenario(name, "train", mean_machines=20.0)
        assert tr.load[HISTORY:].mean() / 300 == pytest.approx(20.0, rel=0.02)


def test_low_volume_trace_is_resampled_not_multiplied():
    nasa = trace_scenario("nasa", "train", mean_machines=20.0)
    assert nasa.meta["resampled"] and nasa.meta["scale_factor"] > 100
    # multiplied counts would be multiples of the factor; resampled Poisson counts have relative noise ~1/sqrt(6000)
    rel_jitter = np.abs(np.diff(nasa.load[HISTORY:])).mean() / nasa.load[HISTORY:].mean()
    assert rel_jitter < 0.1
    assert not trace_scenario("worldcup", "train").meta["resampled"]


def test_synthetic_is_seeded_and_streams_are_disjoint():
    a = synthetic_scenario(np.random.default_rng(5), 500)
    b = synthetic_scenario(np.random.default_rng(5), 500)
    np.testing.assert_array_equal(a.load, b.load)
    assert a.start == b.start
    e0, e1 = eval_synthetic(0, 500), eval_synthetic(1, 500)
    assert not np.array_equal(e0.load, e1.load)
    assert len(e0.load) == HISTORY + 500 and (e0.load >= 0).all()


def test_synthetic_load_has_daily_cycle_and_spikes():
    from simulator.loads import SyntheticSpec, synthetic_load

    start = eval_synthetic(0, 10).start
    spec = SyntheticSpec(
        daily_amplitude=0.6,
        spikes_per_day=0.0,
        noise_sigma=0.0,
        wander_sigma=0.0,
        drift_per_week=0.0,
        weekend_factor=1.0,
    )
    load = synthetic_load(spec, 2880, start, np.random.default_rng(0))
    hourly = load.reshape(-1, 60).mean(axis=1)
    assert hourly.max() / hourly.min() > 2.5  # (1 + 0.6) / (1 - 0.6) before noise
    spiky = synthetic_load(
        SyntheticSpec(
            spikes_per_day=20.0,
            spike_height=(1.0, 1.0),
            noise_sigma=0.0,
            wander_sigma=0.0,
            daily_amplitude=0.0,
            weekend_factor=1.0,
            drift_per_week=0.0,
        ),
        1440,
        start,
        np.random.default_rng(0),
    )
    assert spiky.max() > 1.8 * np.median(spiky)


def test_training_sampler_covers_traces_and_synthetic_at_many_scales():
    rng = np.random.default_rng(0)
    names, scales = set(), []
    for _ in range(40):
        s = sample_scenario(rng, 300)
        names.add(s.name.split("-")[0])
        scales.append(s.load[HISTORY:].mean() / 300)
        assert len(s.load) == HISTORY + 300
    assert {"synthetic", "nasa", "worldcup"} <= names
    assert min(scales) < 10 and max(scales) > 50
