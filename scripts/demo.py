"""The main job, end to end on one machine: train, evaluate and gate, package, serve and close the loop, synthesise.

    python scripts/demo.py [--out artifacts] [--preset quick] [--skip-synth]

1. ``python -m training.train --preset quick --out artifacts/model``: PPO on Ray RLlib over the simulator, then
   the evaluation report (policy beside every tuned baseline and the clairvoyant oracle) and the gate; the
   artifact lands in ``artifacts/model/`` where the CDK app picks it up (marked as forced when the gate refuses
   it: then Staging and Prod refuse it and only Dev is synthesised).
2. ``python -m inference.serve --model artifacts/model/model.tar.gz``: the SageMaker container contract on
   127.0.0.1, and the closed loop through it (``scripts/rehearse_loop.py``): the real controller
   (``controller.run``, moto standing in for CloudWatch, S3 and SSM) drives a simulated fleet replaying the World
   Cup trace's held-out part, first in shadow mode (the fleet runs on its own target-tracking scaler, the policy's
   decisions are only published), then active after an on-call switch of the modes parameter; a table shows a
   decision every half hour, then what the loop did. A third pass, active from the start, is checked against
   the scoreboard: the same profit, to the cent. Then the shadow scorecard over the same minutes (the fleet in
   shadow on its own scaler, the policy's counterfactual priced beside it, read back with ``controller.scorecard``):
   its fleet side equals the fleet's own profit, and, every minute at nominal capacity, its policy side equals the
   policy active from the start.
3. ``npx cdk synth``: all three stages (Dev, Staging, Prod) into ``cdk.out/`` with that artifact.

Each step streams its own progress; the summary at the end says where everything is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable

from inference.endpoint import LocalEndpoint  # noqa: E402


def banner(text: str) -> None:
    print(f"\n{'=' * 100}\n== {text}\n{'=' * 100}", flush=True)


def run(cmd: list[str], **kwargs) -> None:
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, **kwargs)


def _loop_module():
    sys.path.insert(0, str(ROOT / "scripts"))
    import rehearse_loop

    return rehearse_loop


def drive_the_loop(endpoint: LocalEndpoint, shadow_hours: int = 3, active_hours: int = 3) -> dict:
    """The controller drives a simulated fleet through the endpoint: shadow, then active (the modes parameter)."""
    rl = _loop_module()
    loop = rl.Loop(endpoint, "worldcup", 0, mode="shadow")
    switch, minutes = 60 * shadow_hours, 60 * (shadow_hours + active_hours)
    rows, at_switch = [], {}
    with loop.running():
        for m in range(minutes + 1):
            if m == switch:  # what on-call does: one SSM parameter, no deploy
                loop.set_modes(None, {rl.FLEET: "active"})
            if m == switch + 1:  # the previous run ticked the last shadow minute
                at_switch = dict(loop.fleet_state()["totals"])
            rows.append(loop.run(m))
        totals = loop.fleet_state()["totals"]
    header = f"{'time (UTC)':<22}{'mode':<8}{'load rpm':>10}{'active':>8}{'pending':>8}{'desired':>8}{'applied':>8}"
    print(f"\n{header}  action     shielded  reason")
    for r in rows[::30]:
        fleet = (r.serving or 0) + (r.warming or 0)
        action = "hold" if r.desired == fleet else ("scale_out" if (r.desired or 0) > fleet else "scale_in")
        when = (loop.t0 + timedelta(minutes=r.minute)).strftime("%Y-%m-%dT%H:%M:00Z")
        applied = "-" if r.applied is None else str(r.applied)
        print(
            f"{when:<22}{r.mode:<8}{r.load_rpm or 0:>10.0f}{r.serving or 0:>8}{r.warming or 0:>8}{r.desired or 0:>8}"
            f"{applied:>8}  {action:<10} {r.shielded!s:<9} {r.reason}"
        )
    shadow, active = rows[:switch], rows[switch:minutes]
    fleet_of = [(r.serving or 0) + (r.warming or 0) for r in shadow]
    summary = {
        "shadow_minutes": len(shadow),
        "shadow_decisions": sum(r.desired is not None for r in shadow),
        "shadow_disagreed": sum(r.desired is not None and r.desired != f for r, f in zip(shadow, fleet_of)),
        "shadow_profit": at_switch.get("reward", 0.0),
        "active_minutes": len(active),
        "active_changes": sum(
            r.applied is not None and r.applied != (r.serving or 0) + (r.warming or 0) for r in active
        ),
        "active_profit": totals["reward"] - at_switch.get("reward", 0.0),
        "fallbacks": sum(r.fallback for r in rows[:minutes]),
        "shield_overrides": sum(r.shielded for r in rows[:minutes]),
        "shadow_down": at_switch.get("down", 0.0),
        "active_down": totals["down"] - at_switch.get("down", 0.0),
        "run_ms_mean": sum(r.run_ms for r in rows) / len(rows),
    }
    print(
        f"\nthe loop: {summary['shadow_minutes']} minutes in shadow (the fleet on its own target-tracking scaler: "
        f"profit ${summary['shadow_profit']:,.2f}, {summary['shadow_down']:.0f} minutes down; the policy decided "
        f"every minute, disagreed with the fleet {summary['shadow_disagreed']} times, published only), then "
        f"{summary['active_minutes']} minutes active ({summary['active_changes']} changes applied: profit "
        f"${summary['active_profit']:,.2f}, {summary['active_down']:.0f} minutes down); {summary['fallbacks']} "
        f"fallbacks, {summary['shield_overrides']} shield overrides; {summary['run_ms_mean']:.0f} ms per run"
    )
    return summary


def check_against_scoreboard(endpoint: LocalEndpoint, model: Path, hours: int = 6) -> dict:
    """Active from the start: the loop's profit against the scoreboard's for the served policy, same minutes,
    both observing with a deployed stage's publication lag."""
    rl = _loop_module()
    minutes = 60 * hours
    from inference.contract import OBSERVATION_LAG_MINUTES  # as a deployed stage observes

    board = rl.scoreboard(model, "worldcup", minutes, 0, OBSERVATION_LAG_MINUTES)
    loop = rl.Loop(endpoint, "worldcup", 0, publication_lag=OBSERVATION_LAG_MINUTES)
    with loop.running():
        clean = loop.drive(minutes)
    profit, expected = clean.totals["reward"], board["profit"]
    print(
        f"active from the start over {minutes} held-out minutes: profit ${profit:,.2f}, the scoreboard's "
        f"{board['policy']} ${expected:,.2f} (difference {profit - expected:+.6f}); "
        f"{sum(m.fallback for m in clean.minutes)} fallbacks"
    )
    shadow = rl.shadow_scorecard(endpoint, "worldcup", 0, minutes, OBSERVATION_LAG_MINUTES)
    nominal = rl.shadow_at_nominal_capacity(endpoint, "worldcup", 0, minutes, OBSERVATION_LAG_MINUTES)
    summary: dict = {}
    checks: dict = {}
    rl.add_shadow_checks(summary, checks, shadow, nominal, profit, minutes)
    print("the shadow scorecard over the same minutes: " + rl.render_shadow(summary["shadow"]))
    print("  every minute at nominal capacity: " + rl.render_shadow(summary["shadow_nominal"]))
    within = summary["shadow"]["policy_vs_active"] <= rl.SCORECARD_TOLERANCE
    print(f"  with the capacity noise, the policy side within 0.5 % of the policy active from the start: {within}")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    return {
        "profit": profit,
        "scoreboard": expected,
        "matches": abs(profit - expected) < rl.CENT and all(checks.values()),
    }


