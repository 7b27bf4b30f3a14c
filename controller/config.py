"""The fleet config schema and the run settings; pure Python (no numpy, no pydantic).

`stacks/fleets_file.py` validates a stage's `fleets` with `validate_fleets` at synth; the Lambda parses the same JSON
(the stage's fleets object, `controller/fleets.py`) with `parse_fleets` at run time: one definition, cross-fleet
checks included (two fleets on one target, a fleet on the stage's own decision endpoint, an ARN where a name
belongs). Errors name the path, e.g.
`fleets[1].target.kind: unknown target kind 'ecss' (known: asg, ecs, sagemaker, simulated)`.

One fleet::

    {"name": "checkout", "mode": "shadow",
     "capacity_rpm_per_machine": 300, "min_machines": 2, "max_machines": 200, "max_change_per_minute": 20,
     "requests": {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount",
                  "dimensions": {"TargetGroup": "targetgroup/x/123", "LoadBalancer": "app/y/456"}},
     "failed": [{"namespace": "AWS/ApplicationELB", "metric_name": "HTTPCode_Target_5XX_Count",
                 "dimensions": {...}}],
     "target": {"kind": "ecs", "cluster": "prod", "service": "checkout"}}

`mode` defaults to `shadow`, `failed` to none. An optional `economics` object prices the fleet for the policy
(`inference.economics`: `warmup_latency`, `machine_cost`, `request_value`, `downtime_cost`, `downtime_percent`,
`warming_cost`; missing keys take the simulator's defaults; an unknown key, a wrong type or a value out of range is
refused naming its path, e.g. `fleets[3].economics.warmup_latency: must be in [0, 240] (minutes), got 500`).
A `simulated` fleet's `requests` and `failed` default to the simulator's own metrics (namespace
`RLAutoscaler/SimulatedFleet`, `RequestCount` / `FailedRequests`, dimensions {Stage, Fleet}).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from inference import economics
from inference.contract import OBSERVATION_LAG_MINUTES
from inference.describe import describe

SCALE_TAG = "rl-autoscaler-stage"
"""A team opts a resource (ECS service, Auto Scaling group, endpoint, scalable target) in to a stage's controller by
tagging it `rl-autoscaler-stage=<Stage>`: the controller's IAM lets it change only resources so tagged."""
MODES = ("off", "shadow", "active")
"""In rising order of authority: a stage-wide cap keeps the lower of the two."""
MODE_RANK = {mode: rank for rank, mode in enumerate(MODES)}
TARGET_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "asg": {"group": str},
    "ecs": {"cluster": str, "service": str},
    "sagemaker": {"endpoint": str, "variant": str},
    "simulated": {
        "trace": str, "scale": (int, float), "seed": int, "start": (str, type(None)),
        "capacity_sigma": (int, float, type(None)),
    },
}  # fmt: skip
SIMULATED_DEFAULTS: dict[str, Any] = {"scale": 1.0, "seed": 0, "start": None, "capacity_sigma": None}
"""`capacity_sigma`: the standard deviation of a machine's capacity draw (requests per minute); null: the
simulator's (`simulator.SimConfig`), 0: every minute at nominal capacity."""
TRACES = ("nasa", "worldcup")
SIMULATED_NAMESPACE = "RLAutoscaler/SimulatedFleet"
SIMULATED_REQUESTS = "RequestCount"
SIMULATED_FAILED = "FailedRequests"
MAX_MACHINES = 1_000_000
"""Same sanity bound as the decision contract (inference.contract.MAX_MACHINES)."""
MIN_CAPACITY_RPM = 1e-3
"""Same as inference.contract.MIN_CAPACITY_RPM (kept here so the schema stays pure Python)."""
MAX_RPM = 1e12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_FLEET_KEYS = {
    "name",
    "mode",
    "capacity_rpm_per_machine",
    "min_machines",
    "max_machines",
    "max_change_per_minute",
    "requests",
    "failed",
    "target",
    "economics",
}
_REQUIRED = ("name", "capacity_rpm_per_machine", "min_machines", "max_machines", "max_change_per_minute", "target")
_METRIC_KEYS = {"namespace", "metric_name", "dimensions"}
_NAMED = {
    "cluster": "ECS cluster",
    "service": "ECS service",
    "group": "Auto Scaling group",
    "endpoint": "SageMaker endpoint",
    "variant": "endpoint variant",
}
"""Target fields that hold a resource's name, never its ARN."""
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_MAX_FAILED_METRICS = 5
_MAX_DIMENSIONS = 30
"""CloudWatch allows 30 dimensions per metric."""


