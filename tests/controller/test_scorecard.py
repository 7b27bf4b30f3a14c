"""The scorecard's verdict, and the whole path against a moto server: a simulated fleet in shadow for 60 minutes
publishes the six scorecard metrics and `python -m controller.scorecard` prints a verdict with an interval."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from controller import scorecard
from controller.publish import SCORECARD_METRICS
from controller.scorecard import NOT_YET, READY, WORSE, Day, judge

START = datetime(2024, 5, 6, tzinfo=UTC)


def days(differences: list[float], *, policy_failed: float = 0.0, fallback: float = 0.0) -> list[Day]:
    return [
        Day(
            start=START + timedelta(days=i),
            minutes=1440,
            sums={
                "PolicyProfit": 1000 + d,
                "FleetProfit": 1000.0,
                "PolicyFailedRequests": policy_failed,
                "FleetFailedRequests": 10.0,
                "Fallback": fallback,
            },
        )
        for i, d in enumerate(differences)
    ]


def test_the_verdict_follows_the_stated_rule() -> None:
    better = [50.0, 60.0, 55.0, 52.0, 58.0, 61.0, 49.0]
    ready = judge("f", days(better))
    assert ready.verdict == READY and ready.interval is not None and ready.interval[0] > 0
    assert ready.mean_difference == pytest.approx(sum(better) / 7)
    # paired per-day differences, Student's t with 6 degrees of freedom
    assert ready.interval[1] - ready.mean_difference == pytest.approx(
        2.4469 * statistics.stdev(better) / 7**0.5, rel=1e-4
    )
    assert judge("f", days(better[:5])).verdict == NOT_YET  # above zero, but too few days
    assert judge("f", days(better, policy_failed=11)).verdict == NOT_YET  # more failed requests
    assert judge("f", days(better, fallback=100)).verdict == NOT_YET  # 7 % of its minutes on the rule
    assert judge("f", days([-50.0, -40.0, -60.0])).verdict == WORSE
    assert judge("f", days([50.0, -40.0, 10.0, -5.0, 3.0, 1.0, -2.0])).verdict == NOT_YET
    one = judge("f", days([50.0]))
    assert one.verdict == NOT_YET and one.interval is None
    assert "ready to activate" in scorecard.RULE and "below zero" in scorecard.RULE


@pytest.fixture()
def moto_server(aws_env: None):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_a_shadow_fleet_on_a_moto_server_publishes_the_scorecard_and_gets_a_verdict(
    moto_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.aws import Clients
    from controller.config import Settings, parse_fleets
    from controller.run import Dependencies, run
    from controller.state import MemoryStore
    from controller.targets import build_adapters
    from tests.controller.fakes import FakeRuntime, FakeSSM

    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_server, region_name="eu-west-1")
    spec = {
        "name": "checkout", "mode": "shadow", "capacity_rpm_per_machine": 300, "min_machines": 1,
        "max_machines": 200, "max_change_per_minute": 20, "target": {"kind": "simulated", "trace": "worldcup"},
    }  # fmt: skip
    settings = Settings(
        stage="Moto", endpoint_name="e", state_bucket="b", fleets=parse_fleets([spec], "Moto"),
        modes_parameter="/m", history_minutes=16, publication_lag_minutes=2,
    )  # fmt: skip
    store = MemoryStore()
    clients = Clients(region="eu-west-1", overrides={"cloudwatch": cloudwatch})
    deps = Dependencies(
        cloudwatch=cloudwatch, runtime=FakeRuntime(), ssm=FakeSSM(), store=store,
        adapters=build_adapters(settings.fleets, clients, store=store, stage="Moto"),
    )  # fmt: skip
    t0 = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
    for m in range(60 + 3):  # the last three runs price the last minutes (two minutes' publication lag)
        report = run(settings, deps, t0 + timedelta(minutes=m, seconds=3))
        assert not report.errors, report.errors
    listed = cloudwatch.list_metrics(
        Namespace="RLAutoscaler/Controller", Dimensions=[{"Name": "Fleet", "Value": "checkout"}]
    )
    assert set(SCORECARD_METRICS) <= {m["MetricName"] for m in listed["Metrics"]}

    end = (t0 + timedelta(minutes=60)).isoformat()
    code = scorecard.main(["--stage", "Moto", "--end", end, "--days", "1", "--period-minutes", "10"], cloudwatch)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "checkout: 6 10-minute period(s) observed, 60 minutes priced" in out
    assert "[95 % interval " in out and "verdict: " in out and "rule: ready to activate" in out
