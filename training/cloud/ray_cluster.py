"""Ray for one training job: a private local cluster, or one cluster across the hosts of a SageMaker job.

Several hosts (``SM_HOSTS``): the first host starts the Ray head (``ray start --head --block``) and runs the
driver; every other host waits for the head's port, joins with ``ray start --address=HEAD:PORT --block`` and
stays until the head goes away, then stops its own node and exits 0 (SageMaker waits for every host). One node
per host, offering that host's CPUs, so env runners spread over the instances; each node also carries a custom
resource ``sm_host_<name>`` so that the driver can tell on which host each runner sampled.

Token authentication (Ray 2.60): ``RAY_AUTH_MODE=token`` and the token must be in the environment of every
process of every node *before ray is imported*; ``configure_auth`` does that and must run first. A multi-host
job must be given the same token on every host, in ``RAY_AUTH_TOKEN`` (the training job's environment, e.g.
Step Functions' ``States.UUID()`` per execution), ``RAY_AUTH_TOKEN_PATH``, or a file ``auth_token`` in an input
channel named ``ray``; it refuses to start without one. A single-host run generates a fresh token per run, held
only in its environment (nothing is written to ``~/.ray``).

Only processes started here are stopped here (by their pid); nothing calls ``ray stop``, which would stop every
Ray node on the machine.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from training.cloud.sagemaker_env import SageMakerEnv

log = logging.getLogger(__name__)

HOST_IPS_ENV = "AUTOSCALER_HOST_IPS"
"""JSON object mapping host names to IPs, overriding DNS (tests run two "hosts" on 127.0.0.1)."""
HOST_CPUS_ENV = "AUTOSCALER_HOST_CPUS"
"""CPUs this host's Ray node offers (default: all of them)."""
RAY_TEMP_ENV = "AUTOSCALER_RAY_TEMP_DIR"
"""Root of Ray's session files for the nodes started here (default ``/tmp/ray_autoscaler_<port>``). Private on
purpose: ``ray start`` records its address in ``<temp>/ray_current_cluster``, and a plain ``ray.init()`` of any
other program on the machine would otherwise try to join this cluster (or, once it is gone, fail)."""
HEAD_WAIT_S = 600.0
"""How long a worker host waits for the head to come up."""
HEAD_GONE_POLLS = 3
"""Consecutive failed probes of the head's port (5 s apart) after which a worker host leaves."""
HOST_RESOURCE_PREFIX = "sm_host_"


class ClusterError(RuntimeError):
    """The Ray cluster cannot be formed; the message says what to fix."""


@dataclass(frozen=True)
class HostPlan:
    """This host's part in the job's Ray cluster."""

    hosts: tuple[str, ...]
    current: str
    head_ip: str
    node_ip: str
    port: int
    num_cpus: int

    @property
    def index(self) -> int:
        return self.hosts.index(self.current)

    @property
    def is_head(self) -> bool:
        return self.index == 0

    @property
    def head_address(self) -> str:
        return f"{self.head_ip}:{self.port}"


def host_resource(host: str) -> str:
    return HOST_RESOURCE_PREFIX + host


def resolve_host(host: str, environ: Mapping[str, str]) -> str:
    overrides = json.loads(environ.get(HOST_IPS_ENV, "{}") or "{}")
    if not isinstance(overrides, dict):
        raise ClusterError(f"{HOST_IPS_ENV} must be a JSON object of host -> IP")
    if host in overrides:
        return str(overrides[host])
    try:
        return socket.gethostbyname(host)
    except OSError as exc:
        raise ClusterError(f"cannot resolve host {host!r} from SM_HOSTS ({exc}); set {HOST_IPS_ENV}") from None


def host_cpus(environ: Mapping[str, str]) -> int:
    raw = environ.get(HOST_CPUS_ENV, "").strip()
    if not raw:
        return os.cpu_count() or 1
    if not raw.isdigit() or int(raw) < 1:
        raise ClusterError(f"{HOST_CPUS_ENV} must be a positive integer, got {raw!r}")
    return int(raw)


