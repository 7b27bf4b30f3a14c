"""Property tests: any valid request yields, for every instance, a decision that keeps the shield's promises."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timedelta, timezone

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference import contract, errors, handler
from inference.shield import ShieldConfig

CFG = ShieldConfig()
SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def examples(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=SLOW_OK)


rpm = st.one_of(
    st.floats(min_value=0.0, max_value=1e9, allow_nan=False),
    st.integers(min_value=0, max_value=10**9),
    st.sampled_from([0, 0.0, 1e12]),
)
machines = st.one_of(st.integers(0, 200), st.integers(0, contract.MAX_MACHINES))
timestamps = st.builds(
    lambda dt, offset, zulu: (
        dt.replace(tzinfo=timezone(timedelta(minutes=offset))).isoformat() if not zulu else dt.isoformat() + "Z"
    ),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
    st.booleans(),
)


@st.composite
def decisions(draw) -> dict:
    doc = {
        "timestamp": draw(timestamps),
        "load_rpm": draw(st.lists(rpm, min_size=1, max_size=40)),
        "failed_rpm": draw(st.one_of(st.just(0), rpm)),
        "active_machines": draw(machines),
        "pending_machines": draw(st.one_of(st.just(0), machines)),
        "capacity_rpm_per_machine": draw(
            st.one_of(st.floats(min_value=contract.MIN_CAPACITY_RPM, max_value=1e6), st.sampled_from([300, 1e12]))
        ),
    }
    bounds = draw(st.sampled_from(["none", "min", "max", "both", "null"]))
    lo = draw(st.integers(0, 500))
    hi = lo + draw(st.integers(0, 500))
    if bounds in ("min", "both"):
        doc["min_machines"] = lo
    if bounds in ("max", "both"):
        doc["max_machines"] = hi
    if bounds == "null":
        doc["min_machines"] = doc["max_machines"] = None
    return doc


def check(out: dict, req: dict) -> None:
    """The promises of DESIGN.md and of the shield, for one decision."""
    fleet = req["active_machines"] + req["pending_machines"]
    lo = req.get("min_machines") or 0
    hi = req["max_machines"] if req.get("max_machines") is not None else contract.MAX_MACHINES
    desired = out["desired_machines"]
    assert type(desired) is int and lo <= desired <= hi
    assert out["delta"] == desired - fleet
    assert out["action"] == ("scale_out" if out["delta"] > 0 else "scale_in" if out["delta"] < 0 else "hold")
    step = max(CFG.min_step, math.ceil(fleet * CFG.max_step_fraction))
    if abs(out["delta"]) > step:  # only a hard bound may move the fleet further than one step
        assert desired in (lo, hi), out
    if req["failed_rpm"] > 0 and desired < fleet:  # only max_machines may cut while requests fail
        assert desired == hi, out
    assert out["shielded"] or out["reason"].startswith("policy: ")
    assert out["reason"]


@examples(300)
@given(doc=decisions())
def test_any_valid_decision_is_within_bounds(model: handler.Model, doc: dict) -> None:
    status, body, _ = handler.invoke(model, json.dumps(doc).encode(), "application/json", None)
    assert status == 200, body
    check(json.loads(body), doc)


@examples(60)
@given(docs=st.lists(decisions(), min_size=1, max_size=25))
def test_batch_equals_single_decisions_and_csv_equals_json(model: handler.Model, docs: list[dict]) -> None:
    status, body, _ = handler.invoke(model, json.dumps({"instances": docs}).encode(), "application/json", None)
    assert status == 200, body
    batch = json.loads(body)["predictions"]
    singles = [json.loads(handler.invoke(model, json.dumps(d).encode(), "application/json", None)[1]) for d in docs]
    assert batch == singles
    for out, doc in zip(batch, docs):
        check(out, doc)

    buf = io.StringIO()
    writer = csv.writer(buf)
    for d in docs:
        row = [d[c] if c != "load_rpm" else ";".join(repr(v) for v in d[c]) for c in contract.CSV_COLUMNS[:6]]
        row += ["" if d.get(c) is None else d[c] for c in contract.CSV_COLUMNS[6:]]
        writer.writerow(row)
    status, body, _ = handler.invoke(model, buf.getvalue().encode(), "text/csv", None)
    assert status == 200, body
    assert json.loads(body)["predictions"] == batch


@examples(40)
@given(docs=st.lists(decisions(), min_size=1, max_size=5))
def test_any_valid_decision_over_http(server: str, docs: list[dict]) -> None:
    r = requests.post(f"{server}/invocations", json={"instances": docs}, timeout=10)
    assert r.status_code == 200, r.text
    for out, doc in zip(r.json()["predictions"], docs, strict=True):
        check(out, doc)


@examples(300)
@given(accept=st.text(max_size=60))
def test_any_accept_header_is_json_csv_or_406(accept: str) -> None:
    try:
        assert contract.choose_accept(accept) in (contract.JSON, contract.CSV)
    except errors.NotAcceptable as err:
        assert err.status_code == 406


@examples(300)
@given(
    body=st.one_of(st.binary(max_size=300), st.text(max_size=300)),
    kind=st.sampled_from(["application/json", "text/csv"]),
)
def test_arbitrary_bodies_are_parsed_or_refused_with_a_4xx(body, kind: str) -> None:
    try:
        contract.parse_request(body, kind)
    except errors.InferenceError as err:
        assert 400 <= err.status_code < 500, err


@pytest.mark.parametrize("fleet", [0, 1, 7, 1000])
def test_step_rule_formula(fleet: int) -> None:
    """The bound used above is the documented default: max(2, 50 % of the fleet)."""
    assert max(CFG.min_step, math.ceil(fleet * CFG.max_step_fraction)) == max(2, math.ceil(fleet / 2))
