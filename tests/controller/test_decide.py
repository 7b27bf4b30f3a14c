"""Deciding: one InvokeEndpoint for all fleets, chunked only by the contract's limits, the answer checked, and a
per-fleet fallback to the shield's own target-tracking rule on every kind of failure; against fakes, a botocore
Stubber, a server that never answers in time, and the real local endpoint."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber

from controller.aws import client_config
from controller.decide import Ask, Decider, fallback, instance
from controller.observe import Observation
from controller.targets.base import FleetState
from inference import contract
from inference.economics import DEFAULTS
from inference.fallback import target_tracking
from inference.shield import Shield, ShieldConfig
from tests.controller.fakes import T0, FakeRuntime, fleets, policy_answer

WHEN = datetime(2024, 5, 6, 12, 0)


def asks(n: int, load: float = 1000.0, serving: int = 5, history: int = 16, **fleet_kw: Any) -> list[Ask]:
    out = []
    for i, f in enumerate(fleets(*[f"f{i}" for i in range(n)], **fleet_kw)):
        obs = Observation(load_rpm=(load + i,) * history, failed_rpm=0.0, newest=0, stale=False)
        out.append(Ask(f, obs, FleetState(serving=serving, warming=1, desired=serving + 1)))
    return out


def test_one_call_for_every_fleet_with_the_contracts_fields() -> None:
    rt = FakeRuntime()
    batch = asks(3)
    decisions, stats = Decider(rt, "ep").decide(batch, WHEN)
    assert stats.calls == 1 and len(rt.bodies) == 1 and not stats.errors
    sent = rt.bodies[0]["instances"]
    assert sent[1] == {
        "timestamp": "2024-05-06T12:00:00Z",
        "load_rpm": [1001.0] * 16,
        "failed_rpm": 0.0,
        "active_machines": 5,
        "pending_machines": 1,
        "capacity_rpm_per_machine": 100.0,
        "min_machines": 1,
        "max_machines": 100,
        "economics": DEFAULTS,
    }
    assert [d.desired for d in decisions] == [policy_answer(i)["desired_machines"] for i in sent] == [13, 13, 13]
    assert not any(d.fallback for d in decisions) and decisions[0].model_version == "fake-1"


def test_each_fleet_sends_its_own_economics_which_the_contract_reads() -> None:
    rt = FakeRuntime()
    dear = asks(1, economics={"machine_cost": 0.5, "warmup_latency": 12})[0]
    Decider(rt, "ep").decide([dear, *asks(1)], WHEN)
    sent = rt.bodies[0]["instances"]
    assert sent[0]["economics"] == {**DEFAULTS, "machine_cost": 0.5, "warmup_latency": 12}
    parsed = contract.parse_request(json.dumps(rt.bodies[0]), contract.JSON)
    assert parsed.economics[0].tolist() == contract.economics_row(sent[0]["economics"])
    assert parsed.economics[1].tolist() == contract.economics_row(DEFAULTS)


def test_chunks_only_when_the_contract_limits_require() -> None:
    rt = FakeRuntime()
    decisions, stats = Decider(rt, "ep", max_instances=3).decide(asks(7), WHEN)
    assert stats.calls == 3 and [len(b["instances"]) for b in rt.bodies] == [3, 3, 1]
    assert not any(d.fallback for d in decisions)
    one = len(json.dumps(instance(asks(1)[0], "2024-05-06T12:00:00Z"), separators=(",", ":")))
    rt = FakeRuntime()
    Decider(rt, "ep", max_body_bytes=2 * one + 40).decide(asks(5), WHEN)
    assert [len(b["instances"]) for b in rt.bodies] == [2, 2, 1]
    rt = FakeRuntime()
    Decider(rt, "ep").decide(asks(contract.MAX_INSTANCES), WHEN)
    assert len(rt.bodies) == 1  # 1,000 fleets with 16 minutes each: one call


def test_a_week_of_history_is_chunked_by_body_size_within_the_contract() -> None:
    rt = FakeRuntime()
    decisions, stats = Decider(rt, "ep").decide(asks(40, history=10_080), WHEN)
    assert stats.calls >= 2 and sum(len(b["instances"]) for b in rt.bodies) == 40
    assert all(len(json.dumps(b, separators=(",", ":"))) <= contract.MAX_BODY_BYTES for b in rt.bodies)
    assert not any(d.fallback for d in decisions)


def stubbed_runtime() -> tuple[Any, Stubber]:
    client = boto3.client(
        "sagemaker-runtime", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x",
        config=client_config(read_timeout=1, max_attempts=1),
    )  # fmt: skip
    return client, Stubber(client)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, "ThrottlingException (HTTP 400)"),
        ("ServiceUnavailable", 503, "ServiceUnavailable (HTTP 503)"),
        ("InternalFailure", 500, "InternalFailure (HTTP 500)"),
        ("ModelError", 424, "ModelError (HTTP 424)"),
        ("ValidationError", 400, "ValidationError (HTTP 400)"),
    ],
)
def test_endpoint_errors_fall_back_for_every_fleet_of_the_call(code: str, status: int, expected: str) -> None:
    client, stub = stubbed_runtime()
    stub.add_client_error("invoke_endpoint", service_error_code=code, service_message="boom", http_status_code=status)
    batch = asks(4, load=700.0)
    with stub:
        decisions, stats = Decider(client, "ep").decide(batch, WHEN)
    assert stats.calls == 1 and expected in stats.errors[0]
    assert all(d.fallback for d in decisions)
    assert [d.desired for d in decisions] == [int(target_tracking(a.observation.last_load, 100.0)) for a in batch]
    assert [d.desired for d in decisions] == [10, 11, 11, 11]  # ceil(700 / 100 / 0.7), then 701..703
    assert expected in decisions[0].reason


def test_a_stubbed_answer_is_read_through_botocore() -> None:
    client, stub = stubbed_runtime()
    batch = asks(2)
    body = json.dumps({"predictions": [policy_answer(instance(a, "t")) for a in batch]}).encode()
    stub.add_response("invoke_endpoint", {"Body": _streaming(body), "ContentType": "application/json"})
    with stub:
        decisions, _ = Decider(client, "ep").decide(batch, WHEN)
    assert [d.desired for d in decisions] == [13, 13] and not any(d.fallback for d in decisions)


def _streaming(body: bytes) -> Any:
    import io

    from botocore.response import StreamingBody

    return StreamingBody(io.BytesIO(body), len(body))


def test_a_malformed_answer_falls_back_for_the_call_and_a_bad_prediction_for_its_fleet_only() -> None:
    rt = FakeRuntime(fail_next=[lambda inst: {"predictions": [policy_answer(i) for i in inst[:-1]]}])
    decisions, stats = Decider(rt, "ep").decide(asks(3), WHEN)
    assert all(d.fallback for d in decisions) and "2 predictions for 3 instances" in stats.errors[0]

    def broken(inst: list[dict[str, Any]]) -> dict[str, Any]:
        good = [policy_answer(i) for i in inst]
        good[0]["delta"] += 1  # inconsistent with desired - (active + pending)
        good[1]["desired_machines"] = 500  # above max_machines
        del good[2]["shielded"]
        good[3]["desired_machines"] = True  # a boolean is not a count
        return {"predictions": good}

    rt = FakeRuntime(fail_next=[broken])
    decisions, _ = Decider(rt, "ep").decide(asks(5), WHEN)
    assert [d.fallback for d in decisions] == [True, True, True, True, False]
    assert "delta" in decisions[0].reason and "outside [1, 100]" in decisions[1].reason
    assert "shielded" in decisions[2].reason and "desired_machines must be int" in decisions[3].reason

    rt = FakeRuntime(fail_next=[lambda inst: ["not", "an", "object"]])
    decisions, _ = Decider(rt, "ep").decide(asks(1), WHEN)
    assert decisions[0].fallback and "no 'predictions' list" in decisions[0].reason


def test_an_instance_the_contract_refuses_falls_back_alone() -> None:
    batch = asks(3)
    bad = Ask(batch[1].fleet, batch[1].observation, FleetState(serving=-2, warming=0, desired=0))
    rt = FakeRuntime()
    decisions, stats = Decider(rt, "ep").decide([batch[0], bad, batch[2]], WHEN)
    assert [d.fallback for d in decisions] == [False, True, False]
    assert "refused locally: active_machines: must be an integer" in decisions[1].reason
    assert rt.instances_sent == 2 and stats.calls == 1


def test_a_refused_instance_in_a_later_chunk_falls_back_alone_and_the_order_is_kept() -> None:
    batch = asks(7)
    batch[4] = Ask(batch[4].fleet, batch[4].observation, FleetState(serving=-1, warming=0, desired=0))
    rt = FakeRuntime()
    decisions, stats = Decider(rt, "ep", max_instances=3).decide(batch, WHEN)
    assert [d.fallback for d in decisions] == [False, False, False, False, True, False, False]
    assert [len(b["instances"]) for b in rt.bodies] == [3, 2, 1] and stats.calls == 3
    sent = [inst["load_rpm"][-1] for b in rt.bodies for inst in b["instances"]]
    assert sent == [1000.0 + i for i in (0, 1, 2, 3, 5, 6)]


def test_many_refused_instances_still_fall_back_alone() -> None:
    batch = asks(20)
    mixed = [
        Ask(a.fleet, a.observation, FleetState(serving=-1, warming=0, desired=0)) if i % 5 < 3 else a
        for i, a in enumerate(batch)
    ]
    rt = FakeRuntime()
    decisions, stats = Decider(rt, "ep").decide(mixed, WHEN)
    assert [d.fallback for d in decisions] == [i % 5 < 3 for i in range(20)]
    assert rt.instances_sent == 8 and stats.calls == 1


def test_the_fallback_is_the_shields_own_rule() -> None:
    rng = np.random.default_rng(5)
    load = rng.uniform(0, 50_000, size=64)
    capacity = rng.uniform(10, 500, size=64)
    req = contract.parse_request(
        json.dumps(
            {
                "instances": [
                    {
                        "timestamp": "2024-05-06T12:00:00Z",
                        "load_rpm": [float(x)],
                        "failed_rpm": 0,
                        "active_machines": 1000,
                        "pending_machines": 0,
                        "capacity_rpm_per_machine": float(c),
                    }
                    for x, c in zip(load, capacity)
                ]
            }
        ),
        contract.JSON,
    )
    shield = Shield(np.full(contract.features.OBS_DIM, -1e9), np.full(contract.features.OBS_DIM, 1e9),
                    ShieldConfig(max_step_fraction=10.0, min_step=10**6))  # fmt: skip
    failed = np.ones(len(load), dtype=bool)
    from inference import features

    obs = features.featurize(req.load, req.failed, req.active, req.pending, req.capacity, req.minute)
    shielded = shield.apply(req, obs, np.zeros(len(load), dtype=np.int64), failed)
    ours = []
    for x, c in zip(load, capacity):
        (f,) = fleets("a", capacity_rpm_per_machine=float(c), max_machines=1_000_000)
        obs1 = Observation(load_rpm=(float(x),), failed_rpm=0.0, newest=0, stale=False)
        ours.append(fallback(Ask(f, obs1, FleetState(1000, 0, 1000)), "test").desired)
    assert ours == shielded.desired.tolist()


class _Slow(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_POST(self) -> None:
        type(self).hits += 1
        time.sleep(1.5)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    _Slow.hits = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_endpoint_that_does_not_answer_in_time_falls_back_after_bounded_attempts(slow_server: str) -> None:
    client = boto3.client(
        "sagemaker-runtime", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x",
        endpoint_url=slow_server, config=client_config(read_timeout=0.3, max_attempts=2),
    )  # fmt: skip
    started = time.perf_counter()
    decisions, stats = Decider(client, "ep").decide(asks(3), WHEN)
    elapsed = time.perf_counter() - started
    assert all(d.fallback for d in decisions) and "ReadTimeout" in stats.errors[0]
    assert _Slow.hits == 2  # ENDPOINT_MAX_ATTEMPTS, the first included
    assert elapsed < 3.0


@pytest.mark.usefixtures("aws_env")
def test_the_real_local_endpoint_decides_every_fleet_in_one_call(packaged_policy: Path) -> None:
    from inference.endpoint import LocalEndpoint

    batch = asks(50, load=2500.0, serving=20)
    with LocalEndpoint(packaged_policy, workers=1, threads=2) as ep:
        client = boto3.client("sagemaker-runtime", endpoint_url=ep.url, config=client_config(read_timeout=5))
        decisions, stats = Decider(client, "rl-autoscaler-test").decide(batch, T0)
    assert stats.calls == 1 and not stats.errors
    assert not any(d.fallback for d in decisions)
    assert {d.model_version for d in decisions} == {"controller-test"}
    assert all(1 <= d.desired <= 100 for d in decisions)


def test_a_batch_is_parsed_once_and_a_refused_one_instance_by_instance_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from inference import contract

    parsed: list[int] = []
    real = contract.parse_request

    def counting(body: bytes, content_type: str | None) -> Any:
        parsed.append(body.count(b'"timestamp"'))
        return real(body, content_type)

    monkeypatch.setattr(contract, "parse_request", counting)
    Decider(FakeRuntime(), "ep").decide(asks(50), WHEN)
    assert parsed == [50]  # one parse of the whole batch
    parsed.clear()
    batch = asks(5)
    bad = Ask(batch[2].fleet, batch[2].observation, FleetState(serving=-1, warming=0, desired=0))
    Decider(FakeRuntime(), "ep").decide([*batch[:2], bad, *batch[3:]], WHEN)
    assert parsed == [5, 1, 1, 1, 1, 1, 4]  # the batch, each instance alone, what is sent


def test_the_response_type_is_the_contracts_output_columns() -> None:
    from dataclasses import fields

    from inference import contract

    assert tuple(f.name for f in fields(contract.DecisionResponse)) == contract.OUTPUT_COLUMNS
    ok = {"desired_machines": 7, "delta": 2, "action": "scale_out", "model_version": "v", "shielded": False,
          "reason": "r"}  # fmt: skip
    assert contract.DecisionResponse.parse(ok, 4, 1, 1, 10).desired_machines == 7
    with pytest.raises(ValueError, match="action must be one of"):
        contract.DecisionResponse.parse({**ok, "action": "hold"}, 4, 1, 1, 10)
