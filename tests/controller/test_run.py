"""The controller's core, minute by minute: observation -> request -> decision -> action, with fakes for
CloudWatch (publication lag, gaps, outages), the endpoint (timeouts, throttling) and a target that warms up."""

from __future__ import annotations

import math

from botocore.exceptions import ClientError

from controller.observe import minute_time
from controller.state import StateConflict
from tests.controller.fakes import World, fleets, throttling


def steady(world: World, rpm: dict[str, float], minutes: int = 40) -> None:
    for name, value in rpm.items():
        for m in range(world.minute - 30, world.minute + minutes):
            world.load(name, m, value)


def applied(world: World, fleet: str) -> list[int]:
    return [n for name, n in world.target.applied if name == fleet]


def test_a_fleet_follows_its_load_within_the_change_limit(world: World) -> None:
    steady(world, {"checkout": 1000, "search": 300})
    reports = [world.step() for _ in range(4)]
    # the fake policy asks ceil(need * 1.25): 13 for checkout, 4 for search; 5 machines at most per minute
    assert applied(world, "checkout") == [10, 13]
    assert applied(world, "search") == [4]
    first = reports[0]
    assert first.endpoint_calls == 1 and len(world.runtime.bodies[0]["instances"]) == 2
    assert first.fleets["checkout"].policy_desired == 13 and first.fleets["checkout"].limited == 10
    assert "change limited to 5 machines per minute from 5" in first.fleets["checkout"].reason
    when = minute_time(world.minute - 1)
    cw = world.cloudwatch
    assert cw.value("LoadRPM", "checkout", when) == 1000 and cw.value("AppliedDesired", "checkout", when) == 13
    assert cw.value("ServingMachines", "checkout", when) == 13  # every machine ordered is warm by now
    third = minute_time(world.minute - 2)
    assert (cw.value("ServingMachines", "checkout", third), cw.value("WarmingMachines", "checkout", third)) == (10, 3)
    assert cw.value("Mode", "checkout", when) == 2 and cw.value("Fallback", "checkout", when) == 0
    assert cw.value("Runs", None, when) == 1 and cw.value("FleetsDeciding", None, when) == 2
    assert cw.value("EndpointLatencyMs", None, when) is not None
    assert world.target.ticks == [minute_time(m) for m in range(world.minute - 4, world.minute)]


def test_the_same_minute_run_again_does_not_compound_and_an_old_minute_is_superseded(world: World) -> None:
    steady(world, {"checkout": 2000, "search": 300})
    minute = world.minute
    world.step()
    again = world.step(when=minute)  # the scheduler retries the same event
    assert applied(world, "checkout") == [10]  # base 5 kept: 10 again, already set, no second call
    assert again.fleets["checkout"].applied == 10 and again.state_saved
    world.step()
    assert applied(world, "checkout") == [10, 15]
    late = world.step(when=minute)  # a late retry of an older minute
    assert "superseded" in late.fleets["checkout"].reason and applied(world, "checkout") == [10, 15]


def test_publication_lag_then_an_outage_holds_and_recovers(world: World) -> None:
    steady(world, {"checkout": 1000, "search": 300}, minutes=60)
    f = world.fleets[0]
    world.step()
    cutoff = world.minute - 4  # the last minute CloudWatch publishes before its outage
    world.cloudwatch.hold(f.requests.as_metric(), until=cutoff)
    holds = []
    for _ in range(12):
        r = world.step()
        holds.append(r.fleets["checkout"].stale_hold)
        assert not r.fleets["search"].stale_hold
    assert holds == [False] * 7 + [True] * 5  # stale once the newest minute is more than 10 minutes old
    held = world.minute - 1
    assert world.cloudwatch.value("StaleDataHold", "checkout", minute_time(held)) == 1
    assert world.cloudwatch.value("StaleDataHolds", None, minute_time(held)) == 1
    assert world.cloudwatch.value("PolicyDesired", "checkout", minute_time(held)) is None  # nothing decided
    sent = [len(b["instances"]) for b in world.runtime.bodies]
    assert sent[-1] == 1  # only search was asked about
    before = len(applied(world, "checkout"))
    world.target.fleets["checkout"].serving = 3  # something else moved the fleet meanwhile: still no action
    world.step()
    assert len(applied(world, "checkout")) == before
    world.cloudwatch.release(f.requests.as_metric())
    r = world.step()
    assert not r.fleets["checkout"].stale_hold and applied(world, "checkout")[-1] == 8  # 3 + 5, decided again


def test_a_new_fleet_with_less_history_than_the_policy_reads_is_counted(world: World) -> None:
    for m in range(world.minute - 8, world.minute + 5):  # a service whose metrics just started
        world.load("checkout", m, 1000)
    steady(world, {"search": 300})
    report = world.step()
    assert report.fleets["checkout"].short_history and not report.fleets["search"].short_history
    when = minute_time(world.minute - 1)
    assert world.cloudwatch.value("ShortHistory", "checkout", when) == 1
    assert world.cloudwatch.value("ShortHistory", "search", when) == 0
    assert world.cloudwatch.value("ShortHistories", None, when) == 1


