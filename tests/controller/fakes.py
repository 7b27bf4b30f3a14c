"""In-memory stand-ins for CloudWatch, the SageMaker runtime, SSM and a target, for the controller's core tests.

They model what the controller depends on: CloudWatch publishes a minute only after a lag and nothing for a
minute without requests; the endpoint answers by the contract (or fails as told); the target warms machines up.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from botocore.exceptions import ClientError, ReadTimeoutError

from controller.config import FleetConfig, parse_fleets
from controller.observe import epoch_minute, minute_time
from controller.targets.base import FleetState

ALB = "AWS/ApplicationELB"


def fleet_spec(name: str, **overrides: Any) -> dict[str, Any]:
    """An ECS-targeted fleet reading ALB metrics of its own target group."""
    dims = {"TargetGroup": f"targetgroup/{name}/1", "LoadBalancer": "app/lb/1"}
    spec: dict[str, Any] = {
        "name": name,
        "mode": "active",
        "capacity_rpm_per_machine": 100,
        "min_machines": 1,
        "max_machines": 100,
        "max_change_per_minute": 5,
        "requests": {"namespace": ALB, "metric_name": "RequestCount", "dimensions": dims},
        "failed": [
            {"namespace": ALB, "metric_name": "HTTPCode_Target_5XX_Count", "dimensions": dims},
            {"namespace": ALB, "metric_name": "HTTPCode_ELB_5XX_Count", "dimensions": {"LoadBalancer": "app/lb/1"}},
        ],
        "target": {"kind": "ecs", "cluster": "prod", "service": name},
    }
    spec.update(overrides)
    return spec


def fleets(*names: str, **overrides: Any) -> tuple[FleetConfig, ...]:
    return parse_fleets([fleet_spec(n, **overrides) for n in names], "Test")


def put_ecs_cpu_tracking(aas: Any, service: str = "web", cluster: str = "prod") -> None:
    """A team's own scaler of an ECS service: target tracking on average CPU at 50 %, as the team configured it."""
    aas.put_scaling_policy(
        PolicyName="cpu50", ServiceNamespace="ecs", ResourceId=f"service/{cluster}/{service}",
        ScalableDimension="ecs:service:DesiredCount", PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        },
    )  # fmt: skip


def metric_key(metric: dict[str, Any]) -> tuple:
    dims = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
    return metric["Namespace"], metric["MetricName"], dims


