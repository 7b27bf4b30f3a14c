"""Helpers for the serving tests: a valid decision, and starting/stopping the local endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference.endpoint import LocalEndpoint

REPO = Path(__file__).resolve().parents[2]
MODEL_VERSION = "test-random-0"


def decision(**overrides: Any) -> dict[str, Any]:
    """A valid decision request; keyword arguments replace fields (``None`` removes one)."""
    doc: dict[str, Any] = {
        "timestamp": "2024-05-06T12:00:00Z",
        "load_rpm": [900.0, 950.0, 1000.0, 1040.0],
        "failed_rpm": 0,
        "active_machines": 4,
        "pending_machines": 0,
        "capacity_rpm_per_machine": 300,
        "min_machines": 1,
        "max_machines": 20,
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def start_server(
    model_path: Path, *args: str, env: dict[str, str] | None = None, log_dir: Path | None = None
) -> tuple[LocalEndpoint, str]:
    """``python -m inference.serve`` on a free loopback port (``--workers N``, ``--threads N`` in ``args``)."""
    opts = dict(zip(args[::2], args[1::2]))
    ep = LocalEndpoint(
        model_path,
        workers=int(opts.get("--workers", 2)),
        threads=int(opts.get("--threads", 4)),
        env=env,
        log_dir=log_dir,
    ).start()
    return ep, ep.url


def stop_server(ep: LocalEndpoint, timeout: float = 15) -> int | None:
    """SIGTERM, wait for the graceful exit; the exit code."""
    return ep.stop(timeout)
