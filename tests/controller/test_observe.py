"""Observation through GetMetricData: complete minutes only, gaps vs not yet published, stale data, incremental
history, batching within the API's limits; against the fake CloudWatch and against moto."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from controller.observe import Observer, Series, epoch_minute, minute_time
from tests.controller.fakes import T0, FakeCloudWatch, fleets, throttling

M = epoch_minute(T0)


def observer(cw: Any, **kw: Any) -> Observer:
    return Observer(cw, **{"history_minutes": 16, "publication_lag_minutes": 2, "stale_after_minutes": 10, **kw})


def record(cw: FakeCloudWatch, fleet: Any, minutes: range, value: Any) -> None:
    for m in minutes:
        v = value(m) if callable(value) else value
        if v:
            cw.record(fleet.requests.as_metric(), m, v)


def test_only_complete_minutes_older_than_the_publication_lag_are_used() -> None:
    (f,) = fleets("a")
    cw = FakeCloudWatch(now=M, lag=0)  # CloudWatch has everything, even the minute before M
    record(cw, f, range(M - 40, M), lambda m: 1000 + (m - M))
    obs, stats = observer(cw).observe([f], M, {})
    o = obs["a"]
    assert o.newest == M - 3 and not o.stale  # M-1 and M-2 are within the 2-minute lag
    assert tuple(o.load_rpm) == tuple(float(1000 + m - M) for m in range(M - 18, M - 2))
    request = cw.calls[0]
    assert request["EndTime"] == minute_time(M - 2) and request["StartTime"] == minute_time(M - 25)
    assert stats.calls == 1 and stats.queries == 3  # requests + two failed metrics


def test_a_gap_between_published_minutes_is_zero_requests_and_failed_metrics_sum() -> None:
    (f,) = fleets("a")
    cw = FakeCloudWatch(now=M, lag=1)
    record(cw, f, range(M - 20, M), lambda m: 0 if m in (M - 6, M - 7) else 500)
    cw.record(f.failed[0].as_metric(), M - 3, 4.0)
    cw.record(f.failed[1].as_metric(), M - 3, 2.0)
    o = observer(cw).observe([f], M, {})[0]["a"]
    assert tuple(o.load_rpm[-5:]) == (0.0, 0.0, 500.0, 500.0, 500.0)
    assert o.failed_rpm == 6.0


def test_minutes_before_the_oldest_datapoint_are_unknown_not_zero() -> None:
    """A new fleet (or one with less history than the window) starts its observation at its oldest datapoint;
    the contract pads it with that value, as the simulator pads a scenario's history."""
    (f,) = fleets("a")
    cw = FakeCloudWatch(now=M, lag=0)
    record(cw, f, range(M - 8, M), lambda m: 100 + (m - M))  # published for 8 minutes only
    o = observer(cw).observe([f], M, {})[0]["a"]
    assert o.newest == M - 3
    assert tuple(o.load_rpm) == tuple(float(100 + m - M) for m in range(M - 8, M - 2))  # no leading zeros


def test_minutes_not_yet_published_end_the_series_and_stale_data_holds() -> None:
    (f,) = fleets("a")
    cw = FakeCloudWatch(now=M, lag=1)
    record(cw, f, range(M - 30, M + 30), 700)
    cw.hold(f.requests.as_metric(), until=M - 5)  # CloudWatch stops publishing after M-5
    history: dict[str, Series] = {}
    seen = []
    for minute in range(M, M + 9):
        cw.now = minute
        o = observer(cw).observe([f], minute, history)[0]["a"]
        seen.append((o.newest, o.stale))
        if not o.stale:  # a trailing gap is not read as zero load; a full history behind a fresh minute
            assert tuple(o.load_rpm) == (700.0,) * 16
    assert all(newest == M - 5 for newest, _ in seen)
    assert [stale for _, stale in seen] == [False] * 6 + [True] * 3  # older than M' - 10 from M+6 on
    cw.release(f.requests.as_metric())
    cw.now = M + 9
    o = observer(cw).observe([f], M + 9, history)[0]["a"]
    assert (o.newest, o.stale) == (M + 6, False)  # the late minutes arrive and are fetched again


