"""The traffic-shapes benchmark's traces are valid team traces with the shapes its docstring names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks import traffic_shapes
from simulator.loads import load_trace


def test_each_shape_is_a_valid_trace_with_its_shape(tmp_path: Path) -> None:
    paths = traffic_shapes.write_traces(tmp_path)
    traces = {shape: load_trace(path).requests for shape, path in paths.items()}
    assert all(x.size == traffic_shapes.DAYS * 1440 for x in traces.values())
    day = traces["business"].reshape(traffic_shapes.DAYS, 1440)
    assert day[:, : 7 * 60].sum() == 0 and day[5:7].sum() == 0  # no requests at night nor on the first weekend
    hourly = traces["cron"].reshape(-1, 60)
    assert (hourly[:, :5].mean(axis=1) > 4 * hourly[:, 5:].mean(axis=1)).all()  # a burst every hour
    zero = np.flatnonzero(traces["outages"] == 0)
    assert np.count_nonzero(np.diff(zero) > 1) + 1 >= 5  # several outages, each a run of empty minutes
    growth = traces["growth"].reshape(traffic_shapes.DAYS, 1440).mean(axis=1)
    assert growth[-2] > 1.6 * growth[0]
    # the files never change: the benchmark's figures are reproducible
    again = tmp_path / "again"
    again.mkdir()
    assert paths["cron"].read_bytes() == traffic_shapes.write_traces(again)["cron"].read_bytes()


def test_requests_pay_for_a_busy_machine_twice() -> None:
    for row in traffic_shapes.ROWS:
        econ = traffic_shapes.economics(row, 50.0)
        busy = 50.0 * econ["request_value"] / 1000.0
        assert busy == 2.0 * max(econ.get("machine_cost", 0.05), 0.05)
