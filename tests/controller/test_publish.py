"""Publishing: exactly the coord metric names, units and dimensions, batched within PutMetricData's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from controller import publish
from tests.controller.fakes import FakeCloudWatch, throttling

WHEN = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
FLEET_NAMES = {
    "LoadRPM", "FailedRPM", "ServingMachines", "WarmingMachines", "PolicyDesired", "AppliedDesired", "Mode",
    "Fallback", "ShieldOverride", "StaleDataHold", "ConflictHold", "ShortHistory", "Unpriceable",
    "PolicyProfit", "FleetProfit", "PolicyFailedRequests", "FleetFailedRequests", "PolicyMachineMinutes",
    "FleetMachineMinutes",
}  # fmt: skip
STAGE_NAMES = {
    "Runs", "RunDurationMs", "FleetsDeciding", "Fallbacks", "ShieldOverrides", "StaleDataHolds", "ConflictHolds",
    "ShortHistories", "EndpointLatencyMs", "ApplyErrors", "ReadErrors", "HandBackErrors", "HandedBack", "ConfigErrors",
    "ModesErrors",
}  # fmt: skip


def test_metric_names_are_the_coord_contract() -> None:
    assert set(publish.FLEET_METRICS) == FLEET_NAMES
    assert set(publish.STAGE_METRICS) == STAGE_NAMES
    assert publish.NAMESPACE == "RLAutoscaler/Controller"
    assert publish.STAGE_METRICS["RunDurationMs"] == publish.STAGE_METRICS["EndpointLatencyMs"] == "Milliseconds"


def test_datums_carry_dimensions_and_skip_missing_values() -> None:
    data = publish.datums("Dev", WHEN, [("a", {"Mode": 1, "AppliedDesired": None, "LoadRPM": 12.5})], {"Runs": 1})
    assert [(d["MetricName"], d["Value"]) for d in data] == [("Mode", 1.0), ("LoadRPM", 12.5), ("Runs", 1.0)]
    assert data[0]["Dimensions"] == [{"Name": "Stage", "Value": "Dev"}, {"Name": "Fleet", "Value": "a"}]
    assert data[2]["Dimensions"] == [{"Name": "Stage", "Value": "Dev"}]
    assert all(d["Timestamp"] == WHEN for d in data)


def test_batches_of_at_most_1000_and_errors_reported() -> None:
    cw = FakeCloudWatch()
    data = publish.datums("Dev", WHEN, [(f"f{i}", {"Mode": 2, "LoadRPM": i}) for i in range(1200)], {"Runs": 1})
    calls, errors = publish.put(cw, data)
    assert (calls, errors, len(cw.put)) == (3, [], 2401)

    class Failing(FakeCloudWatch):
        def put_metric_data(self, **kw: object) -> dict:
            raise throttling("PutMetricData")

    calls, errors = publish.put(Failing(), data[:10])
    assert calls == 1 and "Throttling" in errors[0]


@pytest.mark.usefixtures("aws_env")
def test_against_moto() -> None:
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="eu-west-1")
        data = publish.datums("Dev", WHEN, [("a", {"PolicyDesired": 7, "Mode": 2})], {"Runs": 1, "RunDurationMs": 35})
        assert publish.put(cw, data) == (1, [])
        listed = cw.list_metrics(Namespace="RLAutoscaler/Controller")["Metrics"]
        names = {(m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in listed}
        assert names == {
            ("PolicyDesired", ("Fleet", "Stage")),
            ("Mode", ("Fleet", "Stage")),
            ("Runs", ("Stage",)),
            ("RunDurationMs", ("Stage",)),
        }