class FleetConfigError(ValueError):
    """A fleet config that the controller refuses; the message names the path."""


class SettingsError(ValueError):
    """A missing or malformed environment variable; the message names it."""


@dataclass(frozen=True)
class MetricSpec:
    """One CloudWatch metric, read with statistic Sum over 1-minute periods."""

    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    """Sorted (name, value) pairs."""

    def as_metric(self) -> dict[str, Any]:
        """The `Metric` structure of GetMetricData."""
        return {
            "Namespace": self.namespace,
            "MetricName": self.metric_name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
        }


@dataclass(frozen=True)
class FleetConfig:
    """One validated fleet (see the module docstring)."""

    name: str
    mode: str
    capacity_rpm_per_machine: float
    min_machines: int
    max_machines: int
    max_change_per_minute: int
    requests: MetricSpec
    failed: tuple[MetricSpec, ...]
    target: Mapping[str, Any] = field(hash=False)
    """The validated target object, `kind` included (adapters read their own fields)."""
    economics: Mapping[str, Any] = field(default_factory=lambda: dict(economics.DEFAULTS), hash=False)
    """The fleet's economics, complete (`inference.economics.parse`: defaults filled)."""

    @property
    def kind(self) -> str:
        return str(self.target["kind"])


def validate_fleets(raw: Any, endpoint_name: str | None = None) -> list[dict[str, Any]]:
    """Validate a list of fleet objects; return them normalised (defaults filled); raise FleetConfigError.

    `endpoint_name`: the stage's own decision endpoint, which no fleet may target (synth and run time pass it).
    """
    if not isinstance(raw, (list, tuple)):
        raise FleetConfigError(f"fleets: must be a list of fleet objects, got {describe(raw)}")
    out = [_fleet(obj, f"fleets[{i}]") for i, obj in enumerate(raw)]
    names: dict[str, int] = {}
    targets: dict[tuple[str, ...], str] = {}
    for i, fleet in enumerate(out):
        if fleet["name"] in names:
            raise FleetConfigError(
                f"fleets[{i}].name: {fleet['name']!r} is already the name of fleets[{names[fleet['name']]}]; "
                "fleet names key the metrics and the state, so they must be unique"
            )
        names[fleet["name"]] = i
        target = fleet["target"]
        if endpoint_name and target["kind"] == "sagemaker" and target["endpoint"].lower() == endpoint_name.lower():
            raise FleetConfigError(
                f"fleets[{i}].target.endpoint: {target['endpoint']} is this stage's own decision endpoint, "
                "which Application Auto Scaling already scales; the controller may not scale it too"
            )
        identity = target_identity(target)
        if identity is not None and identity in targets:
            raise FleetConfigError(
                f"fleets[{i}].target: fleet {fleet['name']!r} names the same target as fleet "
                f"{targets[identity]!r} ({'/'.join(identity)}); two fleets would fight over it"
            )
        if identity is not None:
            targets[identity] = fleet["name"]
    return out


def target_identity(target: Mapping[str, Any]) -> tuple[str, ...] | None:
    """What two fleets must not share: the same ECS service, group or endpoint variant (None: no shared target)."""
    kind = target.get("kind")
    if kind == "ecs":
        return ("ecs", target["cluster"], target["service"])
    if kind == "asg":
        return ("asg", target["group"])
    if kind == "sagemaker":
        return ("sagemaker", target["endpoint"].lower(), target["variant"])
    return None


