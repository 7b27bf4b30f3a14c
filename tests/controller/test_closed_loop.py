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
        policy, trace="worldcup", hours=3, outage_minutes=30, seed=0, log_dir=tmp_path / "endpoint", progress=False
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
        progress=False, publication_lag=2, economics=economics,
    )  # fmt: skip
    assert summary["economics"] == economics
    clean = summary["clean"]
    assert clean["same_load"]
    assert clean["difference"] == 0.0, clean
    assert clean["machine_minutes"] == clean["scoreboard_machine_minutes"]
    assert summary["checks"]["clean profit equals the scoreboard"]


def test_the_command_has_help() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "rehearse_loop.py"), "--help"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    assert "--outage-minutes" in out.stdout and "scoreboard" in out.stdout
