"""Observe every fleet's requests and failed requests per minute through CloudWatch GetMetricData.

Minutes are epoch minutes (`int(seconds // 60)`); a minute is the 60 s starting at it. For the run deciding minute
`M` (the schedule's time):

- **Complete minutes only.** The newest minute asked for is `M - 1 - PUBLICATION_LAG_MINUTES`: a minute that ended
  less than the lag ago may still be incomplete in CloudWatch.
- **History.** Each fleet's minutes are kept between runs (the state store); a run fetches only the minutes after
  the newest published one and a re-fetch window of `REFETCH_MINUTES` (late revisions of a published minute), or
  the whole window on the first run (`STALE_AFTER_MINUTES + HISTORY_MINUTES` minutes back from `M`, so that
  any minute fresh enough to decide on has a full history behind it).
- **No requests vs not yet published.** Metrics such as ALB `RequestCount` publish nothing in a minute without
  requests, so a minute without a datapoint *before* a published one is 0 requests. Minutes after the newest
  published one are "not yet published": the observation ends at the newest published minute. Minutes before the
  series' oldest datapoint are not known (a new fleet, or a first run with less history than the window): the
  observation starts at that datapoint, and the decision contract pads it with that value, as the simulator does.
- **Stale.** A fleet whose newest published minute is older than `M - STALE_AFTER_MINUTES` (or that has none) is
  stale: it holds (never acts) and counts `StaleDataHold`.
- **Batching.** One query per metric (requests, each failed metric), packed into as few calls as the API allows:
  500 queries and 100,800 datapoints per call; every call shares one time range. A fleet whose queries did not
  all complete keeps its stored history unchanged (and may go stale).
"""

from __future__ import annotations

import base64
import math
import sys
import zlib
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.config import FleetConfig, MetricSpec
from inference.contract import OBSERVATION_LAG_MINUTES

MAX_QUERIES_PER_CALL = 500
MAX_DATAPOINTS_PER_CALL = 100_800
REFETCH_MINUTES = 3
"""Published minutes fetched again each run: CloudWatch may still revise a minute just after publishing it."""


