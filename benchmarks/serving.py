"""Serving benchmarks; prints one JSON object.

In-process: latency of one request through the whole hook chain (``input_fn`` -> ``predict_fn`` -> ``output_fn``
on a JSON body, what a worker spends per request), for one decision and for a batch of 1,000.

HTTP: ``python -m inference.serve`` on loopback under wrk (a compiled load generator, so the client is not the
bottleneck) for ``--duration`` seconds, posting single-decision JSON bodies that cycle through 64 different
requests over keep-alive connections. Reports requests (= decisions) per second, latency percentiles as wrk
measures them, and errors (non-2xx responses and socket errors), which must be zero. wrk comes from Debian
(``apt-get install -y wrk``); without it the HTTP part is skipped with a message saying so.

    python -m benchmarks.serving                  # both parts, 60 s of HTTP load
    python -m benchmarks.serving --skip-http      # in-process only
    python -m benchmarks.serving --model artifacts/model/model.tar.gz --duration 60 --connections 8

Targets (2-core machine): in-process p50 <= 100 us for one decision; HTTP >= 2,000 decisions/s with p99 <= 10 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # as the server's workers run
    os.environ.setdefault(_var, "1")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from inference import artifact, features, handler  # noqa: E402
from inference.endpoint import LocalEndpoint  # noqa: E402

TARGETS = {"inprocess_single_p50_us": 100.0, "http_decisions_per_s": 2000.0, "http_p99_ms": 10.0}


def sample_requests(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Realistic single decisions: a day-shaped load seen through 16 minutes of history, fleets of 2 to 200."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cap = 300.0
        level = cap * rng.uniform(2, 150)
        load = level * (1 + 0.1 * np.sin(np.arange(features.HISTORY) / 5 + i)) * rng.lognormal(0, 0.03, 16)
        need = load[-1] / cap
        out.append(
            {
                "timestamp": f"2024-05-{6 + i % 7:02d}T{i % 24:02d}:{(7 * i) % 60:02d}:00Z",
                "load_rpm": [round(float(v), 1) for v in load],
                "failed_rpm": 0.0 if i % 10 else float(rng.uniform(0, 50)),
                "active_machines": int(np.ceil(need * rng.uniform(0.8, 1.6))),
                "pending_machines": int(rng.integers(0, 3)),
                "capacity_rpm_per_machine": cap,
                "min_machines": 2,
                "max_machines": 400,
            }
        )
    return out


def percentiles(samples_ns: list[int], scale: float) -> dict[str, float]:
    arr = np.asarray(samples_ns, dtype=np.float64) / scale
    return {
        "p50": round(float(np.percentile(arr, 50)), 2),
        "p90": round(float(np.percentile(arr, 90)), 2),
        "p99": round(float(np.percentile(arr, 99)), 2),
        "mean": round(float(arr.mean()), 2),
    }


def bench_inprocess(
    model: handler.Model, single_iters: int, batch_iters: int, batch_size: int = 1000
) -> dict[str, Any]:
    bodies = [json.dumps(r).encode() for r in sample_requests(64)]
    batch = json.dumps({"instances": sample_requests(batch_size, seed=1)}).encode()
    for body in bodies:  # every request valid
        assert handler.invoke(model, body, "application/json", None)[0] == 200
    assert handler.invoke(model, batch, "application/json", None)[0] == 200

    def timed(body: bytes, iters: int) -> list[int]:
        out = []
        clock = time.perf_counter_ns
        for i in range(iters):
            b = body if body else bodies[i % 64]
            t = clock()
            handler.invoke(model, b, "application/json", None)
            out.append(clock() - t)
        return out

    timed(b"", 2000)  # warm-up
    single = timed(b"", single_iters)
    timed(batch, 5)
    many = timed(batch, batch_iters)
    batch_stats = percentiles(many, 1e6)
    return {
        "single_decision_us": {**percentiles(single, 1e3), "iterations": single_iters},
        f"batch_{batch_size}_ms": {**batch_stats, "iterations": batch_iters},
        f"batch_{batch_size}_us_per_decision_p50": round(batch_stats["p50"] * 1000 / batch_size, 2),
    }


def bench_http(
    model_path: Path, duration: int, connections: int, workers: int, threads: int, runs: int
) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk not found: install it with `apt-get install -y wrk` (Debian) to run the HTTP benchmark"}
    import requests

    bodies = [json.dumps(r) for r in sample_requests(64, seed=2)]
    work = Path(tempfile.mkdtemp(prefix="bench-http-"))
    lua = work / "post.lua"
    lua.write_text(_lua_script(bodies))
    server = LocalEndpoint(model_path, workers=workers, threads=threads, log_dir=work).start()
    url = server.url
    try:
        with requests.Session() as s:
            for body in bodies:
                r = s.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}, timeout=5)
                assert r.status_code == 200, r.text
        subprocess.run([wrk, "-t1", "-c4", "-d3s", "-s", str(lua), f"{url}/invocations"], capture_output=True)
        results = []
        for _ in range(runs):
            cmd = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(lua), f"{url}/invocations"]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            results.append(parse_wrk(out))
        healthy = requests.get(f"{url}/ping", timeout=5).status_code == 200
    finally:
        code = server.stop()
    med = {
        key: statistics.median(r[key] for r in results)
        for key in ("decisions_per_s", "p50_ms", "p75_ms", "p90_ms", "p99_ms")
    }
    return {
        "command": " ".join([*cmd[:-3], "-s", "post.lua", "URL"]),
        "server": f"python -m inference.serve --workers {workers} --threads {threads} (gunicorn gthread)",
        "runs": results,
        "median": med,
        "errors_total": sum(r["errors"] for r in results),
        "server_healthy_after": healthy,
        "server_exit_code": code,
    }


def _lua_script(bodies: list[str]) -> str:
    quoted = ",\n".join("  " + json.dumps(b) for b in bodies)  # JSON string syntax is valid Lua here
    return f"""-- POST single-decision JSON bodies, cycling through {len(bodies)} distinct requests.
