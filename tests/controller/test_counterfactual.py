"""The shadow counterfactual: the policy's own fleet, anchored once, moved by the simulator's mechanics, and both
fleets priced by the simulator's accounting once each minute's requests are published."""

from __future__ import annotations

from datetime import timedelta

import pytest

from controller import counterfactual
from controller.config import parse_fleets
from controller.counterfactual import Counterfactual
from controller.observe import Observation, Series
from controller.targets.base import FleetState
from tests.controller.fakes import World, fleet_spec, fleets

M = 1_000


def one(**overrides: object):
    (fleet,) = fleets("f", mode="shadow", **overrides)
    return fleet


def test_anchored_once_to_the_real_fleet_then_never_again_but_for_a_config_change() -> None:
    fleet = one()
    cf = Counterfactual.resume(fleet, None, FleetState(serving=4, warming=2, desired=6), M)
    assert cf is not None and cf.notes == [f"counterfactual anchored to the real fleet at minute {M}: shadow started"]
    assert cf.fleet_state() == FleetState(serving=4, warming=2, desired=6)
    cf.decide(M, 10)
    kept = Counterfactual.resume(fleet, cf.to_json(), FleetState(serving=50, warming=0, desired=50), M + 1)
    assert kept is not None and not kept.notes and kept.fleet_state().desired == 10  # the real fleet moved: not it
    changed = one(max_change_per_minute=3)
    again = Counterfactual.resume(changed, cf.to_json(), FleetState(serving=50, warming=0, desired=50), M + 1)
    assert again is not None and "config changed" in again.notes[0] and again.fleet_state().serving == 50
    assert Counterfactual.resume(fleet, None, None, M) is None  # nothing to start from


def test_machines_warm_up_and_both_sides_are_priced_by_the_simulators_accounting() -> None:
    fleet = one()  # capacity 100 per machine, ALB failed metrics configured
    cf = Counterfactual.resume(fleet, None, FleetState(serving=2, warming=0, desired=2), M)
    assert cf is not None
    cf.decide(M, 4)  # two machines ordered: they serve from minute M + 5 (the default warm-up)
    assert cf.fleet_state() == FleetState(serving=2, warming=2, desired=4)
    for m in range(M + 1, M + 5):
        cf.decide(m, 4)
    assert cf.fleet_state() == FleetState(serving=4, warming=0, desired=4)  # they serve the next minute
    cf.decide(M + 5, 4)
    series = Series(M, [300.0] * 6, [50.0] * 6)  # the real fleet failed 50 of 300 requests each minute
    priced = cf.price(series, M + 5)
    assert [p.minute for p in priced] == list(range(M, M + 6)) and not cf.doc["queue"]
    assert [p.policy_machines for p in priced] == [2, 2, 2, 2, 2, 4]
    first, last = priced[0], priced[-1]
    # two serving machines serve 200 of 300: a minute down; 0.90 $ per 1,000 served, 0.05 $ per machine-minute
    assert first.policy_failed == 100 and first.policy_profit == pytest.approx(0.2 * 0.9 - 2 * 0.05 - 200)
    assert last.policy_failed == 0 and last.policy_profit == pytest.approx(0.3 * 0.9 - 4 * 0.05)
    assert first.fleet_failed == 50 and first.fleet_machines == 2
    assert first.fleet_profit == pytest.approx(0.25 * 0.9 - 2 * 0.05 - 200)
    assert set(first.metrics()) == set(counterfactual.SCORECARD_METRICS)
    obs = cf.observation(Observation(load_rpm=(300.0,), failed_rpm=50.0, newest=M + 5, stale=False))
    assert obs.failed_rpm == 0.0 and obs.load_rpm == (300.0,)  # its own failed requests, the real requests


def test_without_failed_metrics_the_real_fleet_is_priced_from_its_capacity() -> None:
    (fleet,) = parse_fleets([{**fleet_spec("f", mode="shadow"), "failed": []}], "Test")
    cf = Counterfactual.resume(fleet, None, FleetState(serving=2, warming=0, desired=2), M)
    assert cf is not None
    cf.decide(M, 2)
    (p,) = cf.price(Series(M, [250.0], [0.0]), M)
    assert p.fleet_failed_estimated and p.fleet_failed == 50


def test_stale_and_missed_minutes_hold_and_a_repeated_minute_changes_nothing() -> None:
    cf = Counterfactual.resume(one(), None, FleetState(serving=3, warming=0, desired=3), M)
    assert cf is not None
    cf.decide(M, 5, fallback=True)
    before = cf.to_json().copy()
    assert not cf.decide(M, 9)  # the same minute again (a retried run)
    assert cf.to_json() == before
    cf.decide(M + 1, None, stale=True)  # no decision on stale data: the count holds
    cf.decide(M + 4, 5)  # minutes M + 2, M + 3 had no run: held
    assert cf.fleet_state().desired == 5
    priced = cf.price(Series(M, [100.0] * 5), M + 4)
    assert [(p.fallback, p.stale) for p in priced] == [(True, False), (False, True), (False, True), (False, True),
                                                       (False, False)]  # fmt: skip