def epoch_minute(when: datetime) -> int:
    """Minutes since 1970-01-01 UTC (a naive datetime is taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() // 60)


def minute_time(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


class Series:
    """One fleet's fetched minutes `[first, through]`, compact: 8 bytes a minute and metric.

    `requests[i]` is minute `first + i`'s request count, NaN where nothing was published; `failed[i]` the sum of
    its failed metrics (0 where nothing was published).
    """

    def __init__(self, first: int, requests: Iterable[float] = (), failed: Iterable[float] = ()) -> None:
        self.first = first
        self.requests = array("d", requests)
        self.failed = array("d", failed)
        if len(self.failed) < len(self.requests):
            self.failed.extend(_zeros(len(self.requests) - len(self.failed)))

    @property
    def through(self) -> int:
        """The last fetched minute (`first - 1` when empty)."""
        return self.first + len(self.requests) - 1

    def newest(self, until: int) -> int | None:
        """The newest minute <= `until` with a published request count."""
        i = min(until, self.through) - self.first
        while i >= 0:
            if not math.isnan(self.requests[i]):
                return self.first + i
            i -= 1
        return None

    def oldest(self) -> int | None:
        """The oldest minute with a published request count."""
        for i, value in enumerate(self.requests):
            if not math.isnan(value):
                return self.first + i
        return None

    def merge(self, start: int, end: int, requests: Mapping[int, float], failed: Mapping[int, float]) -> None:
        """Replace minutes `[start, end]` by a fresh fetch of them (`{minute: value}`, a minute absent: nothing
        published)."""
        fresh, fresh_failed = _nans(end - start + 1), _zeros(end - start + 1)
        for book, values in ((fresh, requests), (fresh_failed, failed)):
            for minute, value in values.items():
                if start <= minute <= end:
                    book[minute - start] = value
        self.replace(start, fresh, fresh_failed)

    def replace(self, start: int, requests: array, failed: array) -> None:
        """Replace minutes from `start` on by a fresh fetch of them: `requests` (NaN: nothing published) and
        `failed` (0: nothing published), doubles of equal length. An empty series, or one the fetch does not touch,
        takes the arrays as they are (no copy)."""
        end = start + len(requests) - 1
        if not self.requests or start > self.through + 1 or end < self.first - 1:  # not contiguous: afresh
            self.first, self.requests, self.failed = start, requests, failed
            return
        if start < self.first:
            self.requests[0:0] = _nans(self.first - start)
            self.failed[0:0] = _zeros(self.first - start)
            self.first = start
        if end > self.through:
            grow = end - self.through
            self.requests.extend(_nans(grow))
            self.failed.extend(_zeros(grow))
        lo, hi = start - self.first, end - self.first + 1
        self.requests[lo:hi] = requests
        self.failed[lo:hi] = failed

    def trim(self, first: int) -> None:
        """Forget the minutes before `first`."""
        if first > self.first:
            cut = min(first - self.first, len(self.requests))
            del self.requests[:cut]
            del self.failed[:cut]
            self.first = first

    def load(self, begin: int, end: int) -> array:
        """Requests of minutes `[begin, end]` (within the series), a minute without a datapoint as 0 (an array of
        doubles: 8 bytes a minute, no float objects kept for a day of 1,000 fleets)."""
        part = self.requests[begin - self.first : end - self.first + 1]
        return array("d", (0.0 if v != v else v for v in part))

    def failed_at(self, minute: int) -> float:
        i = minute - self.first
        return self.failed[i] if 0 <= i < len(self.failed) else 0.0

    def to_json(self) -> dict[str, Any]:
        """`{"first", "z"}`: both arrays' little-endian doubles, zlib-compressed, base64 (no float objects: a day of
        1,000 fleets is saved without building 3 million of them)."""
        raw = array("d", self.requests)
        raw.extend(self.failed)
        if sys.byteorder != "little":
            raw.byteswap()
        return {"first": self.first, "z": base64.b64encode(zlib.compress(raw.tobytes(), 1)).decode()}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Series:
        if "z" in doc:
            raw = array("d", zlib.decompress(base64.b64decode(doc["z"])))
            if sys.byteorder != "little":
                raw.byteswap()
            series = cls(int(doc["first"]))
            half = len(raw) // 2
            series.requests = raw[:half]
            del raw[:half]
            series.failed = raw  # the decompressed doubles themselves: no further copy
            return series
        # the earlier form: requests as a list (null: no datapoint), failed as {index: value}
        requests = [math.nan if v is None else float(v) for v in doc.get("r", [])]
        failed = array("d", _zeros(len(requests)))
        for i, v in doc.get("f", {}).items():
            if int(i) < len(failed):
                failed[int(i)] = float(v)
        return cls(int(doc["first"]), requests, failed)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Series) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"Series(first={self.first}, through={self.through})"


def _nans(n: int) -> array:
    return array("d", [math.nan]) * n


def _zeros(n: int) -> array:
    return array("d", [0.0]) * n


@dataclass(frozen=True)
class Observation:
    """What a fleet's metrics say for the minute being decided."""

    load_rpm: Sequence[float]
    """Requests per minute, oldest first, ending at `newest`; at most HISTORY_MINUTES values."""
    failed_rpm: float
    """Failed requests (sum of the failed metrics) in the minute `newest`."""
    newest: int | None
    """Epoch minute of the newest published minute; None: nothing published in the window."""
    stale: bool
    """Nothing newer than the stale limit: hold, never act."""
    fetch_error: str | None = None
    """Why this run could not refresh the fleet's metrics (its stored history was used)."""

    @property
    def last_load(self) -> float:
        return self.load_rpm[-1] if self.load_rpm else 0.0


