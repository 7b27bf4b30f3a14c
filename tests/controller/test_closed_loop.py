"""The closed-loop rehearsal, short form: the real controller, the local endpoint, moto and the simulated fleet.

Three simulated hours per pass (the command, ``scripts/rehearse_loop.py``, rehearses a whole held-out day): the
clean pass earns exactly what the scoreboard reports for the served policy; with the endpoint killed for 30
minutes the fleet runs on the fallback rule (as the controller applies it) and returns to the policy after.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from inference import artifact

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rehearse_loop", ROOT / "scripts" / "rehearse_loop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("rehearse_loop", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("policy")
    return artifact.package_policy(artifact.random_policy(0), out, metadata=artifact.untrained_metadata("loop-test"))


def test_closed_loop_matches_the_scoreboard_and_survives_an_endpoint_outage(policy: Path, tmp_path: Path) -> None:
    summary = _script().rehearse(
        policy,
        trace="worldcup",
        hours=3,
        outage_minutes=30,
        seed=0,
        log_dir=tmp_path / "endpoint",
        progress=False,
        shadow=False,
    )
    clean, outage = summary["clean"], summary["outage"]
    assert clean["same_load"]
    assert clean["difference"] == 0.0, clean  # to the cent and beyond: the same sums in the same order
    assert clean["minutes_down"] == clean["scoreboard_minutes_down"]
    assert clean["machine_minutes"] == clean["scoreboard_machine_minutes"]
    assert clean["fallbacks"] == 0 and clean["shield_overrides"] == clean["scoreboard_shield"]["shielded"]
    assert outage["fallbacks_during"] == 30 and outage["fallbacks_after"] == 0
    assert summary["passed"], summary["checks"]


def test_the_scoreboard_models_the_controllers_publication_lag(policy: Path, tmp_path: Path) -> None:
    """The controller reading CloudWatch minutes 2 minutes old earns exactly what the scoreboard reports with
    ``observation_lag_minutes=2``: the simulator's lag is the controller's, minute for minute. The fleet has its
    own economics: the controller sends them, its simulated fleet and the scoreboard price it the same way."""
    economics = {"warmup_latency": 8, "machine_cost": 0.08, "downtime_cost": 500}
    summary = _script().rehearse(
        policy, trace="worldcup", hours=2, outage_minutes=10, seed=0, log_dir=tmp_path / "endpoint",
        progress=False, publication_lag=2, economics=economics, shadow=False,
    )  # fmt: skip
    assert summary["economics"] == economics
    clean = summary["clean"]
    assert clean["same_load"]
    assert clean["difference"] == 0.0, clean
    assert clean["machine_minutes"] == clean["scoreboard_machine_minutes"]
    assert summary["checks"]["clean profit equals the scoreboard"]


def test_the_shadow_scorecard_prices_the_policy_as_if_active_and_the_fleet_as_its_own_scaler(
    policy: Path, tmp_path: Path
) -> None:
    """Over the same held-out minutes, at a stage's lag: with every minute at nominal capacity the scorecard's policy
    side is the profit of the same policy active from the start (to the cent: the same trajectory), and with the
    simulator's capacity noise too, its fleet side is the fleet's own scaler's profit (to the cent); both under the
    fleet's own economics, warming machines billed."""
    from inference.endpoint import LocalEndpoint

    rl = _script()
    with LocalEndpoint(policy, workers=1, log_dir=tmp_path / "endpoint") as endpoint:
        nominal = rl.shadow_at_nominal_capacity(endpoint, "worldcup", 0, 60, 2, ECONOMICS)
        noisy = rl.shadow_scorecard(endpoint, "worldcup", 0, 60, 2, economics=ECONOMICS)
    assert nominal["minutes_priced"] == noisy["minutes_priced"] == 60
    assert abs(nominal["policy_profit"] - nominal["active_profit"]) < rl.CENT, nominal
    assert nominal["policy_failed"] == nominal["active_failed"]
    assert nominal["policy_machine_minutes"] == nominal["active_machine_minutes"]
    for side in (nominal, noisy):  # money and failures from the fleet's metrics, machines from its target
        assert abs(side["fleet_profit"] - side["fleet_own_scaler_profit"]) < rl.CENT, side
        assert side["fleet_failed"] == side["fleet_own_scaler_failed"]
        assert side["fleet_machine_minutes"] == side["fleet_own_scaler_machine_minutes"]


ECONOMICS = {"warmup_latency": 8, "machine_cost": 0.08, "downtime_cost": 500, "warming_cost": True}


@pytest.fixture(scope="module")
def margin_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deterministic stand-in for a trained policy: always action 4 (level 1.0: the peak of the last minutes plus
    20 % and two square roots of it), a margin against the capacity noise as the trained policies keep."""
    import torch

    net = artifact.random_policy(0)
    last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-10.0)
        last.bias[4] = 10.0
    out = tmp_path_factory.mktemp("margin")
    return artifact.package_policy(net, out, metadata=artifact.untrained_metadata("loop-test-level-1.0"))


def test_with_capacity_noise_the_scorecard_prices_a_policy_with_a_margin_as_if_active(
    margin_policy: Path, tmp_path: Path
) -> None:
    """The rehearsal's equality on the simulator's noisy capacity: a policy that keeps a margin earns, on the
    scorecard, what it earns active from the start over the same held-out minutes (within 0.5 %), and the fleet
    side is the fleet's own scaler's."""
    from inference.endpoint import LocalEndpoint

    rl = _script()
    with LocalEndpoint(margin_policy, workers=1, log_dir=tmp_path / "endpoint") as endpoint:
        loop = rl.Loop(endpoint, "worldcup", 0, publication_lag=2)
        with loop.running():
            active = loop.drive(60).totals
        shadow = rl.shadow_scorecard(endpoint, "worldcup", 0, 60, 2)
    assert shadow["minutes_priced"] == 60
    assert rl.relative(shadow["policy_profit"], active["reward"]) <= rl.SCORECARD_TOLERANCE, (shadow, active)
    assert shadow["policy_machine_minutes"] == active["machine_minutes"]
    assert rl.relative(shadow["fleet_profit"], shadow["fleet_own_scaler_profit"]) <= rl.SCORECARD_TOLERANCE


def test_the_command_has_help() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "rehearse_loop.py"), "--help"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    assert "--outage-minutes" in out.stdout and "scoreboard" in out.stdout
