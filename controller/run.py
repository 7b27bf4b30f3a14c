"""One controller run for one minute, every dependency injected (clients, store, adapters, clock).

Order (coord contract): targets tick -> observe (CloudWatch, batched) -> read fleet states (and, for active
fleets, other scalers on the target) -> one InvokeEndpoint for all deciding fleets -> fallback per fleet on any
failure -> limits -> save state (conditional write) -> apply (active) / publish only (shadow) / nothing (off)
-> PutMetricData.

Holds (the fleet is decided on nothing or acts on nothing, and it is counted):
- **stale data** (`StaleDataHold`): no published minute newer than STALE_AFTER_MINUTES; no decision at all;
- **conflict** (`ConflictHold`): an active fleet whose target has another scaler (or whose check failed) is
  decided and published like a shadow fleet, never applied;
- **unreadable target** (`ReadErrors`): no decision, nothing applied;
- **state not saved** (another run wrote it, or S3 failed): nothing applied this run, so a limit base that was
  not recorded can never let a later run of the same minute compound the change.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller import core, counterfactual, handback, publish, state
from controller import modes as modes_mod
from controller.config import FleetConfig, Settings
from controller.decide import Decider, Decision
from controller.observe import Observation, Observer, Series, epoch_minute, minute_time
from controller.targets.base import FleetState, TargetAdapter

STATE_VERSION = 1
MAX_CONCURRENT_APPLIES = 16

log = logging.getLogger(__name__)


@dataclass
class FleetReport:
    """What one run saw, decided and did for one fleet."""

    name: str
    mode: str
    load_rpm: float | None = None
    failed_rpm: float | None = None
    serving: int | None = None
    warming: int | None = None
    target_desired: int | None = None
    """The target's desired count when the run read it."""
    policy_desired: int | None = None
    """What the endpoint (or the fallback) decided."""
    limited: int | None = None
    """The decision within bounds and change limit (what active mode applies)."""
    applied: int | None = None
    """What is now set on the target (active mode, applied or already there)."""
    fallback: bool = False
    shield_override: bool = False
    model_version: str | None = None
    """The model that decided (None: the fallback rule)."""
    scorecard: str | None = None
    """Shadow only: why the counterfactual was anchored, or why it is not priced this run."""
    stale_hold: bool = False
    conflict_hold: bool = False
    handback_error: str | None = None
    """Suspending or restoring the team's own scaling failed (counted in HandBackErrors)."""
    latched: str | None = None
    """Held in shadow after a hand-back (N failed runs, on-call): why."""
    short_history: bool = False
    """Asked with fewer minutes of requests than the policy reads (HISTORY_MINUTES): the answer's reason says
    how the endpoint decided (the policy at that length, or the fallback rule)."""
    read_error: str | None = None
    apply_error: str | None = None
    reason: str = ""


@dataclass
class RunReport:
    stage: str
    minute: datetime
    fleets: dict[str, FleetReport]
    duration_ms: float = 0.0
    endpoint_calls: int = 0
    endpoint_latency_ms: float | None = None
    observe_calls: int = 0
    publish_calls: int = 0
    state_saved: bool = False
    modes_error: str | None = None
    config_error: str | None = None
    """The fleets object could not be used: this run kept the last good fleets."""
    errors: list[str] = field(default_factory=list)
    counterfactuals: dict[str, counterfactual.Counterfactual] = field(default_factory=dict)
    """Shadow fleets' counterfactuals after this run (their minutes priced this run in `priced`)."""

    def _count(self, attr: str) -> int:
        return sum(1 for f in self.fleets.values() if getattr(f, attr))

    @property
    def fleets_deciding(self) -> int:
        return sum(1 for f in self.fleets.values() if f.mode != "off")

    @property
    def fallbacks(self) -> int:
        return self._count("fallback")

    @property
    def shield_overrides(self) -> int:
        return self._count("shield_override")

    @property
    def stale_holds(self) -> int:
        return self._count("stale_hold")

    @property
    def conflict_holds(self) -> int:
        return self._count("conflict_hold")

    @property
    def short_histories(self) -> int:
        return self._count("short_history")

    @property
    def apply_errors(self) -> int:
        return self._count("apply_error")

    @property
    def read_errors(self) -> int:
        return self._count("read_error")

    @property
    def handback_errors(self) -> int:
        return self._count("handback_error")

    @property
    def handed_back(self) -> int:
        return self._count("latched")


