"""Two SageMaker "hosts" on this machine form one Ray cluster, and the second host's env runners sample.

Each host is a separate ``training/sagemaker_entry.py`` process with its own SageMaker-style environment
(``SM_HOSTS=["algo-1","algo-2"]``, its own ``SM_CURRENT_HOST``, model and output directories), both host names
mapped to 127.0.0.1 through ``AUTOSCALER_HOST_IPS``, one CPU per host, the same Ray auth token. algo-1 starts
the head and trains; algo-2 joins, serves one env runner, and leaves with exit code 0 when the head is gone.
Slow (about a minute and a half on 2 shared cores): marked ``slow``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from training.cloud.ray_cluster import HOST_CPUS_ENV, HOST_IPS_ENV, free_port

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ["algo-1", "algo-2"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_hosts_one_cluster_second_host_samples(tmp_path):
    port = free_port()
    hps = {"preset": "tiny", "num_env_runners": -1, "total_timesteps": 8192, "force": True, "ray_head_port": port}
    token = secrets.token_hex(32)  # the same on every host, as the training job's environment would give it
    procs = {}
    for host in reversed(HOSTS):  # the worker first: it must wait for the head
        base = tmp_path / host
        env = {
            **os.environ,
            "SM_HOSTS": json.dumps(HOSTS),
            "SM_CURRENT_HOST": host,
            "SM_MODEL_DIR": str(base / "model"),
            "SM_OUTPUT_DATA_DIR": str(base / "output"),
            "SM_HPS": json.dumps({**hps, "checkpoint_dir": str(base / "checkpoints")}),
            HOST_IPS_ENV: json.dumps(dict.fromkeys(HOSTS, "127.0.0.1")),
            HOST_CPUS_ENV: "1",
            "RAY_AUTH_TOKEN": token,
        }
        procs[host] = subprocess.Popen(
            [sys.executable, "training/sagemaker_entry.py", "--preset", "tiny"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        head_out, _ = procs["algo-1"].communicate(timeout=480)
        if procs["algo-1"].returncode != 0:
            procs["algo-2"].kill()
        worker_out, _ = procs["algo-2"].communicate(timeout=120)
    finally:
        for host in HOSTS:
            if procs[host].poll() is None:
                procs[host].kill()
    assert procs["algo-1"].returncode == 0, head_out[-4000:]
    assert procs["algo-2"].returncode == 0, worker_out[-4000:]
    assert "joined=127.0.0.1:" in worker_out and "head gone, leaving" in worker_out

    summary = json.loads((tmp_path / "algo-1" / "output" / "training_summary.json").read_text())
    assert summary["multi_host"] is True
    hosts = summary["hosts"]
    assert set(hosts) == set(HOSTS), hosts
    assert hosts["algo-2"]["runners"] == 1 and hosts["algo-2"]["steps"] > 0  # the second host's runner sampled
    assert hosts["algo-1"]["runners"] == 1 and hosts["algo-1"]["steps"] > 0
    assert sum(h["steps"] for h in hosts.values()) == summary["timesteps"] == 8192
    lines = [line for line in head_out.splitlines() if line.startswith("train_iteration")]
    assert len(lines) == 2
    # SageMaker outputs: the artifact's contents in SM_MODEL_DIR (SageMaker tars it), the report in the output.
    model_dir = tmp_path / "algo-1" / "model"
    assert (model_dir / "metadata.json").is_file() and (model_dir / "policy.npz").is_file()
    assert (model_dir / "code" / "inference.py").is_file()
    assert (tmp_path / "algo-1" / "output" / "report.json").is_file()
    assert not Path(f"/tmp/ray_autoscaler_{port}/ray_current_cluster").exists()  # nothing left for ray.init()
    assert not (tmp_path / "algo-2" / "model").exists() or not any((tmp_path / "algo-2" / "model").iterdir())
