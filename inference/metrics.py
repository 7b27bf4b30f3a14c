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

Emission is best-effort: a record that cannot be written (the path cannot be opened, a full disk, a closed
pipe) is dropped and counted in ``DecisionMetrics.failures``; the first failure is logged once, later ones are
not, and no failure ever reaches the request, which gets its decision as usual.

Requests whose SageMaker ``CustomAttributes`` carry ``rl-autoscaler-smoke-test`` (what scripts/smoke_test.py
sends) emit nothing: the fallback and shield-override alarms read these metrics, and a deploy's smoke test must
not move them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping

from .contract import DecisionRequest
from .shield import Decisions

NAMESPACE_ENV = "AUTOSCALER_METRICS_NAMESPACE"
STAGE_ENV = "AUTOSCALER_STAGE"
PATH_ENV = "AUTOSCALER_METRICS_PATH"
SMOKE_TEST_ATTRIBUTE = "rl-autoscaler-smoke-test"
"""Token in the ``X-Amzn-SageMaker-Custom-Attributes`` header that keeps a request out of the metrics."""
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
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


log = logging.getLogger(__name__)


def is_smoke_test(custom_attributes: str | None) -> bool:
    """True when the CustomAttributes header (``a=1;b,c`` style, case-insensitive) names the smoke-test token."""
    if not custom_attributes:
        return False
    tokens = (part.split("=", 1)[0].strip().lower() for part in custom_attributes.replace(",", ";").split(";"))
    return SMOKE_TEST_ATTRIBUTE in tokens


def _writer(path: str) -> Callable[[bytes], None]:
    """One ``os.write`` per record to stdout, or to ``path`` opened for appending on first use."""
    fd: list[int] = [] if path else [1]

    def write(line: bytes) -> None:
        if not fd:
            fd.append(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        os.write(fd[0], line)

    return write


class DecisionMetrics:
    """Emits one EMF record per request when enabled; ``enabled`` is false without a namespace.

    Never raises: ``failures`` counts the records that could not be written (the first is logged).
    """

    def __init__(self, environ: Mapping[str, str] = os.environ, write: Callable[[bytes], None] | None = None) -> None:
        self.namespace = environ.get(NAMESPACE_ENV, "").strip()
        self.stage = environ.get(STAGE_ENV, "").strip() or "local"
        self.path = environ.get(PATH_ENV, "").strip()
        self._write = write or _writer(self.path)
        self.failures = 0
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
        try:
            self._emit(req, decisions)
        except Exception as err:  # metrics are best-effort: a decision never fails because of them
            self.failures += 1
            if self.failures == 1:
                log.warning(
                    "decision metrics could not be written to %s (%s: %s); dropping records, counted in "
                    "DecisionMetrics.failures, logged once",
                    self.path or "stdout",
                    type(err).__name__,
                    err,
                )

    def _emit(self, req: DecisionRequest, decisions: Decisions) -> None:
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
