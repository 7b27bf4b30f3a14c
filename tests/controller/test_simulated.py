"""The simulated target: the scoreboard's dynamics, load and noise, minute by minute through CloudWatch (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from controller.aws import Clients
from controller.config import FleetConfig, parse_fleets
from controller.state import MemoryStore
from controller.targets import simulated
from controller.targets.simulated import SimulatedTarget, load_state
from inference.fallback import target_tracking
from inference.features import HISTORY
from simulator import SimConfig
from training.evaluation import cases as evaluate_cases
from training.evaluation import scoreboard as evaluate

STAGE = "Test"


def fleet(name: str = "sim", **target: Any):
    spec = {
        "name": name,
        "capacity_rpm_per_machine": 300,
        "min_machines": 1,
        "max_machines": 10_000,
        "max_change_per_minute": 10_000,
        "target": {"kind": "simulated", "trace": "worldcup", **target},
    }
    return parse_fleets([spec], STAGE)[0]


T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
"""A Monday noon: the minute the tests' fleets run first."""


def started(aws: Clients, f: FleetConfig, *, active_at: int | None = None) -> tuple[MemoryStore, SimulatedTarget]:
    """A fresh store and adapter after the fleet's first run at T0; with `active_at`, that run was active and
    applied that many machines (the own scaler asked to stand down first, as the core does)."""
    store = MemoryStore()
    target = SimulatedTarget(aws, store, STAGE)
    target.tick([f], T0)
    if active_at is not None:
        target.conflicts([f])
        target.apply(f, active_at)
    return store, target


@pytest.fixture()
def aws():
    with mock_aws():
        yield Clients(overrides={"cloudwatch": boto3.client("cloudwatch", region_name="eu-west-1")})