@dataclass
class Dependencies:
    cloudwatch: Any
    runtime: Any
    """sagemaker-runtime client (InvokeEndpoint)."""
    ssm: Any
    store: state.Store
    adapters: Mapping[str, TargetAdapter]
    """Target kind -> adapter (controller.targets.build_adapters)."""
    clock: Callable[[], float] = time.perf_counter
    scalers: Any = None
    """Suspends and restores the teams' own scaling (controller.handback.Scalers); None: no hand-back (fakes)."""


def run(
    settings: Settings, deps: Dependencies, when: datetime, logger: Any = None, config_error: str | None = None
) -> RunReport:
    """One run deciding the minute that contains `when` (the schedule's time); `config_error`: why the fleets
    object could not be used (the run goes on with the last good fleets and counts ConfigErrors)."""
    logger = logger or log
    started = deps.clock()
    minute = epoch_minute(when)
    now = minute_time(minute)
    fleets = settings.fleets
    report = RunReport(stage=settings.stage, minute=now, fleets={}, config_error=config_error)

    doc, version, readable = _load_state(deps.store, report, logger)
    stored = doc.pop("fleets", {})  # each fleet's encoded history is dropped as soon as it is decoded
    history = {f.name: Series.from_json(stored.pop(f.name)) for f in fleets if f.name in stored}
    del stored
    bases: dict[str, Any] = {k: v for k, v in doc.get("limits", {}).items() if k in {f.name for f in fleets}}

    modes = modes_mod.read(deps.ssm, settings.modes_parameter, fleets)
    if modes.error:
        report.modes_error = modes.error
        logger.error("modes parameter unusable: every fleet capped at shadow", extra=modes_mod.describe(modes))
    for f in fleets:
        report.fleets[f.name] = FleetReport(name=f.name, mode=modes.effective(f))
    records: dict[str, dict[str, Any]] = {k: dict(v) for k, v in doc.get("handback", {}).items()}
    held: dict[str, str] = {}
    if readable and deps.scalers is not None:
        version, held = _take_and_hand_back(deps, fleets, records, report, history, bases, version, logger)
    working = [f for f in fleets if report.fleets[f.name].mode != "off"]
    active = [f for f in working if report.fleets[f.name].mode == "active"]

    for kind, group in _by_kind(fleets).items():  # simulated fleets advance even while off
        try:
            _adapter(deps, kind).tick(group, now)
        except Exception as err:
            report.errors.append(f"{kind} tick failed: {type(err).__name__}: {err}")
            logger.exception("target tick failed", extra={"kind": kind})

    observer = Observer(
        deps.cloudwatch,
        history_minutes=settings.history_minutes,
        publication_lag_minutes=settings.publication_lag_minutes,
        stale_after_minutes=settings.stale_after_minutes,
    )
    observations, observed = observer.observe(working, minute, history)
    report.observe_calls = observed.calls
    report.errors += observed.errors

    states = _read_states(deps, working, report, logger)
    conflicts = {**_conflicts(deps, [f for f in active if f.name not in held], logger), **held}
    shadow = [f for f in working if report.fleets[f.name].mode == "shadow"] if readable else []
    cfs, no_cf = counterfactual.prepare(shadow, doc.get("counterfactual", {}), states, history, observations, minute)
    report.counterfactuals = cfs
    for name, why in no_cf.items():
        report.fleets[name].scorecard = why
        logger.warning(why, extra={"fleet": name})
    for name, cf in cfs.items():
        if cf.notes:
            report.fleets[name].scorecard = "; ".join(cf.notes)
            logger.info(report.fleets[name].scorecard, extra={"fleet": name})

    asks, stale = core.asks(working, observations, states, cfs)
    for f in working:
        fr, obs = report.fleets[f.name], observations[f.name]
        if obs.load_rpm:
            fr.load_rpm, fr.failed_rpm = obs.last_load, obs.failed_rpm
        if f.name in stale:
            fr.stale_hold, fr.reason = True, stale[f.name]
            if f.name in cfs:
                cfs[f.name].decide(minute, None, stale=True)
        elif f.name in states or f.name in cfs:
            fr.short_history = len(obs.load_rpm) < settings.history_minutes
    decisions, decided = Decider(deps.runtime, settings.endpoint_name).decide(asks, now)
    report.endpoint_calls = decided.calls
    report.endpoint_latency_ms = decided.latency_ms if decided.calls else None
    report.errors += decided.errors

    modes_now = {name: fr.mode for name, fr in report.fleets.items()}
    planned, to_apply, bases = core.plan(asks, decisions, modes_now, conflicts, bases, minute)
    for ask, decision in zip(asks, decisions):
        fr, p = report.fleets[ask.fleet.name], planned[ask.fleet.name]
        _record(fr, decision)
        fr.limited, fr.conflict_hold = p.limited, p.conflict
        fr.reason += p.reason
        if ask.fleet.name in cfs and p.limited is not None:
            cfs[ask.fleet.name].decide(minute, p.limited, fallback=decision.fallback)

    if readable:
        cf_docs = {n: cf.to_json() for n, cf in cfs.items()}
        saved = _save_state(
            deps.store, fleets, history, bases, minute, version, report, logger, records, counterfactuals=cf_docs
        )
        report.state_saved, version = saved is not None, saved
    if to_apply and not report.state_saved:
        logger.error("state not saved: nothing applied this run", extra={"fleets": len(to_apply)})
    else:
        _apply(deps, to_apply, states, report, logger)
    if report.state_saved and deps.scalers is not None and _count_failures(deps, settings, active, records, report):
        _save_state(deps.store, fleets, history, bases, minute, version, report, logger, records)

    report.duration_ms = (deps.clock() - started) * 1000.0
    data = publish.datums(settings.stage, now, _fleet_metrics(report), _stage_metrics(report))
    if report.state_saved:  # priced minutes are published once: by the run whose state records them priced
        for name, cf in cfs.items():
            for p in cf.priced:
                data += publish.datums(settings.stage, minute_time(p.minute), [(name, p.metrics())], {})
    report.publish_calls, errors = publish.put(deps.cloudwatch, data)
    for message in errors:
        report.errors.append(message)
        logger.error(message)
    return report