def throttling(operation: str = "GetMetricData") -> ClientError:
    return ClientError(
        {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        operation,
    )


@dataclass
class FakeCloudWatch:
    """GetMetricData over recorded minutes, publishing each minute `lag` minutes after it ends; PutMetricData kept.

    `series[key][minute] = value`; a minute absent from a series published nothing (no requests).
    """

    now: int = 0
    """Epoch minute of the wall clock: minute m is visible once `m + 1 + lag <= now`."""
    lag: int = 1
    series: dict[tuple, dict[int, float]] = field(default_factory=dict)
    fail_next: list[Exception] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    put: list[dict[str, Any]] = field(default_factory=list)
    held_back: set[tuple] = field(default_factory=set)
    """Metrics whose publication is stuck (nothing newer than what is in `series` before the hold)."""
    held_until: dict[tuple, int] = field(default_factory=dict)

    def record(self, metric: dict[str, Any], minute: int, value: float) -> None:
        self.series.setdefault(metric_key(metric), {})[minute] = value

    def hold(self, metric: dict[str, Any], until: int) -> None:
        """Publish nothing of this metric after minute `until` (a publication outage)."""
        self.held_until[metric_key(metric)] = until

    def release(self, metric: dict[str, Any]) -> None:
        self.held_until.pop(metric_key(metric), None)

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        if self.fail_next:
            raise self.fail_next.pop(0)
        assert len(request["MetricDataQueries"]) <= 500
        start, end = epoch_minute(request["StartTime"]), epoch_minute(request["EndTime"])
        assert len(request["MetricDataQueries"]) * (end - start) <= 100_800
        results = []
        for q in request["MetricDataQueries"]:
            stat = q["MetricStat"]
            assert stat["Period"] == 60 and stat["Stat"] == "Sum"
            key = metric_key(stat["Metric"])
            visible = self.now - 1 - self.lag
            visible = min(visible, self.held_until.get(key, visible))
            points = sorted((m, v) for m, v in self.series.get(key, {}).items() if start <= m < end and m <= visible)
            results.append(
                {
                    "Id": q["Id"],
                    "Label": stat["Metric"]["MetricName"],
                    "Timestamps": [minute_time(m) for m, _ in points],
                    "Values": [v for _, v in points],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results, "Messages": []}

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> dict[str, Any]:
        assert len(MetricData) <= 1000
        for datum in MetricData:
            self.put.append({"Namespace": Namespace, **datum})
        return {}

    def value(self, name: str, fleet: str | None = None, minute: datetime | None = None) -> float | None:
        """The last published value of a controller metric (for a fleet, or the stage's)."""
        found = None
        for d in self.put:
            dims = {x["Name"]: x["Value"] for x in d["Dimensions"]}
            if d["MetricName"] != name or dims.get("Fleet") != fleet:
                continue
            if minute is None or d["Timestamp"] == minute:
                found = d["Value"]
        return found


def policy_answer(instance: dict[str, Any], level: float = 1.25) -> dict[str, Any]:
    """A stand-in policy: the last minute's need times `level`, within the request's bounds."""
    need = instance["load_rpm"][-1] / instance["capacity_rpm_per_machine"]
    desired = math.ceil(need * level)
    desired = min(max(desired, instance.get("min_machines") or 0), instance.get("max_machines") or 10**6)
    fleet = instance["active_machines"] + instance["pending_machines"]
    delta = desired - fleet
    return {
        "desired_machines": desired,
        "delta": delta,
        "action": "scale_out" if delta > 0 else "scale_in" if delta < 0 else "hold",
        "model_version": "fake-1",
        "shielded": False,
        "reason": f"fake policy: need x {level}",
    }


@dataclass
class FakeRuntime:
    """sagemaker-runtime InvokeEndpoint answering with `answer(instance)`, or failing as `fail_next` says."""

    answer: Callable[[dict[str, Any]], dict[str, Any]] = policy_answer
    fail_next: list[Exception | Callable[[list[dict[str, Any]]], Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    def invoke_endpoint(self, *, EndpointName: str, ContentType: str, Accept: str, Body: bytes) -> dict[str, Any]:
        assert ContentType == "application/json" and Accept == "application/json"
        doc = json.loads(Body)
        self.bodies.append(doc)
        if self.down:
            raise ReadTimeoutError(endpoint_url=f"https://runtime.sagemaker/endpoints/{EndpointName}/invocations")
        if self.fail_next:
            failure = self.fail_next.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return {"Body": io.BytesIO(json.dumps(failure(doc["instances"])).encode())}
        predictions = [self.answer(i) for i in doc["instances"]]
        return {"Body": io.BytesIO(json.dumps({"predictions": predictions}).encode())}

    @property
    def instances_sent(self) -> int:
        return sum(len(b["instances"]) for b in self.bodies)


@dataclass
class FakeSSM:
    value: str | None = None
    error: Exception | None = None

    def get_parameter(self, Name: str) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        if self.value is None:
            raise ClientError({"Error": {"Code": "ParameterNotFound", "Message": Name}}, "GetParameter")
        return {"Parameter": {"Name": Name, "Value": self.value, "Type": "String"}}


@dataclass
class FakeFleet:
    serving: int
    warming: list[int] = field(default_factory=list)
    """Minutes of warm-up left per warming machine."""

    @property
    def desired(self) -> int:
        return self.serving + len(self.warming)


class FakeTarget:
    """A target kind (`ecs` by default) in memory: apply sets the desired count; machines warm up for `warmup`
    minutes (ticks); a cut removes warming machines first, then serving ones."""

    kind: ClassVar[str] = "ecs"

    def __init__(self, sizes: dict[str, int], warmup: int = 2) -> None:
        self.fleets = {name: FakeFleet(serving=n) for name, n in sizes.items()}
        self.warmup = warmup
        self.applied: list[tuple[str, int]] = []
        self.ticks: list[datetime] = []
        self.read_errors: dict[str, Exception] = {}
        self.apply_errors: dict[str, Exception] = {}
        self.conflicting: dict[str, str] = {}

    def tick(self, fleets: Sequence[FleetConfig], now: datetime) -> None:
        self.ticks.append(now)
        for f in self.fleets.values():
            left = [m - 1 for m in f.warming]
            f.serving += sum(1 for m in left if m <= 0)
            f.warming = [m for m in left if m > 0]

    def read(self, fleets: Sequence[FleetConfig]) -> dict[str, FleetState | Exception]:
        out: dict[str, FleetState | Exception] = {}
        for fleet in fleets:
            if fleet.name in self.read_errors:
                out[fleet.name] = self.read_errors[fleet.name]
                continue
            f = self.fleets[fleet.name]
            out[fleet.name] = FleetState(serving=f.serving, warming=len(f.warming), desired=f.desired)
        return out

    def conflicts(self, fleets: Sequence[FleetConfig]) -> dict[str, str]:
        return {f.name: self.conflicting[f.name] for f in fleets if f.name in self.conflicting}

    def apply(self, fleet: FleetConfig, desired: int) -> None:
        if fleet.name in self.apply_errors:
            raise self.apply_errors[fleet.name]
        self.applied.append((fleet.name, desired))
        f = self.fleets[fleet.name]
        if desired > f.desired:
            f.warming += [self.warmup] * (desired - f.desired)
        else:
            cut = f.desired - desired
            drop = min(cut, len(f.warming))
            f.warming = f.warming[: len(f.warming) - drop]
            f.serving -= cut - drop


T0 = datetime(2024, 5, 6, 12, 0)
"""A Monday noon (UTC): the first minute the worlds below decide."""


class World:
    """A stage minute by minute: load recorded into the fake CloudWatch, the controller run each minute."""

    def __init__(
        self,
        fleet_configs: Sequence[FleetConfig],
        sizes: dict[str, int] | None = None,
        *,
        lag: int = 1,
        history_minutes: int = 16,
        publication_lag_minutes: int = 2,
        stale_after_minutes: int = 10,
        modes: str | None = None,
    ) -> None:
        from controller.config import Settings
        from controller.run import Dependencies
        from controller.state import MemoryStore

        self.fleets = tuple(fleet_configs)
        self.cloudwatch = FakeCloudWatch(lag=lag)
        self.runtime = FakeRuntime()
        self.ssm = FakeSSM(value=modes)
        self.store = MemoryStore()
        self.target = FakeTarget(sizes or {f.name: 5 for f in self.fleets})
        self.settings = Settings(
            stage="Test",
            endpoint_name="rl-autoscaler-test",
            state_bucket="bucket",
            fleets=self.fleets,
            modes_parameter="/rl-autoscaler/test/controller/modes",
            history_minutes=history_minutes,
            publication_lag_minutes=publication_lag_minutes,
            stale_after_minutes=stale_after_minutes,
        )
        self.deps = Dependencies(
            cloudwatch=self.cloudwatch,
            runtime=self.runtime,
            ssm=self.ssm,
            store=self.store,
            adapters={"ecs": self.target},
        )
        self.minute = epoch_minute(T0)

    def load(self, fleet: str, minute: int, requests: float | None, failed: float = 0.0) -> None:
        """Record a minute's traffic (None or 0 requests: nothing published, as ALB does)."""
        f = next(x for x in self.fleets if x.name == fleet)
        if requests:
            self.cloudwatch.record(f.requests.as_metric(), minute, requests)
        if failed:
            self.cloudwatch.record(f.failed[0].as_metric(), minute, failed)

    def fill(self, fleet: str, requests: float, minutes: int = 30) -> None:
        """Steady traffic for the `minutes` before the current minute."""
        for m in range(self.minute - minutes, self.minute):
            self.load(fleet, m, requests)

    def step(self, when: int | None = None) -> Any:
        """Run the controller for the current minute (or `when`), then move the clock on by one minute."""
        from controller.run import run

        minute = self.minute if when is None else when
        self.cloudwatch.now = minute
        report = run(self.settings, self.deps, minute_time(minute))
        if when is None:
            self.minute += 1
        return report
