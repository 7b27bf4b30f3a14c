"""Simulated fleet target: a recorded trace replayed through the project's own fleet simulator, minute by minute.

The dynamics are `simulator.FleetSim`'s (the same kernel as training and the scoreboard), the load is
`simulator.trace_scenario`'s (the same scaling), the capacity noise is drawn as the scoreboard draws it. This
module is the only one of `controller/` that imports `training` (a rename there is one edit here).

Target config: ``{"kind": "simulated", "trace": "nasa"|"worldcup", "scale": s, "seed": n, "start": date|null,
"capacity_sigma": number|null}`` (null: the simulator's capacity noise; 0: nominal capacity every minute).

- **Load**: the trace scaled so that its training part averages ``20 * scale`` machines of the fleet's
  ``capacity_rpm_per_machine`` (``scale`` 1 is the scoreboard's scale), from ``start`` (null: the first minute of
  the trace's held-out evaluation part, the scoreboard's ``<trace>-eval`` scenario), in the part (``train`` or
  ``eval``) that holds it. The replay is aligned with the wall clock: it begins at the first trace minute at or
  after ``start`` with the same minute of the week (UTC) as the first run, so the time features the policy sees
  (the run's timestamp) match the traffic's, and wall minute ``w`` replays trace minute ``i0 + (w - w0)``. At the
  end of the part it starts over at the part's beginning (again aligned), with the fleet as it is.
- **Capacity noise**: ``FleetSim``'s standard-normal draws from ``SeedSequence([seed, crc32(name)])``, ``name``
  the scenario's (e.g. ``worldcup-eval``): exactly the scoreboard's draws for that scenario evaluated alone with
  seed ``seed`` (``training.evaluation.scoreboard._group_seed``); later replays of the part add the replay number.
- **Timeline** (the scoreboard's semantics): a run at wall minute ``m`` first ticks: every minute ``< m`` not yet
  simulated is simulated with the desired count in force then (``FleetSim.advance``), and each minute's requests
  and failed requests are published to CloudWatch (``RLAutoscaler/SimulatedFleet``, ``RequestCount``,
  ``FailedRequests``, dims {Stage, Fleet}, timestamped with that wall minute). The controller then sees the loads
  of minutes ``< m`` and the fleet after minute ``m - 1`` (``read``), decides minute ``m``, and ``apply`` sets the
  count the next tick simulates minute ``m`` with. A run repeated for the same minute simulates nothing more.
  The first tick publishes the ``HISTORY`` minutes before the replay (the history the policy needs).
- **Who drives it**: like a real target, the fleet holds a desired count. While the controller runs it in
  ``active`` mode (the core asks ``conflicts`` for exactly its active fleets each run: that call marks the fleet
  controlled for the minute), minutes run at the count ``apply`` set. A minute more than ``DRIVEN_MINUTES`` after
  the last controlled run (shadow or off mode, or a controller that stopped) runs at the count the fleet's own
  scaler sets, the one target-tracking rule (``inference.fallback.target_tracking``) on the last minute's load, as
  a real fleet's own auto scaling would; it stands down as soon as the controller goes active, as a team removes
  its scaling policy before switching to active (so ``conflicts`` never reports one). In shadow mode the dashboard
  thus shows the policy beside that rule.
- **Catch-up**: at most ``MAX_CATCH_UP_MINUTES`` are simulated per run; a longer gap (the schedule was off) skips
  the older minutes (the replay jumps ahead, warming machines arrive), counted in ``skipped_minutes`` and logged.
- **State** between runs: one gzipped JSON object per fleet in the state store (``simulated/<fleet>.json.gz``):
  replay position, serving machines, the warming ring, failed requests of the last minute, the desired count,
  totals (profit, requests, ...). A changed target config (trace, scale, seed, start, capacity, bounds) starts
  the replay afresh.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from controller.config import SIMULATED_FAILED, SIMULATED_NAMESPACE, SIMULATED_REQUESTS
from controller.state import decode, encode
from inference.fallback import target_tracking
from inference.features import HISTORY, MINUTES_PER_WEEK, minute_of_week

# The only imports of training/ in controller/ (the simulator core; the Lambda ships it).
from simulator import STEP_KEYS, TRACES, FleetSim, Scenario, SimConfig, trace_part_minutes, trace_scenario
from simulator.config import fleet_config
from simulator.loads import TRAINING_PAST_MINUTES, trace_past

from .base import FleetState, TargetError

if TYPE_CHECKING:
    from controller.aws import Clients
    from controller.config import FleetConfig
    from controller.state import Store

log = logging.getLogger(__name__)

TRACE_MEAN_MACHINES = 20.0
"""Scale 1: the trace's training part averages this many machines
(``training.evaluation.cases.TRACE_MEAN_MACHINES``)."""
MAX_CATCH_UP_MINUTES = 60
"""Most minutes one run simulates; older unsimulated minutes are skipped."""
DRIVEN_MINUTES = 15
"""A minute within this many minutes of the last controlled (active) run holds the applied count; later ones run
on the fleet's own target-tracking scaler."""
METRICS_PER_CALL = 1000
"""PutMetricData accepts at most 1000 data points per call."""
STATE_VERSION = 1
TOTALS = (
    "reward", "revenue", "machine_cost", "downtime_cost", "load", "served", "failed", "down",
    "machine_minutes", "warming_minutes", "scaling_actions", "minutes",
)  # fmt: skip
"""Sums kept per fleet (``reward`` is the profit in dollars), named as ``simulator.TOTAL_KEYS``."""
_COL = {k: i for i, k in enumerate(STEP_KEYS)}