def _adapter(deps: Dependencies, kind: str) -> TargetAdapter:
    if kind not in deps.adapters:
        raise KeyError(f"no adapter for target kind {kind!r}")
    return deps.adapters[kind]


def _by_kind(fleets: Sequence[FleetConfig]) -> dict[str, list[FleetConfig]]:
    out: dict[str, list[FleetConfig]] = defaultdict(list)
    for f in fleets:
        out[f.kind].append(f)
    return dict(out)


def _load_state(store: state.Store, report: RunReport, logger: Any) -> tuple[dict[str, Any], str | None, bool]:
    """(document, version, readable); an unreadable store acts on nothing, a corrupt document starts afresh."""
    try:
        body, version = store.load(state.RUN_STATE_KEY)
    except Exception as err:
        report.errors.append(f"state unreadable: {type(err).__name__}: {err}")
        logger.exception("state store unreadable: nothing will be applied")
        return {}, None, False
    try:
        doc = state.decode(body)
        if doc and doc.get("version") != STATE_VERSION:
            raise ValueError(f"state version {doc.get('version')!r}, expected {STATE_VERSION}")
    except Exception as err:
        report.errors.append(f"state corrupt, started afresh: {err}")
        logger.exception("state object corrupt: history and limit bases start afresh")
        doc = {}
    return doc, version, True


def _save_state(
    store: state.Store,
    fleets: Sequence[FleetConfig],
    history: Mapping[str, Series],
    bases: Mapping[str, Any],
    minute: int,
    version: str | None,
    report: RunReport,
    logger: Any,
    records: Mapping[str, Any] | None = None,
    counterfactuals: Mapping[str, Any] | None = None,
) -> str | None:
    """Write the run state if it is still at `version`; the new version, or None when it was not saved."""
    names = [f.name for f in fleets]
    doc = {
        "version": STATE_VERSION,
        "minute": minute,
        "fleets": {n: history[n].to_json() for n in names if n in history},
        "limits": {n: bases[n] for n in names if n in bases},
        "handback": dict(records or {}),
        "counterfactual": dict(counterfactuals or {}),
    }
    try:
        return store.save(state.RUN_STATE_KEY, state.encode(doc), version)
    except state.StateConflict as err:
        report.errors.append(f"state conflict: {err}")
        logger.error("another run wrote the state since this run read it: nothing applied", extra={"error": str(err)})
        return None
    except Exception as err:
        report.errors.append(f"state not saved: {type(err).__name__}: {err}")
        logger.exception("state store write failed: nothing applied")
        return None