def plan_hosts(sm: SageMakerEnv, port: int, environ: Mapping[str, str] | None = None) -> HostPlan | None:
    """The multi-host plan, or None for a single-host run (a private local Ray cluster)."""
    env = os.environ if environ is None else environ
    if not sm.is_multi_host:
        return None
    return HostPlan(
        hosts=sm.hosts,
        current=sm.current_host,
        head_ip=resolve_host(sm.head_host, env),
        node_ip=resolve_host(sm.current_host, env),
        port=port,
        num_cpus=host_cpus(env),
    )


def configure_auth(sm: SageMakerEnv, environ: MutableMapping[str, str] | None = None) -> str:
    """Put Ray's token authentication in the environment; returns where the token came from.

    Must run before ``import ray`` (Ray reads its auth mode when it initialises); refuses otherwise.
    """
    env = os.environ if environ is None else environ
    before = (env.get("RAY_AUTH_MODE"), env.get("RAY_AUTH_TOKEN"), env.get("RAY_AUTH_TOKEN_PATH"))
    env["RAY_AUTH_MODE"] = "token"
    if env.get("RAY_AUTH_TOKEN", "").strip():
        source = "RAY_AUTH_TOKEN"
    elif env.get("RAY_AUTH_TOKEN_PATH", "").strip():
        path = Path(env["RAY_AUTH_TOKEN_PATH"])
        if not path.is_file() or not path.read_text().strip():
            raise ClusterError(f"RAY_AUTH_TOKEN_PATH={path} is not a file holding a token")
        source = "RAY_AUTH_TOKEN_PATH"
    elif "ray" in sm.channels and (sm.channels["ray"] / "auth_token").is_file():
        env["RAY_AUTH_TOKEN_PATH"] = str(sm.channels["ray"] / "auth_token")
        source = "channel ray/auth_token"
    elif sm.is_multi_host:
        raise ClusterError(
            "a multi-host training job needs the same Ray auth token on every host: set RAY_AUTH_TOKEN in the "
            "training job's environment (e.g. States.UUID() per execution), RAY_AUTH_TOKEN_PATH, or give an "
            "input channel 'ray' holding a file 'auth_token'"
        )
    else:
        env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        source = "generated for this run"
    after = (env.get("RAY_AUTH_MODE"), env.get("RAY_AUTH_TOKEN"), env.get("RAY_AUTH_TOKEN_PATH"))
    if "ray" in sys.modules and environ is None and after != before:
        raise ClusterError("configure Ray authentication before importing ray (ray is already imported)")
    return source


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_command(plan: HostPlan, object_store_mb: int) -> list[str]:
    """``ray start --block`` for this host. Ports are spread per host index so that two "hosts" can share one
    machine in tests; on separate instances they are simply unused elsewhere."""
    worker_lo = 20000 + 2000 * plan.index
    cmd = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--block",
        f"--node-ip-address={plan.node_ip}",
        f"--num-cpus={plan.num_cpus}",
        f"--resources={json.dumps({host_resource(plan.current): 1})}",
        f"--object-store-memory={object_store_mb * 2**20}",
        f"--min-worker-port={worker_lo}",
        f"--max-worker-port={worker_lo + 1999}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir(plan)}",
    ]
    if plan.is_head:
        cmd += ["--head", f"--port={plan.port}", "--include-dashboard=false"]
    else:
        cmd.append(f"--address={plan.head_address}")
    return cmd


def temp_dir(plan: HostPlan) -> str:
    return os.environ.get(RAY_TEMP_ENV) or f"/tmp/ray_autoscaler_{plan.port}"