def test_a_minute_without_requests_is_zero_load(world: World) -> None:
    steady(world, {"search": 300})
    for m in range(world.minute - 30, world.minute + 5):
        if m not in (world.minute - 6, world.minute - 5):  # ALB publishes nothing for these two minutes
            world.load("checkout", m, 1000)
    world.step()
    sent = {i["load_rpm"][-1]: i for i in world.runtime.bodies[0]["instances"]}
    assert sent[1000.0]["load_rpm"][-4:] == [0.0, 0.0, 1000.0, 1000.0]


def test_endpoint_timeouts_and_throttling_fall_back_per_fleet_and_the_policy_returns(world: World) -> None:
    steady(world, {"checkout": 1000, "search": 300}, minutes=60)
    world.step()
    world.step()  # 13 and 4, as the policy says
    world.runtime.down = True  # the endpoint stops answering for two minutes
    r1 = world.step()
    r2 = world.step()
    for r in (r1, r2):
        assert r.fallbacks == 2 and all(f.fallback for f in r.fleets.values())
        assert r.fleets["checkout"].policy_desired == math.ceil(1000 / 100 / 0.7) == 15
        assert "ReadTimeoutError" in r.fleets["checkout"].reason
    assert applied(world, "checkout")[-1] == 15 and applied(world, "search")[-1] == 5  # the rule's fleet
    when = minute_time(world.minute - 1)
    assert world.cloudwatch.value("Fallback", "checkout", when) == 1
    assert world.cloudwatch.value("Fallbacks", None, when) == 2
    world.runtime.down = False
    world.runtime.fail_next.append(throttling("InvokeEndpoint"))
    assert world.step().fallbacks == 2  # throttled: fallback again
    back = world.step()
    assert back.fallbacks == 0 and back.fleets["checkout"].policy_desired == 13
    assert applied(world, "checkout")[-1] == 13
    assert world.cloudwatch.value("Fallback", "checkout", minute_time(world.minute - 1)) == 0


def test_shadow_decides_and_publishes_but_never_acts_and_off_does_nothing() -> None:
    world = World(fleets("shadowed", mode="shadow") + fleets("quiet", mode="off"))
    steady(world, {"shadowed": 1000, "quiet": 1000})
    r = world.step()
    assert world.target.applied == [] and r.fleets["shadowed"].policy_desired == 13
    assert r.fleets["shadowed"].limited == 10 and r.fleets["shadowed"].applied is None
    when = minute_time(world.minute - 1)
    cw = world.cloudwatch
    assert cw.value("PolicyDesired", "shadowed", when) == 13 and cw.value("ServingMachines", "shadowed", when) == 5
    assert cw.value("AppliedDesired", "shadowed", when) is None
    assert cw.value("Mode", "shadowed", when) == 1 and cw.value("Mode", "quiet", when) == 0
    assert cw.value("LoadRPM", "quiet", when) is None  # off: only the mode is published
    assert r.fleets_deciding == 1 and len(world.runtime.bodies[0]["instances"]) == 1


def test_on_call_switches_the_stage_to_shadow_without_a_deploy(world: World) -> None:
    steady(world, {"checkout": 1000, "search": 300}, minutes=60)
    world.step()
    world.ssm.value = '{"stage": "shadow", "fleets": {}}'
    world.step()
    world.step()
    assert applied(world, "checkout") == [10]
    world.ssm.value = '{"stage": null, "fleets": {"search": "off"}}'
    r = world.step()
    assert applied(world, "checkout") == [10, 13] and r.fleets["search"].mode == "off"
    world.ssm.value = "{broken"
    r = world.step()
    assert r.modes_error and {f.mode for f in r.fleets.values()} == {"shadow"}


def test_no_scale_in_while_requests_fail(world: World) -> None:
    steady(world, {"checkout": 1000, "search": 300})
    world.step()
    world.step()
    assert applied(world, "checkout") == [10, 13]
    for m in range(world.minute - 5, world.minute + 10):
        world.load("checkout", m, 400, failed=3)  # less traffic, but requests fail
    r = world.step()
    assert r.fleets["checkout"].policy_desired == 5 and r.fleets["checkout"].limited == 13
    assert "no scale-in while requests fail" in r.fleets["checkout"].reason
    assert applied(world, "checkout") == [10, 13]
    assert world.cloudwatch.value("FailedRPM", "checkout", minute_time(world.minute - 1)) == 3