def _take_and_hand_back(
    deps: Dependencies,
    fleets: Sequence[FleetConfig],
    records: dict[str, dict[str, Any]],
    report: RunReport,
    history: Mapping[str, Series],
    bases: Mapping[str, Any],
    version: str | None,
    logger: Any,
) -> tuple[str | None, dict[str, str]]:
    """Latches, then restore what fleets leaving active had suspended, then suspend for fleets taken active.

    Returns the state's version (written here when the records changed) and the active fleets that must not be
    applied this run (their suspension failed or could not be recorded), with why."""
    configured = {f.name for f in fleets}
    for name in [n for n, r in records.items() if handback.latch(r)]:
        fr = report.fleets.get(name)
        if fr is not None and fr.mode == "active":
            fr.mode, fr.latched = "shadow", handback.latch(records[name])
        else:  # on-call set it to shadow or off (or removed it): the latch is cleared
            del records[name]
    active = [f for f in fleets if report.fleets[f.name].mode == "active"]
    leaving = [n for n in records if n not in {f.name for f in active} and not handback.latch(records[n])]
    errors = handback.restore_all(deps.scalers, records, leaving, None)
    held: dict[str, str] = {}
    taken: list[str] = []
    for f in active:
        if f.name in records:
            continue
        try:
            suspended = deps.scalers.suspend(f.target)
        except Exception as err:
            held[f.name] = errors[f.name] = f"could not suspend the team's scaling: {type(err).__name__}: {err}"
            continue
        records[f.name] = {"target": dict(f.target), "suspended": suspended, "failures": 0}
        taken.append(f.name)
    for name, why in errors.items():
        if name in report.fleets:
            report.fleets[name].handback_error = why
        report.errors.append(f"{name}: {why}")
        logger.error("hand-back", extra={"fleet": name, "error": why, "configured": name in configured})
    if not taken and not leaving:
        return version, held
    saved = _save_state(
        deps.store, fleets, history, bases, epoch_minute(report.minute), version, report, logger, records
    )
    if saved is None:  # the records are not stored: undo what this run suspended, hold those fleets
        handback.restore_all(deps.scalers, records, taken, None)
        held.update(dict.fromkeys(taken, "hold: the hand-back record could not be saved"))
        return version, held
    for name in taken:
        logger.info("took the fleet: its own scaling suspended", extra={"fleet": name, **records[name]})
    return saved, held


def _count_failures(
    deps: Dependencies,
    settings: Settings,
    active: Sequence[FleetConfig],
    records: dict[str, dict[str, Any]],
    report: RunReport,
) -> bool:
    """Count each active fleet's consecutive failed runs; hand back those at the limit. True: records changed."""
    changed = False
    for f in active:
        record, fr = records.get(f.name), report.fleets[f.name]
        if record is None or handback.latch(record):
            continue
        failed = bool(fr.read_error or fr.apply_error or fr.stale_hold)
        count = record.get("failures", 0) + 1 if failed else 0
        changed |= count != record.get("failures", 0)
        record["failures"] = count
        if count >= settings.handback_after_failed_runs:
            why = f"handed back after {count} consecutive failed runs"
            error = handback.restore_all(deps.scalers, records, [f.name], why).get(f.name)
            fr.handback_error, fr.latched = error, None if error else why
    return changed


def _read_states(
    deps: Dependencies, working: Sequence[FleetConfig], report: RunReport, logger: Any
) -> dict[str, FleetState]:
    states: dict[str, FleetState] = {}
    for kind, group in _by_kind(working).items():
        try:
            got: Mapping[str, FleetState | Exception] = _adapter(deps, kind).read(group)
        except Exception as err:
            got = {f.name: err for f in group}
        for f in group:
            value = got.get(f.name, KeyError(f"{kind} adapter returned no state for {f.name}"))
            fr = report.fleets[f.name]
            if isinstance(value, FleetState):
                states[f.name] = value
                fr.serving, fr.warming, fr.target_desired = value.serving, value.warming, value.desired
            else:
                fr.read_error = f"{type(value).__name__}: {value}"
                fr.reason = f"hold: target unreadable ({fr.read_error})"
                logger.error("fleet state unreadable", extra={"fleet": f.name, "error": fr.read_error})
    return states


def _conflicts(deps: Dependencies, active: Sequence[FleetConfig], logger: Any) -> dict[str, str]:
    """Active fleet -> why it must not be scaled (another scaler, or the check itself failed)."""
    out: dict[str, str] = {}
    for kind, group in _by_kind(active).items():
        try:
            out.update(_adapter(deps, kind).conflicts(group))
        except Exception as err:
            for f in group:
                out[f.name] = f"could not check the target for other scalers ({type(err).__name__}: {err})"
    for name, why in out.items():
        logger.warning("conflict hold", extra={"fleet": name, "conflict": why})
    return out