def _stop(proc: subprocess.Popen, what: str) -> None:
    """SIGTERM the ``ray start --block`` we started (it stops its node's processes), SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within 30 s; killing pid %d", what, proc.pid)
        proc.kill()
        proc.wait(timeout=10)


def start_node(plan: HostPlan, object_store_mb: int, log_path: Path | None = None) -> subprocess.Popen:
    cmd = node_command(plan, object_store_mb)
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (owned by the child)
    log.info("starting Ray %s node on %s: %s", "head" if plan.is_head else "worker", plan.current, " ".join(cmd))
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def head_node(plan: HostPlan, object_store_mb: int, log_path: Path | None = None) -> Iterator[str]:
    """Run the Ray head for the duration of the block; yields the address for ``ray.init``."""
    proc = start_node(plan, object_store_mb, log_path)
    try:
        deadline = time.monotonic() + 120
        while not port_open(plan.head_ip, plan.port):
            if proc.poll() is not None:
                raise ClusterError(f"Ray head exited with code {proc.returncode} (log: {log_path})")
            if time.monotonic() > deadline:
                raise ClusterError(f"Ray head did not open {plan.head_address} within 120 s (log: {log_path})")
            time.sleep(0.5)
        yield plan.head_address
    finally:
        _stop(proc, "Ray head")
        Path(temp_dir(plan), "ray_current_cluster").unlink(missing_ok=True)


def run_worker_host(plan: HostPlan, object_store_mb: int, log_path: Path | None = None, poll_s: float = 5.0) -> int:
    """A non-head host: join the head's cluster, serve runners until the head is gone, then leave cleanly."""
    deadline = time.monotonic() + HEAD_WAIT_S
    while not port_open(plan.head_ip, plan.port):
        if time.monotonic() > deadline:
            raise ClusterError(f"head {plan.hosts[0]} ({plan.head_address}) not reachable within {HEAD_WAIT_S} s")
        time.sleep(1.0)
    proc = start_node(plan, object_store_mb, log_path)
    print(f"ray_worker host={plan.current} joined={plan.head_address}", flush=True)
    misses = 0
    try:
        while True:
            time.sleep(poll_s)
            if proc.poll() is not None:
                if port_open(plan.head_ip, plan.port):
                    print(f"ray_worker host={plan.current} node exited with code {proc.returncode}", flush=True)
                    return proc.returncode or 1
                return 0
            misses = 0 if port_open(plan.head_ip, plan.port) else misses + 1
            if misses >= HEAD_GONE_POLLS:
                print(f"ray_worker host={plan.current} head gone, leaving", flush=True)
                return 0
    finally:
        _stop(proc, "Ray worker node")


def wait_for_nodes(count: int, timeout_s: float = 300.0) -> list[dict]:
    """Block (driver side, after ``ray.init``) until ``count`` nodes are alive; returns them."""
    import ray

    deadline = time.monotonic() + timeout_s
    while True:
        alive = [n for n in ray.nodes() if n.get("Alive")]
        if len(alive) >= count:
            return alive
        if time.monotonic() > deadline:
            raise ClusterError(f"only {len(alive)} of {count} Ray nodes joined within {timeout_s:.0f} s")
        time.sleep(1.0)


def node_hosts() -> dict[str, str]:
    """Ray node id -> SageMaker host name (from the ``sm_host_<name>`` resource; "local" otherwise)."""
    import ray

    out = {}
    for node in ray.nodes():
        resources = node.get("Resources", {})
        names = [k[len(HOST_RESOURCE_PREFIX) :] for k in resources if k.startswith(HOST_RESOURCE_PREFIX)]
        out[node["NodeID"]] = names[0] if names else "local"
    return out


def init_local(num_cpus: int, object_store_mb: int, runtime_env: dict | None = None) -> None:
    """A private single-node cluster in this process (token auth already configured)."""
    import ray

    ray.init(
        address="local",  # always a new cluster: never join one that `ray start` recorded on this machine
        num_cpus=num_cpus,
        runtime_env=runtime_env,
        include_dashboard=False,
        object_store_memory=object_store_mb * 2**20,
        log_to_driver=True,
        configure_logging=True,
        logging_level=logging.WARNING,
    )