def parse_fleets(raw: Any, stage: str, endpoint_name: str | None = None) -> tuple[FleetConfig, ...]:
    """Validated fleets as `FleetConfig`s; a simulated fleet's default metrics get the stage's dimensions."""
    fleets = []
    for fleet in validate_fleets(raw, endpoint_name):
        requests, failed = fleet.get("requests"), fleet.get("failed")
        if fleet["target"]["kind"] == "simulated":
            dims = {"Stage": stage, "Fleet": fleet["name"]}
            if requests is None:
                requests = {"namespace": SIMULATED_NAMESPACE, "metric_name": SIMULATED_REQUESTS, "dimensions": dims}
            if failed is None:
                failed = [{"namespace": SIMULATED_NAMESPACE, "metric_name": SIMULATED_FAILED, "dimensions": dims}]
        fleets.append(
            FleetConfig(
                name=fleet["name"],
                mode=fleet["mode"],
                capacity_rpm_per_machine=float(fleet["capacity_rpm_per_machine"]),
                min_machines=fleet["min_machines"],
                max_machines=fleet["max_machines"],
                max_change_per_minute=fleet["max_change_per_minute"],
                requests=_spec(requests),
                failed=tuple(_spec(m) for m in failed or ()),
                target=dict(fleet["target"]),
                economics=economics.parse(fleet.get("economics"), "economics"),
            )
        )
    return tuple(fleets)


def _spec(metric: Mapping[str, Any]) -> MetricSpec:
    return MetricSpec(metric["namespace"], metric["metric_name"], tuple(sorted(metric["dimensions"].items())))