local bodies = {{
{quoted}
}}
local requests = {{}}
local i = 0
init = function(args)
  for k, b in ipairs(bodies) do
    requests[k] = wrk.format("POST", nil, {{["Content-Type"] = "application/json"}}, b)
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
"""


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_wrk(out: str) -> dict[str, Any]:
    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise ValueError(f"no {label} latency in wrk output:\n{out}")
        return round(float(m.group(1)) * _UNITS[m.group(2)], 3)

    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in sock.groups()) if sock else 0)
    return {
        "requests": int(total.group(1)),
        "decisions_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), 1),
        "p50_ms": ms("50%"),
        "p75_ms": ms("75%"),
        "p90_ms": ms("90%"),
        "p99_ms": ms("99%"),
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.tar.gz to serve (default: a packaged random policy)")
    parser.add_argument("--single-iters", type=int, default=50_000)
    parser.add_argument("--batch-iters", type=int, default=300)
    parser.add_argument(
        "--batch-size", type=int, default=1000, help="decisions per batched call (a controller run's fleets)"
    )
    parser.add_argument("--duration", type=int, default=60, help="seconds of HTTP load per run (default 60)")
    parser.add_argument("--runs", type=int, default=1, help="HTTP runs; the median is reported (default 1)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server workers (default: cores)")
    parser.add_argument("--threads", type=int, default=4, help="threads per server worker (default 4)")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-inprocess", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
        model_path = args.model
        if model_path is None:
            meta = artifact.untrained_metadata("bench-random-0")
            model_path = artifact.package_policy(artifact.random_policy(0), tmp, metadata=meta)
        report: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
            "model": str(args.model or "random policy (artifact.random_policy(0)), 64x64 tanh MLP"),
            "targets": TARGETS,
        }
        if not args.skip_inprocess:
            model = handler.load_model(str(model_path))
            report["inprocess"] = bench_inprocess(model, args.single_iters, args.batch_iters, args.batch_size)
        if not args.skip_http:
            report["http"] = bench_http(
                Path(model_path), args.duration, args.connections, args.workers, args.threads, args.runs
            )
        report["machine"]["load_avg_after"] = os.getloadavg()
    met = {}
    if "inprocess" in report:
        met["inprocess_single_p50_us"] = (
            report["inprocess"]["single_decision_us"]["p50"] <= TARGETS["inprocess_single_p50_us"]
        )
    http = report.get("http", {})
    if "median" in http:
        met["http_decisions_per_s"] = http["median"]["decisions_per_s"] >= TARGETS["http_decisions_per_s"]
        met["http_p99_ms"] = http["median"]["p99_ms"] <= TARGETS["http_p99_ms"]
        met["http_zero_errors"] = http["errors_total"] == 0
    report["targets_met"] = met
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
