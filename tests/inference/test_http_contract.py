"""The decision contract over real HTTP on loopback: single and batch, JSON and CSV, Accept and header casing."""

from __future__ import annotations

import csv
import http.client
import io
import json
from urllib.parse import urlparse

import pytest
import requests

from inference import contract
from tests.inference.helpers import MODEL_VERSION, decision

KEYS = {"desired_machines", "delta", "action", "model_version", "shielded", "reason"}


def check_decision(out: dict, req: dict) -> None:
    assert set(out) == KEYS
    assert type(out["desired_machines"]) is int and type(out["delta"]) is int
    assert out["delta"] == out["desired_machines"] - (req["active_machines"] + req["pending_machines"])
    expected = "scale_out" if out["delta"] > 0 else "scale_in" if out["delta"] < 0 else "hold"
    assert out["action"] == expected
    assert out["model_version"] == MODEL_VERSION
    assert type(out["shielded"]) is bool
    assert isinstance(out["reason"], str) and out["reason"]
    assert req.get("min_machines", 0) <= out["desired_machines"] <= req.get("max_machines", contract.MAX_MACHINES)


def test_ping(server: str) -> None:
    r = requests.get(f"{server}/ping", timeout=5)
    assert r.status_code == 200
    assert r.json()["model_version"] == MODEL_VERSION


def test_single_json_decision(post) -> None:
    req = decision()
    r = post(json=req)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    check_decision(r.json(), req)


def test_batch_json_decisions_keep_order(post) -> None:
    reqs = [decision(active_machines=a, load_rpm=[300.0 * a] * 5, min_machines=None) for a in range(1, 40)]
    r = post(json={"instances": reqs})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == len(reqs)
    for out, req in zip(preds, reqs):
        check_decision(out, req)


def test_batch_of_one_is_still_a_batch(post) -> None:
    r = post(json={"instances": [decision()]})
    assert r.status_code == 200
    assert len(r.json()["predictions"]) == 1


def test_batch_at_the_instance_limit(post) -> None:
    r = post(json={"instances": [decision()] * contract.MAX_INSTANCES})
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == contract.MAX_INSTANCES


def test_same_input_same_decision(post) -> None:
    first = post(json=decision()).json()
    assert all(post(json=decision()).json() == first for _ in range(5))


def test_optional_bounds_may_be_absent_or_null(post) -> None:
    for req in (decision(min_machines=None, max_machines=None), {**decision(), "min_machines": None}):
        r = post(json=req)
        assert r.status_code == 200, r.text
        check_decision(r.json(), {k: v for k, v in req.items() if v is not None})


def test_economics_are_optional_and_the_defaults_equal_their_absence(post) -> None:
    from inference.economics import DEFAULTS

    plain = post(json=decision())
    for econ in (None, {}, DEFAULTS, {"warmup_latency": 5}):
        r = post(json={**decision(), "economics": econ})
        assert r.status_code == 200 and r.json() == plain.json(), r.text
    priced = post(json={"instances": [decision(economics={"warmup_latency": 12, "warming_cost": True})]})
    assert priced.status_code == 200, priced.text
    check_decision(priced.json()["predictions"][0], decision())


def test_csv_rows_in_documented_order(post) -> None:
    body = "2024-05-06T12:00:00Z,900;950;1000,0,4,0,300,1,20\n2024-05-06T12:00:00+02:00,5000,12.5,10,2,300\n"
    r = post(data=body, content_type="text/csv")
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    check_decision(preds[0], decision(load_rpm=[900, 950, 1000]))
    check_decision(preds[1], {"active_machines": 10, "pending_machines": 2})
    assert preds[1]["delta"] >= 0  # 12.5 failed requests per minute: never scale in


def test_csv_header_row_is_skipped_and_matches_json(post) -> None:
    header = ",".join(contract.CSV_COLUMNS)
    r_csv = post(data=f"{header}\n2024-05-06T12:00:00Z,900;950;1000;1040,0,4,0,300,1,20\n", content_type="text/csv")
    r_json = post(json=decision())
    assert r_csv.status_code == 200
    assert r_csv.json()["predictions"] == [r_json.json()]


def test_csv_response_when_accepted(post) -> None:
    r = post(json={"instances": [decision(), decision(failed_rpm=3)]}, Accept="text/csv")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(r.text)))
    assert len(rows) == 2 and all(len(row) == len(contract.OUTPUT_COLUMNS) for row in rows)
    desired, delta, action, version, shielded, reason = rows[0]
    assert int(desired) - 4 == int(delta) and version == MODEL_VERSION and shielded in ("true", "false") and reason
    assert action == ("scale_out" if int(delta) > 0 else "scale_in" if int(delta) < 0 else "hold")


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("text/csv", "text/csv"),
        ("TEXT/CSV", "text/csv"),
        ("text/csv;q=0.5, application/json", "application/json"),
        ("image/png, text/*;q=0.3", "text/csv"),
        ("application/json;q=0, text/csv", "text/csv"),
    ],
)
def test_accept_negotiation(post, accept: str | None, kind: str) -> None:
    r = post(json=decision(), **({"Accept": accept} if accept else {}))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == kind


@pytest.mark.parametrize(
    ("header_name", "value", "body"),
    [
        ("Content-Type", "application/json", None),
        ("content-type", "application/json", None),
        ("CONTENT-TYPE", "Application/JSON", None),
        ("Content-type", "application/json; charset=utf-8", None),
        ("content-TYPE", "TEXT/CSV", "2024-05-06T12:00:00Z,900;950;1000;1040,0,4,0,300,1,20"),
        ("Content-Type", "text/csv; charset=UTF-8", "2024-05-06T12:00:00Z,900;950;1000;1040,0,4,0,300,1,20"),
    ],
)
@pytest.mark.parametrize("accept_name", ["Accept", "accept", "ACCEPT"])
def test_header_casing(server: str, header_name: str, value: str, body: str | None, accept_name: str) -> None:
    """Header names are case-insensitive and media types too; sent raw, so no client normalises them."""
    url = urlparse(server)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    payload = (body or json.dumps(decision())).encode()
    conn.putrequest("POST", "/invocations", skip_accept_encoding=True)
    conn.putheader(header_name, value)
    conn.putheader(accept_name, "Text/CSV")
    conn.putheader("Content-Length", str(len(payload)))
    conn.endheaders(payload)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    assert resp.status == 200, text
    assert resp.getheader("content-type") == "text/csv"
    assert int(text.split(",")[0]) >= 1


def test_keep_alive_serves_many_requests_on_one_connection(server: str) -> None:
    url = urlparse(server)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    body = json.dumps(decision()).encode()
    for _ in range(20):
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("connection", "keep-alive").lower() == "keep-alive"
        resp.read()
    conn.close()


def test_chunked_request_body(server: str) -> None:
    def chunks():
        data = json.dumps(decision()).encode()
        yield data[:10]
        yield data[10:]

    r = requests.post(f"{server}/invocations", data=chunks(), headers={"Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 200, r.text


def test_out_of_range_load_falls_back_and_says_why(post) -> None:
    """Load far beyond the training range: the target-tracking fallback decides, and the reason names the feature."""
    req = decision(load_rpm=[3e9], active_machines=10, min_machines=None, max_machines=None)
    out = post(json=req).json()
    assert out["shielded"] is True
    assert "fallback to target tracking" in out["reason"] and "log_need" in out["reason"]
    assert out["delta"] == 5  # the change per decision is still limited: max(2, 50 % of 10)
