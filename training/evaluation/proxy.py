"""A proxy for a small team's trace: 14 days of the NASA trace at a small web service's volume.

    python -m training.evaluation.proxy --out artifacts/nasa-small.csv

The first 14 days of ``simulator/traces/nasa_jul95.csv``, each request kept with probability ``factor`` (binomial
thinning: the counting noise of the lower rate) so that the mean is ``--mean-rpm`` requests a minute (36: a mean
of 18 machines of 2 requests a minute), written as ``timestamp,requests`` (what ``controller.export_trace`` writes)
from 2026-11-02T00:00Z, a Monday. ``python -m training.evaluate --trace FILE --fleet FLEET`` judges it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from simulator.loads import DATA_DIR, TRACES, read_trace

DAYS = 14
START = datetime(2026, 11, 2, tzinfo=UTC)


def proxy_trace(mean_rpm: float = 36.0, seed: int = 0) -> np.ndarray:
    """Requests per minute of the proxy (see the module docstring)."""
    raw = read_trace(DATA_DIR / TRACES["nasa"].file)[: DAYS * 1440]
    factor = mean_rpm / float(raw.mean())
    if factor >= 1.0:
        raise ValueError(f"mean_rpm {mean_rpm} is above the trace's own mean {raw.mean():.1f}: thinning cannot add")
    return np.random.default_rng(seed).binomial(np.round(raw).astype(np.int64), factor).astype(np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.proxy", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV to write (timestamp,requests)")
    parser.add_argument("--mean-rpm", type=float, default=36.0, help="mean requests per minute [%(default)s]")
    parser.add_argument("--seed", type=int, default=0, help="thinning seed [%(default)s]")
    args = parser.parse_args(argv)
    load = proxy_trace(args.mean_rpm, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as fh:
        fh.write("timestamp,requests\n")
        for i, value in enumerate(load):
            fh.write(f"{(START + timedelta(minutes=i)).strftime('%Y-%m-%dT%H:%M:%SZ')},{int(value)}\n")
    print(f"wrote {args.out}: {len(load)} minutes, mean {load.mean():.1f} rpm, peak {load.max():.0f} rpm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