def test_another_scaler_on_the_target_holds_the_fleet(world: World) -> None:
    steady(world, {"checkout": 1000, "search": 1000})
    world.target.conflicting["checkout"] = "target-tracking policy cpu70 on service/prod/checkout"
    r = world.step()
    assert r.fleets["checkout"].conflict_hold and r.fleets["checkout"].policy_desired == 13
    assert applied(world, "checkout") == [] and applied(world, "search") == [10]
    assert world.cloudwatch.value("ConflictHolds", None, minute_time(world.minute - 1)) == 1


def test_unreadable_targets_and_failed_applies_are_counted(world: World) -> None:
    steady(world, {"checkout": 1000, "search": 1000})
    world.target.read_errors["checkout"] = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "x")
    world.target.apply_errors["search"] = RuntimeError("service is being deleted")
    r = world.step()
    assert r.read_errors == 1 and r.fleets["checkout"].policy_desired is None
    assert r.apply_errors == 1 and "being deleted" in r.fleets["search"].apply_error
    when = minute_time(world.minute - 1)
    assert world.cloudwatch.value("ReadErrors", None, when) == 1
    assert world.cloudwatch.value("ApplyErrors", None, when) == 1
    assert world.cloudwatch.value("AppliedDesired", "search", when) is None


def test_a_run_that_cannot_save_its_state_applies_nothing(world: World) -> None:
    steady(world, {"checkout": 1000, "search": 1000})

    def conflict(key: str, body: bytes, version: str | None) -> str:
        raise StateConflict("another run won")

    world.store.save = conflict  # type: ignore[method-assign]
    r = world.step()
    assert not r.state_saved and world.target.applied == [] and r.fleets["checkout"].policy_desired == 13
    assert any("state conflict" in e for e in r.errors)


def test_history_lives_in_the_store_so_each_run_fetches_only_new_minutes(world: World) -> None:
    steady(world, {"checkout": 1000, "search": 300})
    world.step()
    first = world.cloudwatch.calls[-1]
    world.step()
    second = world.cloudwatch.calls[-1]
    minutes = lambda c: (c["EndTime"] - c["StartTime"]).total_seconds() / 60
    assert minutes(first) == 10 + 16 - 3 and minutes(second) == 4  # stale limit + history - lag; 3 re-fetched, 1 new
    assert "state.json.gz" in world.store.objects


def test_a_stage_without_fleets_still_reports_its_runs() -> None:
    world = World(())
    r = world.step()
    assert r.endpoint_calls == 0 and r.observe_calls == 0 and r.fleets == {}
    when = minute_time(world.minute - 1)
    assert world.cloudwatch.value("Runs", None, when) == 1  # the no-run alarm means "stopped", not "no fleets"
    assert world.cloudwatch.value("FleetsDeciding", None, when) == 0
    assert world.cloudwatch.value("EndpointLatencyMs", None, when) is None


def test_the_core_is_pure_values_in_values_out() -> None:
    """core.plan: the same inputs give the same outputs and leave the inputs untouched (no client, no clock)."""
    import copy

    from controller import core
    from controller.decide import Ask, Decision
    from controller.observe import Observation
    from controller.targets.base import FleetState

    a, b = fleets("a", "b")
    obs = Observation(load_rpm=(900.0,) * 16, failed_rpm=0.0, newest=99, stale=False)
    asked = [Ask(a, obs, FleetState(5, 0, 5)), Ask(b, obs, FleetState(5, 0, 5, highest=6))]
    decisions = [Decision(desired=12, fallback=False), Decision(desired=12, fallback=False)]
    bases = {"a": {"minute": 99, "base": 4}}
    args = (asked, decisions, {"a": "active", "b": "active"}, {}, bases, 100)
    before = copy.deepcopy(bases)
    first, second = core.plan(*args), core.plan(*args)
    assert first == second and bases == before
    planned, to_apply, new_bases = first
    assert [(f.name, n) for f, n in to_apply] == [("a", 10), ("b", 6)]
    assert planned["b"].reason == "; clamped to the target's own maximum 6"
    assert new_bases == {"a": {"minute": 100, "base": 5}, "b": {"minute": 100, "base": 5}}


def test_two_overlapping_runs_of_a_stage_apply_once(world: World) -> None:
    """A run that starts while another is still going (no reserved concurrency) loses the state's conditional
    write and applies nothing: at most one run acts per minute."""
    from controller.run import run

    steady(world, {"checkout": 2000, "search": 300})
    save, overlapped = world.store.save, []

    def slow_save(key: str, body: bytes, version: str | None) -> str:
        if not overlapped:  # the second run starts and finishes while the first is about to save
            overlapped.append(None)
            overlapped[0] = run(world.settings, world.deps, minute_time(world.minute))
        return save(key, body, version)

    world.store.save = slow_save  # type: ignore[method-assign]
    first = world.step()
    assert overlapped[0].state_saved and not first.state_saved
    assert "state conflict" in " ".join(first.errors)
    assert applied(world, "checkout") == [10]  # once, by the run that saved
