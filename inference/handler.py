"""The four SageMaker hooks, and ``invoke``, which chains them for the local server.

The SageMaker PyTorch inference container calls ``model_fn(model_dir)`` once per worker, then per request
``input_fn(body, content_type)`` -> ``predict_fn(data, model)`` -> ``output_fn(prediction, accept)``. Every hook
runs inside ``errors.boundary``: bad input leaves as a 4xx ``InferenceError`` whose message names the field; any
other fault is logged with its traceback and answered with a bare 500. A policy that fails or yields non-finite
logits is not an error: the shield falls back to its target-tracking rule for the affected decisions, as it does
for a decision outside what the policy was trained on (``domain.TrainingDomain``: economics, fleet size, history
length), with a reason naming the value. A decision the policy makes on less ``load_rpm`` than it reads says so
in its reason.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import contract, features
from .artifact import LoadedPolicy, load_artifact
from .errors import ModelLoadError, boundary, error_response
from .metrics import CUSTOM_ATTRIBUTES_HEADER, DecisionMetrics, is_smoke_test
from .shield import Decisions, Shield, ShieldConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Model:
    """What ``model_fn`` returns: the loaded policy, its shield and the metrics sink."""

    policy: LoadedPolicy
    shield: Shield
    metrics: DecisionMetrics

    @property
    def model_version(self) -> str:
        return self.policy.model_version


@dataclass(frozen=True)
class Prediction:
    """What ``predict_fn`` returns and ``output_fn`` encodes."""

    decisions: Decisions
    model_version: str
    single: bool

    def as_dicts(self) -> list[dict[str, object]]:
        d = self.decisions
        version = self.model_version
        return [
            {
                "desired_machines": desired,
                "delta": delta,
                "action": contract.ACTIONS[(delta > 0) - (delta < 0) + 1],
                "model_version": version,
                "shielded": shielded,
                "reason": reason,
            }
            for desired, delta, shielded, reason in zip(
                d.desired.tolist(), d.delta.tolist(), d.shielded.tolist(), d.reasons
            )
        ]


def load_model(path: str, config: ShieldConfig | None = None) -> Model:
    """The served model from an artifact (tarball or extracted directory); shield settings from the environment."""
    policy = load_artifact(path)
    try:
        config = config or ShieldConfig.from_env()
    except ValueError as err:
        raise ModelLoadError(f"bad shield setting: {err}") from None
    model = Model(policy=policy, shield=Shield(policy.obs_lo, policy.obs_hi, config), metrics=DecisionMetrics())
    gate = policy.metadata.get("gate") or {}
    log.info(
        "serving model_version=%s contract_version=%s gate_passed=%s shield=%s metrics=%s",
        model.model_version,
        policy.metadata.get("contract_version"),
        gate.get("passed"),
        config,
        model.metrics.namespace or "off",
    )
    return model


@boundary
def model_fn(model_dir: str) -> Model:
    return load_model(model_dir)


def custom_attributes(context: Any) -> str | None:
    """The request's SageMaker CustomAttributes from the serving context (TorchServe's), or None."""
    try:
        headers = context.request_processor[0].get_request_properties()
    except Exception:  # no context (local calls) or a serving stack that passes none
        return None
    wanted = CUSTOM_ATTRIBUTES_HEADER.lower()
    for name, value in dict(headers or {}).items():
        if str(name).lower() == wanted:
            return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)
    return None


def mark_smoke_test(request: contract.DecisionRequest, attributes: str | None) -> contract.DecisionRequest:
    """A smoke-test request (CustomAttributes names ``rl-autoscaler-smoke-test``) is kept out of the metrics."""
    return dataclasses.replace(request, record_metrics=False) if is_smoke_test(attributes) else request


@boundary
def input_fn(input_data: str | bytes | bytearray, content_type: str, context: Any = None) -> contract.DecisionRequest:
    """The container passes its request context (a third parameter), which carries CustomAttributes."""
    return mark_smoke_test(contract.parse_request(input_data, content_type), custom_attributes(context))


@boundary
def predict_fn(data: contract.DecisionRequest, model: Model) -> Prediction:
    obs = features.featurize(
        data.load,
        data.failed,
        data.active,
        data.pending,
        data.capacity,
        data.minute,
        data.history,
        economics=data.economics,
    )
    try:
        logits = model.policy.policy.logits(obs)
        action = model.policy.policy.decide(logits)
        failed = ~np.isfinite(logits).all(axis=1)
    except Exception:  # a broken policy must not take decisions down: the shield falls back
        log.exception("policy forward pass failed; the shield falls back for this request")
        action = np.zeros(len(data), dtype=np.int64)
        failed = np.ones(len(data), dtype=bool)
    domain = model.policy.domain
    decisions = model.shield.apply(data, obs, action, failed, domain.outside(data))
    notes = domain.history_note(data)
    if any(notes):  # the policy decided on less history than it reads: the reason says so
        reasons = [
            r if n is None or r.startswith("fallback") else f"{r}; {n}" for r, n in zip(decisions.reasons, notes)
        ]
        decisions = dataclasses.replace(decisions, reasons=reasons)
    if data.record_metrics:
        model.metrics.emit(data, decisions)  # best-effort: never raises
    return Prediction(decisions=decisions, model_version=model.model_version, single=data.single)


@boundary
def output_fn(prediction: Prediction, accept: str) -> tuple[bytes, str]:
    kind = contract.choose_accept(accept)
    if kind == contract.CSV:
        return contract.encode_csv(prediction.as_dicts()), kind
    return contract.encode_json(prediction.as_dicts(), prediction.single), kind


def invoke(
    model: Model, body: bytes, content_type: str | None, accept: str | None, custom_attributes: str | None = None
) -> tuple[int, bytes, str]:
    """One request through the hooks, as the container runs them: (status, body, content type), never raises.

    Accept is checked before any work, so a request that would get a 406 changes nothing and emits no metric.
    `custom_attributes` is the request's X-Amzn-SageMaker-Custom-Attributes header.
    """
    try:
        contract.choose_accept(accept)
        request = mark_smoke_test(input_fn(body, content_type or ""), custom_attributes)
        prediction = predict_fn(request, model)
        out, kind = output_fn(prediction, accept or "")
        return 200, out, kind
    except Exception as err:  # the local server's half of the boundary (error_response logs unexpected errors)
        status, payload = error_response(err)
        return status, payload, contract.JSON
