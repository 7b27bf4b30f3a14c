"""The one builder of a fleet's simulator config: every caller gets the same capacity noise and economics."""

from __future__ import annotations

import pytest

from controller.config import parse_fleets
from controller.targets.simulated import sim_config as controller_sim_config
from inference.economics import EconomicsError
from simulator.config import SimConfig, fleet_config
from training.evaluate import sim_config as evaluate_sim_config


def simulated_fleet(capacity: float):
    spec = {
        "name": "small",
        "mode": "shadow",
        "capacity_rpm_per_machine": capacity,
        "min_machines": 2,
        "max_machines": 80,
        "max_change_per_minute": 100,
        "target": {"kind": "simulated", "trace": "nasa", "scale": 1.0, "seed": 0},
    }
    return parse_fleets([spec], "Dev")[0]


def test_capacity_noise_keeps_its_relative_size_at_every_capacity() -> None:
    assert fleet_config().capacity_sigma == SimConfig().capacity_sigma == 30.0
    assert fleet_config(2.0).capacity_sigma == pytest.approx(0.2)
    assert fleet_config(1000.0).capacity_sigma == pytest.approx(100.0)


def test_the_closed_loop_and_the_scoreboard_simulate_a_small_fleet_alike() -> None:
    """A 2-rpm fleet: the controller's simulated fleet used to draw article 002's absolute 30-rpm noise (15 times
    a machine's capacity) while ``training.evaluate`` scaled it to 0.2 rpm."""
    closed_loop = controller_sim_config(simulated_fleet(2.0))
    scoreboard = evaluate_sim_config(2.0, {})
    assert closed_loop.capacity_sigma == pytest.approx(0.2)
    assert closed_loop.capacity_sigma == scoreboard.capacity_sigma
    assert (closed_loop.min_machines, closed_loop.max_machines) == (2, 80)


def test_economics_fill_defaults_and_refuse_bad_values_by_name() -> None:
    config = fleet_config(300.0, economics={"warmup_latency": 15, "downtime_cost": 2000.0})
    assert (config.warmup_latency, config.downtime_cost, config.machine_cost) == (15, 2000.0, 0.05)
    with pytest.raises(EconomicsError, match=r"economics\.machine_cost"):
        fleet_config(300.0, economics={"machine_cost": -1})
    with pytest.raises(ValueError, match="go in economics"):
        fleet_config(300.0, machine_cost=0.1)


def test_fleets_with_their_own_economics_in_one_simulator_match_each_simulated_alone() -> None:
    import numpy as np

    from simulator.fleet import FleetSim
    from simulator.loads import synthetic_scenario

    rng = np.random.default_rng(0)
    scenarios = [synthetic_scenario(rng, 120, capacity=cap) for cap in (300.0, 2.0, 50.0)]
    configs = [
        fleet_config(300.0),
        fleet_config(2.0, economics={"warmup_latency": 12, "machine_cost": 0.4, "warming_cost": True}),
        fleet_config(50.0, economics={"warmup_latency": 0, "downtime_cost": 5000.0}, min_machines=3),
    ]
    noise = np.random.default_rng(1).standard_normal((3, 120))
    together = FleetSim(configs, scenarios, noise=noise)
    alone = [FleetSim(c, [s], noise=noise[i : i + 1]) for i, (c, s) in enumerate(zip(configs, scenarios))]
    for t in range(120):
        desired = (together.observe().load[:, -1] / together.observe().capacity_rpm_per_machine * (1 + t % 3)).astype(
            int
        )
        both = together.advance(desired)
        for i, sim in enumerate(alone):
            np.testing.assert_array_equal(both[i], sim.advance(desired[i : i + 1])[0])
    assert together.economics[1].tolist() == [12, 0.4, 0.9, 200.0, 99.5, 1.0]


def test_economics_features_are_the_same_for_the_same_ratios_at_any_capacity() -> None:
    import numpy as np

    from inference.economics import DEFAULTS, FIELDS
    from inference.features import ECONOMICS_NAMES, economics_features

    row = np.array([[float(DEFAULTS[k]) for k in FIELDS]])
    big = economics_features(row, np.array([15_000.0]), np.array([300.0]))[0]
    small_row = row.copy()
    small_row[0, FIELDS.index("request_value")] *= 150.0  # 2 rpm per machine, each request 150 times the value
    small = economics_features(small_row, np.array([100.0]), np.array([2.0]))[0]
    same = [i for i, name in enumerate(ECONOMICS_NAMES) if name != "count_noise"]
    np.testing.assert_allclose(big[same], small[same], rtol=1e-6)
    assert small[ECONOMICS_NAMES.index("count_noise")] > 5 * big[ECONOMICS_NAMES.index("count_noise")]
