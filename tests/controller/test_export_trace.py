"""`python -m controller.export_trace`: CloudWatch per-minute Sums to a `timestamp,requests` trace, on moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from controller.export_trace import main
from controller.observe import epoch_minute
from simulator.loads import load_trace

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
LAST = NOW - timedelta(minutes=3)  # the newest complete minute (publication lag 2)
# moto matches dimensions as an ordered list: publish them sorted by name, as MetricSpec queries them.
DIMS = [{"Name": "LoadBalancer", "Value": "app/shop/456"}, {"Name": "TargetGroup", "Value": "targetgroup/co/123"}]
MISSING = {100, 1500, 1501, 1502}  # minutes back from LAST without a datapoint: two gaps, the longest 3


def value(back: int) -> float:
    return float(1000 + back % 97)


def publish(cw, minutes_back: range) -> None:
    data = [
        {"MetricName": "RequestCount", "Dimensions": DIMS, "Timestamp": LAST - timedelta(minutes=b), "Value": value(b)}
        for b in minutes_back
        if b not in MISSING
    ]
    for i in range(0, len(data), 1000):
        cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[i : i + 1000])


@pytest.fixture()
def cloudwatch(aws_env):
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="eu-west-1")
        publish(cw, range(-2, 2 * 1440 + 30))  # two newer (incomplete) minutes and some older than the window
        yield cw


def test_exports_two_days_of_minutes_with_gaps_reported(cloudwatch, tmp_path, capsys):
    out = tmp_path / "trace.csv"
    argv = ["--namespace", "AWS/ApplicationELB", "--metric", "RequestCount", "--days", "2", "--out", str(out)]
    argv += ["--dimension", "TargetGroup=targetgroup/co/123", "--dimension", "LoadBalancer=app/shop/456"]
    assert main(argv, cloudwatch=cloudwatch, now=NOW) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,requests"
    assert lines[-1] == f"{LAST.strftime('%Y-%m-%dT%H:%M:%SZ')},{int(value(0))}"  # newest complete minute
    assert len(lines) - 1 == 2 * 1440 - 4  # the window only, minutes without data left out
    trace = load_trace(out)  # the training side reads it back, gaps filled with 0
    assert trace.start == LAST - timedelta(minutes=2 * 1440 - 1)
    assert len(trace.requests) == 2 * 1440 and trace.gaps == ((2 * 1440 - 1503, 3), (2 * 1440 - 101, 1))
    expected = [0.0 if b in MISSING else value(b) for b in range(2 * 1440 - 1, -1, -1)]
    np.testing.assert_array_equal(trace.requests, expected)
    printed = capsys.readouterr()
    assert "2 gaps (4 minutes without a datapoint, longest 3" in printed.out and "2 GetMetricData calls" in printed.out
    assert "RequestCount" in printed.err  # the tqdm progress bar


def test_a_fleet_from_the_stage_config(cloudwatch, tmp_path, capsys):
    fleet = {
        "name": "checkout", "capacity_rpm_per_machine": 250, "min_machines": 1, "max_machines": 9,
        "max_change_per_minute": 2, "target": {"kind": "ecs", "cluster": "c", "service": "s"},
        "requests": {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount",
                     "dimensions": {"TargetGroup": "targetgroup/co/123", "LoadBalancer": "app/shop/456"}},
    }  # fmt: skip
    cdk = tmp_path / "cdk.json"
    cdk.write_text(json.dumps({"context": {"stages": {"Dev": {"fleets": [fleet]}}}}))
    out = tmp_path / "t.csv"
    argv = ["--stage", "Dev", "--fleet", "checkout", "--cdk-json", str(cdk), "--days", "0.5", "--out", str(out)]
    assert main([*argv, "--no-progress"], cloudwatch=cloudwatch, now=NOW) == 0
    assert len(load_trace(out).requests) == 720
    assert "--capacity-rpm-per-machine 250" in capsys.readouterr().out
    assert main(["--stage", "Dev", "--fleet", "cart", "--cdk-json", str(cdk), "--out", str(out)], now=NOW) == 2
    assert "stage Dev has no fleet 'cart' (its fleets: checkout)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--days", "16"], "CloudWatch keeps 1-minute data for 15 days"),
        (["--days", "2", "--end", (NOW - timedelta(days=16)).isoformat()], "more than 15 days ago"),
        (["--days", "1", "--end", "2026-11-01T00:00:00"], None),  # argparse: not UTC
    ],
)
def test_refuses_what_cloudwatch_no_longer_holds(tmp_path, capsys, extra, match):
    argv = ["--namespace", "N", "--metric", "M", "--out", str(tmp_path / "t.csv"), *extra]
    if match is None:
        with pytest.raises(SystemExit):
            main(argv, now=NOW)
        assert "give the time in UTC" in capsys.readouterr().err
    else:
        assert main(argv, now=NOW) == 2
        assert match in capsys.readouterr().err
    assert not Path(tmp_path / "t.csv").exists()


def test_long_windows_stay_within_the_per_call_datapoint_limit(cloudwatch, tmp_path, capsys):
    calls, calls_start = [], []
    real = cloudwatch.get_metric_data

    def spy(**request):
        calls.append(epoch_minute(request["EndTime"]) - epoch_minute(request["StartTime"]))
        calls_start.append(epoch_minute(request["StartTime"]))
        return real(**request)

    cloudwatch.get_metric_data = spy
    out = tmp_path / "t.csv"
    assert main(["--namespace", "AWS/ApplicationELB", "--metric", "RequestCount", "--days", "15", "--out", str(out),
                 "--no-progress"], cloudwatch=cloudwatch, now=NOW) == 0  # fmt: skip
    assert len(calls) == 15 and max(calls) <= 1440  # one day per call (and per progress step)
    assert epoch_minute(NOW) - 15 * 1440 - calls_start[0] == 0  # clamped to the 15 days CloudWatch keeps
    assert "holds 1-minute data for 15 days" in capsys.readouterr().err
