"""Helpers for the serving tests: a valid decision, and starting/stopping the local endpoint."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    model_path: Path, *args: str, env: dict[str, str] | None = None, log_dir: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """``python -m inference.serve`` on a free loopback port; returns once ``/ping`` answers.

    The server's stdout and stderr go to ``log_dir/serve.out`` and ``serve.err`` (a pipe nobody reads could
    fill up and stall the server).
    """
    port = free_port()
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="serve-"))
    with open(log_dir / "serve.out", "wb") as out, open(log_dir / "serve.err", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "inference.serve", "--model", str(model_path), "--port", str(port), *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            stdout=out,
            stderr=err,
        )
    proc.log_dir = log_dir  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {(log_dir / 'serve.err').read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError("server did not answer /ping within 30 s")


def stop_server(proc: subprocess.Popen, timeout: float = 15) -> int:
    """SIGTERM, wait for the graceful exit (SIGKILL after ``timeout``); the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