def _record(fr: FleetReport, decision: Decision) -> None:
    fr.policy_desired = decision.desired
    fr.fallback = decision.fallback
    fr.shield_override = decision.shielded
    fr.model_version = decision.model_version
    fr.reason = decision.reason


def _apply(
    deps: Dependencies,
    to_apply: Sequence[tuple[FleetConfig, int]],
    states: Mapping[str, FleetState],
    report: RunReport,
    logger: Any,
) -> None:
    def one(item: tuple[FleetConfig, int]) -> None:
        fleet, desired = item
        fr = report.fleets[fleet.name]
        if states[fleet.name].desired == desired:
            fr.applied = desired  # already there: no call (a repeated run of the minute lands here)
            return
        try:
            _adapter(deps, fleet.kind).apply(fleet, desired)
        except Exception as err:
            fr.apply_error = f"{type(err).__name__}: {err}"
            logger.error("apply failed", extra={"fleet": fleet.name, "desired": desired, "error": fr.apply_error})
            return
        fr.applied = desired

    if len(to_apply) <= 1:
        for item in to_apply:
            one(item)
        return
    with ThreadPoolExecutor(min(MAX_CONCURRENT_APPLIES, len(to_apply))) as pool:
        list(pool.map(one, to_apply))


def _fleet_metrics(report: RunReport) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for fr in report.fleets.values():
        values: dict[str, Any] = {"Mode": modes_mod.mode_value(fr.mode)}
        if fr.mode != "off":
            values.update(
                LoadRPM=fr.load_rpm,
                FailedRPM=fr.failed_rpm,
                ServingMachines=fr.serving,
                WarmingMachines=fr.warming,
                PolicyDesired=fr.policy_desired,
                AppliedDesired=fr.applied if fr.mode == "active" else None,
                Fallback=int(fr.fallback),
                ShieldOverride=int(fr.shield_override),
                StaleDataHold=int(fr.stale_hold),
                ConflictHold=int(fr.conflict_hold),
                ShortHistory=int(fr.short_history),
            )
        if fr.mode == "shadow":
            values["Unpriceable"] = int(bool(fr.scorecard and "cannot be priced" in fr.scorecard))
        out.append((fr.name, values))
    return out


def _stage_metrics(report: RunReport) -> dict[str, Any]:
    return {
        "Runs": 1,
        "RunDurationMs": report.duration_ms,
        "FleetsDeciding": report.fleets_deciding,
        "Fallbacks": report.fallbacks,
        "ShieldOverrides": report.shield_overrides,
        "StaleDataHolds": report.stale_holds,
        "ConflictHolds": report.conflict_holds,
        "ShortHistories": report.short_histories,
        "EndpointLatencyMs": report.endpoint_latency_ms,
        "ApplyErrors": report.apply_errors,
        "ReadErrors": report.read_errors,
        "HandBackErrors": report.handback_errors,
        "HandedBack": report.handed_back,
        "ConfigErrors": int(report.config_error is not None),
        "ModesErrors": int(report.modes_error is not None),
    }


def hand_back_now(
    settings: Settings, deps: Dependencies, names: Sequence[str] | None, why: str | None, logger: Any = None
) -> dict[str, Any]:
    """Restore the teams' own scaling now (on-call's command, the stack's removal), outside the minute's run.

    `names`: the fleets (None: every fleet holding a record); `why`: latch them in shadow with this reason (None:
    drop their records, as when the stack goes). Raises when the state cannot be read or saved (the caller retries).
    """
    logger = logger or log
    body, version = deps.store.load(state.RUN_STATE_KEY)
    doc = state.decode(body)
    records: dict[str, dict[str, Any]] = {k: dict(v) for k, v in doc.get("handback", {}).items()}
    chosen = sorted(records) if names is None else list(names)
    unknown = sorted(set(chosen) - {f.name for f in settings.fleets} - set(records))
    if unknown:
        raise ValueError(f"no fleet of stage {settings.stage} is named {', '.join(unknown)}")
    errors = handback.restore_all(deps.scalers, records, chosen, why)
    deps.store.save(state.RUN_STATE_KEY, state.encode({**doc, "version": STATE_VERSION, "handback": records}), version)
    done = [n for n in chosen if n not in errors]
    logger.info("handed back", extra={"fleets": done, "errors": errors, "why": why})
    return {"handed_back": done, "errors": errors}


def parse_time(value: str) -> datetime:
    """An EventBridge `time` (`2024-05-06T12:00:00Z`) as an aware datetime."""
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


__all__ = ["Dependencies", "FleetReport", "Observation", "RunReport", "parse_time", "run"]
