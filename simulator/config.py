"""The simulator's one configuration object, with the defaults of the SageMaker RL launch article (seed 002)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from inference.contract import OBSERVATION_LAG_MINUTES
from inference.economics import DEFAULTS as ECONOMICS
from inference.economics import parse as parse_economics
from inference.features import HISTORY


def refuse_invalid(config: object, checks: Mapping[str, bool], what: str = "") -> None:
    """Raise ``ValueError`` naming every field of ``config`` whose check is false, with its value, in the checks'
    order: ``invalid SimConfig field(s): min_machines=-1, cut_order='x'`` (``what`` replaces "SimConfig field(s)")."""
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        what = what or f"{type(config).__name__} field(s)"
        raise ValueError(f"invalid {what}: " + ", ".join(f"{name}={getattr(config, name)!r}" for name in bad))


@dataclass(frozen=True)
class SimConfig:
    """Fleet economics and mechanics. One simulated step is one minute. The economics fields' defaults are
    ``inference.economics.DEFAULTS`` (one schema for fleet configs, decisions and the simulator)."""

    warmup_latency: int = ECONOMICS["warmup_latency"]
    """Minutes between ordering a machine and its first minute of serving."""
    capacity_rpm_per_machine: float = 300.0
    """Nominal requests per minute one machine serves (article 002: tpm_per_machine)."""
    capacity_sigma: float = 30.0
    """Standard deviation of a machine's capacity draw, requests per minute (article 002: tpm_sigma)."""
    capacity_noise: Literal["fleet", "machine"] = "fleet"
    """"fleet": one N(300, 30) draw per minute for the whole fleet, as article 002; "machine": independent
    per-machine draws, so the fleet's capacity is N(n * 300, sqrt(n) * 30)."""
    machine_cost: float = ECONOMICS["machine_cost"]
    """Dollars per serving machine-minute."""
    warming_cost: bool = ECONOMICS["warming_cost"]
    """Also charge ``machine_cost`` for machines that are still warming up (real clouds bill them)."""
    request_value: float = ECONOMICS["request_value"]
    """Dollars per 1000 served requests."""
    downtime_cost: float = ECONOMICS["downtime_cost"]
    """Dollars charged for a minute of downtime, beyond the lost requests."""
    downtime_percent: float = ECONOMICS["downtime_percent"]
    """A minute is down when fewer than this percentage of its requests succeed."""
    initial_machines: int = 50
    """Serving machines at minute 0 (scenarios may override it to match their load)."""
    min_machines: int = 1
    """Fleet (serving + warming) never goes below this."""
    max_machines: int = 10_000
    """Fleet (serving + warming) never goes above this."""
    max_scale_out_per_step: int = 10_000
    """Most machines that can be ordered in one minute."""
    max_scale_in_per_step: int = 10_000
    """Most machines that can be removed in one minute."""
    cut_order: Literal["serving_first", "warming_first"] = "serving_first"
    """Which machines a cut below serving + warming removes first. "serving_first" is article 002's
    simulator: serving machines go first and machines already ordered still arrive (a remainder, if the cut
    exceeds the serving fleet, cancels the newest orders). "warming_first" cancels the newest orders first."""
    episode_minutes: int = 1000
    """Steps per training episode (article 002: max_time_steps); the episode is truncated, never terminated."""
    observation_lag_minutes: int = OBSERVATION_LAG_MINUTES
    """Age of the newest observed minute: deciding minute ``t``, every policy (rules included) sees load and
    failed requests up to minute ``t - 1 - lag``, as the controller sees CloudWatch's complete minutes
    (``inference.contract.OBSERVATION_LAG_MINUTES``, its ``PUBLICATION_LAG_MINUTES``). The fleet's own machine
    counts are read from the target and are never late. 0 is article 002's simulator; below ``HISTORY``."""

    def __post_init__(self) -> None:
        checks = {
            "warmup_latency": self.warmup_latency >= 0,
            "capacity_rpm_per_machine": self.capacity_rpm_per_machine > 0,
            "capacity_sigma": self.capacity_sigma >= 0,
            "capacity_noise": self.capacity_noise in ("fleet", "machine"),
            "machine_cost": self.machine_cost >= 0,
            "request_value": self.request_value >= 0,
            "downtime_cost": self.downtime_cost >= 0,
            "downtime_percent": 0 <= self.downtime_percent <= 100,
            "initial_machines": self.initial_machines >= 0,
            "min_machines": self.min_machines >= 0,
            "max_machines": self.max_machines >= max(self.min_machines, 1),
            "max_scale_out_per_step": self.max_scale_out_per_step >= 1,
            "max_scale_in_per_step": self.max_scale_in_per_step >= 1,
            "cut_order": self.cut_order in ("serving_first", "warming_first"),
            "episode_minutes": self.episode_minutes >= 1,
            "observation_lag_minutes": isinstance(self.observation_lag_minutes, int)
            and 0 <= self.observation_lag_minutes < HISTORY,
        }
        refuse_invalid(self, checks)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SimConfig:
        """Build from a plain dict (e.g. JSON or RLlib's env_config), refusing unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown SimConfig field(s): {', '.join(unknown)}")
        return cls(**values)

    def replace(self, **changes: Any) -> SimConfig:
        return replace(self, **changes)


DEFAULT_CAPACITY_RPM = 300.0
"""Article 002's nominal requests per minute of one machine (``SimConfig.capacity_rpm_per_machine``)."""
CAPACITY_NOISE_SHARE = 30.0 / DEFAULT_CAPACITY_RPM
"""Article 002's capacity noise relative to capacity (sigma 30 at 300 rpm): kept at every capacity."""


def fleet_config(
    capacity_rpm_per_machine: float = DEFAULT_CAPACITY_RPM,
    *,
    min_machines: int = 1,
    max_machines: int = 10_000,
    economics: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> SimConfig:
    """The simulator for one fleet: the one place a fleet becomes a ``SimConfig`` (the scoreboard, the
    controller's simulated fleets, the rehearsal, ``training.evaluate`` and training all call it).

    ``economics``: the fleet's economics (``inference.economics.parse`` is applied: missing keys take the
    defaults, bad values raise ``EconomicsError`` naming the key). The capacity noise keeps article 002's
    relative size, ``capacity_sigma = 0.1 * capacity``, unless ``overrides`` (other ``SimConfig`` fields) set it.
    """
    if "capacity_rpm_per_machine" in overrides:
        raise ValueError("pass the capacity as capacity_rpm_per_machine, not among the overrides")
    clash = sorted(set(overrides) & set(ECONOMICS))
    if clash:
        raise ValueError(f"economics field(s) {', '.join(clash)} go in economics, not among the overrides")
    capacity = float(capacity_rpm_per_machine)
    if not capacity > 0:
        raise ValueError(f"capacity_rpm_per_machine must be > 0, got {capacity_rpm_per_machine!r}")
    values = {
        **parse_economics(economics),
        "capacity_rpm_per_machine": capacity,
        "capacity_sigma": CAPACITY_NOISE_SHARE * capacity,
        "min_machines": int(min_machines),
        "max_machines": max(int(max_machines), int(min_machines), 1),
        **overrides,
    }
    return SimConfig.from_dict(values)


def economics_of(config: SimConfig) -> dict[str, Any]:
    """A config's economics, keyed by ``inference.economics.FIELDS``."""
    return {key: getattr(config, key) for key in ECONOMICS}