def test_nothing_published_at_all_is_stale() -> None:
    (f,) = fleets("a")
    o = observer(FakeCloudWatch(now=M)).observe([f], M, {})[0]["a"]
    assert o.stale and o.newest is None and tuple(o.load_rpm) == ()


def test_history_is_kept_and_only_new_minutes_plus_a_refetch_window_are_asked() -> None:
    (f,) = fleets("a")
    cw = FakeCloudWatch(now=M, lag=1)
    record(cw, f, range(M - 40, M + 10), 300)
    history: dict[str, Series] = {}
    obs = observer(cw)
    obs.observe([f], M, history)
    assert cw.calls[-1]["StartTime"] == minute_time(M - 25)
    cw.record(f.requests.as_metric(), M - 4, 450)  # a late revision of a published minute
    cw.now = M + 1
    o = obs.observe([f], M + 1, history)[0]["a"]
    assert cw.calls[-1]["StartTime"] == minute_time(M - 5)  # 3 published minutes re-fetched, 1 new
    assert tuple(o.load_rpm[-3:]) == (450.0, 300.0, 300.0) and len(o.load_rpm) == 16
    restored = {"a": Series.from_json(history["a"].to_json())}
    assert restored["a"] == history["a"]
    assert history["a"].first == obs.window(M + 1)[0]  # trimmed to the window


def test_many_fleets_are_packed_within_500_queries_per_call() -> None:
    fs = fleets(*[f"f{i}" for i in range(600)])
    cw = FakeCloudWatch(now=M, lag=1)
    for f in fs[:3]:
        record(cw, f, range(M - 20, M), 100)
    obs, stats = observer(cw).observe(fs, M, {})
    assert stats.queries == 1800 and stats.calls == math.ceil(1800 / 500) == len(cw.calls)
    assert sorted(len(c["MetricDataQueries"]) for c in cw.calls) == [300, 500, 500, 500]
    assert not obs["f0"].stale and obs["f599"].stale


