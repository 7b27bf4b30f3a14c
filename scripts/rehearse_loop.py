"""The closed-loop rehearsal: the real controller drives a simulated fleet through the local endpoint, minute by minute.

    python scripts/rehearse_loop.py [--model artifacts/model/model.tar.gz] [--trace worldcup] [--hours 24]
                                    [--outage-minutes 60] [--seed 0] [--economics JSON] [--json out.json]

Everything is the production code except AWS: `controller.run.run` (observe, decide, limits, apply, publish),
the `simulated` target (the training simulator replaying the trace's held-out evaluation part, its state in S3),
`inference.serve` (gunicorn, the packaged policy) reached with a boto3 `sagemaker-runtime` client, and moto
(in-process) for CloudWatch, S3 and SSM. The wall clock of the rehearsal is the trace's own time, so the
controller's timestamps are the scoreboard's. Passes over the same held-out minutes, then checks:

1. **clean**: every minute decided by the endpoint. Its profit must equal the scoreboard's for the served policy
   (`training.evaluation.scoreboard.run_policy` with `ArtifactPolicy` on `trace_case(trace, "eval", minutes=...)`,
   the same capacity-noise seed): same load, same noise, same observation (the controller reads complete minutes
   `PUBLICATION_LAG_MINUTES` old, the scoreboard's policy observes with `observation_lag_minutes` set to the same).
2. **outage**: the endpoint is killed (SIGTERM) for `--outage-minutes` in the middle and started again. Every
   minute of the outage must fall back to the target-tracking rule, with a profit over the outage no worse than
   that rule alone from the same fleet state (the simulator restored from the fleet's state at the outage's
   start), and no minute after it may fall back.
3. **shadow**: the fleet in shadow mode on its own target-tracking scaler; the controller keeps the policy's
   counterfactual fleet and publishes the scorecard, read back with `controller.scorecard`. Its fleet side must
   equal the simulated fleet's own profit to the cent; its policy side is reported beside the clean pass (priced
   at nominal capacity, it does not see the capacity draws). Then both passes again with every minute at nominal
   capacity (`capacity_sigma` 0): the policy side must equal the policy active from the start within 0.5 %.

`--economics` (the fleet config's `economics` object) prices the rehearsed fleet: the controller sends it with
each decision, its simulated fleet and the scoreboard both run at it.

The model is `--model`, else `artifacts/model/model.tar.gz` when present, else a small random policy packaged
here. Prints a summary (and writes it as JSON with `--json`); exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference.endpoint import LocalEndpoint  # noqa: E402

FLEET = "rehearsal"
STAGE = "Rehearsal"
ENDPOINT = "rl-autoscaler-rehearsal"
BUCKET = "rl-autoscaler-rehearsal-state"
MODES_PARAMETER = "/rl-autoscaler/rehearsal/controller/modes"
REGION = "eu-west-1"
CENT = 0.005
"""Profits that differ by less than half a cent are equal."""
SCORECARD_TOLERANCE = 0.005
"""The shadow scorecard's sides equal the simulator's profits within 0.5 % (the policy's side is priced at nominal
capacity: with the simulator's capacity noise it can differ by what the noise costs the policy)."""


def fleet_spec(
    trace: str, seed: int, mode: str = "active", economics: dict[str, Any] | None = None,
    capacity_sigma: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The rehearsed fleet: the scoreboard's bounds (`SimConfig`'s 1..10,000 machines, no change limit);
    ``capacity_sigma`` 0: every minute at nominal capacity (None: the simulator's capacity noise)."""
    target: dict[str, Any] = {"kind": "simulated", "trace": trace, "scale": 1.0, "seed": seed, "start": None}
    if capacity_sigma is not None:
        target["capacity_sigma"] = capacity_sigma
    return {
        "name": FLEET,
        "mode": mode,
        "capacity_rpm_per_machine": 300,
        "min_machines": 1,
        "max_machines": 10_000,
        "max_change_per_minute": 10_000,
        "target": target,
        **({"economics": economics} if economics else {}),
    }


def default_model(work: Path) -> Path:
    """The main job's artifact when there is one, else a small random policy packaged into ``work``."""
    trained = ROOT / "artifacts" / "model" / "model.tar.gz"
    if trained.is_file():
        return trained
    from inference import artifact

    out = work / "random-policy"
    return artifact.package_policy(
        artifact.random_policy(0), out, metadata=artifact.untrained_metadata("rehearsal-random-0")
    )


@dataclass
class Minute:
    """One controller run, as the rehearsal records it."""

    minute: int
    load_rpm: float | None
    serving: int | None
    warming: int | None
    desired: int | None
    applied: int | None
    fallback: bool
    shielded: bool
    mode: str
    reason: str
    run_ms: float
    model_version: str | None = None


@dataclass
class Pass:
    minutes: list[Minute] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    marks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Simulated-fleet state documents saved at named minutes (e.g. the outage's start)."""


class Loop:
    """moto (in-process) + the controller's real run code + a simulated fleet, talking to a running endpoint."""

    def __init__(
        self,
        endpoint: LocalEndpoint,
        trace: str,
        seed: int,
        *,
        mode: str = "active",
        publication_lag: int = 0,
        economics: dict[str, Any] | None = None,
        capacity_sigma: float | None = None,
    ) -> None:
        from training.evaluation.cases import trace_case

        self.endpoint = endpoint
        self.trace = trace
        self.seed = seed
        self.spec = fleet_spec(trace, seed, mode, economics, capacity_sigma)
        self.publication_lag = publication_lag
        self.t0: datetime = trace_case(trace, "eval", minutes=1).scenario.start
        """Wall minute 0: the held-out part's first minute, the trace's own time."""

    @contextmanager
    def running(self) -> Iterator[Loop]:
        import boto3
        from botocore.config import Config
        from moto import mock_aws

        from controller.aws import Clients
        from controller.config import Settings, parse_fleets
        from controller.run import Dependencies
        from controller.state import S3Store
        from controller.targets import build_adapters
        from inference.artifact import load_artifact

        # as the stack sets HISTORY_MINUTES: the minutes of load_rpm the packaged policy declares it uses
        history = int(load_artifact(self.endpoint.model).metadata["observation"]["history"])
        with mock_aws():
            clients = Clients(region=REGION)
            for service in ("cloudwatch", "s3", "ssm"):
                clients.get(service)
            s3 = clients.get("s3")
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            self.ssm = clients.get("ssm")
            self.set_modes(None, {})
            runtime = boto3.client(
                "sagemaker-runtime",
                region_name=REGION,
                endpoint_url=self.endpoint.url,
                aws_access_key_id="rehearsal",
                aws_secret_access_key="rehearsal",
                config=Config(connect_timeout=2, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}),
            )
            self.settings = Settings(
                stage=STAGE,
                endpoint_name=ENDPOINT,
                state_bucket=BUCKET,
                fleets=parse_fleets([self.spec], STAGE),
                modes_parameter=MODES_PARAMETER,
                history_minutes=history,
                publication_lag_minutes=self.publication_lag,
            )
            self.store = S3Store(s3, BUCKET)
            self.deps = Dependencies(
                cloudwatch=clients.cloudwatch,
                runtime=runtime,
                ssm=self.ssm,
                store=self.store,
                adapters=build_adapters(self.settings.fleets, clients, store=self.store, stage=STAGE),
            )
            yield self

    def set_modes(self, stage: str | None, fleets: dict[str, str]) -> None:
        """What on-call does at 3 a.m.: edit the modes parameter (no deploy)."""
        doc = json.dumps({"stage": stage, "fleets": fleets})
        self.ssm.put_parameter(Name=MODES_PARAMETER, Value=doc, Type="String", Overwrite=True)

    def fleet_state(self) -> dict[str, Any]:
        from controller.targets.simulated import load_state

        return load_state(self.store, FLEET)

    def run(self, minute: int) -> Minute:
        """The controller's run for wall minute ``minute`` (scheduled a few seconds after it starts)."""
        from controller.run import run

        report = run(self.settings, self.deps, self.t0 + timedelta(minutes=minute, seconds=3))
        fr = report.fleets[FLEET]
        return Minute(
            minute=minute, load_rpm=fr.load_rpm, serving=fr.serving, warming=fr.warming, desired=fr.policy_desired,
            applied=fr.applied, fallback=fr.fallback, shielded=fr.shield_override, mode=fr.mode, reason=fr.reason,
            run_ms=report.duration_ms, model_version=fr.model_version,
        )  # fmt: skip

    def drive(
        self,
        minutes: int,
        *,
        before: Callable[[int], None] | None = None,
        progress: Any = None,
    ) -> Pass:
        """Runs for wall minutes 0..``minutes`` (the last one ticks minute ``minutes - 1``): ``minutes`` simulated."""
        out = Pass()
        started = time.perf_counter()
        for m in range(minutes + 1):
            if before is not None:
                before(m)
            out.minutes.append(self.run(m))
            if progress is not None:
                progress.update(1)
        out.wall_s = time.perf_counter() - started
        out.totals = self.fleet_state()["totals"]
        return out


def shadow_scorecard(
    endpoint: LocalEndpoint, trace: str, seed: int, minutes: int, lag: int, capacity_sigma: float | None = None,
    economics: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The fleet in shadow over the same minutes: its own target-tracking scaler runs it, the controller keeps the
    policy's counterfactual fleet and publishes the scorecard; read back with ``controller.scorecard`` (one period
    over the minutes) beside the simulated fleet's own profit over them."""
    from controller import scorecard

    loop = Loop(
        endpoint, trace, seed, mode="shadow", publication_lag=lag, economics=economics, capacity_sigma=capacity_sigma
    )
    fleet_totals: dict[str, float] = {}
    with loop.running():
        for m in range(minutes + lag + 2):  # the last runs price the last minutes (their requests published)
            if m == minutes + 1:
                fleet_totals = dict(loop.fleet_state()["totals"])  # the fleet after minutes 0 .. minutes - 1
            loop.run(m)
        start = loop.t0
        days = scorecard.read_days(
            loop.deps.cloudwatch, STAGE, [FLEET], start, start + timedelta(minutes=minutes), minutes * 60
        )[FLEET]
    verdict = scorecard.judge(FLEET, days)
    return {
        "minutes_priced": verdict.minutes,
        "policy_profit": round(verdict.policy_profit, 4),
        "fleet_profit": round(verdict.fleet_profit, 4),
        "fleet_own_scaler_profit": round(fleet_totals["reward"], 4),
        "policy_failed": verdict.policy_failed,
        "fleet_failed": verdict.fleet_failed,
        "fleet_own_scaler_failed": fleet_totals["failed"],
        "policy_machine_minutes": verdict.policy_machine_minutes,
        "fleet_machine_minutes": verdict.fleet_machine_minutes,
        "fleet_own_scaler_machine_minutes": fleet_totals["machine_minutes"],
        "fallback_minutes": verdict.fallback_minutes,
    }


def shadow_at_nominal_capacity(
    endpoint: LocalEndpoint, trace: str, seed: int, minutes: int, lag: int, economics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The shadow scorecard against the same policy active from the start, every minute at nominal capacity (the
    capacity the counterfactual is priced at), so that any difference is the counterfactual's own."""
    active = Loop(endpoint, trace, seed, publication_lag=lag, economics=economics, capacity_sigma=0.0)
    with active.running():
        totals = active.drive(minutes).totals
    out = shadow_scorecard(endpoint, trace, seed, minutes, lag, capacity_sigma=0.0, economics=economics)
    out["active_profit"] = round(totals["reward"], 4)
    out["active_failed"] = totals["failed"]
    out["active_machine_minutes"] = totals["machine_minutes"]
    out["policy_vs_active"] = relative(out["policy_profit"], totals["reward"])
    out["fleet_vs_own_scaler"] = relative(out["fleet_profit"], out["fleet_own_scaler_profit"])
    return out


def relative(a: float, b: float) -> float:
    """|a - b| relative to |b| (0 when both are 0)."""
    return abs(a - b) / abs(b) if b else float(a != 0)


def scoreboard(
    model: Path, trace: str, minutes: int, seed: int, lag: int, economics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the scoreboard reports for the served policy on the same minutes (``training.evaluation.scoreboard``),
    its observations ``lag`` minutes old as the controller's (``SimConfig.observation_lag_minutes``).

    The case is the scoreboard's ``<trace>-eval`` (``trace_case``), cut to the rehearsed minutes: the whole
    part is what the simulated fleet replays, and a low-volume trace (NASA) is smoothed over its window, so a
    window cut shorter first would differ in its last minutes. For the World Cup trace both are identical."""
    from dataclasses import replace

    from inference.features import HISTORY
    from simulator import fleet_config
    from training.evaluation.cases import trace_case
    from training.evaluation.scoreboard import run_policy
    from training.policies.artifact import ArtifactPolicy

    policy = ArtifactPolicy(str(model))
    case = trace_case(trace, "eval")
    case = replace(case, scenario=replace(case.scenario, load=case.scenario.load[: HISTORY + minutes]))
    config = fleet_config(observation_lag_minutes=lag, economics=economics)
    metrics, _ = run_policy(policy, [case], config, seed=seed)
    return {**metrics[0], "policy": policy.name, "shield": dict(policy.shield_counts), "load": case.scenario.load}


def rule_alone(spec: dict[str, Any], doc: dict[str, Any], minutes: int, *, limits: bool) -> dict[str, float]:
    """The target-tracking rule alone for ``minutes`` from the fleet state ``doc`` (same load, same noise).

    ``limits``: pass its decisions through the controller's limits (``controller.limits.limit``: change limit,
    never scale in while requests fail, bounds), as the controller applies a fallback. Returns the profit and the
    machine-minutes the no-scale-in rule kept above the rule's count, and their cost."""
    import numpy as np

    from controller.config import parse_fleets
    from controller.limits import limit
    from controller.targets.simulated import HISTORY, build_sim
    from inference.fallback import target_tracking
    from simulator import STEP_KEYS

    (fleet,) = parse_fleets([spec], STAGE)
    sim = build_sim(fleet, doc)
    profit = held = down = 0.0
    for _ in range(minutes):
        want = int(target_tracking(sim.loads[0, HISTORY + sim.t - 1], fleet.capacity_rpm_per_machine))
        base = int(sim.active[0] + sim.ring[0].sum())
        if limits:
            desired = limit(fleet, want, base, failing=bool(sim.failed[0] > 0)).applied
            held += max(0, desired - max(want, fleet.min_machines))
        else:
            desired = min(max(want, fleet.min_machines), fleet.max_machines)
        row = sim.advance(np.array([desired]))[0]
        profit, down = profit + float(row[0]), down + float(row[STEP_KEYS.index("down")])
    cost = held * sim.config.machine_cost
    return {"profit": profit, "minutes_down": down, "held_machine_minutes": held, "hold_cost": cost}


def rehearse(
    model: Path, *, trace: str = "worldcup", hours: float = 24, outage_minutes: int = 60, seed: int = 0,
    workers: int = 1, log_dir: Path | None = None, progress: bool = True, publication_lag: int = 0,
    shadow: bool = True, economics: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The passes and the checks; the summary (JSON-ready). ``shadow``: also the shadow scorecard's passes."""
    import numpy as np
    from tqdm.auto import tqdm

    minutes = round(hours * 60)
    if not 0 < outage_minutes < minutes - 2:
        raise ValueError(f"--outage-minutes must be in 1..{minutes - 3} for {minutes} minutes")
    board = scoreboard(model, trace, minutes, seed, publication_lag, economics)
    out: dict[str, Any] = {
        "model": str(model), "trace": trace, "minutes": minutes, "seed": seed, "publication_lag": publication_lag,
        "economics": economics or {},
    }  # fmt: skip
    logging.getLogger("controller").setLevel(logging.CRITICAL)  # the fallbacks of the outage are expected
    runs = (5 if shadow else 2) * (minutes + 1)
    bar = tqdm(total=runs, desc="closed loop", unit="run", disable=not progress, mininterval=0.5)
    with LocalEndpoint(model, workers=workers, log_dir=log_dir) as endpoint:
        loop = Loop(endpoint, trace, seed, publication_lag=publication_lag, economics=economics)
        bar.set_postfix_str("clean")
        with loop.running():
            clean = loop.drive(minutes, progress=bar)
            replayed = loop.fleet_state()
        start = minutes // 2 - outage_minutes // 2
        end = start + outage_minutes
        marks: dict[str, dict[str, Any]] = {}

        def before(m: int) -> None:
            if m == start:
                endpoint.stop()
            elif m == end:
                endpoint.start()
            if m in (start + 1, end + 1):  # the fleet after minute start-1 / end-1 (the previous run ticked it)
                marks[str(m - 1)] = loop.fleet_state()

        bar.set_postfix_str("outage")
        with loop.running():
            outage = loop.drive(minutes, before=before, progress=bar)
        if shadow:
            bar.set_postfix_str("shadow")
            scored = shadow_scorecard(endpoint, trace, seed, minutes, publication_lag, economics=economics)
            bar.update(minutes + 1)
            bar.set_postfix_str("nominal capacity")
            nominal = shadow_at_nominal_capacity(endpoint, trace, seed, minutes, publication_lag, economics)
            bar.update(2 * (minutes + 1))
    bar.close()

    from controller.config import parse_fleets
    from controller.targets.simulated import build_sim

    (fleet,) = parse_fleets([loop.spec], STAGE)
    sim_load = build_sim(fleet, {**replayed, "t": 0}).loads[0, : len(board["load"])]
    same_load = bool(np.array_equal(sim_load, board["load"]))
    profit = clean.totals["reward"]
    out["clean"] = {
        "profit": round(profit, 4),
        "scoreboard_profit": round(board["profit"], 4),
        "difference": round(profit - board["profit"], 6),
        "same_load": same_load,
        "minutes_down": int(clean.totals["down"]),
        "scoreboard_minutes_down": board["minutes_down"],
        "machine_minutes": clean.totals["machine_minutes"],
        "scoreboard_machine_minutes": board["machine_minutes"],
        "fallbacks": sum(m.fallback for m in clean.minutes),
        "shield_overrides": sum(m.shielded for m in clean.minutes[:minutes]),  # decisions that were simulated
        "scoreboard_policy": board["policy"],
        "scoreboard_shield": board["shield"],
        "runs": len(clean.minutes),
        "wall_s": round(clean.wall_s, 1),
        "run_ms_mean": round(float(np.mean([m.run_ms for m in clean.minutes])), 1),
        "run_ms_p99": round(float(np.percentile([m.run_ms for m in clean.minutes], 99)), 1),
    }
    before_doc, after_doc = marks[str(start)], marks[str(end)]
    loop_hour = after_doc["totals"]["reward"] - before_doc["totals"]["reward"]
    bare = rule_alone(loop.spec, before_doc, outage_minutes, limits=False)
    limited = rule_alone(loop.spec, before_doc, outage_minutes, limits=True)
    hold_cost = limited["hold_cost"]
    during = [m for m in outage.minutes if start <= m.minute < end]
    after = [m for m in outage.minutes if m.minute >= end]
    out["outage"] = {
        "minutes": [start, end],
        "time": [str(loop.t0 + timedelta(minutes=start)), str(loop.t0 + timedelta(minutes=end))],
        "fallbacks_during": sum(m.fallback for m in during),
        "fallbacks_after": sum(m.fallback for m in after),
        "fallbacks_before": sum(m.fallback for m in outage.minutes if m.minute < start),
        "profit_during": round(loop_hour, 4),
        "rule_alone_profit_during": round(bare["profit"], 4),
        "difference_during": round(loop_hour - bare["profit"], 6),
        "rule_with_limits_profit_during": round(limited["profit"], 4),
        "minutes_down_during": after_doc["totals"]["down"] - before_doc["totals"]["down"],
        "rule_alone_minutes_down_during": bare["minutes_down"],
        "held_machine_minutes": limited["held_machine_minutes"],
        "hold_cost": round(hold_cost, 4),
        "profit_day": round(outage.totals["reward"], 4),
        "wall_s": round(outage.wall_s, 1),
    }
    matches = same_load and abs(profit - board["profit"]) < CENT
    checks = {
        # the scoreboard's policy observes with the controller's lag
        "clean profit equals the scoreboard": matches,
        "every outage minute fell back": out["outage"]["fallbacks_during"] == outage_minutes,
        # the rule alone is replayed on the scoreboard's observation (lag 0); with a lag it is not comparable
        "outage earns what the rule earns as the controller applies it": publication_lag > 0
        or abs(loop_hour - limited["profit"]) < CENT,
        "outage no worse than the rule alone, but for the no-scale-in hold": publication_lag > 0
        or loop_hour >= bare["profit"] - hold_cost - CENT,
        "no fallback after the endpoint is back": out["outage"]["fallbacks_after"] == 0,
        "no fallback before the outage": out["outage"]["fallbacks_before"] == 0 and out["clean"]["fallbacks"] == 0,
    }
    if shadow:
        add_shadow_checks(out, checks, scored, nominal, profit, minutes)
    out["checks"] = checks
    out["passed"] = all(checks.values())
    return out


def add_shadow_checks(
    out: dict[str, Any], checks: dict[str, bool], shadow: dict[str, Any], nominal: dict[str, Any], active: float,
    minutes: int,
) -> None:  # fmt: skip
    """The shadow scorecard's figures and checks: at nominal capacity the policy's side is the active policy's
    profit; with the fleet's capacity noise the fleet's side is its own scaler's (the policy's is reported)."""
    shadow["active_profit"] = round(active, 4)
    shadow["policy_vs_active"] = relative(shadow["policy_profit"], active)
    shadow["fleet_vs_own_scaler"] = relative(shadow["fleet_profit"], shadow["fleet_own_scaler_profit"])
    out["shadow"] = shadow
    out["shadow_nominal"] = nominal
    checks["shadow scorecard, nominal capacity: the policy equals the policy active from the start (0.5 %)"] = (
        nominal["minutes_priced"] == minutes and nominal["policy_vs_active"] <= SCORECARD_TOLERANCE
    )
    checks["shadow scorecard: the fleet's side equals its own scaler in the simulator (to the cent)"] = (
        shadow["minutes_priced"] == minutes and abs(shadow["fleet_profit"] - shadow["fleet_own_scaler_profit"]) < CENT
    )


def render(summary: dict[str, Any]) -> str:
    c, o = summary["clean"], summary["outage"]
    lines = [
        f"closed loop over {summary['minutes']} minutes of {summary['trace']}-eval (seed {summary['seed']}, "
        f"publication lag {summary['publication_lag']} min), model {summary['model']}",
        f"  clean:  profit ${c['profit']:,.2f} vs scoreboard ${c['scoreboard_profit']:,.2f} "
        f"(difference {c['difference']:+.6f}); minutes down {c['minutes_down']} vs {c['scoreboard_minutes_down']}; "
        f"{c['runs']} runs in {c['wall_s']} s ({c['run_ms_mean']} ms mean, {c['run_ms_p99']} ms p99)",
        f"  outage: endpoint down for runs {o['minutes'][0]}..{o['minutes'][1] - 1} "
        f"({o['time'][0]} to {o['time'][1]}): "
        f"{o['fallbacks_during']} fallbacks, profit ${o['profit_during']:,.2f} vs the rule alone "
        f"${o['rule_alone_profit_during']:,.2f} ({o['difference_during']:+.4f}; minutes down "
        f"{o['minutes_down_during']:.0f} vs {o['rule_alone_minutes_down_during']:.0f}; {o['held_machine_minutes']:.0f} "
        f"machine-minutes kept by 'no scale-in while requests fail', ${o['hold_cost']:.2f}), vs the rule through "
        f"the controller's limits ${o['rule_with_limits_profit_during']:,.2f}; {o['fallbacks_after']} fallbacks "
        f"after; day ${o['profit_day']:,.2f}",
    ]
    if "shadow" in summary:
        lines.append("  shadow: " + render_shadow(summary["shadow"]))
        lines.append("  shadow at nominal capacity: " + render_shadow(summary["shadow_nominal"]))
    lines += [f"  [{'ok' if ok else 'FAILED'}] {name}" for name, ok in summary["checks"].items()]
    return "\n".join(lines)


def render_shadow(s: dict[str, Any]) -> str:
    return (
        f"scorecard over {s['minutes_priced']:.0f} minutes: policy ${s['policy_profit']:,.2f} vs the same "
        f"policy active from the start ${s['active_profit']:,.2f} ({100 * s['policy_vs_active']:.3f} %); fleet "
        f"${s['fleet_profit']:,.2f} vs its own scaler in the simulator ${s['fleet_own_scaler_profit']:,.2f} "
        f"({100 * s['fleet_vs_own_scaler']:.3f} %); failed requests {s['policy_failed']:,.0f} vs "
        f"{s['fleet_failed']:,.0f} (simulator {s['fleet_own_scaler_failed']:,.0f}); machine-minutes "
        f"{s['policy_machine_minutes']:,.0f} vs {s['fleet_machine_minutes']:,.0f} "
        f"(simulator {s['fleet_own_scaler_machine_minutes']:,.0f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model.tar.gz (default: the main job's, else a random policy)")
    parser.add_argument("--trace", default="worldcup", choices=("worldcup", "nasa"), help="held-out trace part")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours per pass (default 24)")
    parser.add_argument("--outage-minutes", type=int, default=60, help="endpoint down in the middle (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="capacity-noise seed, as the scoreboard's --seed")
    parser.add_argument("--workers", type=int, default=1, help="endpoint worker processes (default 1)")
    parser.add_argument(
        "--publication-lag", type=int, default=0,
        help="PUBLICATION_LAG_MINUTES of the controller (default 0; a stage uses 2): the scoreboard is run with the "
        "same observation lag; the outage is compared with the rule alone at lag 0 only",
    )  # fmt: skip
    parser.add_argument(
        "--economics", type=json.loads, default=None, metavar="JSON",
        help='the fleet\'s economics, as in a fleet config, e.g. \'{"warmup_latency": 10, "downtime_cost": 1000}\'',
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rehearse-loop-") as tmp:
        model = args.model or default_model(Path(tmp))
        summary = rehearse(
            model, trace=args.trace, hours=args.hours, outage_minutes=args.outage_minutes, seed=args.seed,
            workers=args.workers, log_dir=Path(tmp) / "endpoint", progress=not args.no_progress,
            publication_lag=args.publication_lag, economics=args.economics,
        )  # fmt: skip
    print(render(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