@dataclass
class ObserveStats:
    calls: int = 0
    queries: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Query:
    fleet: str
    role: str  # "requests" or "failed"
    metric: MetricSpec
    start: int


class Observer:
    """GetMetricData for many fleets; history in and out as `Series` per fleet name."""

    def __init__(
        self,
        cloudwatch: Any,
        *,
        history_minutes: int,
        publication_lag_minutes: int = OBSERVATION_LAG_MINUTES,
        stale_after_minutes: int = 10,
        refetch_minutes: int = REFETCH_MINUTES,
    ) -> None:
        self.cloudwatch = cloudwatch
        self.history = history_minutes
        self.lag = publication_lag_minutes
        self.stale_after = stale_after_minutes
        self.refetch = refetch_minutes

    def window(self, minute: int) -> tuple[int, int]:
        """(first, last) minute a run deciding `minute` may use."""
        last = minute - 1 - self.lag
        return minute - self.stale_after - self.history + 1, last  # a full history behind any fresh minute

    def observe(
        self, fleets: Sequence[FleetConfig], minute: int, history: dict[str, Series]
    ) -> tuple[dict[str, Observation], ObserveStats]:
        """Fetch what is new, update `history` in place (trimmed), and observe each fleet for `minute`."""
        first, last = self.window(minute)
        queries = [q for fleet in fleets for q in self._queries(fleet, history.get(fleet.name), first, last)]
        stats = ObserveStats(queries=len(queries))
        fetched: dict[str, dict[str, Any]] = {}
        failed_fleets: dict[str, str] = {}
        for batch, start in _pack(queries, last):
            try:
                points = self._get(batch, start, last, stats)
            except Exception as err:  # any API failure only costs these fleets their refresh
                message = f"GetMetricData failed: {type(err).__name__}: {err}"
                stats.errors.append(message)
                for q in batch:
                    failed_fleets.setdefault(q.fleet, message)
                continue
            for q, values in zip(batch, points):
                if isinstance(values, str):
                    failed_fleets.setdefault(q.fleet, values)
                    continue
                got = fetched.setdefault(q.fleet, {"start": start, "requests": [], "failed": []})
                got["start"] = max(got["start"], start)  # the minutes every query of the fleet covered
                got[q.role].append((start, values))  # 8 bytes a minute until merged
            del points
        out: dict[str, Observation] = {}
        for fleet in fleets:
            series = history.get(fleet.name)
            got = fetched.pop(fleet.name, None)  # merged, then freed: one copy of the fetched minutes at a time
            if got is not None and fleet.name not in failed_fleets:
                begin = got["start"]
                requests = _window(got["requests"], begin, last, math.nan)
                failed = _window(got["failed"], begin, last, 0.0)
                if series is None:
                    series = history[fleet.name] = Series(first=begin)
                series.replace(begin, requests, failed)
            if series is not None:
                series.trim(first)
            out[fleet.name] = self._observation(series, minute, last, failed_fleets.get(fleet.name))
        return out, stats

    def _queries(self, fleet: FleetConfig, series: Series | None, first: int, last: int) -> list[_Query]:
        start = first
        if series is not None and series.through >= first - 1 and series.first <= first:
            newest = series.newest(last)
            after_newest = newest + 1 if newest is not None else first
            start = max(first, min(series.through + 1 - self.refetch, after_newest, last + 1 - self.refetch))
        start = min(start, last)
        out = [_Query(fleet.name, "requests", fleet.requests, start)]
        out += [_Query(fleet.name, "failed", metric, start) for metric in fleet.failed]
        return out

    def _get(self, batch: list[_Query], start: int, last: int, stats: ObserveStats) -> list[array | str]:
        """Per query, its minutes `[start, last]` as doubles (NaN: no datapoint), or why it is incomplete."""
        request: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": f"q{i}",
                    "MetricStat": {"Metric": q.metric.as_metric(), "Period": 60, "Stat": "Sum"},
                    "ReturnData": True,
                }
                for i, q in enumerate(batch)
            ],
            "StartTime": minute_time(start),
            "EndTime": minute_time(last + 1),
            "ScanBy": "TimestampAscending",
        }
        values: list[array] = [_nans(last - start + 1) for _ in batch]
        status: list[str] = ["Complete"] * len(batch)
        while True:
            stats.calls += 1
            page = self.cloudwatch.get_metric_data(**request)
            for result in page.get("MetricDataResults", []):
                i = int(result["Id"][1:])
                status[i] = result.get("StatusCode", "Complete")
                for when, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    m = epoch_minute(when)
                    if start <= m <= last:
                        values[i][m - start] = value
            token = page.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        return [v if s == "Complete" else f"GetMetricData status {s}" for v, s in zip(values, status)]

    def fetch(
        self, metrics: Sequence[MetricSpec], start: int, last: int
    ) -> tuple[list[dict[int, float]], ObserveStats]:
        """Per-minute Sums of `metrics` over minutes `[start, last]`, read exactly as `observe` reads (batched within
        the per-call limits, pages followed): `{epoch minute: value}` per metric, a minute without a datapoint
        absent. For tools (`controller.export_trace`); a failed call or an incomplete result raises."""
        queries = [_Query(str(i), "requests", metric, start) for i, metric in enumerate(metrics)]
        stats = ObserveStats(queries=len(queries))
        out: list[dict[int, float]] = [{} for _ in metrics]
        for batch, first in _pack(queries, last):
            for q, values in zip(batch, self._get(batch, first, last, stats)):
                if isinstance(values, str):
                    raise RuntimeError(f"{q.metric.namespace} {q.metric.metric_name}: {values}")
                out[int(q.fleet)] = {first + i: v for i, v in enumerate(values) if v == v}
        return out, stats

    def _observation(self, series: Series | None, minute: int, last: int, error: str | None) -> Observation:
        newest = series.newest(last) if series is not None else None
        if series is None or newest is None:
            return Observation(load_rpm=(), failed_rpm=0.0, newest=None, stale=True, fetch_error=error)
        load = series.load(max(newest - self.history + 1, series.oldest() or newest), newest)
        stale = newest < minute - self.stale_after
        return Observation(
            load_rpm=load, failed_rpm=series.failed_at(newest), newest=newest, stale=stale, fetch_error=error
        )


