"""The simulator core runs on numpy alone (the controller's Lambda): no numba, no scipy, nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from inference.features import HISTORY
from simulator import FleetSim, Scenario, SimConfig
from simulator.kernel import JITTED
from simulator.loads import SMOOTH_SIGMA_MINUTES, gaussian_nearest, smooth

ROOT = Path(__file__).resolve().parents[2]
BLOCK = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {"numba", "scipy"}:
                raise ImportError(f"{name} is blocked: the simulator core must run on numpy alone")
            return None

    sys.meta_path.insert(0, Block())
    """
)
RUN = textwrap.dedent(
    """
    import json
    from datetime import UTC, datetime

    import numpy as np

    from inference.features import HISTORY
    from simulator import FleetSim, Scenario, SimConfig
    from simulator.kernel import JITTED

    def run(config):
        rng = np.random.default_rng(3)
        scenarios = [
            Scenario(f"s{i}", rng.poisson(300 * (i + 2), HISTORY + 120).astype(float),
                     datetime(2024, 1, 1, tzinfo=UTC), i + 1)
            for i in range(4)
        ]
        sim = FleetSim(config, scenarios, seed=7)
        lasts = []
        for t in range(sim.minutes):
            sim.advance((sim.active + sim.pending + (t % 7) - 3).clip(0))
            lasts.append(sim.last.tolist())
        return {"last": lasts, "totals": {k: v.tolist() for k, v in sim.totals.items()}}

    CONFIGS = [SimConfig(), SimConfig(capacity_noise="machine", cut_order="warming_first", warming_cost=True,
               max_scale_in_per_step=2, max_scale_out_per_step=3, warmup_latency=0)]
    """
)


def _run_in_process() -> list[dict]:
    namespace: dict = {}
    exec(RUN, namespace)
    return [namespace["run"](c) for c in namespace["CONFIGS"]]


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_plain_python_kernel_gives_the_jitted_kernels_results_exactly():
    assert JITTED, "numba is installed in the test environment: the in-process kernel is the compiled one"
    out = _python(BLOCK + RUN + "print(json.dumps({'jitted': JITTED, 'runs': [run(c) for c in CONFIGS]}))")
    doc = json.loads(out)
    assert doc["jitted"] is False
    assert doc["runs"] == _run_in_process()


def test_importing_training_and_the_simulator_loads_nothing_heavy():
    code = BLOCK + textwrap.dedent(
        """
        import sys
        import training, simulator
        from simulator import FleetSim, SimConfig, trace_scenario
        trace_scenario("nasa", "eval", minutes=200)  # low-volume: smoothed without scipy
        heavy = {"torch", "ray", "matplotlib", "scipy", "numba", "gymnasium", "tqdm"}
        print(sorted({m.partition(".")[0] for m in sys.modules} & heavy))
        """
    )
    assert _python(code).strip() == "[]"


@pytest.mark.parametrize("n", [5, 40, 3000])
def test_numpy_smoothing_matches_scipy(n):
    from scipy.ndimage import gaussian_filter1d

    x = np.random.default_rng(n).poisson(20, n).astype(np.float64)
    want = gaussian_filter1d(x, SMOOTH_SIGMA_MINUTES, mode="nearest")
    np.testing.assert_allclose(gaussian_nearest(x, SMOOTH_SIGMA_MINUTES), want, rtol=1e-12)
    np.testing.assert_array_equal(smooth(x, SMOOTH_SIGMA_MINUTES), want)  # scipy's own where it is installed


def test_public_api_of_the_simulator():
    import simulator as sim

    assert {"FleetSim", "SimConfig", "Scenario", "TRACES", "trace_scenario", "read_trace"} <= set(sim.__all__)
    scenario = Scenario("one", np.full(HISTORY + 3, 600.0), datetime(2024, 1, 1, tzinfo=UTC), 2)
    fleet = FleetSim(SimConfig(capacity_sigma=0.0), [scenario])
    assert fleet.step(np.array([2])).served.tolist() == [600.0]
