"""Ask the endpoint once for every deciding fleet; fall back per fleet to the shield's target-tracking rule.

- **One call.** All fleets go in one `InvokeEndpoint` with `{"instances": [...]}` (the decision contract),
  chunked only when the contract's `MAX_INSTANCES` or `MAX_BODY_BYTES` requires; chunks are sent concurrently.
- **Checked before sending, parsed once.** Each chunk is validated with the contract's own parser, once; only a
  chunk it refuses is checked instance by instance (each once more), and an instance it refuses (e.g. a target that
  reported a negative count) falls back alone instead of failing the whole call.
- **Short and bounded.** The sagemaker-runtime client has the endpoint's read timeout and attempts
  (ENDPOINT_TIMEOUT_S, ENDPOINT_MAX_ATTEMPTS; botocore standard mode retries throttling, 5xx and timeouts).
- **Checked after.** The answer must hold one prediction per instance, each a valid
  `inference.contract.DecisionResponse` for its instance (fields, types, action, delta, bounds); a call that
  fails (timeout, 5xx, throttling, a 4xx, an answer of the wrong shape) falls back for all its fleets, a wrong
  prediction for its fleet only. Fallback: `inference.fallback.target_tracking` on the fleet's last observed minute.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.config import FleetConfig
from controller.observe import Observation
from controller.targets.base import FleetState
from inference import contract
from inference.errors import InferenceError
from inference.fallback import target_tracking

MAX_CONCURRENT_CALLS = 4
_ENVELOPE = len(b'{"instances":[]}')


@dataclass(frozen=True)
class Ask:
    """One fleet to decide."""

    fleet: FleetConfig
    observation: Observation
    state: FleetState


@dataclass(frozen=True)
class Decision:
    desired: int
    """The whole fleet the endpoint (or the fallback) asks for, serving plus warming."""
    fallback: bool
    """The endpoint's answer was not used: the target-tracking rule decided."""
    shielded: bool = False
    """The endpoint's shield changed or replaced the policy's proposal."""
    reason: str = ""
    model_version: str | None = None


@dataclass
class DecideStats:
    calls: int = 0
    latency_ms: float = 0.0
    """Wall time of the endpoint calls (chunks overlap)."""
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, error: str | None = None) -> None:
        """One call made (from any chunk's thread), and its error if it failed."""
        with self._lock:
            self.calls += 1
            if error:
                self.errors.append(error)


def instance(ask: Ask, timestamp: str) -> dict[str, Any]:
    """The contract's decision object for one fleet."""
    fleet, obs = ask.fleet, ask.observation
    return {
        "timestamp": timestamp,
        "load_rpm": list(obs.load_rpm),
        "failed_rpm": obs.failed_rpm,
        "active_machines": ask.state.serving,
        "pending_machines": ask.state.warming,
        "capacity_rpm_per_machine": fleet.capacity_rpm_per_machine,
        "min_machines": fleet.min_machines,
        "max_machines": fleet.max_machines,
        "economics": dict(fleet.economics),
    }


def fallback(ask: Ask, why: str) -> Decision:
    desired = int(target_tracking(ask.observation.last_load, ask.fleet.capacity_rpm_per_machine))
    return Decision(desired=desired, fallback=True, reason=f"controller fallback to target tracking: {why}")