def _fleet(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise FleetConfigError(f"{where}: must be a fleet object, got {describe(obj)}")
    _keys(obj, _FLEET_KEYS, _REQUIRED, where)
    name = obj["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise FleetConfigError(
            f"{where}.name: must be 1-63 letters, digits, '_', '.' or '-' starting with a letter or digit, got {name!r}"
        )
    mode = obj.get("mode", "shadow")
    if mode not in MODES:
        raise FleetConfigError(f"{where}.mode: must be one of {', '.join(MODES)}, got {mode!r}")
    capacity = obj["capacity_rpm_per_machine"]
    if not _number(capacity) or not MIN_CAPACITY_RPM <= capacity <= MAX_RPM:
        raise FleetConfigError(
            f"{where}.capacity_rpm_per_machine: must be a number in [{MIN_CAPACITY_RPM:g}, {MAX_RPM:g}], "
            f"got {capacity!r}"
        )
    lo = _int(obj["min_machines"], f"{where}.min_machines", 0)
    hi = _int(obj["max_machines"], f"{where}.max_machines", 0)
    if lo > hi:
        raise FleetConfigError(f"{where}.min_machines: {lo} is above max_machines {hi}")
    step = _int(obj["max_change_per_minute"], f"{where}.max_change_per_minute", 1)
    target = _target(obj["target"], f"{where}.target")
    simulated = target["kind"] == "simulated"
    if "requests" in obj or not simulated:
        if "requests" not in obj:
            raise FleetConfigError(f"{where}: missing required field 'requests' (only simulated fleets default it)")
        requests = _metric(obj["requests"], f"{where}.requests")
    else:
        requests = None
    failed_raw = obj.get("failed", [])
    if not isinstance(failed_raw, (list, tuple)) or len(failed_raw) > _MAX_FAILED_METRICS:
        raise FleetConfigError(f"{where}.failed: must be a list of at most {_MAX_FAILED_METRICS} metric objects")
    failed = [_metric(m, f"{where}.failed[{i}]") for i, m in enumerate(failed_raw)]
    # A simulated fleet without `requests`/`failed` reads the simulator's metrics; the stage fills them at run time.
    out: dict[str, Any] = {
        "name": name,
        "mode": mode,
        "capacity_rpm_per_machine": capacity,
        "min_machines": lo,
        "max_machines": hi,
        "max_change_per_minute": step,
    }
    if requests is not None:
        out["requests"] = requests
    if "failed" in obj or not simulated:
        out["failed"] = failed
    out["target"] = target
    if "economics" in obj:  # kept as given (validated): the one schema fills the defaults where it is read
        try:
            out["economics"] = economics.overrides(obj["economics"], f"{where}.economics")
        except economics.EconomicsError as err:
            raise FleetConfigError(str(err)) from None
    return out


def _target(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise FleetConfigError(f"{where}: must be an object with a 'kind', got {describe(obj)}")
    kind = obj.get("kind")
    if kind not in TARGET_FIELDS:
        known = ", ".join(sorted(TARGET_FIELDS))
        raise FleetConfigError(f"{where}.kind: unknown target kind {kind!r} (known: {known})")
    fields = TARGET_FIELDS[kind]
    defaults = SIMULATED_DEFAULTS if kind == "simulated" else {}
    _keys(obj, {"kind", *fields}, tuple(f for f in fields if f not in defaults), where)
    out: dict[str, Any] = {"kind": kind}
    for name, types in fields.items():
        value = obj.get(name, defaults.get(name))
        if not isinstance(value, types) or isinstance(value, bool) or value == "":
            raise FleetConfigError(f"{where}.{name}: must be {_type_name(types)}, got {value!r}")
        if name in _NAMED:
            _resource_name(value, f"{where}.{name}", _NAMED[name])
        out[name] = value
    if kind == "simulated":
        if out["trace"] not in TRACES:
            raise FleetConfigError(f"{where}.trace: must be one of {', '.join(TRACES)}, got {out['trace']!r}")
        if not 0 < out["scale"] <= 1e6:
            raise FleetConfigError(f"{where}.scale: must be a number in (0, 1e6], got {out['scale']!r}")
        out["scale"] = float(out["scale"])
        sigma = out.pop("capacity_sigma")  # kept only when set (null: the simulator's)
        if sigma is not None:
            out["capacity_sigma"] = float(sigma)
        if sigma is not None and not 0 <= sigma <= MAX_RPM:
            raise FleetConfigError(f"{where}.capacity_sigma: must be a number in [0, {MAX_RPM:g}] or null, got {sigma}")
        if out["start"] is not None:
            try:
                date.fromisoformat(out["start"][:10])
            except ValueError:
                raise FleetConfigError(
                    f"{where}.start: must be an ISO date such as 1995-07-10 or null, got {out['start']!r}"
                ) from None
    return out


def _resource_name(value: str, where: str, what: str) -> None:
    """A name where AWS wants a name: an ARN or a path is refused with the name to use."""
    if value.startswith("arn:") or "/" in value:
        name = value.rsplit("/", 1)[-1]
        raise FleetConfigError(f"{where}: must be the {what}'s name, not an ARN or a path: use {name!r}, got {value!r}")
    if what != "Auto Scaling group" and not _RESOURCE_NAME.match(value):  # a group's name may hold spaces
        raise FleetConfigError(
            f"{where}: {value!r} is not a valid {what} name (1-255 letters, digits, '-', '_' or '.', no spaces)"
        )


def _metric(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise FleetConfigError(f"{where}: must be a metric object (namespace, metric_name, dimensions)")
    _keys(obj, _METRIC_KEYS, ("namespace", "metric_name"), where)
    for name in ("namespace", "metric_name"):
        if not isinstance(obj[name], str) or not 1 <= len(obj[name]) <= 255:
            raise FleetConfigError(f"{where}.{name}: must be a non-empty string, got {obj[name]!r}")
    dims = obj.get("dimensions", {})
    if not isinstance(dims, Mapping) or len(dims) > _MAX_DIMENSIONS:
        raise FleetConfigError(f"{where}.dimensions: must be an object of at most {_MAX_DIMENSIONS} name: value")
    for key, value in dims.items():
        if not isinstance(key, str) or not key or not isinstance(value, str) or not value:
            raise FleetConfigError(f"{where}.dimensions.{key}: names and values must be non-empty strings")
    return {"namespace": obj["namespace"], "metric_name": obj["metric_name"], "dimensions": dict(dims)}


def _keys(obj: Mapping[str, Any], allowed: set[str], required: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in obj if k not in allowed)
    if unknown:
        raise FleetConfigError(f"{where}: unknown field(s) {unknown}; the fields are {', '.join(sorted(allowed))}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise FleetConfigError(f"{where}: missing required field(s) {', '.join(missing)}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _int(value: Any, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_MACHINES:
        raise FleetConfigError(f"{where}: must be an integer in [{low}, {MAX_MACHINES}], got {value!r}")
    return value


def _type_name(types: type | tuple[type, ...]) -> str:
    names = {str: "a non-empty string", int: "an integer", float: "a number", type(None): "null"}
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(dict.fromkeys(names[t] if t is not int or float not in types else "a number" for t in types))


# -- run settings (environment of the Lambda) --------------------------------------------------------------

BOUNDS: dict[str, tuple[float, float]] = {
    "history_minutes": (1, 10_080),
    "publication_lag_minutes": (0, 15),
    "stale_after_minutes": (1, 120),
    "endpoint_timeout_s": (0.1, 20),
    "endpoint_max_attempts": (1, 5),
    "handback_after_failed_runs": (1, 60),
}
"""The run settings' bounds, inclusive: one owner; stacks/config_sections.py refuses the same at synth."""


@dataclass(frozen=True)
class Settings:
    """What one run needs besides its clients; `from_env` reads the variables the stack sets."""

    stage: str
    endpoint_name: str
    state_bucket: str
    modes_parameter: str
    history_minutes: int
    """Minutes of load_rpm the packaged policy uses (the artifact's metadata)."""
    fleets: tuple[FleetConfig, ...] = ()
    """The fleets of this run: `from_env` leaves them empty; the handler fills them from the fleets object."""
    fleets_key: str = ""
    """FLEETS_KEY: the fleets object's key in the stage bucket (controller/fleets.py)."""
    publication_lag_minutes: int = OBSERVATION_LAG_MINUTES
    """Minutes CloudWatch may take to publish a complete minute: younger minutes are not used (the policy is
    trained and scored on observations this old: ``inference.contract.OBSERVATION_LAG_MINUTES``)."""
    stale_after_minutes: int = 10
    """A fleet whose newest published minute is older than this holds and counts StaleDataHold."""
    endpoint_timeout_s: float = 2.0
    endpoint_max_attempts: int = 2
    handback_after_failed_runs: int = 5
    """Consecutive failed runs of an active fleet before its own scaling is handed back (controller/handback.py)."""

    def __post_init__(self) -> None:
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise SettingsError(f"{name.upper()}: must be in {low:g}..{high:g}, got {value}")
        if self.stale_after_minutes <= self.publication_lag_minutes:
            raise SettingsError(
                f"STALE_AFTER_MINUTES ({self.stale_after_minutes}) must exceed PUBLICATION_LAG_MINUTES "
                f"({self.publication_lag_minutes}), or every fleet would hold"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        def need(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise SettingsError(f"{name}: environment variable missing or empty")
            return value

        def number(name: str, kind: type, default: Any) -> Any:
            text = environ.get(name, "").strip()
            if not text:
                return default
            try:
                return kind(text)
            except ValueError:
                raise SettingsError(f"{name}: {text!r} is not a valid {kind.__name__}") from None

        stage = need("STAGE")
        return cls(
            stage=stage,
            endpoint_name=need("ENDPOINT_NAME"),
            state_bucket=need("STATE_BUCKET"),
            fleets_key=need("FLEETS_KEY"),
            modes_parameter=need("MODES_PARAMETER"),
            history_minutes=number("HISTORY_MINUTES", int, None) if need("HISTORY_MINUTES") else 0,
            publication_lag_minutes=number("PUBLICATION_LAG_MINUTES", int, OBSERVATION_LAG_MINUTES),
            stale_after_minutes=number("STALE_AFTER_MINUTES", int, 10),
            endpoint_timeout_s=number("ENDPOINT_TIMEOUT_S", float, 2.0),
            endpoint_max_attempts=number("ENDPOINT_MAX_ATTEMPTS", int, 2),
            handback_after_failed_runs=number("HANDBACK_AFTER_FAILED_RUNS", int, 5),
        )
