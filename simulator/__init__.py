"""The fleet simulator: configuration, load (synthetic generator and recorded traces) and the batched kernel.

A package of its own that training and the controller's simulated fleets both import; numpy only (numba when
installed, for speed; scipy lazily, only where training needs it). Its stable API::

    from simulator import FleetSim, SimConfig, fleet_config, Scenario, TRACES, trace_scenario, read_trace, STEP_KEYS

The Gymnasium environments (``training.sim.env``, ``training.sim.vector_env``) import gymnasium and are not
loaded here.
"""

from simulator.config import SimConfig, fleet_config
from simulator.fleet import FleetSim, Observation, StepResult
from simulator.kernel import STEP_KEYS, TOTAL_KEYS
from simulator.loads import (
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
    "fleet_config",
    "initial_fleet",
    "read_trace",
    "trace_part_minutes",
    "trace_scenario",
]
