"""Run the local endpoint (``python -m inference.serve``) as a subprocess, for demos, tests and benchmarks.

    with LocalEndpoint("artifacts/model/model.tar.gz") as ep:
        status, decision = ep.invoke({"timestamp": "2024-05-06T12:00:00Z", "load_rpm": [900, 1000], ...})

It picks a free loopback port, waits until ``/ping`` answers (or the server exits, whose log it then quotes) and
stops the server with SIGTERM, as an orchestrator would. Standard library only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalEndpoint:
    """The server in a subprocess; its stdout and stderr go to ``log_dir/serve.out`` and ``serve.err``."""

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        workers: int = 2,
        threads: int = 4,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.model = Path(model)
        self.args = ["--workers", str(workers), "--threads", str(threads), "--host", host]
        self.host = host
        self.port = port or free_port(host)
        self.env = dict(env or {})
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="serve-"))
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalEndpoint:
        cmd = [sys.executable, "-m", f"{_PACKAGE_DIR.name}.serve", "--model", str(self.model.resolve())]
        cmd += [*self.args, "--port", str(self.port)]
        path = os.pathsep.join(p for p in (str(_PACKAGE_DIR.parent), os.environ.get("PYTHONPATH", "")) if p)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / "serve.out", "wb") as out, open(self.log_dir / "serve.err", "wb") as err:
            self.proc = subprocess.Popen(
                cmd, env={**os.environ, "PYTHONPATH": path, **self.env}, stdout=out, stderr=err
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.log_dir / "serve.err").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the server exited with code {self.proc.returncode}:\n{log}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not answer {self.url}/ping within {self.start_timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for the graceful exit (SIGKILL after ``timeout``); the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def invoke(self, payload: Any, *, content_type: str = "application/json", accept: str | None = None) -> tuple:
        """POST one request; (status, decoded JSON body, or text for CSV)."""
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
        req = urllib.request.Request(
            f"{self.url}/invocations", data=data.encode() if isinstance(data, str) else data, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, body, kind = resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            status, body, kind = err.code, err.read(), err.headers.get("Content-Type", "")
        return status, json.loads(body) if kind.startswith("application/json") else body.decode()

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
