"""Every kind of bad input gets a 4xx naming what is wrong, over real HTTP, and the workers stay up."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import pytest
import requests

from inference import contract
from tests.inference.helpers import decision

GOOD = decision()


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


# (id, raw body, content type, expected status, text the message must contain)
CASES: list[tuple[str, bytes, str | None, int, str]] = [
    ("not-json", b"{'timestamp': 1", "application/json", 400, "not valid UTF-8 JSON"),
    ("truncated-json", body(GOOD)[:-3], "application/json", 400, "not valid UTF-8 JSON"),
    ("invalid-utf8", b'{"timestamp": "\xff\xfe"}', "application/json", 400, "UTF-8"),
    ("empty-body", b"", "application/json", 400, "body is empty"),
    ("top-level-list", body([GOOD]), "application/json", 400, "body must be a JSON object"),
    ("top-level-number", b"42", "application/json", 400, "body must be a JSON object"),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "not valid UTF-8 JSON"),
    ("missing-field", body(decision(failed_rpm=None)), "application/json", 400, "failed_rpm"),
    ("missing-several", body({"timestamp": "2024-05-06T12:00:00Z"}), "application/json", 400, "load_rpm"),
    ("unknown-field", body({**GOOD, "min_machine": 3}), "application/json", 400, "min_machine"),
    ("timestamp-number", body(decision(timestamp=1714996800)), "application/json", 400, "timestamp"),
    ("timestamp-garbage", body(decision(timestamp="yesterday")), "application/json", 400, "timestamp"),
    ("timestamp-overflow", body(decision(timestamp="0001-01-01T00:00:00+05:00")), "application/json", 400, "timestamp"),
    ("load-not-list", body(decision(load_rpm=1000)), "application/json", 400, "load_rpm"),
    ("load-empty", body(decision(load_rpm=[])), "application/json", 400, "load_rpm"),
    ("load-string-item", body(decision(load_rpm=[1, "2"])), "application/json", 400, "load_rpm[1]"),
    ("load-bool-item", body(decision(load_rpm=[True])), "application/json", 400, "load_rpm[0]"),
    ("load-null-item", body(decision(load_rpm=[1, None])), "application/json", 400, "load_rpm[1]"),
    ("load-negative", body(decision(load_rpm=[1, 2, -3])), "application/json", 400, "load_rpm[2]"),
    ("load-nan", b'{"instances": [%s]}' % body(GOOD).replace(b"1040.0", b"NaN"), "application/json", 400, "[3]"),
    ("load-infinity", body(GOOD).replace(b"900.0", b"Infinity"), "application/json", 400, "load_rpm[0]"),
    ("load-overflow", body(GOOD).replace(b"900.0", b"1e400"), "application/json", 400, "load_rpm[0]"),
    ("load-too-long", body(decision(load_rpm=[1] * (contract.MAX_LOAD_POINTS + 1))), "application/json", 400, "load"),
    ("failed-negative", body(decision(failed_rpm=-1)), "application/json", 400, "failed_rpm"),
    ("failed-nan", body(GOOD).replace(b'"failed_rpm": 0', b'"failed_rpm": NaN'), "application/json", 400, "failed"),
    ("failed-string", body(decision(failed_rpm="0")), "application/json", 400, "failed_rpm"),
    ("active-negative", body(decision(active_machines=-1)), "application/json", 400, "active_machines"),
    ("active-fraction", body(decision(active_machines=3.5)), "application/json", 400, "active_machines"),
    ("active-bool", body(decision(active_machines=True)), "application/json", 400, "active_machines"),
    ("active-huge", body(decision(active_machines=10**30)), "application/json", 400, "active_machines"),
    ("pending-null", body({**GOOD, "pending_machines": None}), "application/json", 400, "pending_machines"),
    ("pending-list", body(decision(pending_machines=[1])), "application/json", 400, "pending_machines"),
    ("capacity-zero", body(decision(capacity_rpm_per_machine=0)), "application/json", 400, "capacity_rpm"),
    ("capacity-negative", body(decision(capacity_rpm_per_machine=-300)), "application/json", 400, "capacity_rpm"),
    ("min-negative", body(decision(min_machines=-2)), "application/json", 400, "min_machines"),
    ("max-string", body(decision(max_machines="20")), "application/json", 400, "max_machines"),
    ("min-above-max", body(decision(min_machines=30, max_machines=20)), "application/json", 400, "min_machines"),
    ("economics-not-object", body(decision(economics=[5])), None, 400, "economics: must be an object"),
    ("economics-unknown-key", body(decision(economics={"warmup": 5})), None, 400, "economics.warmup: unknown key"),
    (
        "economics-out-of-range",
        body({"instances": [GOOD, decision(economics={"warmup_latency": 500})]}),
        None,
        400,
        "instances[1].economics.warmup_latency: must be in [0, 240]",
    ),
    ("economics-nan", body(GOOD)[:-1] + b', "economics": {"machine_cost": NaN}}', None, 400, "economics.machine_cost"),
    ("economics-bool", body(decision(economics={"downtime_cost": True})), None, 400, "economics.downtime_cost"),
    (
        "csv-economics-column",
        b"2024-05-06T12:00:00Z,900,0,4,0,300,1,20,{}",
        "text/csv",
        400,
        "send the decision as JSON",
    ),
    ("instances-not-list", body({"instances": GOOD}), "application/json", 400, "instances"),
    ("instances-empty", body({"instances": []}), "application/json", 400, "instances"),
    ("instances-with-extra", body({"instances": [GOOD], "x": 1}), "application/json", 400, "instances"),
    ("instance-not-object", body({"instances": [GOOD, 3]}), "application/json", 400, "instances[1]"),
    ("bad-second-instance", body({"instances": [GOOD, decision(active_machines=-1)]}), None, 400, "instances[1]"),
    ("too-many-instances", body({"instances": [GOOD] * (contract.MAX_INSTANCES + 1)}), None, 400, "limit is 1000"),
    ("csv-too-few-columns", b"2024-05-06T12:00:00Z,900,0,4", "text/csv", 400, "row 1"),
    ("csv-too-many-columns", b"2024-05-06T12:00:00Z,900,0,4,0,300,1,20,7", "text/csv", 400, "columns"),
    ("csv-not-a-number", b"2024-05-06T12:00:00Z,900,zero,4,0,300", "text/csv", 400, "row 1.failed_rpm"),
    ("csv-nan", b"2024-05-06T12:00:00Z,900;nan,0,4,0,300", "text/csv", 400, "row 1.load_rpm"),
    ("csv-empty-load", b"2024-05-06T12:00:00Z,,0,4,0,300", "text/csv", 400, "load_rpm"),
    ("csv-negative", b"2024-05-06T12:00:00Z,900,0,-4,0,300", "text/csv", 400, "active_machines"),
    ("csv-second-row", b"2024-05-06T12:00:00Z,900,0,4,0,300\nnope,900,0,4,0,300", "text/csv", 400, "row 2"),
    ("csv-only-header", ",".join(contract.CSV_COLUMNS).encode(), "text/csv", 400, "at least one"),
    ("csv-invalid-utf8", b"2024-05-06T12:00:00Z,\xff,0,4,0,300", "text/csv", 400, "UTF-8"),
    ("content-type-missing", body(GOOD), None, 415, "Content-Type"),
    ("content-type-text", body(GOOD), "text/plain", 415, "text/plain"),
    ("content-type-form", body(GOOD), "application/x-www-form-urlencoded", 415, "Content-Type"),
    ("oversized", b'{"instances": [' + b" " * contract.MAX_BODY_BYTES + b"]}", "application/json", 413, "limit"),
]


@pytest.mark.parametrize(("raw", "content_type", "status", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_4xx_naming_the_problem(post, raw, content_type, status, needle) -> None:
    if content_type is None and status != 415:
        content_type = "application/json"
    r = post(data=raw, content_type=content_type)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    doc = r.json()
    assert doc["status"] == status
    assert needle in doc["error"], doc["error"]
    assert "Traceback" not in r.text and 'File "' not in r.text


def test_workers_stay_up_after_every_bad_input(server: str, post) -> None:
    for _, raw, content_type, _, _ in CASES:
        post(data=raw, content_type=content_type or "application/json")
    assert requests.get(f"{server}/ping", timeout=5).status_code == 200
    for _ in range(10):  # both workers answer
        assert post(json=GOOD).status_code == 200


@pytest.mark.parametrize("accept", ["image/png", "application/xml", "text/html;q=1, application/json;q=0"])
def test_unsupported_accept_is_406(post, accept: str) -> None:
    r = post(json=GOOD, Accept=accept)
    assert r.status_code == 406
    assert "Accept" in r.json()["error"]


def test_oversized_body_by_content_length_is_refused_before_reading(server: str) -> None:
    """A client that announces a huge body gets 413 without sending it."""
    url = urlparse(server)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n"
        )
        head = sock.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413"), head
    assert "Connection: close" in head  # the unread body makes the connection unusable


def test_oversized_chunked_body_is_413(server: str) -> None:
    def chunks():
        yield b'{"instances": ['
        for _ in range(contract.MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    r = requests.post(f"{server}/invocations", data=chunks(), headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 413
    assert r.headers["Connection"] == "close"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/invocations", 405), ("PUT", "/invocations", 405), ("POST", "/ping", 405), ("GET", "/nope", 404)],
)
def test_routes(server: str, method: str, path: str, status: int) -> None:
    r = requests.request(method, f"{server}{path}", timeout=5)
    assert r.status_code == status
    assert r.json()["status"] == status