def test_long_histories_are_packed_within_100800_datapoints_per_call() -> None:
    fs = fleets(*[f"f{i}" for i in range(100)])
    cw = FakeCloudWatch(now=M, lag=1)
    _, stats = observer(cw, history_minutes=1008 * 5).observe(fs, M, {})
    minutes = 5040 + 10 - 3  # history + stale limit - (lag + 1)
    assert stats.calls == math.ceil(300 / (100_800 // minutes)) == 16  # the fake asserts both limits per call


def test_a_failed_call_keeps_the_stored_history_and_names_the_error() -> None:
    (f,) = fleets("a")
    cw = FakeCloudWatch(now=M, lag=1)
    record(cw, f, range(M - 30, M + 30), 250)
    history: dict[str, Series] = {}
    observer(cw).observe([f], M, history)
    cw.fail_next.append(throttling())
    cw.now = M + 1
    o = observer(cw).observe([f], M + 1, history)[0]["a"]
    assert o.newest == M - 3 and not o.stale  # last run's minutes
    assert o.fetch_error and "Throttling" in o.fetch_error


class PagedCloudWatch(FakeCloudWatch):
    """Answers each call in two pages (NextToken), as CloudWatch does for large results."""

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        if request.get("NextToken") == "page2":
            return {"MetricDataResults": self._rest, "Messages": []}
        full = super().get_metric_data(**request)["MetricDataResults"]
        first = [
            {**r, "Timestamps": r["Timestamps"][:5], "Values": r["Values"][:5], "StatusCode": "PartialData"}
            for r in full
        ]
        self._rest = [{**r, "Timestamps": r["Timestamps"][5:], "Values": r["Values"][5:]} for r in full]
        return {"MetricDataResults": first, "NextToken": "page2"}


def test_pages_are_followed_until_complete() -> None:
    (f,) = fleets("a")
    cw = PagedCloudWatch(now=M, lag=1)
    record(cw, f, range(M - 20, M), lambda m: m - M + 100)
    o, stats = observer(cw).observe([f], M, {})
    assert stats.calls == 2 and len(o["a"].load_rpm) == 16 and o["a"].load_rpm[-1] == 97.0


@pytest.mark.usefixtures("aws_env")
def test_against_moto_cloudwatch() -> None:
    f, g = fleets("a", "b")
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="eu-west-1")
        for offset in range(1, 25):
            when = T0 - timedelta(minutes=offset)
            if offset == 8:
                continue  # a minute without requests publishes nothing
            for fleet, value in ((f, 100.0 * offset), (g, 7.0)):
                metric = fleet.requests.as_metric()
                cw.put_metric_data(
                    Namespace=metric["Namespace"],
                    MetricData=[
                        {
                            "MetricName": metric["MetricName"],
                            "Dimensions": metric["Dimensions"],
                            "Timestamp": when,
                            "Value": value,
                            "Unit": "Count",
                        }
                    ],
                )
        failed = f.failed[0].as_metric()
        cw.put_metric_data(
            Namespace=failed["Namespace"],
            MetricData=[
                {
                    "MetricName": failed["MetricName"],
                    "Dimensions": failed["Dimensions"],
                    "Timestamp": T0 - timedelta(minutes=3),
                    "Value": 9.0,
                }
            ],
        )
        obs, stats = observer(cw).observe([f, g], M, {})
    a, b = obs["a"], obs["b"]
    assert stats.calls == 1
    assert a.newest == M - 3 and a.failed_rpm == 9.0 and b.failed_rpm == 0.0
    assert a.load_rpm[-1] == 300.0 and a.load_rpm[-6] == 0.0 and a.load_rpm[-5] == 700.0 and len(a.load_rpm) == 16
    assert tuple(b.load_rpm) == (7.0,) * 10 + (0.0,) + (7.0,) * 5


def test_series_merge_trim_and_round_trip() -> None:
    s = Series(first=100)
    s.merge(100, 104, {100: 5.0, 102: 7.0}, {102: 1.0})
    assert (s.first, s.through, s.newest(104), s.newest(101)) == (100, 104, 102, 100)
    assert tuple(s.load(100, 102)) == (5.0, 0.0, 7.0) and s.failed_at(102) == 1.0 and s.failed_at(99) == 0.0
    s.merge(103, 106, {106: 9.0}, {})  # overlapping and growing
    assert (s.through, s.newest(106), tuple(s.load(102, 106))) == (106, 106, (7.0, 0.0, 0.0, 0.0, 9.0))
    s.merge(98, 99, {98: 1.0}, {})  # earlier minutes, contiguous
    assert (s.first, tuple(s.load(98, 100))) == (98, (1.0, 0.0, 5.0))
    again = Series.from_json(json.loads(json.dumps(s.to_json())))
    assert again == s and again.newest(101) == 100 and again.failed_at(102) == 1.0
    earlier = {"first": 98, "r": [1.0, None, 5.0, None, 7.0], "f": {"4": 1.0}}  # the state's earlier form reads
    assert tuple(Series.from_json(earlier).load(98, 102)) == (1.0, 0.0, 5.0, 0.0, 7.0)
    s.trim(105)
    assert (s.first, s.through, s.newest(106)) == (105, 106, 106)
    s.merge(200, 201, {201: 3.0}, {})  # a hole: start afresh
    assert (s.first, s.through, s.newest(201), s.newest(200)) == (200, 201, 201, None)
    s.trim(500)
    assert (s.first, s.through, s.newest(600)) == (500, 499, None)