def _window(parts: list[tuple[int, array]], begin: int, last: int, missing: float) -> array:
    """Minutes `[begin, last]` of a role's fetched parts (each `(start, values from start to last)`), summed where
    several metrics published (a fleet's failed metrics add up); `missing` where none did. A single part that
    starts at `begin` is returned itself, its gaps filled in place (no copy)."""
    if len(parts) == 1 and parts[0][0] == begin:
        values = parts[0][1]
        if missing == missing:
            for i, v in enumerate(values):
                if v != v:
                    values[i] = missing
        return values
    out = array("d", [missing]) * (last - begin + 1)
    for start, values in parts:
        skip = begin - start
        for i, v in enumerate(values[skip:] if skip else values):
            if v == v:
                out[i] = v if out[i] != out[i] else out[i] + v
    return out


def _pack(queries: list[_Query], last: int) -> list[tuple[list[_Query], int]]:
    """Queries into calls within both per-call limits; each call's start is its queries' earliest."""
    calls: list[tuple[list[_Query], int]] = []
    batch: list[_Query] = []
    start = last
    for q in sorted(queries, key=lambda q: -q.start):  # similar windows together
        new_start = min(start, q.start)
        minutes = last - new_start + 1
        if batch and (len(batch) + 1 > MAX_QUERIES_PER_CALL or (len(batch) + 1) * minutes > MAX_DATAPOINTS_PER_CALL):
            calls.append((batch, start))
            batch, new_start = [], q.start
        batch.append(q)
        start = new_start
    if batch:
        calls.append((batch, start))
    return calls
