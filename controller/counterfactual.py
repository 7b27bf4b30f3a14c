"""A shadow fleet's counterfactual: the fleet the policy would be running, and both fleets priced the same way.

Pure (no boto3): the run state's ``counterfactual`` entry of a fleet in, the next one out, with the minutes priced.

- **Its own fleet.** Serving machines, the warming ring and the desired count of the policy's fleet. The endpoint
  decides on *these* machines and on *its* failed requests, fed the real fleet's observed requests; the controller's
  limits (change per minute from its own base, no scale-in while its requests fail, bounds) and the simulator's
  mechanics (warm-up, cut order: ``simulator.kernel.order``/``arrive``) move it. It is anchored to the real fleet
  only when shadow starts (no entry: the fleet was not in shadow at the last saved run) or the fleet's
  capacity, bounds, change limit or economics change; the reason is logged and kept (``reason``).
- **Priced each minute, both sides, once the minute's requests are published** (the decision of minute ``m`` is
  priced by the first run that observes ``m``): the policy's fleet serves ``min(requests, floor(serving x
  capacity per machine))`` (nominal capacity: a real fleet's capacity draw is not known); the real fleet served the
  requests minus its ``failed`` metrics (or, with none configured, minus what its serving machines could not take,
  and the minute says so: ``fleet_failed_estimated``), with the serving machines the target reported at the
  minute's start and end (``served_through``: a cut counts from its minute, an arrival from the next). Both
  through ``simulator.kernel.account`` under the fleet's economics (``inference.economics``), the one accounting
  of served, failed, down and profit.
- **Faults.** A minute decided on stale data, or one no run decided (a missed or failed run), holds the desired
  count (machines already ordered still arrive) and is priced when its requests arrive (``stale``); a minute on the
  fallback rule is marked ``fallback`` (counted apart by the scorecard); a minute whose requests are no longer in
  the observed history, or have not come within ``MAX_QUEUE_MINUTES``, or beyond a gap of ``MAX_HELD_MINUTES``
  without runs, is dropped, counted in ``unpriced``. Economics that do not parse make the fleet
  unpriceable (``Unpriceable``): nothing is published rather than zeros.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from controller.config import FleetConfig
from controller.observe import Observation, Series
from controller.publish import SCORECARD_METRICS
from controller.targets.base import FleetState
from inference import economics
from simulator import SimConfig, fleet_config, kernel
from simulator.kernel import kernel_inputs


def _plain(fn: Any) -> Any:
    """The kernel function as plain Python (what the Lambda runs: numpy only). Where numba is installed the kernel
    is compiled; a counterfactual makes a few scalar calls a minute, for which compiling costs seconds and about
    100 MB of the controller's memory, and saves nothing."""
    return getattr(fn, "py_func", fn)


account, arrive, capacity_of, order = (_plain(f) for f in (kernel.account, kernel.arrive, kernel.capacity_of,
                                                           kernel.order))  # fmt: skip

VERSION = 1
MAX_QUEUE_MINUTES = 360
"""Decided minutes kept awaiting their requests; older ones (six hours without published requests) are dropped,
counted in ``unpriced`` (the state stays small while a whole stage's metrics are missing)."""
MAX_HELD_MINUTES = 60
"""Minutes no run decided that one run fills in (held); a longer gap (the schedule was off) is skipped, counted in
``unpriced``, so one run never has hours of minutes to step."""
KEEP_FAILED_MINUTES = 16
"""Priced minutes whose failed requests are kept for the next observations (beyond any publication lag)."""
FALLBACK, STALE, MISSED = 1, 2, 4
"""Flags of a decided minute: the rule decided it; it held on stale data; no run decided it (held)."""


class Unpriceable(ValueError):
    """The fleet's counterfactual cannot be priced (its economics do not parse); the message says why."""


def economics_of(fleet: FleetConfig) -> dict[str, Any]:
    """The fleet's economics, complete (``inference.economics.parse``; absent: the simulator's defaults)."""
    try:
        return economics.parse(getattr(fleet, "economics", None), f"fleets.{fleet.name}.economics")
    except economics.EconomicsError as err:
        raise Unpriceable(str(err)) from None


def sim_config(fleet: FleetConfig, econ: Mapping[str, Any]) -> SimConfig:
    """The simulator's config of the policy's fleet (``simulator.fleet_config``): its capacity, bounds, economics."""
    return fleet_config(
        fleet.capacity_rpm_per_machine, min_machines=fleet.min_machines, max_machines=fleet.max_machines,
        economics=econ,
    )  # fmt: skip


def identity(fleet: FleetConfig, econ: Mapping[str, Any]) -> dict[str, Any]:
    """What the counterfactual was anchored under: a change re-anchors it."""
    return {
        "capacity": fleet.capacity_rpm_per_machine, "min": fleet.min_machines, "max": fleet.max_machines,
        "step": fleet.max_change_per_minute, "economics": dict(econ),
    }  # fmt: skip