def test_economics_that_do_not_parse_make_the_fleet_unpriceable_not_zero() -> None:
    fleet = one()
    object.__setattr__(fleet, "economics", {"machine_cost": -1})
    cfs, why = counterfactual.prepare([fleet], {}, {"f": FleetState(2, 0, 2)}, {}, {}, M)
    assert cfs == {} and "cannot be priced" in why["f"] and "fleets.f.economics.machine_cost" in why["f"]


def test_the_run_decides_the_counterfactual_and_publishes_the_scorecard_once_per_minute() -> None:
    world = World(fleets("shadowed", mode="shadow"))
    world.fill("shadowed", 1000, minutes=60)
    world.target.fleets["shadowed"].serving = 20  # the team's scaler keeps 20 machines; the policy wants ~13
    reports = []
    for _ in range(12):
        world.load("shadowed", world.minute - 1, 1000)
        reports.append(world.step())
    first, last = reports[0], reports[-1]
    assert first.fleets["shadowed"].scorecard.endswith("shadow started")
    assert last.fleets["shadowed"].model_version == "fake-1"
    assert world.target.applied == []  # shadow never acts
    cf = last.counterfactuals["shadowed"]
    assert cf.fleet_state().desired == 13 and cf.doc["anchored"] == reports[0].minute.timestamp() // 60
    cw = world.cloudwatch
    minute = first.minute + timedelta(minutes=5)
    for name in counterfactual.SCORECARD_METRICS:
        assert cw.value(name, "shadowed", minute) is not None, name
    assert cw.value("FleetMachineMinutes", "shadowed", minute) == 20
    assert cw.value("PolicyMachineMinutes", "shadowed", minute) < 20
    priced = [p.minute for r in reports for p in r.counterfactuals["shadowed"].priced]
    assert len(priced) == len(set(priced)) == 12 - 3  # the lag's minutes are still waiting for their requests
    again = world.step(world.minute - 1)  # the last minute run again: nothing priced twice
    assert again.counterfactuals["shadowed"].priced == []


def test_a_run_that_cannot_save_its_state_publishes_no_scorecard_and_the_next_one_prices_those_minutes() -> None:
    from controller.state import StateConflict

    world = World(fleets("shadowed", mode="shadow"))
    world.fill("shadowed", 1000, minutes=60)
    for _ in range(6):
        world.load("shadowed", world.minute - 1, 1000)
        world.step()
    original = world.store.save

    def conflict(key: str, body: bytes, version: str | None) -> str:
        raise StateConflict("another run wrote the state")

    def scorecard_datums() -> int:
        return sum(d["MetricName"] in counterfactual.SCORECARD_METRICS for d in world.cloudwatch.put)

    published = scorecard_datums()
    world.store.save = conflict  # type: ignore[method-assign]
    world.load("shadowed", world.minute - 1, 1000)
    lost = world.step()
    assert not lost.state_saved and lost.counterfactuals["shadowed"].priced
    assert scorecard_datums() == published
    world.store.save = original  # type: ignore[method-assign]
    world.load("shadowed", world.minute - 1, 1000)
    later = world.step()
    assert later.state_saved
    assert {p.minute for p in lost.counterfactuals["shadowed"].priced} <= {
        p.minute for p in later.counterfactuals["shadowed"].priced
    }


def test_the_real_fleet_counts_the_machines_that_served_through_the_minute() -> None:
    assert counterfactual.served_through(10, 2, 10, 2) == 10  # nothing changed
    assert counterfactual.served_through(10, 2, 12, 0) == 10  # two arrived at the minute's end: not this minute
    assert counterfactual.served_through(10, 0, 7, 0) == 7  # three cut at its start
    assert counterfactual.served_through(10, 2, 9, 0) == 7  # three cut, then two arrived
    assert counterfactual.served_through(10, 0, 10, 5) == 10  # five ordered


def test_a_long_gap_is_skipped_and_a_long_wait_for_requests_is_bounded() -> None:
    cf = Counterfactual.resume(one(), None, FleetState(serving=3, warming=2, desired=5), M)
    assert cf is not None
    cf.decide(M, 5)
    cf.decide(M + 1 + counterfactual.MAX_HELD_MINUTES + 100, 5)  # the schedule was off for hours
    assert cf.doc["unpriced"] == 100 and cf.fleet_state() == FleetState(serving=5, warming=0, desired=5)
    assert len(cf.doc["queue"]) == 1 + counterfactual.MAX_HELD_MINUTES + 1
    last = int(cf.doc["minute"])
    for m in range(last + 1, last + 1 + counterfactual.MAX_QUEUE_MINUTES):  # no requests published for hours
        cf.decide(m, None, stale=True)
    assert len(cf.doc["queue"]) == counterfactual.MAX_QUEUE_MINUTES


def test_the_real_fleets_minute_is_counted_from_its_start_and_its_end() -> None:
    cf = Counterfactual.resume(one(), None, FleetState(serving=10, warming=2, desired=12), M)
    assert cf is not None
    cf.decide(M, 12)
    later = Counterfactual.resume(one(), cf.to_json(), FleetState(serving=9, warming=0, desired=9), M + 1)
    assert later is not None
    (entry,) = later.doc["queue"]  # three cut at the minute's start, then two arrived at its end
    assert entry[3:5] == [7, 2]
