"""Training's distribution of fleets, the economics cells and the rules tuned per cell."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.distribution import FleetDistribution
from training.evaluation.cases import ALL, groups, in_cell, small_fleet_case, synthetic_case
from training.evaluation.cells import CELLS, SMALL_CAPACITY, by_name
from training.sim.vector_env import FleetVectorEnv


def test_drawn_fleets_cover_the_ranges_and_stay_inside_them() -> None:
    dist = FleetDistribution()
    rng = np.random.default_rng(0)
    drawn = [dist.sample(rng) for _ in range(400)]
    ranges = dist.economics_ranges()
    for config, size in drawn:
        assert dist.mean_machines[0] <= size <= dist.mean_machines[1]
        for key, (lo, hi) in ranges.items():
            assert lo <= float(getattr(config, key)) <= hi, key
        assert config.capacity_sigma == pytest.approx(0.1 * config.capacity_rpm_per_machine)
    sizes = np.array([s for _, s in drawn])
    assert sizes.min() < 3 and sizes.max() > 500  # log-uniform over 1 to 2,000
    warmups = {c.warmup_latency for c, _ in drawn}
    assert warmups == set(range(16))
    assert sum(c.downtime_cost == 0 for c, _ in drawn) > 10


def test_training_env_mixes_fleets_of_every_scale_with_their_own_economics() -> None:
    env = FleetVectorEnv(16, fleet_distribution={}, reward_normalization="economics")
    obs, _ = env.reset(seed=3)
    assert env.sim is not None and np.isfinite(obs).all()
    capacities = {c.capacity_rpm_per_machine for c in env.sim.configs}
    assert len(capacities) == 16 and min(capacities) < 30 < max(capacities)
    assert len({tuple(row) for row in env.sim.economics}) == 16
    obs, reward, *_ = env.step(np.full(16, 6))
    assert np.isfinite(obs).all() and np.isfinite(reward).all()


def test_every_case_is_judged_in_each_cell_with_its_own_economics() -> None:
    base = [synthetic_case(0, 60), small_fleet_case(0, 60)]
    cells = CELLS["quick"]
    cases = [in_cell(c, cell) for cell in cells for c in base]
    found = groups([(c.kind, c.scenario.name) for c in cases])
    assert set(found) == {f"{cell.name}: {g}" for cell in cells for g in ("held-out synthetic", "small fleets", ALL)}
    hard = by_name("w15-o2000")
    regular, small = (c for c in cases if c.cell == hard.name)
    assert (regular.config.warmup_latency, regular.config.downtime_cost) == (15, 2000.0)
    assert small.config.capacity_rpm_per_machine == SMALL_CAPACITY
    # a busy small machine earns what a busy regular machine earns
    assert small.config.capacity_rpm_per_machine * small.config.request_value == pytest.approx(
        300.0 * regular.config.request_value
    )
    assert len(CELLS["full"]) >= 11 and len(CELLS["quick"]) >= 3
