"""Decision metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout.

Off unless ``AUTOSCALER_METRICS_NAMESPACE`` is set (the CDK sets ``RLAutoscaler`` and ``AUTOSCALER_STAGE``).
One record per request, dimension ``{"Stage": <stage>}``; a batch is aggregated by summing over its decisions,
so a single-decision request reports that decision's values:

| metric | unit | value |
| --- | --- | --- |
| DesiredMachines, ActiveMachines, PendingMachines | Count | machines |
| LoadRpm | None | requests in the last minute (``load_rpm[-1]``) |
| CapacityRpm | None | ``active_machines * capacity_rpm_per_machine`` |
| ShieldOverrides | Count | decisions the shield changed (0/1 for one decision) |
| Fallbacks | Count | decisions made by the fallback rule (0/1 for one decision) |
| Decisions | Count | decisions in the request |

Each record is written with one ``os.write`` (well under the 4 KiB that a pipe writes atomically), so records
from several server workers never interleave mid-line.

CloudWatch extracts EMF only from log events that are pure JSON. Inside the SageMaker PyTorch container,
TorchServe relays a worker's stdout through its own logger, which prefixes every line (timestamp, worker,
``MODEL_LOG -``); ``AUTOSCALER_METRICS_PATH`` names another file to append the records to instead, e.g.
``/proc/1/fd/1``, the container's own stdout, which the endpoint's log stream receives unprefixed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping

from .contract import DecisionRequest
from .shield import Decisions

NAMESPACE_ENV = "AUTOSCALER_METRICS_NAMESPACE"
STAGE_ENV = "AUTOSCALER_STAGE"
PATH_ENV = "AUTOSCALER_METRICS_PATH"
METRICS: tuple[tuple[str, str], ...] = (
    ("DesiredMachines", "Count"),
    ("ActiveMachines", "Count"),
    ("PendingMachines", "Count"),
    ("LoadRpm", "None"),
    ("CapacityRpm", "None"),
    ("ShieldOverrides", "Count"),
    ("Fallbacks", "Count"),
    ("Decisions", "Count"),
)


def _writer(path: str) -> Callable[[bytes], None]:
    """One ``os.write`` per record to stdout, or to ``path`` opened for appending on first use."""
    fd: list[int] = [] if path else [1]

    def write(line: bytes) -> None:
        if not fd:
            fd.append(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        os.write(fd[0], line)

    return write


class DecisionMetrics:
    """Emits one EMF record per request when enabled; ``enabled`` is false without a namespace."""

    def __init__(self, environ: Mapping[str, str] = os.environ, write: Callable[[bytes], None] | None = None) -> None:
        self.namespace = environ.get(NAMESPACE_ENV, "").strip()
        self.stage = environ.get(STAGE_ENV, "").strip() or "local"
        self.path = environ.get(PATH_ENV, "").strip()
        self._write = write or _writer(self.path)
        self._directive = [
            {
                "Namespace": self.namespace,
                "Dimensions": [["Stage"]],
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRICS],
            }
        ]

    @property
    def enabled(self) -> bool:
        return bool(self.namespace)

    def emit(self, req: DecisionRequest, decisions: Decisions) -> None:
        if not self.namespace:
            return
        record = {
            "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": self._directive},
            "Stage": self.stage,
            "DesiredMachines": int(decisions.desired.sum()),
            "ActiveMachines": int(req.active.sum()),
            "PendingMachines": int(req.pending.sum()),
            "LoadRpm": float(req.load[:, -1].sum()),
            "CapacityRpm": float((req.active * req.capacity).sum()),
            "ShieldOverrides": int(decisions.shielded.sum()),
            "Fallbacks": int(decisions.fallback.sum()),
            "Decisions": len(req),
        }
        self._write((json.dumps(record, separators=(",", ":")) + "\n").encode())
