"""Controller benchmark: one run for 1,000 fleets, AWS stubbed, the local endpoint real; prints one JSON object.

    python -m benchmarks.controller                       # 1,000 fleets, 5 runs (one per minute), a day of history
    python -m benchmarks.controller --fleets 1000 --runs 7 --model artifacts/model/model.tar.gz
    python -m benchmarks.controller --shadow              # every fleet in shadow: the scorecard priced and read

What runs for real: the whole `controller.run.run` (observe, decide, limits, state, publish), the decision
contract's local validation, boto3's sagemaker-runtime client and the HTTP call to `python -m inference.serve`
(`inference.endpoint.LocalEndpoint`, gunicorn) serving a packaged policy: the given one, or
artifacts/model/model.tar.gz, or a small random one built in a subprocess (so torch never loads here).
Each run first reads the stage's fleets object (`controller.fleets.FleetSource`: the JSON the stack ships, parsed
with the run-time schema); the stub S3 never answers "not modified", so every run reads and parses all fleets (the
worst case: a container re-reads only when the object changed).
What is stubbed, in memory: S3 (the fleets object), CloudWatch (GetMetricData over recorded minutes,
PutMetricData), SSM, the state store and the targets (1,000 ECS-like fleets); the stubs answer at once, so API
latency is not in the figures.

Reports: `run_s` (median over the runs after the first, config read included; the first fetches the whole history
window and is reported as `first_run_s`), `config_read_s` (median of the fleets object's read and parse),
`endpoint_call_s` (median wall time of the one InvokeEndpoint for all fleets), `peak_rss_mb` (the process's
peak resident memory over the timed runs, what Lambda reports as Max Memory Used; the stubs keep their recorded
metrics as arrays of doubles, about 25 MB for a day of 1,000 fleets), `run_allocated_peak_mb` (Python memory one
extra run allocates at its peak, tracemalloc, after the peak is taken: the controller's own working memory),
`rss_before_runs_mb` (the process before the first run: interpreter, boto3, numpy, the stubs and their data) and
the targets: run < 10 s, endpoint call < 1 s, memory < 256 MB. The controller is imported as the Lambda has it,
numpy without numba (`numba_loaded`: false), unless `--numba`.
With ``--shadow`` every fleet is in shadow (its counterfactual decided and priced, the scorecard published each
run); ``counterfactual_s`` is ``controller.counterfactual`` alone per run (resume, price, decide; median of 7),
``scorecard_s`` is ``controller.scorecard`` (batched GetMetricData, per-day sums, the verdict per fleet) over what
the runs published and 14 earlier days recorded in the stub (one synthetic point per day and series).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
LAMBDA_PACKAGES = "--numba" not in sys.argv[1:]
"""Measure the controller with the Lambda's packages: numpy without numba (``stacks/controller_asset.py``), so
``import numba`` fails here as it does there, even where numba is installed (``--numba``: with it)."""
if LAMBDA_PACKAGES:
    sys.modules.setdefault("numba", None)  # type: ignore[assignment]

from controller import scorecard  # noqa: E402
from controller.config import FleetConfig, Settings  # noqa: E402
from controller.fleets import FleetSource, document  # noqa: E402
from controller.observe import epoch_minute, minute_time  # noqa: E402
from controller.run import Dependencies, run  # noqa: E402
from controller.state import MemoryStore  # noqa: E402
from controller.targets.base import FleetState  # noqa: E402
from inference.features import CONTEXT_MINUTES  # noqa: E402

SCORECARD_READ = frozenset(scorecard.SERIES)
DEFAULT_MODEL = REPO / "artifacts" / "model" / "model.tar.gz"
T0 = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
TARGETS = {"run_s": 10.0, "endpoint_call_s": 1.0, "peak_rss_mb": 256.0}


class StubCloudWatch:
    """GetMetricData over per-metric minute series (sum of one-minute periods), PutMetricData counted.

    A series is `(first minute, array of doubles)`, NaN where nothing was published: 8 bytes a minute, so the
    process's peak memory is the controller's, not the stub's."""

    def __init__(self) -> None:
        self.series: dict[tuple, tuple[int, array]] = {}
        self.recorded: dict[tuple, dict[int, float]] = {}
        """What PutMetricData received of the scorecard's metrics (and days recorded before the runs), by minute."""
        self.get_calls = 0
        self.put_calls = 0
        self.datums = 0

    @staticmethod
    def key(metric: dict[str, Any]) -> tuple:
        return (
            metric["Namespace"],
            metric["MetricName"],
            tuple((d["Name"], d["Value"]) for d in metric["Dimensions"]),
        )

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.get_calls += 1
        start, end = epoch_minute(request["StartTime"]), epoch_minute(request["EndTime"])
        out = []
        for q in request["MetricDataQueries"]:
            key = self.key(q["MetricStat"]["Metric"])
            if key in self.recorded:  # what the runs published (the scorecard's metrics), per period
                points = self.periods(self.recorded[key], start, end, q["MetricStat"])
            else:
                first, values = self.series.get(key, (start, array("d")))
                points = [(m, values[m - first]) for m in range(max(start, first), min(end, first + len(values)))]
                points = [(m, v) for m, v in points if v == v]
            out.append(
                {
                    "Id": q["Id"],
                    "Timestamps": [minute_time(m) for m, _ in points],
                    "Values": [v for _, v in points],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": out}

    @staticmethod
    def periods(points: dict[int, float], start: int, end: int, stat: dict[str, Any]) -> list[tuple[int, float]]:
        """Sum (or SampleCount) of each period's minutes in [start, end), as CloudWatch answers a long period."""
        period, count = stat["Period"] // 60, stat["Stat"] == "SampleCount"
        buckets: dict[int, float] = {}
        for m, value in points.items():
            if start <= m < end:
                b = start + (m - start) // period * period
                buckets[b] = buckets.get(b, 0.0) + (1.0 if count else value)
        return sorted(buckets.items())

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> dict[str, Any]:
        self.put_calls += 1
        self.datums += len(MetricData)
        for d in MetricData:  # the scorecard's metrics are kept, for controller.scorecard to read back
            if d["MetricName"] in SCORECARD_READ:
                key = (Namespace, d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"]))
                self.recorded.setdefault(key, {})[epoch_minute(d["Timestamp"])] = d["Value"]
        return {}

    def list_metrics(self, **request: Any) -> dict[str, Any]:
        names = {dims for (_, name, dims) in self.recorded if name == request["MetricName"]}
        return {"Metrics": [{"Dimensions": [{"Name": k, "Value": v} for k, v in dims]} for dims in sorted(names)]}


class StubS3:
    """GetObject of one object, always in full (no 304: every run parses the fleets)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        import io

        return {"Body": io.BytesIO(self.body), "ETag": '"bench"'}


class StubSSM:
    def get_parameter(self, Name: str) -> dict[str, Any]:
        return {"Parameter": {"Value": '{"stage": null, "fleets": {}}'}}


class StubTarget:
    """1,000 ECS-like services in memory: a read is one batch, an apply sets the desired count."""

    kind: ClassVar[str] = "ecs"

    def __init__(self, fleets: Sequence[FleetConfig]) -> None:
        self.desired = {f.name: 10 for f in fleets}
        self.applies = 0

    def tick(self, fleets: Sequence[FleetConfig], now: datetime) -> None:
        pass

    def read(self, fleets: Sequence[FleetConfig]) -> dict[str, FleetState | Exception]:
        return {
            f.name: FleetState(serving=self.desired[f.name], warming=0, desired=self.desired[f.name]) for f in fleets
        }

    def conflicts(self, fleets: Sequence[FleetConfig]) -> dict[str, str]:
        return {}

    def apply(self, fleet: FleetConfig, desired: int) -> None:
        self.applies += 1
        self.desired[fleet.name] = desired


def fleet_specs(n: int, shadow: bool = False) -> list[dict[str, Any]]:
    spec = []
    for i in range(n):
        dims = {"TargetGroup": f"targetgroup/svc-{i}/{i:016x}", "LoadBalancer": "app/shared/0123456789abcdef"}
        spec.append(
            {
                "name": f"svc-{i:04d}",
                "mode": "active" if i % 2 and not shadow else "shadow",
                "capacity_rpm_per_machine": 300,
                "min_machines": 2,
                "max_machines": 500,
                "max_change_per_minute": 20,
                "requests": {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount", "dimensions": dims},
                "failed": [
                    {"namespace": "AWS/ApplicationELB", "metric_name": "HTTPCode_Target_5XX_Count", "dimensions": dims}
                ],
                "target": {"kind": "ecs", "cluster": "prod", "service": f"svc-{i}"},
            }
        )
    return spec


def record_traffic(cw: StubCloudWatch, fleets: Sequence[FleetConfig], first: int, last: int) -> None:
    """Requests per minute of a daily-ish wave per fleet, a few quiet minutes (no datapoint), rare failures."""
    import math

    for i, f in enumerate(fleets):
        base = 1_000 + 37 * i
        requests = array("d", [math.nan]) * (last - first + 1)
        failed = array("d", [math.nan]) * (last - first + 1)
        for m in range(first, last + 1):
            if (m + i) % 97 == 0:
                continue  # a minute without requests publishes nothing
            requests[m - first] = float(int(base * (1.5 + math.sin((m + 13 * i) / 180.0))))
            if (m * 7 + i) % 331 == 0:
                failed[m - first] = 3.0
        cw.series[StubCloudWatch.key(f.requests.as_metric())] = (first, requests)
        cw.series[StubCloudWatch.key(f.failed[0].as_metric())] = (first, failed)


def record_scorecard_days(cw: StubCloudWatch, fleets: Sequence[FleetConfig], stage: str, now: int, days: int) -> None:
    """The scorecard's series for the ``days`` before ``now``, one point a day (what CloudWatch returns per day)."""
    import random

    rng = random.Random(0)
    for f in fleets:
        dims = (("Stage", stage), ("Fleet", f.name))
        for d in range(1, days + 1):
            minute = now - d * 1440
            fleet = 1000.0 + rng.gauss(0, 50)
            values = {"PolicyProfit": fleet + rng.gauss(20, 30), "FleetProfit": fleet, "PolicyFailedRequests": 10.0,
                      "FleetFailedRequests": 12.0, "PolicyMachineMinutes": 9000.0, "FleetMachineMinutes": 9500.0,
                      "Fallback": 0.0, "StaleDataHold": 0.0}  # fmt: skip
            for name, value in values.items():
                cw.recorded.setdefault(("RLAutoscaler/Controller", name, dims), {})[minute] = value


def time_counterfactuals(fleets: Sequence[FleetConfig], runs: int = 7) -> float:
    """Median seconds of ``controller.counterfactual`` alone for these fleets per run (resume, price a minute,
    observe, decide, serialise), after a first run that anchors them (and compiles the kernel's functions)."""
    from controller import counterfactual
    from controller.observe import Observation, Series

    minute = epoch_minute(T0)
    states = {f.name: FleetState(serving=10, warming=2, desired=12) for f in fleets}
    history = {f.name: Series(minute - 100, [1000.0] * (100 + runs)) for f in fleets}
    stored: dict[str, Any] = {}
    seconds = []
    for k in range(runs + 1):
        observed = {f.name: Observation((1000.0,), 0.0, minute + k - 3, False) for f in fleets}
        started = time.perf_counter()
        cfs, _ = counterfactual.prepare(list(fleets), stored, states, history, observed, minute + k)
        for f in fleets:
            cfs[f.name].observation(observed[f.name])
            cfs[f.name].decide(minute + k, 11)
        stored = {name: cf.to_json() for name, cf in cfs.items()}
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds[1:])


def ensure_model(path: Path | None) -> Path:
    if path is not None:
        return path
    if DEFAULT_MODEL.exists():
        return DEFAULT_MODEL
    out = Path(tempfile.mkdtemp(prefix="bench-controller-"))
    code = (
        "import sys; from inference.artifact import package_policy, random_policy, untrained_metadata; "
        "print(package_policy(random_policy(seed=1), sys.argv[1], metadata=untrained_metadata('bench-random')))"
    )
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, cwd=REPO, capture_output=True)
    return out / "model.tar.gz"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fleets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5, help="consecutive minutes timed (the first is reported apart)")
    parser.add_argument(
        "--history", type=int, default=CONTEXT_MINUTES, help="HISTORY_MINUTES (the artifact metadata; %(default)s)"
    )
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--shadow", action="store_true", help="every fleet in shadow, the scorecard read after")
    parser.add_argument("--numba", action="store_true", help="let the simulator kernel import numba (not the Lambda)")
    args = parser.parse_args(argv)

    import boto3

    from controller.aws import client_config
    from inference.endpoint import LocalEndpoint

    source = FleetSource(
        StubS3(document("Bench", fleet_specs(args.fleets, args.shadow))), "bench", "k", "Bench", "rl-autoscaler-bench"
    )
    fleets = source.load().fleets
    settings = Settings(
        stage="Bench",
        endpoint_name="rl-autoscaler-bench",
        state_bucket="bench",
        modes_parameter="/rl-autoscaler/bench/controller/modes",
        history_minutes=args.history,
    )
    cw = StubCloudWatch()
    start = epoch_minute(T0)
    record_traffic(cw, fleets, start - 60 - args.history, start + args.runs)
    target = StubTarget(fleets)
    store = MemoryStore()
    model = ensure_model(args.model)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with LocalEndpoint(model, workers=1, threads=2) as endpoint:
        runtime = boto3.client(
            "sagemaker-runtime",
            region_name="eu-west-1",
            endpoint_url=endpoint.url,
            config=client_config(read_timeout=settings.endpoint_timeout_s, max_attempts=settings.endpoint_max_attempts),
        )
        deps = Dependencies(cloudwatch=cw, runtime=runtime, ssm=StubSSM(), store=store, adapters={"ecs": target})
        runs, reads = [], []
        setup_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # imports, stubs, recorded metrics

        def one(k: int) -> Any:
            started = time.perf_counter()
            loaded = source.load()  # the config read: the whole object, parsed
            reads.append(time.perf_counter() - started)
            return run(dataclasses.replace(settings, fleets=loaded.fleets), deps, T0 + timedelta(minutes=k))

        last = None
        for k in range(args.runs):
            started = time.perf_counter()
            last = one(k)
            runs.append((time.perf_counter() - started, last.endpoint_latency_ms))
        # The process's peak before tracing: tracemalloc's own bookkeeping is no memory of the controller's.
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        tracemalloc.start()  # one more minute, traced: what the run allocates (the stubs' recorded data excluded)
        one(args.runs)
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    scorecard_s = counterfactual_s = None
    if args.shadow:
        counterfactual_s = time_counterfactuals([f for f in fleets if f.mode == "shadow"])
        record_scorecard_days(cw, fleets, settings.stage, epoch_minute(T0), days=14)
        started = time.perf_counter()
        names = scorecard.fleets_with_scorecard(cw, settings.stage)
        read = scorecard.read_days(cw, settings.stage, names, T0 - timedelta(days=14), T0 + timedelta(days=1))
        verdicts = [scorecard.judge(name, read[name]) for name in names]
        scorecard_s = time.perf_counter() - started
    steady = [seconds for seconds, _ in runs[1:]] or [runs[0][0]]
    endpoint_s = [ms / 1000.0 for _, ms in runs if ms is not None]
    assert last is not None
    result = {
        "benchmark": "controller",
        "fleets": args.fleets,
        "runs": args.runs,
        "history_minutes": args.history,
        "model": str(model),
        "first_run_s": round(runs[0][0], 3),
        "run_s": round(statistics.median(steady), 3),
        "config_read_s": round(statistics.median(reads), 3),
        "endpoint_call_s": round(statistics.median(endpoint_s), 3) if endpoint_s else None,
        "endpoint_calls_per_run": last.endpoint_calls,
        "fallbacks_last_run": last.fallbacks,
        "get_metric_data_calls_per_run": last.observe_calls,
        "put_metric_data_calls_per_run": last.publish_calls,
        "applies_total": target.applies,
        "state_bytes": len(store.objects["state.json.gz"][0]) if "state.json.gz" in store.objects else 0,
        "peak_rss_mb": round(peak_mb, 1),
        "rss_before_runs_mb": round(setup_mb, 1),
        "run_allocated_peak_mb": round(traced_peak / 2**20, 1),
        "shadow_fleets": sum(f.mode == "shadow" for f in fleets),
        "numba_loaded": sys.modules.get("numba") is not None,
        "minutes_priced_last_run": sum(len(cf.priced) for cf in last.counterfactuals.values()),
        "counterfactual_s": None if counterfactual_s is None else round(counterfactual_s, 3),
        "scorecard_s": None if scorecard_s is None else round(scorecard_s, 3),
        "scorecard_fleets_judged": len(verdicts) if args.shadow else None,
        "targets": TARGETS,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    result["within_targets"] = all(result[k] is not None and result[k] < limit for k, limit in TARGETS.items())
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