def state_key(fleet: str) -> str:
    return f"simulated/{fleet}.json.gz"


def minute_floor(now: datetime) -> int:
    """Minutes since the epoch of a (UTC or naive-as-UTC) time, rounded down."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return math.floor(now.timestamp() / 60)


def wall_time(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


def noise_seed(seed: int, scenario_name: str, replay: int = 0) -> np.random.SeedSequence:
    """The scoreboard's noise seed for one scenario evaluated alone; a later replay adds its number."""
    entropy = [seed, zlib.crc32(scenario_name.encode())]
    return np.random.SeedSequence(entropy if replay == 0 else [*entropy, replay])


@dataclass(frozen=True)
class Window:
    """Where a replay lies in its trace: a part and the offset of its first minute in that part."""

    part: str
    offset: int


def _part_bounds(trace: str, part: str) -> tuple[int, int]:
    """Raw trace indices [lo, hi) of a part, as ``simulator.trace_scenario`` cuts it."""
    train = trace_part_minutes(trace, "train")
    if part == "train":
        return HISTORY, HISTORY + train
    return HISTORY + train, HISTORY + train + trace_part_minutes(trace, "eval")


def choose_window(target: dict[str, Any], wall_minute: int, at_part_start: str | None = None) -> Window:
    """The replay's start for a first run at ``wall_minute``: at or after ``start``, same minute of the week.

    ``at_part_start``: start over at that part's beginning (a replay that reached the end of its part)."""
    trace = target["trace"]
    origin = TRACES[trace].start
    if at_part_start is not None:
        part = at_part_start
        index = _part_bounds(trace, part)[0]
    elif target.get("start") is None:
        part = "eval"
        index = _part_bounds(trace, part)[0]
    else:
        start = datetime.fromisoformat(target["start"])
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
        index = int((start - origin).total_seconds() // 60)
        for part in ("train", "eval"):
            lo, hi = _part_bounds(trace, part)
            if lo <= index < hi:
                break
        else:
            lo, hi = _part_bounds(trace, "train")[0], _part_bounds(trace, "eval")[1]
            raise TargetError(
                f"simulated trace {trace}: start {target['start']} is outside the trace "
                f"({origin + timedelta(minutes=lo):%Y-%m-%d %H:%M} to {origin + timedelta(minutes=hi):%Y-%m-%d %H:%M})"
            )
    lo, hi = _part_bounds(trace, part)
    shift = int(minute_of_week(wall_time(wall_minute))[0] - minute_of_week(origin + timedelta(minutes=index))[0])
    offset = index - lo + shift % MINUTES_PER_WEEK
    if offset >= hi - lo - 1:  # past the part's end: its beginning, aligned
        lo_shift = int(minute_of_week(wall_time(wall_minute))[0] - minute_of_week(origin + timedelta(minutes=lo))[0])
        offset = lo_shift % MINUTES_PER_WEEK
    return Window(part, offset)


def sim_config(fleet: FleetConfig) -> SimConfig:
    """The simulator's config for a fleet (``simulator.fleet_config``, as training and the scoreboard build it):
    its capacity, bounds and economics; the target's ``capacity_sigma`` when set."""
    sigma = fleet.target.get("capacity_sigma")
    return fleet_config(
        fleet.capacity_rpm_per_machine,
        min_machines=fleet.min_machines,
        max_machines=fleet.max_machines,
        economics=getattr(fleet, "economics", None),
        observation_lag_minutes=0,  # the fleet is only advanced here; CloudWatch gives the controller its lag
        **({} if sigma is None else {"capacity_sigma": float(sigma)}),
    )


def scenario_for(fleet: FleetConfig, window: Window) -> Scenario:
    """The replayed load: ``simulator.trace_scenario`` from the window's start to the end of its part."""
    t = fleet.target
    return trace_scenario(
        t["trace"],
        window.part,
        mean_machines=TRACE_MEAN_MACHINES * float(t["scale"]),
        capacity=fleet.capacity_rpm_per_machine,
        offset=window.offset,
        seed=int(t["seed"]),
    )


def past_for(fleet: FleetConfig, scenario: Scenario) -> np.ndarray:
    """The last ``TRAINING_PAST_MINUTES`` of the trace before the replayed window's history, exactly as the
    scoreboard's ``trace_case`` has it (``simulator.trace_past``)."""
    return trace_past(
        fleet.target["trace"],
        int(scenario.meta["first_minute"]),
        mean_machines=TRACE_MEAN_MACHINES * float(fleet.target["scale"]),
        capacity=fleet.capacity_rpm_per_machine,
    )[-TRAINING_PAST_MINUTES:]


def identity(fleet: FleetConfig) -> dict[str, Any]:
    """What the state was made for: a change restarts the replay."""
    t = fleet.target
    return {
        "trace": t["trace"], "scale": float(t["scale"]), "seed": int(t["seed"]), "start": t.get("start"),
        "capacity": fleet.capacity_rpm_per_machine, "min": fleet.min_machines, "max": fleet.max_machines,
        **({"sigma": t["capacity_sigma"]} if t.get("capacity_sigma") is not None else {}),
    }  # fmt: skip


def build_sim(fleet: FleetConfig, doc: dict[str, Any]) -> FleetSim:
    """The simulator at the position the state records (its fleet restored)."""
    window = Window(doc["part"], int(doc["offset"]))
    scenario = scenario_for(fleet, window)
    sim = FleetSim(
        sim_config(fleet), [scenario], seed=noise_seed(int(fleet.target["seed"]), scenario.name, doc["replay"])
    )
    sim.t = int(doc["t"])
    sim.active = np.array([int(doc["active"])], dtype=np.int64)
    sim.ring = np.array([doc["ring"]], dtype=np.int64).reshape(1, -1)
    sim.head = int(doc["head"])
    sim.failed = np.array([float(doc["failed"])])
    return sim


def _save_fleet(doc: dict[str, Any], sim: FleetSim) -> None:
    doc["t"] = int(sim.t)
    doc["active"] = int(sim.active[0])
    doc["ring"] = [int(x) for x in sim.ring[0]]
    doc["head"] = int(sim.head)
    doc["failed"] = float(sim.failed[0])


def new_state(fleet: FleetConfig, wall_minute: int) -> tuple[dict[str, Any], FleetSim]:
    """A replay starting at ``wall_minute`` with the scenario's initial fleet."""
    window = choose_window(dict(fleet.target), wall_minute)
    doc: dict[str, Any] = {
        "version": STATE_VERSION,
        "identity": identity(fleet),
        "part": window.part,
        "offset": window.offset,
        "replay": 0,
        "t0": wall_minute,
        "t": 0,
        "controlled_minute": None,
        "totals": dict.fromkeys(TOTALS, 0.0),
        "skipped_minutes": 0,
        "replays_started": 1,
    }
    scenario = scenario_for(fleet, window)
    sim = FleetSim(sim_config(fleet), [scenario], seed=noise_seed(int(fleet.target["seed"]), scenario.name))
    _save_fleet(doc, sim)
    doc["desired"] = int(sim.active[0])
    doc["scenario"] = _describe(scenario)
    return doc, sim


def _describe(scenario: Scenario) -> dict[str, Any]:
    return {"name": scenario.name, "start": scenario.start.isoformat(), "first_minute": scenario.meta["first_minute"]}


class SimulatedTarget:
    """Every simulated fleet of a stage; state in ``store``, metrics through the stage's CloudWatch client."""

    kind: ClassVar[str] = "simulated"

    def __init__(self, clients: Clients, store: Store, stage: str) -> None:
        self.clients = clients
        self.store = store
        self.stage = stage
        self._docs: dict[str, tuple[dict[str, Any], str | None]] = {}
        """Fleet -> (state, version) as the last tick left it."""
        self._errors: dict[str, Exception] = {}
        self._now: int | None = None
        self.simulated_minutes = 0
        """Minutes simulated by this adapter's ticks (all fleets)."""

    # -- tick ---------------------------------------------------------------------------------------------------
    def tick(self, fleets: Sequence[FleetConfig], now: datetime) -> None:
        """Simulate every fleet up to (not including) the minute of ``now``; publish those minutes."""
        self._now = minute_floor(now)
        data: list[dict[str, Any]] = []
        for fleet in fleets:
            try:
                data += self._tick_one(fleet, self._now)
                self._errors.pop(fleet.name, None)
            except Exception as err:  # one fleet's failure is its own: read() reports it
                log.exception("simulated fleet %s: tick failed", fleet.name)
                self._errors[fleet.name] = err
        cloudwatch = self.clients.get("cloudwatch")
        for i in range(0, len(data), METRICS_PER_CALL):
            cloudwatch.put_metric_data(Namespace=SIMULATED_NAMESPACE, MetricData=data[i : i + METRICS_PER_CALL])

    def _tick_one(self, fleet: FleetConfig, now: int) -> list[dict[str, Any]]:
        body, version = self.store.load(state_key(fleet.name))
        try:
            doc = decode(body)
        except Exception:  # a corrupt object: start afresh rather than stop the fleet
            log.exception("simulated fleet %s: unreadable state, starting afresh", fleet.name)
            doc = {}
        out: list[dict[str, Any]] = []
        if doc.get("version") != STATE_VERSION or doc.get("identity") != identity(fleet):
            first = not doc
            if doc:
                log.warning("simulated fleet %s: target config changed, the replay starts afresh", fleet.name)
            doc, sim = new_state(fleet, now)
            if first:  # (a restarted replay keeps what was published: CloudWatch would add a second copy up)
                # what CloudWatch would already hold, failed requests 0: the day of the trace before the replay
                # (the policy's character window) and the scenario's own history
                known = np.concatenate([past_for(fleet, sim.scenarios[0]), sim.loads[0, :HISTORY]])
                for k, value in enumerate(known):
                    out += self._points(fleet, now - len(known) + k, float(value), 0.0)
        else:
            sim, points = self._advance(fleet, doc, build_sim(fleet, doc), now)
            out += points
        _save_fleet(doc, sim)
        self._docs[fleet.name] = (doc, self.store.save(state_key(fleet.name), encode(doc), version))
        return out  # published only once the state that produced them is saved (no double counting)

    def _advance(
        self, fleet: FleetConfig, doc: dict[str, Any], sim: FleetSim, now: int
    ) -> tuple[FleetSim, list[dict[str, Any]]]:
        """Simulate the minutes before ``now``; the simulator (a new one after a replay restarts) and the points."""
        out: list[dict[str, Any]] = []
        gap = now - (doc["t0"] + doc["t"])
        if gap > MAX_CATCH_UP_MINUTES:
            skip = gap - MAX_CATCH_UP_MINUTES
            log.warning("simulated fleet %s: %d minutes not simulated (runs missed), skipped", fleet.name, skip)
            doc["skipped_minutes"] += skip
            sim.active += sim.ring.sum(axis=1)  # long enough for every warming machine to arrive
            sim.ring[:] = 0
            sim.t += skip
            doc["t"] = sim.t
            if sim.t >= sim.minutes:
                sim = self._next_replay(fleet, doc, sim, doc["t0"] + sim.t)
        totals = doc["totals"]
        while doc["t0"] + sim.t < now:
            if sim.t >= sim.minutes:
                sim = self._next_replay(fleet, doc, sim, doc["t0"] + sim.t)
            wall = doc["t0"] + sim.t
            desired = self._desired_at(fleet, doc, sim, wall)
            row = sim.advance(np.array([desired], dtype=np.int64))[0]
            for key in ("reward", "revenue", "machine_cost", "downtime_cost", "load", "served", "failed", "down"):
                totals[key] += float(row[_COL[key]])
            totals["machine_minutes"] += float(row[_COL["active"]])
            totals["warming_minutes"] += float(row[_COL["pending"]])
            totals["scaling_actions"] += 1.0 if row[_COL["delta"]] != 0 else 0.0
            totals["minutes"] += 1.0
            out += self._points(fleet, wall, float(row[_COL["load"]]), float(row[_COL["failed"]]))
            self.simulated_minutes += 1
        doc["t"] = sim.t
        return sim, out

    def _next_replay(self, fleet: FleetConfig, doc: dict[str, Any], old: FleetSim, wall: int) -> FleetSim:
        """The part is over: replay it again from its beginning (aligned to ``wall``) with the fleet as it is."""
        window = choose_window(dict(fleet.target), wall, at_part_start=doc["part"])
        doc["replay"] += 1
        doc["replays_started"] += 1
        log.info("simulated fleet %s: end of the %s part, replay %d starts", fleet.name, doc["part"], doc["replay"])
        scenario = scenario_for(fleet, window)
        sim = FleetSim(
            sim_config(fleet), [scenario], seed=noise_seed(int(fleet.target["seed"]), scenario.name, doc["replay"])
        )
        sim.active, sim.ring, sim.head, sim.failed = old.active, old.ring, old.head, old.failed
        doc.update(part=window.part, offset=window.offset, t0=wall, t=0)
        doc["scenario"] = _describe(scenario)
        return sim

    def _desired_at(self, fleet: FleetConfig, doc: dict[str, Any], sim: FleetSim, wall: int) -> int:
        """The count in force at wall minute ``wall``: the applied one while controlled, else the own scaler's."""
        controlled = doc.get("controlled_minute")
        if controlled is not None and 0 <= wall - controlled < DRIVEN_MINUTES:
            return int(doc["desired"])
        last_load = sim.loads[0, HISTORY + sim.t - 1]
        own = int(target_tracking(last_load, fleet.capacity_rpm_per_machine))
        doc["desired"] = min(max(own, fleet.min_machines), fleet.max_machines)
        return doc["desired"]

    def _points(self, fleet: FleetConfig, wall: int, load: float, failed: float) -> list[dict[str, Any]]:
        dims = [{"Name": "Fleet", "Value": fleet.name}, {"Name": "Stage", "Value": self.stage}]  # sorted, as queried
        stamp = wall_time(wall)
        return [
            {"MetricName": name, "Dimensions": dims, "Timestamp": stamp, "Value": value, "Unit": "Count",
             "StorageResolution": 60}
            for name, value in ((SIMULATED_REQUESTS, load), (SIMULATED_FAILED, failed))
        ]  # fmt: skip

    # -- the adapter interface ----------------------------------------------------------------------------------
    def _doc(self, fleet: FleetConfig) -> tuple[dict[str, Any], str | None]:
        if fleet.name not in self._docs:
            body, version = self.store.load(state_key(fleet.name))
            doc = decode(body)
            if doc.get("identity") != identity(fleet):
                raise TargetError(f"simulated fleet {fleet.name}: not started yet (no tick has run for it)")
            self._docs[fleet.name] = (doc, version)
        return self._docs[fleet.name]

    def read(self, fleets: Sequence[FleetConfig]) -> dict[str, FleetState | Exception]:
        out: dict[str, FleetState | Exception] = {}
        for fleet in fleets:
            if fleet.name in self._errors:
                out[fleet.name] = self._errors[fleet.name]
                continue
            try:
                doc, _ = self._doc(fleet)
            except Exception as err:
                out[fleet.name] = err
                continue
            serving, warming = int(doc["active"]), int(sum(doc["ring"]))
            out[fleet.name] = FleetState(serving=serving, warming=warming, desired=int(doc["desired"]))
        return out

    def conflicts(self, fleets: Sequence[FleetConfig]) -> dict[str, str]:
        """None; the call marks these fleets controlled this minute, so their own scaler stands down."""
        for fleet in fleets:
            if fleet.name in self._errors:
                continue
            doc, version = self._doc(fleet)
            if self._now is not None and doc.get("controlled_minute") != self._now:
                doc["controlled_minute"] = self._now
                self._docs[fleet.name] = (doc, self.store.save(state_key(fleet.name), encode(doc), version))
        return {}

    def apply(self, fleet: FleetConfig, desired: int) -> None:
        """Set the count the next tick simulates with (absolute; the same count twice changes nothing)."""
        doc, version = self._doc(fleet)
        if doc.get("desired") == int(desired):
            return
        doc["desired"] = int(desired)
        self._docs[fleet.name] = (doc, self.store.save(state_key(fleet.name), encode(doc), version))


def load_state(store: Store, fleet: str) -> dict[str, Any]:
    """A simulated fleet's state document (for the rehearsal and on-call tooling); {} when none."""
    return decode(store.load(state_key(fleet))[0])
