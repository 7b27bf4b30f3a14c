"""The fleet simulator: configuration, load (synthetic generator and recorded traces) and the batched kernel.

The stable API other packages use (the controller's simulated fleet among them); it imports numpy only (numba
when installed, for speed; scipy lazily, only where training needs it)::

    from training.sim import FleetSim, SimConfig, Scenario, TRACES, trace_scenario, read_trace, STEP_KEYS

The Gymnasium environments (``training.sim.env``, ``training.sim.vector_env``) import gymnasium and are not
loaded here.
"""

from training.sim.config import SimConfig
from training.sim.fleet import FleetSim, Observation, StepResult
from training.sim.kernel import STEP_KEYS, TOTAL_KEYS
from training.sim.loads import (
    TRACES,
    Scenario,
    TraceError,
    initial_fleet,
    read_trace,
    trace_part_minutes,
    trace_scenario,
)

__all__ = [
    "STEP_KEYS",
    "TOTAL_KEYS",
    "TRACES",
    "FleetSim",
    "Observation",
    "Scenario",
    "SimConfig",
    "StepResult",
    "TraceError",
    "initial_fleet",
    "read_trace",
    "trace_part_minutes",
    "trace_scenario",
]
