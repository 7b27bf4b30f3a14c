"""The one economics schema: defaults are the simulator's, bad values are refused with their path."""

from __future__ import annotations

import math

import pytest

from inference.economics import DEFAULTS, FIELDS, EconomicsError, overrides, parse
from simulator import SimConfig


def test_defaults_are_the_simulator_config_defaults() -> None:
    sim = SimConfig()
    assert {k: getattr(sim, k) for k in FIELDS} == DEFAULTS
    assert parse(None) == DEFAULTS and parse({}) == DEFAULTS


def test_given_keys_override_and_are_typed() -> None:
    got = parse({"warmup_latency": 10.0, "machine_cost": 1, "warming_cost": True})
    assert got["warmup_latency"] == 10 and isinstance(got["warmup_latency"], int)
    assert got["machine_cost"] == 1.0 and isinstance(got["machine_cost"], float)
    assert got["warming_cost"] is True and got["downtime_cost"] == DEFAULTS["downtime_cost"]
    assert overrides({"downtime_cost": 20}) == {"downtime_cost": 20.0}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"warmup": 5}, "fleets[3].economics.warmup: unknown key"),
        ({"machine_cost": "0.1"}, "fleets[3].economics.machine_cost: must be a number"),
        ({"machine_cost": True}, "fleets[3].economics.machine_cost: must be a number"),
        ({"downtime_cost": math.nan}, "fleets[3].economics.downtime_cost: must be finite"),
        ({"downtime_cost": -1}, "fleets[3].economics.downtime_cost: must be in"),
        ({"downtime_percent": 101}, "fleets[3].economics.downtime_percent: must be in"),
        ({"warmup_latency": 2.5}, "fleets[3].economics.warmup_latency: must be a whole number"),
        ({"warmup_latency": 10_000}, "fleets[3].economics.warmup_latency: must be in"),
        ({"warming_cost": 1}, "fleets[3].economics.warming_cost: must be true or false"),
        ([1, 2], "fleets[3].economics: must be an object"),
    ],
)
def test_bad_values_name_their_path(value: object, message: str) -> None:
    with pytest.raises(EconomicsError) as err:
        parse(value, "fleets[3].economics")
    assert str(err.value).startswith(message)
