"""A fleet's economics: the one schema, keyed by the simulator config's own field names. Stdlib only.

The same object travels in a fleet's config (``controller.config``, checked at synth and at run time), in each
decision of the contract (``inference.contract``) and in a team's fleet file (``training.evaluate --fleet``);
``simulator.SimConfig`` takes its defaults from ``DEFAULTS``, so a missing key means the simulator's default
everywhere. ``BOUNDS`` are what is physically meaningful (refused outside them, with the path of the value);
the ranges a policy was trained on are narrower and live in the artifact's metadata: a decision outside them is
still answered, by the fallback rule, with a reason that says so.

| key | type | unit | default |
| --- | --- | --- | --- |
| warmup_latency | integer | minutes from ordering a machine to its first minute of serving | 5 |
| machine_cost | number | $ per machine-minute | 0.05 |
| request_value | number | $ per 1,000 served requests | 0.90 |
| downtime_cost | number | $ per minute down, beyond the lost requests | 200 |
| downtime_percent | number | a minute is down when fewer than this % of requests succeed | 99.5 |
| warming_cost | boolean | machines still warming are billed too | false |
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .describe import describe

FIELDS: tuple[str, ...] = (
    "warmup_latency",
    "machine_cost",
    "request_value",
    "downtime_cost",
    "downtime_percent",
    "warming_cost",
)
DEFAULTS: dict[str, Any] = {
    "warmup_latency": 5,
    "machine_cost": 0.05,
    "request_value": 0.90,
    "downtime_cost": 200.0,
    "downtime_percent": 99.5,
    "warming_cost": False,
}
"""Article 002's economics (seed 002): the simulator's defaults."""
BOUNDS: dict[str, tuple[float, float]] = {
    "warmup_latency": (0, 240),
    "machine_cost": (0.0, 1_000.0),
    "request_value": (0.0, 1_000.0),
    "downtime_cost": (0.0, 10_000_000.0),
    "downtime_percent": (0.0, 100.0),
}
"""Inclusive bounds of what is accepted at all (a warm-up of more than four hours or a machine dearer than
$1,000 a minute is a typo, not a fleet); ``warming_cost`` is a boolean."""
UNITS: dict[str, str] = {
    "warmup_latency": "minutes",
    "machine_cost": "$ per machine-minute",
    "request_value": "$ per 1,000 served requests",
    "downtime_cost": "$ per minute down",
    "downtime_percent": "% of requests that must succeed",
    "warming_cost": "true or false",
}


class EconomicsError(ValueError):
    """An economics object that cannot be used; the message starts with the path of the offending value."""


def parse(value: object, path: str = "economics") -> dict[str, Any]:
    """Validate an economics object and return it complete (missing keys take ``DEFAULTS``), typed.

    ``None`` means all defaults. Unknown keys, wrong types, NaN or infinite values and values outside ``BOUNDS``
    raise ``EconomicsError`` naming ``path.key``."""
    if value is None:
        return dict(DEFAULTS)
    if not isinstance(value, Mapping):
        raise EconomicsError(f"{path}: must be an object with keys among {', '.join(FIELDS)}, got {describe(value)}")
    unknown = sorted(str(k) for k in value if k not in DEFAULTS)
    if unknown:
        raise EconomicsError(f"{path}.{unknown[0]}: unknown key (known: {', '.join(FIELDS)})")
    out = dict(DEFAULTS)
    for key, raw in value.items():
        out[key] = _field(key, raw, f"{path}.{key}")
    return out


def overrides(value: object, path: str = "economics") -> dict[str, Any]:
    """Like ``parse`` but only the keys given (validated), e.g. to record what a fleet changed."""
    parsed = parse(value, path)
    return {k: parsed[k] for k in FIELDS if isinstance(value, Mapping) and k in value}


def _field(key: str, raw: object, where: str) -> Any:
    if key == "warming_cost":
        if not isinstance(raw, bool):
            raise EconomicsError(f"{where}: must be true or false, got {describe(raw)}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise EconomicsError(f"{where}: must be a number ({UNITS[key]}), got {describe(raw)}")
    if not math.isfinite(raw):
        raise EconomicsError(f"{where}: must be finite, got {raw!r}")
    low, high = BOUNDS[key]
    if key == "warmup_latency":
        if float(raw) != int(raw):
            raise EconomicsError(f"{where}: must be a whole number of minutes, got {raw!r}")
        raw = int(raw)
    if not low <= raw <= high:
        raise EconomicsError(f"{where}: must be in [{low:g}, {high:g}] ({UNITS[key]}), got {raw!r}")
    return raw if key == "warmup_latency" else float(raw)