def serve_and_decide(model: Path) -> None:
    with LocalEndpoint(model, workers=2) as endpoint:
        print(f"local endpoint up at {endpoint.url} (logs in {endpoint.log_dir})")
        drive_the_loop(endpoint)
        check = check_against_scoreboard(endpoint, model)
    if not check["matches"]:
        raise SystemExit("the closed loop's profit differs from the scoreboard's, or the scorecard's: see above")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="artifacts", help="where everything is written (default artifacts/)")
    parser.add_argument("--preset", default="quick", help="training preset (default quick)")
    parser.add_argument("--skip-synth", action="store_true", help="stop after serving (no CDK synth)")
    args = parser.parse_args(argv)
    out = (ROOT / args.out).resolve()
    model_dir = out / "model"
    started = time.monotonic()

    banner(f"1/3 train ({args.preset}), evaluate against the tuned baselines and the oracle, gate, package")
    # Always a fresh run: checkpoints of an earlier demo (other code, other defaults) are set aside, not resumed.
    train = [PY, "-m", "training.train", "--preset", args.preset, "--out", str(model_dir), "--resume", "false"]
    print("$ " + " ".join(train), flush=True)
    # Packaged even when the gate refuses it (recorded as forced in its metadata, and the gate's verdict printed):
    # the demo goes on to serve it and synthesise Dev only, without evaluating the policy a second time.
    code = subprocess.run([*train, "--force"], cwd=ROOT).returncode
    if code != 0:
        raise SystemExit(f"training failed with exit code {code}")
    stages = {"train, gate and package": time.monotonic() - started}

    banner("2/3 serve the packaged policy on 127.0.0.1; the controller drives a simulated fleet through it")
    serve_and_decide(model_dir / "model.tar.gz")
    stages["serve and the loop"] = time.monotonic() - started - sum(stages.values())

    if not args.skip_synth:
        gate = json.loads((model_dir / "metadata.json").read_text()).get("gate") or {}
        dev = [] if gate.get("passed") else ["-c", "stage=Dev"]
        banner(f"3/3 synthesise {'the Dev, Staging and Prod stages' if gate.get('passed') else 'Dev'} with it")
        if dev:
            print(f"the policy did not pass the gate ({gate.get('reason')}): Staging and Prod refuse it, Dev only")
        env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        tarball = model_dir / "model.tar.gz"
        run(["npx", "--no-install", "cdk", "synth", "--quiet", "-c", f"model_artifact={tarball}", *dev], env=env)
        stages["synth"] = time.monotonic() - started - sum(stages.values())

    parts = "; ".join(f"{name} {seconds:.0f} s" for name, seconds in stages.items())
    banner(f"done in {time.monotonic() - started:.0f} s ({parts})")
    print(f"model artifact      {model_dir / 'model.tar.gz'}")
    print(f"evaluation report   {model_dir / 'report.md'}  (JSON: report.json, plots: *.png)")
    if not args.skip_synth:
        print(f"CloudFormation      {ROOT / 'cdk.out'}  (deploy one stage: npx cdk deploy 'Dev/*')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