def published(clients: Clients, fleet_name: str, metric: str, start: datetime, end: datetime) -> list[float]:
    """Minute sums of one simulated metric in [start, end), oldest first (None where nothing was published)."""
    resp = clients.get("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "RLAutoscaler/SimulatedFleet",
                        "MetricName": metric,
                        "Dimensions": [{"Name": "Fleet", "Value": fleet_name}, {"Name": "Stage", "Value": STAGE}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    result = resp["MetricDataResults"][0]
    by_time = {t.astimezone(UTC): v for t, v in zip(result["Timestamps"], result["Values"])}
    minutes = int((end - start).total_seconds() // 60)
    return [by_time.get(start + timedelta(minutes=k)) for k in range(minutes)]


class TrackingPlusOne:
    """A deterministic rule that reads every contract field it can: target tracking, +1 while requests fail."""

    def reset(self, sim) -> None:
        pass

    def act(self, obs) -> np.ndarray:
        return self.decide(obs.load[:, -1], obs.failed, obs.active + obs.pending)

    @staticmethod
    def decide(last_load, failed, fleet) -> np.ndarray:
        want = target_tracking(np.asarray(last_load), 300.0) + (np.asarray(failed) > 0)
        return np.maximum(want, np.asarray(fleet) - 3).astype(np.int64)


def test_constants_and_noise_are_the_scoreboards() -> None:
    assert simulated.HISTORY == HISTORY
    assert simulated.TRACE_MEAN_MACHINES == evaluate_cases.TRACE_MEAN_MACHINES
    case = evaluate_cases.trace_case("worldcup", "eval", minutes=60)
    ours = simulated.noise_seed(7, case.scenario.name)
    assert ours.entropy == evaluate._group_seed(7, [case.scenario]).entropy


def test_driven_minute_by_minute_it_matches_the_scoreboard_to_the_cent(aws: Clients) -> None:
    minutes = 90
    case = evaluate_cases.trace_case("worldcup", "eval", minutes=minutes)
    t0 = case.scenario.start
    f = fleet()
    store = MemoryStore()
    target = SimulatedTarget(aws, store, STAGE)
    for m in range(minutes + 1):
        now = t0 + timedelta(minutes=m, seconds=7)
        target.tick([f], now)
        state = target.read([f])["sim"]
        minute = t0 + timedelta(minutes=m)
        load = published(aws, "sim", "RequestCount", minute - timedelta(minutes=HISTORY), minute)
        failed = published(aws, "sim", "FailedRequests", minute - timedelta(minutes=1), minute)
        assert None not in load and None not in failed, f"minute {m}: history not published"
        desired = TrackingPlusOne.decide(load[-1], failed[-1], state.serving + state.warming)
        assert target.conflicts([f]) == {}  # as the core asks for its active fleets: the own scaler stands down
        if int(desired) != state.desired:  # as the core applies: only a change
            target.apply(f, int(desired))
        target = SimulatedTarget(aws, store, STAGE)  # a fresh adapter each run, as a fresh Lambda would
    doc = load_state(store, "sim")
    # this driver reads the minute just before the decision: the scoreboard without observation lag
    metrics, _ = evaluate.run_policy(TrackingPlusOne(), [case], SimConfig(observation_lag_minutes=0), seed=0)
    assert doc["totals"]["minutes"] == minutes and doc["skipped_minutes"] == 0
    assert doc["totals"]["reward"] == metrics[0]["profit"]
    assert doc["totals"]["load"] == metrics[0]["requests"]
    assert doc["totals"]["machine_minutes"] == metrics[0]["machine_minutes"]
    assert doc["totals"]["scaling_actions"] == metrics[0]["scaling_actions"]
    # what was published is the scenario's load, minute for minute
    loads = published(aws, "sim", "RequestCount", t0 - timedelta(minutes=HISTORY), t0 + timedelta(minutes=minutes))
    assert loads == case.scenario.load[: HISTORY + minutes].tolist()


def test_repeated_run_for_the_same_minute_simulates_nothing_more(aws: Clients) -> None:
    f = fleet()
    store, target = started(aws, f, active_at=30)
    target.tick([f], T0 + timedelta(minutes=5))
    before = load_state(store, "sim")
    target.tick([f], T0 + timedelta(minutes=5, seconds=40))
    target.tick([f], T0 + timedelta(minutes=2))  # an old retried event
    after = load_state(store, "sim")
    assert before["t"] == after["t"] == 5 and before["totals"] == after["totals"]
    assert target.simulated_minutes == 5


def test_alignment_with_the_wall_clock_and_own_scaler_when_nobody_applies(aws: Clients) -> None:
    f = fleet()
    store = MemoryStore()
    target = SimulatedTarget(aws, store, STAGE)
    now = datetime(2026, 11, 27, 3, 17, tzinfo=UTC)  # a Friday
    target.tick([f], now)
    doc = load_state(store, "sim")
    replay_start = datetime.fromisoformat(doc["scenario"]["start"])
    assert replay_start.weekday() == now.weekday() and (replay_start.hour, replay_start.minute) == (3, 17)
    assert doc["part"] == "eval"
    # shadow: nobody applies, the fleet runs its own target tracking on the last minute's load
    target.tick([f], now + timedelta(minutes=3))
    doc = load_state(store, "sim")
    sim = simulated.build_sim(f, {**doc, "t": 0})
    want = int(target_tracking(sim.loads[0, HISTORY + 1], 300.0))  # decided at minute 2, on minute 1's load
    assert doc["active"] + sum(doc["ring"]) == want


def test_start_date_picks_the_part_and_bad_dates_are_refused(aws: Clients) -> None:
    store = MemoryStore()
    target = SimulatedTarget(aws, store, STAGE)
    now = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday
    ok = fleet("early", start="1998-05-04")
    bad = fleet("late", start="2001-01-01")
    target.tick([ok, bad], now)
    states = target.read([ok, bad])
    assert states["early"].serving > 0
    assert "outside the trace" in str(states["late"])
    doc = load_state(store, "early")
    assert doc["part"] == "train" and doc["scenario"]["start"].startswith("1998-05-04T00:00")


def test_long_gap_is_skipped_and_counted(aws: Clients) -> None:
    f = fleet()
    store, target = started(aws, f, active_at=40)
    target.tick([f], T0 + timedelta(minutes=200))
    doc = load_state(store, "sim")
    assert doc["skipped_minutes"] == 200 - simulated.MAX_CATCH_UP_MINUTES
    assert doc["totals"]["minutes"] == simulated.MAX_CATCH_UP_MINUTES
    assert doc["t"] == 200


def test_a_changed_config_restarts_the_replay(aws: Clients) -> None:
    store = MemoryStore()
    SimulatedTarget(aws, store, STAGE).tick([fleet()], T0)
    SimulatedTarget(aws, store, STAGE).tick([fleet()], T0 + timedelta(minutes=10))
    assert load_state(store, "sim")["t"] == 10
    SimulatedTarget(aws, store, STAGE).tick([fleet(scale=2.0)], T0 + timedelta(minutes=11))
    doc = load_state(store, "sim")
    assert doc["t"] == 0 and doc["identity"]["scale"] == 2.0


def test_end_of_the_part_starts_a_new_replay_with_the_fleet_as_it_is(aws: Clients) -> None:
    f = fleet()
    store, target = started(aws, f)
    doc = load_state(store, "sim")
    sim = simulated.build_sim(f, doc)
    doc["t"] = sim.minutes - 2  # jump to the part's last minutes
    store.save(simulated.state_key("sim"), simulated.encode(doc), store.load(simulated.state_key("sim"))[1])
    target = SimulatedTarget(aws, store, STAGE)
    target.tick([f], T0 + timedelta(minutes=sim.minutes + 3))
    doc = load_state(store, "sim")
    assert doc["replay"] == 1 and doc["t"] == 3 and doc["totals"]["minutes"] == 5


def test_own_scaler_stands_down_while_controlled_and_returns_when_the_controller_stops(aws: Clients) -> None:
    f = fleet()
    store, target = started(aws, f, active_at=77)  # the core runs it active: controlled from this minute
    for m in range(1, simulated.DRIVEN_MINUTES):  # runs that decide the same count apply nothing, still controlled
        target.tick([f], T0 + timedelta(minutes=m))
        target.conflicts([f])
    doc = load_state(store, "sim")
    assert doc["desired"] == 77 and doc["active"] + sum(doc["ring"]) == 77
    # the controller stops: DRIVEN_MINUTES later the fleet's own target tracking sets its count again
    stop = simulated.DRIVEN_MINUTES - 1
    target.tick([f], T0 + timedelta(minutes=stop + simulated.DRIVEN_MINUTES + 2))
    doc = load_state(store, "sim")
    sim = simulated.build_sim(f, {**doc, "t": 0})
    own = int(target_tracking(sim.loads[0, HISTORY + doc["t"] - 2], 300.0))
    assert doc["desired"] == own != 77
    assert target.read([f])["sim"].desired == own