class Decider:
    """InvokeEndpoint for many fleets (sagemaker-runtime client injected)."""

    def __init__(
        self,
        runtime: Any,
        endpoint_name: str,
        *,
        max_instances: int = contract.MAX_INSTANCES,
        max_body_bytes: int = contract.MAX_BODY_BYTES,
    ) -> None:
        self.runtime = runtime
        self.endpoint_name = endpoint_name
        self.max_instances = max_instances
        self.max_body_bytes = max_body_bytes

    def decide(self, asks: Sequence[Ask], minute: datetime) -> tuple[list[Decision], DecideStats]:
        """One decision per ask, in order."""
        stats = DecideStats()
        out: list[Decision | None] = [None] * len(asks)
        if not asks:
            return [], stats
        timestamp = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
        # Each chunk's body is built, checked and (where instances were refused) rebuilt here, in turn; the worker
        # threads only send: one copy of the encoded instances, allocated by this thread.
        chunks = [self._check(chunk, asks) for chunk in self._chunks(asks, timestamp)]
        started = time.perf_counter()

        def call(chunk: _Chunk) -> list[Decision]:
            decisions = chunk.decisions
            if chunk.sent:
                decisions = decisions | self._invoke(chunk.sent, chunk.body, asks, stats)
            chunk.body = chunk._first = b""  # sent: freed before the other chunks are answered
            return [decisions[i] for i in chunk.indices]

        if len(chunks) == 1:
            results = [call(chunks[0])]
        else:
            with ThreadPoolExecutor(min(MAX_CONCURRENT_CALLS, len(chunks))) as pool:
                results = list(pool.map(call, chunks))
        stats.latency_ms = (time.perf_counter() - started) * 1000.0
        for chunk, decisions in zip(chunks, results):
            for i, decision in zip(chunk.indices, decisions):
                out[i] = decision
        return [d if d is not None else fallback(asks[i], "no answer") for i, d in enumerate(out)], stats

    def _chunks(self, asks: Sequence[Ask], timestamp: str) -> Iterator[_Chunk]:
        """The asks' encoded instances in bodies within the contract's limits (instances and bytes), in order."""
        current: list[bytes] = []
        indices: list[int] = []
        size = _ENVELOPE
        for i, ask in enumerate(asks):
            encoded = json.dumps(instance(ask, timestamp), separators=(",", ":")).encode()
            extra = len(encoded) + (1 if current else 0)
            if current and (len(current) >= self.max_instances or size + extra > self.max_body_bytes):
                yield _Chunk.of(indices, current)
                current, indices, size, extra = [], [], _ENVELOPE, len(encoded)
            current.append(encoded)
            indices.append(i)
            size += extra
        if current:
            yield _Chunk.of(indices, current)

    def _check(self, chunk: _Chunk, asks: Sequence[Ask]) -> _Chunk:
        """The chunk with the instances the contract's own parser refuses taken out (each falls back alone)."""
        if _refused(chunk.body) is None:  # the contract's own parser, once per chunk
            return chunk
        for i in chunk.indices:  # which instances: each checked alone, once; a refused one falls back alone
            problem = _refused(chunk.body_of([i]))
            if problem is not None:
                problem = problem.removeprefix("instances[0].")  # alone in its body: the field is what counts
                chunk.sent.remove(i)
                chunk.decisions[i] = fallback(asks[i], f"request refused locally: {problem}")
        if chunk.sent:
            body = chunk.body_of(chunk.sent)
            if (problem := _refused(body)) is not None:  # e.g. too large as a whole
                for i in chunk.sent:
                    chunk.decisions[i] = fallback(asks[i], f"request refused locally: {problem}")
                chunk.sent, body = [], b""
            chunk.body = body
        return chunk

    def _invoke(self, sent: list[int], body: bytes, asks: Sequence[Ask], stats: DecideStats) -> dict[int, Decision]:
        try:
            response = self.runtime.invoke_endpoint(
                EndpointName=self.endpoint_name, ContentType=contract.JSON, Accept=contract.JSON, Body=body
            )
            answer = json.loads(response["Body"].read())
        except Exception as err:  # timeout, throttling, 5xx, 4xx (ModelError), connection, not JSON
            why = _describe(err)
            stats.count(why)
            return {i: fallback(asks[i], why) for i in sent}
        predictions = answer.get("predictions") if isinstance(answer, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(sent):
            got = f"{len(predictions)} predictions" if isinstance(predictions, list) else "no 'predictions' list"
            why = f"malformed answer: {got} for {len(sent)} instances"
            stats.count(why)
            return {i: fallback(asks[i], why) for i in sent}
        stats.count()
        return {i: _checked(asks[i], p) for i, p in zip(sent, predictions)}


@dataclass
class _Chunk:
    """One InvokeEndpoint's worth of instances: their body, and where each instance lies in it."""

    indices: list[int]
    """The asks in this chunk, in order."""
    body: bytes
    """What is sent: the instances of ``sent``."""
    spans: dict[int, tuple[int, int]]
    """Ask -> its encoded instance's bytes in the first body (to check an instance alone, or send fewer)."""
    sent: list[int] = field(default_factory=list)
    decisions: dict[int, Decision] = field(default_factory=dict)
    """The fallbacks of the instances the contract's parser refused (not sent)."""
    _first: bytes = b""

    @classmethod
    def of(cls, indices: list[int], encoded: list[bytes]) -> _Chunk:
        spans, at = {}, len(_OPEN)
        for i, part in zip(indices, encoded):
            spans[i] = (at, at + len(part))
            at += len(part) + 1
        body = _OPEN + b",".join(encoded) + _CLOSE
        return cls(list(indices), body, spans, sent=list(indices), _first=body)

    def body_of(self, indices: Sequence[int]) -> bytes:
        return _OPEN + b",".join(self._first[slice(*self.spans[i])] for i in indices) + _CLOSE


_OPEN, _CLOSE = b'{"instances":[', b"]}"


def _refused(body: bytes) -> str | None:
    """The contract parser's message if it refuses the body, else None."""
    try:
        contract.parse_request(body, contract.JSON)
    except InferenceError as err:
        return str(err)
    return None


def _checked(ask: Ask, p: Any) -> Decision:
    """The endpoint's prediction for one fleet, or the fallback when it breaks the contract."""
    fleet, state = ask.fleet, ask.state
    try:
        answer = contract.DecisionResponse.parse(
            p, state.serving, state.warming, fleet.min_machines, fleet.max_machines
        )
    except ValueError as err:
        return fallback(ask, f"malformed prediction: {err}")
    return Decision(
        desired=answer.desired_machines,
        fallback=False,
        shielded=answer.shielded,
        reason=answer.reason,
        model_version=answer.model_version,
    )


def _describe(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = str(error.get("Message", ""))[:200]
        return f"endpoint error {error.get('Code', '?')} (HTTP {status}): {message}"
    return f"endpoint call failed: {type(err).__name__}: {str(err)[:200]}"