def served_through(serving: int, warming: int, serving_after: int, warming_after: int) -> int:
    """Machines that served through a minute, from the target's counts at its start and at its end: a cut counts
    from the minute it is made, a machine that arrived at the minute's end (warming before, serving after) from the
    next: ``min(start, end - arrivals)``, arrivals being the warming machines that left (exact when a cut removes
    serving machines first)."""
    return max(0, min(serving, serving_after - max(0, warming - warming_after)))


@dataclass(frozen=True)
class PricedMinute:
    """One minute, both sides, in dollars, requests and machine-minutes (serving machines, as the simulator)."""

    minute: int
    policy_profit: float
    fleet_profit: float
    policy_failed: float
    fleet_failed: float
    policy_machines: float
    fleet_machines: float
    fallback: bool = False
    stale: bool = False
    fleet_failed_estimated: bool = False

    def metrics(self) -> dict[str, float]:
        """The scorecard's metrics of this minute (``controller.publish.FLEET_METRICS`` names)."""
        values = (self.policy_profit, self.fleet_profit, self.policy_failed, self.fleet_failed,
                  self.policy_machines, self.fleet_machines)  # fmt: skip
        return dict(zip(SCORECARD_METRICS, values))


class Counterfactual:
    """One shadow fleet's counterfactual for one run (see the module docstring)."""

    def __init__(self, fleet: FleetConfig, doc: dict[str, Any], econ: Mapping[str, Any]) -> None:
        self.fleet = fleet
        self.doc = doc
        self.params, self.flags = kernel_inputs(sim_config(fleet, econ))
        self.warmup = int(econ["warmup_latency"])
        self.ring = np.asarray(doc["ring"], dtype=np.int64)
        self.priced: list[PricedMinute] = []
        self.notes: list[str] = []

    # -- lifecycle ----------------------------------------------------------------------------------------------
    @classmethod
    def resume(
        cls, fleet: FleetConfig, stored: Mapping[str, Any] | None, real: FleetState | None, minute: int
    ) -> Counterfactual | None:
        """The stored counterfactual, or one anchored to the real fleet (reason in ``notes``); None when it must
        start and the real fleet could not be read. Raises Unpriceable."""
        econ = economics_of(fleet)
        ident = identity(fleet, econ)
        if stored and stored.get("version") == VERSION and stored.get("identity") == ident:
            doc = {k: (list(v) if isinstance(v, list) else v) for k, v in stored.items()}
            cf = cls(fleet, doc, econ)
            if real is not None:
                queue = cf.doc["queue"]
                if queue and int(queue[-1][0]) == minute - 1:  # the real fleet through the last minute
                    through = served_through(int(queue[-1][3]), int(queue[-1][4]), real.serving, real.warming)
                    queue[-1][3:5] = [through, real.warming + real.serving - through]  # warming: before arrivals
                cf.doc["real"] = [real.serving, real.warming]
            return cf
        if real is None:
            return None
        why = "shadow started" if not stored else "the fleet's config changed (capacity, bounds, limit or economics)"
        w = max(int(econ["warmup_latency"]), 1)
        ring = [0] * w
        if real.warming:  # when they arrive is not known: as if ordered this minute (the latest they can arrive)
            ring[(w - 1) % w] = real.warming
        doc = {
            "version": VERSION, "identity": ident, "anchored": minute, "reason": why, "minute": minute - 1,
            "active": real.serving, "ring": ring, "head": 0, "desired": real.desired,
            "real": [real.serving, real.warming], "queue": [], "failed": [], "unpriced": 0,
        }  # fmt: skip
        cf = cls(fleet, doc, econ)
        cf.notes.append(f"counterfactual anchored to the real fleet at minute {minute}: {why}")
        return cf

    def to_json(self) -> dict[str, Any]:
        self.doc["ring"] = [int(x) for x in self.ring]
        return self.doc

    # -- what the endpoint decides on ----------------------------------------------------------------------------
    def fleet_state(self) -> FleetState:
        doc = self.doc
        return FleetState(serving=int(doc["active"]), warming=int(self.ring.sum()), desired=int(doc["desired"]))

    def observation(self, real: Observation) -> Observation:
        """The real fleet's requests, this fleet's failed requests in the newest observed minute."""
        failed = real.failed_rpm
        if real.newest is not None and real.newest >= self.doc["anchored"]:
            failed = dict((int(m), f) for m, f in self.doc["failed"]).get(real.newest, 0.0)
        return Observation(
            load_rpm=real.load_rpm, failed_rpm=failed, newest=real.newest, stale=real.stale,
            fetch_error=real.fetch_error,
        )  # fmt: skip

    # -- pricing ------------------------------------------------------------------------------------------------
    def price(self, series: Series | None, newest: int | None) -> list[PricedMinute]:
        """Price every decided minute whose requests are published (``newest`` and before); kept in ``priced``."""
        if series is None or newest is None:
            return []
        keep, out = [], []
        for entry in self.doc["queue"]:
            m = int(entry[0])
            if m > newest:
                keep.append(entry)
            elif m < series.first:
                self.doc["unpriced"] += 1
            else:
                out.append(self._price(entry, series.load(m, m)[0], series.failed_at(m)))
        self.doc["queue"] = keep
        if out:
            failed = self.doc["failed"] + [[p.minute, p.policy_failed] for p in out]
            self.doc["failed"] = failed[-KEEP_FAILED_MINUTES:]
        self.priced += out
        return out

    def _price(self, entry: list[Any], load: float, real_failed: float) -> PricedMinute:
        minute, active, pending, serving, warming, flags = (int(x) for x in entry)
        p, f = self.params, self.flags
        policy = account(load, capacity_of(active, 0.0, p, f), active, pending, p, f)
        estimated = not self.fleet.failed
        if estimated:
            real_failed = load - min(load, float(capacity_of(serving, 0.0, p, f)))
        fleet = account(load, load - min(real_failed, load), serving, warming, p, f)
        return PricedMinute(
            minute=minute, policy_profit=float(policy[0]), fleet_profit=float(fleet[0]),
            policy_failed=float(policy[5]), fleet_failed=float(fleet[5]), policy_machines=float(active),
            fleet_machines=float(serving), fallback=bool(flags & FALLBACK), stale=bool(flags & (STALE | MISSED)),
            fleet_failed_estimated=estimated,
        )  # fmt: skip

    # -- deciding -----------------------------------------------------------------------------------------------
    def decide(self, minute: int, desired: int | None, *, fallback: bool = False, stale: bool = False) -> bool:
        """Minute ``minute`` runs at ``desired`` (None: hold); minutes no run decided hold first. False when the
        minute was already decided (a repeated or late run): nothing changes."""
        last = int(self.doc["minute"])
        if minute <= last:
            return False
        missed = minute - last - 1
        if missed > MAX_HELD_MINUTES:  # a long gap: the machines ordered have all arrived, those minutes are lost
            self.doc["active"] = int(self.doc["active"]) + int(self.ring.sum())
            self.ring[:] = 0
            self.doc["unpriced"] += missed - MAX_HELD_MINUTES
            last = minute - 1 - MAX_HELD_MINUTES
        for m in range(last + 1, minute):
            self._step(m, int(self.doc["desired"]), MISSED)
        flags = (FALLBACK if fallback else 0) | (STALE if stale or desired is None else 0)
        self._step(minute, int(self.doc["desired"]) if desired is None else int(desired), flags)
        queue = self.doc["queue"]
        if len(queue) > MAX_QUEUE_MINUTES:
            self.doc["unpriced"] += len(queue) - MAX_QUEUE_MINUTES
            self.doc["queue"] = queue[-MAX_QUEUE_MINUTES:]
        return True

    def _step(self, minute: int, desired: int, flags: int) -> None:
        """The simulator's minute for this fleet: order or cut, record the minute for pricing, arrivals."""
        head = int(self.doc["head"])
        active, _ = order(desired, int(self.doc["active"]), self.ring, head, self.flags)
        serving, warming = self.doc["real"]
        self.doc["queue"].append([minute, int(active), int(self.ring.sum()), serving, warming, flags])
        self.doc["active"] = int(arrive(active, self.ring, head, self.flags))
        if self.warmup > 0:
            self.doc["head"] = (head + 1) % len(self.ring)
        self.doc["desired"] = desired
        self.doc["minute"] = minute


def prepare(
    fleets: list[FleetConfig],
    stored: Mapping[str, Any],
    states: Mapping[str, FleetState],
    history: Mapping[str, Series],
    observations: Mapping[str, Observation],
    minute: int,
) -> tuple[dict[str, Counterfactual], dict[str, str]]:
    """Every shadow fleet's counterfactual for the run deciding ``minute``, its published minutes priced; and, per
    fleet that has none this run, why (unpriceable, or not started: the real fleet could not be read)."""
    out: dict[str, Counterfactual] = {}
    why: dict[str, str] = {}
    for fleet in fleets:
        try:
            cf = Counterfactual.resume(fleet, stored.get(fleet.name), states.get(fleet.name), minute)
        except Unpriceable as err:
            why[fleet.name] = f"scorecard: the counterfactual cannot be priced ({err})"
            continue
        if cf is None:
            why[fleet.name] = "scorecard: the counterfactual waits for a readable target to start from"
            continue
        obs = observations.get(fleet.name)
        cf.price(history.get(fleet.name), obs.newest if obs is not None else None)
        out[fleet.name] = cf
    return out, why
