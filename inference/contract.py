"""The decision contract (DESIGN.md): parse and validate requests, encode responses. No dependency but numpy.

Request, ``Content-Type: application/json``: one decision object, or ``{"instances": [obj, ...]}`` with 1 to
``MAX_INSTANCES`` objects. Fields (unknown fields are refused, so that a misspelt bound is never ignored):

| field | type | accepted values |
| --- | --- | --- |
| timestamp | string | ISO-8601 date-time; an offset is converted to UTC, none means UTC |
| load_rpm | list of numbers | 1 to ``MAX_LOAD_POINTS`` values in [0, ``MAX_RPM``], oldest first |
| failed_rpm | number | [0, ``MAX_RPM``] |
| active_machines, pending_machines | integer | [0, ``MAX_MACHINES``] (``3.0`` counts as an integer) |
| capacity_rpm_per_machine | number | [``MIN_CAPACITY_RPM``, ``MAX_RPM``] |
| min_machines, max_machines | integer or null, optional | [0, ``MAX_MACHINES``], min <= max |
| economics | object or null, optional | the fleet's economics (``economics.parse``: keys ``economics.FIELDS``, missing
keys take the simulator's defaults, values within ``economics.BOUNDS``) |

Request, ``Content-Type: text/csv``: one decision per row, no header needed, columns in ``CSV_COLUMNS`` order;
``load_rpm`` is one cell of ``;``-separated numbers; the last two columns may be empty or left out. A first row
equal to the column names is taken as a header. CSV carries no economics: a CSV decision is priced at the
default economics (``economics.DEFAULTS``), and a row with an ``economics`` column is refused with a message
saying to send JSON. Example (two decisions)::

    2024-05-06T12:00:00Z,900;950;1000,0,4,0,300,1,20
    2024-05-06T12:00:00Z,5000,12.5,10,2,300

Response: ``{"desired_machines", "delta", "action", "model_version", "shielded", "reason"}`` for one object;
``{"predictions": [...]}`` for ``instances`` and for CSV input. With ``Accept: text/csv``: one row per decision
in ``OUTPUT_COLUMNS`` order, no header. Accept may list several types with q-values; ``*/*`` or none means JSON.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from . import economics, features
from .describe import clip, describe
from .errors import BadRequest, NotAcceptable, PayloadTooLarge, UnsupportedMediaType

MAX_INSTANCES = 1000
"""Decisions per request."""
MAX_BODY_BYTES = 2 * 1024 * 1024
"""Request body limit (SageMaker's own limit is 6 MB): 1,000 decisions with an hour of history each fit."""
MAX_LOAD_POINTS = 10_080
"""Longest ``load_rpm`` list (a week of minutes); only the last ``features.CONTEXT_MINUTES`` values are used."""
OBSERVATION_LAG_MINUTES = 2
"""Default age of the newest ``load_rpm`` minute: a decision for minute ``M`` sees minutes up to
``M - 1 - OBSERVATION_LAG_MINUTES``. CloudWatch publishes a minute's Sum one to three minutes after it ends, so
the controller reads only minutes older than this (its ``PUBLICATION_LAG_MINUTES``), and the simulator trains
and scores every policy, rules included, on observations this old (``SimConfig.observation_lag_minutes``)."""
MAX_RPM = 1e12
MIN_CAPACITY_RPM = 1e-3
MAX_MACHINES = 1_000_000
"""Sanity bounds: they keep every derived count inside int64 and every feature finite."""

FIELDS: tuple[str, ...] = (
    "timestamp",
    "load_rpm",
    "failed_rpm",
    "active_machines",
    "pending_machines",
    "capacity_rpm_per_machine",
    "min_machines",
    "max_machines",
    "economics",
)
REQUIRED = FIELDS[:6]
CSV_COLUMNS = FIELDS[:8]
"""CSV has no economics column (an object does not fit a cell): JSON carries economics."""
OUTPUT_COLUMNS: tuple[str, ...] = ("desired_machines", "delta", "action", "model_version", "shielded", "reason")
"""The fields of `DecisionResponse`, in order (checked by a test)."""

JSON = "application/json"
CSV = "text/csv"
_FIELD_SET = frozenset(FIELDS)
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_TIMESTAMP_CHARS = 64


@dataclass(frozen=True)
class DecisionRequest:
    """A validated batch of N decisions, as arrays (the featurizer's inputs plus the shield's bounds)."""

    load: np.ndarray
    """(N, features.HISTORY) float64 requests per minute, oldest first, padded by ``features.pad_history``."""
    history: np.ndarray
    """(N, L) float64 the last ``features.CONTEXT_MINUTES`` (at most) of each ``load_rpm``, oldest first,
    left-padded with ``NaN`` (not sent) to the request's longest list: the character features' input."""
    minute: np.ndarray
    """(N,) int64 minute of the week (UTC) being decided."""
    failed: np.ndarray
    active: np.ndarray
    pending: np.ndarray
    capacity: np.ndarray
    min_machines: np.ndarray
    """(N,) int64; 0 where the request gives none."""
    max_machines: np.ndarray
    """(N,) int64; ``MAX_MACHINES`` where the request gives none."""
    economics: np.ndarray
    """(N, len(economics.FIELDS)) float64 in ``economics.FIELDS`` order, defaults filled, ``warming_cost`` as 0/1
    (``economics_row``)."""
    single: bool
    """The request was one bare object, so the response is one bare object."""
    record_metrics: bool = True
    """False for requests marked as smoke tests (``metrics.SMOKE_TEST_ATTRIBUTE``): kept out of the metrics."""

    def __len__(self) -> int:
        return len(self.active)


def media_type(header: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``; empty string for none."""
    if not header:
        return ""
    return header.split(";", 1)[0].strip().lower()


def parse_request(body: str | bytes | bytearray, content_type: str | None) -> DecisionRequest:
    """Validate a request body; raise ``BadRequest`` naming the field, 413 or 415 otherwise."""
    kind = media_type(content_type)
    if kind not in (JSON, CSV):
        got = f"'{content_type}'" if content_type else "none"
        raise UnsupportedMediaType(f"Content-Type must be {JSON} or {CSV}, got {got}")
    if not body:
        raise BadRequest('body is empty; send one decision object or {"instances": [...]}')
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    if kind == JSON:
        return _from_json(body)
    return _from_csv(body)


def _from_json(body: str | bytes | bytearray) -> DecisionRequest:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadRequest(f"body is not valid UTF-8 JSON: {_short(err)}") from None
    if type(doc) is not dict:
        raise BadRequest('body must be a JSON object: one decision, or {"instances": [...]}')
    if "instances" not in doc:
        return _assemble([_instance(doc, "")], single=True)
    if len(doc) != 1:
        extra = sorted(k for k in doc if k != "instances")
        raise BadRequest(f"body: 'instances' cannot be combined with other top-level fields, got {extra}")
    instances = doc["instances"]
    if type(instances) is not list:
        raise BadRequest("instances: must be a list of decision objects")
    _check_count(len(instances), "instances")
    return _assemble([_instance(obj, f"instances[{i}]") for i, obj in enumerate(instances)], single=False)


def _from_csv(body: str | bytes | bytearray) -> DecisionRequest:
    if not isinstance(body, str):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as err:
            raise BadRequest(f"CSV body is not valid UTF-8: {_short(err)}") from None
    try:
        rows = [row for row in csv.reader(io.StringIO(body)) if row and any(cell.strip() for cell in row)]
    except csv.Error as err:
        raise BadRequest(f"body is not valid CSV: {_short(err)}") from None
    if rows and [c.strip() for c in rows[0]] == list(FIELDS[: len(rows[0])]):
        rows = rows[1:]  # header row
    _check_count(len(rows), "CSV rows")
    return _assemble([_instance(_csv_row(row, f"row {i + 1}"), f"row {i + 1}") for i, row in enumerate(rows)], False)


def _csv_row(row: list[str], where: str) -> dict[str, object]:
    if len(row) == len(CSV_COLUMNS) + 1:
        raise BadRequest(
            f"{where}.economics: CSV carries no economics (columns: {', '.join(CSV_COLUMNS)}); send the decision "
            "as JSON to give the fleet's economics, or leave the column out for the default economics"
        )
    if not len(REQUIRED) <= len(row) <= len(CSV_COLUMNS):
        raise BadRequest(
            f"{where}: expected {len(REQUIRED)} to {len(CSV_COLUMNS)} columns ({', '.join(CSV_COLUMNS)}), "
            f"got {len(row)}"
        )
    out: dict[str, object] = {}
    for name, cell in zip(CSV_COLUMNS, row):
        cell = cell.strip()
        if name == "timestamp":
            out[name] = cell
        elif name == "load_rpm":
            out[name] = [_csv_number(part.strip(), f"{where}.load_rpm") for part in cell.split(";")]
        elif cell or name in REQUIRED:
            out[name] = _csv_number(cell, f"{where}.{name}")
    return out


def _csv_number(text: str, where: str) -> float | int:
    if not _NUMBER_RE.fullmatch(text):
        raise BadRequest(f"{where}: must be a number, got {clip(text)!r}")
    if text.lstrip("+-").isdigit() and len(text) <= 18:
        return int(text)
    return float(text)


def _check_count(n: int, what: str) -> None:
    if n == 0:
        raise BadRequest(f"{what}: must hold at least one decision")
    if n > MAX_INSTANCES:
        raise BadRequest(f"{what}: {n} decisions in one request; the limit is {MAX_INSTANCES}")


def _instance(obj: object, where: str) -> tuple:
    """One decision object -> (padded load, timestamp, failed, active, pending, capacity, min, max, the last
    ``CONTEXT_MINUTES`` of load, economics row)."""
    if type(obj) is not dict:
        raise BadRequest(f"{where or 'body'}: must be a JSON object with the fields {', '.join(FIELDS)}")
    if not obj.keys() <= _FIELD_SET:
        unknown = sorted(str(k) for k in obj.keys() - _FIELD_SET)
        raise BadRequest(f"{where or 'body'}: unknown field(s) {unknown}; the fields are {', '.join(FIELDS)}")
    if len(obj) < len(REQUIRED) or not all(name in obj for name in REQUIRED):
        missing = ", ".join(name for name in REQUIRED if name not in obj)
        raise BadRequest(f"{where + ': ' if where else ''}missing required field(s): {missing}")
    when = _timestamp(obj["timestamp"], where)
    load = obj["load_rpm"]
    if type(load) is not list or not load:
        raise BadRequest(f"{_path(where, 'load_rpm')}: must be a non-empty list of numbers, got {describe(load)}")
    if len(load) > MAX_LOAD_POINTS:
        raise BadRequest(f"{_path(where, 'load_rpm')}: {len(load)} values; the limit is {MAX_LOAD_POINTS}")
    for v in load:
        if (type(v) is not float and type(v) is not int) or not 0.0 <= v <= MAX_RPM:
            _bad_load(load, where)
    padded = features.pad_history(load if len(load) <= features.HISTORY else load[-features.HISTORY :])
    recent = load if len(load) <= features.CONTEXT_MINUTES else load[-features.CONTEXT_MINUTES :]
    failed = _number(obj["failed_rpm"], where, "failed_rpm", 0.0)
    active = _count(obj["active_machines"], where, "active_machines")
    pending = _count(obj["pending_machines"], where, "pending_machines")
    capacity = _number(obj["capacity_rpm_per_machine"], where, "capacity_rpm_per_machine", MIN_CAPACITY_RPM)
    lo = obj.get("min_machines")
    hi = obj.get("max_machines")
    lo = 0 if lo is None else _count(lo, where, "min_machines")
    hi = MAX_MACHINES if hi is None else _count(hi, where, "max_machines")
    if lo > hi:
        raise BadRequest(f"{_path(where, 'min_machines')}: {lo} is above max_machines {hi}")
    try:
        econ = economics.parse(obj.get("economics"), _path(where, "economics"))
    except economics.EconomicsError as err:
        raise BadRequest(str(err)) from None
    return padded, when, failed, active, pending, capacity, lo, hi, recent, economics_row(econ)


def economics_row(parsed: dict[str, object]) -> list[float]:
    """A complete economics object (``economics.parse``) as one row of ``DecisionRequest.economics``."""
    return [float(parsed[k]) for k in economics.FIELDS]


def _bad_load(load: list, where: str) -> None:
    for i, v in enumerate(load):
        if (type(v) is not float and type(v) is not int) or not 0.0 <= v <= MAX_RPM:
            raise BadRequest(
                f"{_path(where, 'load_rpm')}[{i}]: must be a number in [0, {MAX_RPM:g}], got {describe(v)}"
            )


def _path(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _timestamp(value: object, where: str) -> datetime:
    if type(value) is not str or len(value) > _MAX_TIMESTAMP_CHARS:
        raise BadRequest(f"{_path(where, 'timestamp')}: must be an ISO-8601 string, got {describe(value)}")
    text = value[:-1] + "Z" if value[-1:] == "z" else value  # RFC 3339 allows "z"; fromisoformat takes only "Z"
    try:
        when = datetime.fromisoformat(text)
        return when if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        example = "2024-05-06T12:00:00Z"
        raise BadRequest(
            f"{_path(where, 'timestamp')}: must be an ISO-8601 date-time such as {example}, got {clip(value)!r}"
        ) from None


def _number(value: object, where: str, name: str, low: float) -> float:
    if (type(value) is not float and type(value) is not int) or not low <= value <= MAX_RPM:
        bound = "[0" if low == 0.0 else f"[{low:g}"
        raise BadRequest(f"{_path(where, name)}: must be a number in {bound}, {MAX_RPM:g}], got {describe(value)}")
    return float(value)


def _count(value: object, where: str, name: str) -> int:
    if type(value) is int and 0 <= value <= MAX_MACHINES:
        return value
    if type(value) is float and 0.0 <= value <= MAX_MACHINES and value.is_integer():
        return int(value)
    raise BadRequest(f"{_path(where, name)}: must be an integer in [0, {MAX_MACHINES}], got {describe(value)}")


def _assemble(rows: list[tuple], single: bool) -> DecisionRequest:
    cols = list(zip(*rows))
    width = max(len(recent) for recent in cols[8])
    history = np.stack([features.pad_context(recent, width) for recent in cols[8]])
    return DecisionRequest(
        load=np.stack(cols[0]) if len(rows) > 1 else cols[0][0][None, :],
        history=history,
        minute=features.minute_of_week(list(cols[1])),
        failed=np.array(cols[2], dtype=np.float64),
        active=np.array(cols[3], dtype=np.int64),
        pending=np.array(cols[4], dtype=np.int64),
        capacity=np.array(cols[5], dtype=np.float64),
        min_machines=np.array(cols[6], dtype=np.int64),
        max_machines=np.array(cols[7], dtype=np.int64),
        economics=np.array(cols[9], dtype=np.float64),
        single=single,
    )


def _short(err: Exception) -> str:
    return clip(str(err), 120)


# -- responses ------------------------------------------------------------------------------------------


def choose_accept(accept: str | None) -> str:
    """The media type to answer with: the client's most preferred of JSON and CSV, JSON for none or ``*/*``."""
    if not accept or not accept.strip():
        return JSON
    offers: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.split(",")):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for p in params:
            if p[:2].lower() == "q=":
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if q > 0.0:
            offers.append((-q, i, kind.lower()))
    for _, _, kind in sorted(offers):
        if kind in (JSON, "*/*", "application/*"):
            return JSON
        if kind in (CSV, "text/*"):
            return CSV
    raise NotAcceptable(f"Accept must allow {JSON} or {CSV}, got {clip(accept, 80)!r}")


def encode_json(decisions: list[dict[str, object]], single: bool) -> bytes:
    doc = decisions[0] if single else {"predictions": decisions}
    return json.dumps(doc, separators=(",", ":")).encode()


def encode_csv(decisions: list[dict[str, object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for d in decisions:
        writer.writerow(["true" if v is True else "false" if v is False else v for v in d.values()])
    return out.getvalue().encode()


ACTIONS: tuple[str, ...] = ("scale_in", "hold", "scale_out")
"""A decision's `action`, indexed by sign(delta) + 1."""


@dataclass(frozen=True)
class DecisionResponse:
    """One decision as the endpoint answers it (fields in ``OUTPUT_COLUMNS`` order); callers parse it from here."""

    desired_machines: int
    delta: int
    action: str
    model_version: str
    shielded: bool
    reason: str

    @classmethod
    def parse(cls, obj: object, active: int, pending: int, low: int, high: int) -> DecisionResponse:
        """An answer checked against the contract for the instance it answers; ValueError naming what is wrong."""
        if not isinstance(obj, dict):
            raise ValueError(f"expected an object, got {type(obj).__name__}")
        for name, kind in (("desired_machines", int), ("delta", int), ("model_version", str), ("reason", str)):
            value = obj.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"{name} must be {kind.__name__}, got {clip(repr(value))}")
        if not isinstance(obj.get("shielded"), bool):
            raise ValueError(f"shielded must be a boolean, got {clip(repr(obj.get('shielded')))}")
        desired, delta = obj["desired_machines"], obj["delta"]
        if obj.get("action") != ACTIONS[(delta > 0) - (delta < 0) + 1]:
            raise ValueError(f"action must be one of {list(ACTIONS)} matching delta {delta}, got {obj.get('action')!r}")
        if not low <= desired <= high:
            raise ValueError(f"desired_machines {desired} outside [{low}, {high}]")
        if delta != desired - (active + pending):
            raise ValueError(
                f"delta {delta} is not desired_machines - (active + pending) = {desired - active - pending}"
            )
        return cls(desired, delta, obj["action"], obj["model_version"], obj["shielded"], obj["reason"])
