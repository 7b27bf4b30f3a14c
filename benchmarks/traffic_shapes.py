"""Benchmark of traffic shapes the policy never trained on: four 14-day teams' traces, each at three economics,
scored as ``python -m training.evaluation.scorecard --trace FILE`` scores a team's trace (rules tuned on the early
70 %, the late 30 % judged over paired capacity-noise draws).

    .venv/bin/python -m benchmarks.traffic_shapes --policy artifacts/model/model.tar.gz [--draws 10] [--shapes cron]

The shapes (seeded, Poisson counts; ``SHAPES``):

- ``business``: an office tool, busy 08:00-18:30 on weekdays with a lunch dip, no requests at night or at weekends;
- ``cron``: a daily cycle with a 5-minute burst of 8 times the load at the top of every hour (a batch client);
- ``outages``: a daily cycle (its swing smaller at weekends) with six upstream outages of 5 to 90 minutes without a
  request;
- ``growth``: traffic doubling over the two weeks, with a 2-hour campaign at 4 times the load.

Economics rows (``ROWS``): default prices; a 10-minute warm-up, 1,000 $ a minute down and machines at 0.01 $;
a 1-minute warm-up, 20 $ a minute down and machines at 0.2 $. Requests are priced so that a busy machine earns
twice what it costs (four times with the dear machines). Prints the scorecard's Markdown row for each.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from training import cli
from training.evaluation import scorecard

DAYS = 14
SHAPES: dict[str, float] = {"business": 20.0, "cron": 50.0, "outages": 30.0, "growth": 30.0}
"""Each shape and its capacity in requests per minute per machine."""
ROWS: dict[str, dict[str, float]] = {
    "default": {},
    "w10": {"warmup_latency": 10, "downtime_cost": 1000.0, "machine_cost": 0.01},
    "w1": {"warmup_latency": 1, "downtime_cost": 20.0, "machine_cost": 0.2},
}


def rate(shape: str, rng: np.random.Generator) -> np.ndarray:
    """Expected requests per minute of ``shape`` over ``DAYS`` days starting on a Monday at 00:00 UTC."""
    t = np.arange(DAYS * 1440)
    hour, weekday = (t % 1440) / 60.0, (t // 1440) % 7 < 5
    if shape == "business":
        day = np.clip(np.minimum(hour - 7.5, 18.5 - hour), 0.0, 1.5) / 1.5
        lunch = 1.0 - 0.3 * np.exp(-((hour - 12.5) ** 2) / 0.3)
        return (400.0 * day * lunch + 2.0 * (day > 0)) * weekday
    if shape == "cron":
        return (150.0 + 100.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)) * np.where(t % 60 < 5, 8.0, 1.0)
    if shape == "outages":
        out = 300.0 + 250.0 * np.sin(2 * np.pi * (hour - 10.0) / 24.0) * np.where(weekday, 1.0, 0.7)
        for _ in range(6):
            start = int(rng.integers(1440, t.size - 100))
            out[start : start + int(rng.integers(5, 90))] = 0.0
        return out
    if shape == "growth":
        out = (200.0 + 150.0 * np.sin(2 * np.pi * (hour - 14.0) / 24.0)) * np.exp(np.log(2.0) * t / t.size)
        campaign = int(0.8 * t.size)
        out[campaign : campaign + 120] *= 4.0
        return out
    raise ValueError(f"unknown shape {shape!r} (known: {', '.join(SHAPES)})")


def write_traces(folder: Path, seed: int = 42) -> dict[str, Path]:
    """Every shape's trace in ``folder`` (one generator, the shapes in ``SHAPES`` order: the files never change)."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    paths = {}
    for shape in SHAPES:
        counts = rng.poisson(np.maximum(rate(shape, rng), 0.0))
        stamps = ((start + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ") for m in range(counts.size))
        paths[shape] = folder / f"{shape}.csv"
        paths[shape].write_text("timestamp,requests\n" + "".join(f"{s},{n}\n" for s, n in zip(stamps, counts)))
    return paths


def economics(row: str, capacity: float) -> dict[str, float]:
    """``ROWS[row]``, requests priced so that a busy machine earns twice what a machine at default prices (or a
    dearer one) costs."""
    cost = max(ROWS[row].get("machine_cost", 0.05), 0.05)
    return {**ROWS[row], "request_value": round(2.0 * cost * 1000.0 / capacity, 3)}


@dataclass(frozen=True)
class Args:
    policy: Path
    """The packaged policy to score (model.tar.gz or its directory)."""
    draws: int = 10
    """Paired capacity-noise draws per row."""
    shapes: tuple[str, ...] = tuple(SHAPES)
    """Shapes to score."""


def main(argv: list[str] | None = None) -> None:
    args = cli.parse(Args, argv, prog="python -m benchmarks.traffic_shapes", description=__doc__.split("\n")[0])
    with tempfile.TemporaryDirectory() as tmp:
        unknown = sorted(set(args.shapes) - set(SHAPES))
        if unknown:
            raise SystemExit(f"--shapes: unknown shape {unknown[0]!r} (known: {', '.join(SHAPES)})")
        traces = write_traces(Path(tmp))
        for shape in args.shapes:
            trace = traces[shape]
            for row in ROWS:
                scorecard.main([
                    "--policy", str(args.policy), "--trace", str(trace), "--draws", str(args.draws),
                    "--capacity-rpm-per-machine", str(SHAPES[shape]), "--name", f"{shape}-{row}",
                    "--economics", json.dumps(economics(row, SHAPES[shape])),
                ])  # fmt: skip


if __name__ == "__main__":
    main()
