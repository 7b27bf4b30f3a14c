"""Load for the simulator: a seeded synthetic generator, replay of recorded traces, and the training sampler.

A ``Scenario`` is ``HISTORY + T`` minutes of requests per minute: the first ``HISTORY`` minutes are what the
cloud saw before minute 0 (so the first decision has a full history), the next T are simulated.

Held-out evaluation never overlaps training: synthetic scenarios come from independent random streams
(``EVAL_STREAM`` vs ``TRAIN_STREAM`` spawn keys of one ``SeedSequence``), and each recorded trace is split by
time, the first ``TRAIN_FRACTION`` for tuning and training, the rest for evaluation.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from inference.features import DAY, HISTORY

DATA_DIR = Path(__file__).resolve().parent / "traces"
TRAIN_FRACTION = 0.7
TRAIN_STREAM = 1
EVAL_STREAM = 2
TUNE_STREAM = 3
LOW_VOLUME_RPM = 1000.0
"""Traces whose raw mean is below this many requests per minute are scaled as a smoothed rate and resampled
(Poisson) at the target volume, so that scaling does not multiply their minute-to-minute counting noise."""
SMOOTH_SIGMA_MINUTES = 3.0


@dataclass(frozen=True)
class TraceInfo:
    file: str
    start: datetime
    """UTC time of minute 0."""


TRACES: dict[str, TraceInfo] = {
    "nasa": TraceInfo("nasa_jul95.csv", datetime(1995, 7, 1, 4, 0, tzinfo=UTC)),
    "worldcup": TraceInfo("worldcup98_may01_jun09.csv", datetime(1998, 4, 30, 22, 0, tzinfo=UTC)),
}


@dataclass(frozen=True)
class Scenario:
    """One load to simulate: ``load`` holds HISTORY minutes of history, then the simulated minutes."""

    name: str
    load: np.ndarray
    start: datetime
    """UTC time of the first simulated minute (index HISTORY of ``load``)."""
    initial_machines: int
    meta: dict = field(default_factory=dict)
    """How the load was made (generator parameters or trace, split and scale factor)."""
    rate: np.ndarray | None = None
    """For a synthetic load, the intensity it was drawn around (``synthetic_draw``), indexed as ``load``; ``None``
    for a recorded trace. No policy may read it: it is what the rate ceiling is told."""

    @property
    def minutes(self) -> int:
        return len(self.load) - HISTORY


class TraceError(ValueError):
    """A trace file that cannot be used; the message names the file and line."""


TRACE_HEADERS = (["timestamp", "requests"], ["minute", "requests"])
MAX_TRACE_MINUTES = 366 * 1440
"""A trace may span at most a year (gaps included): a typo in a timestamp must not allocate a century."""


@dataclass(frozen=True)
class TraceFile:
    """A trace file as read by ``load_trace``: requests per minute, gaps filled with 0."""

    path: Path
    requests: np.ndarray
    start: datetime | None
    """UTC time of the first row (``timestamp,requests`` files); None for ``minute,requests`` files."""
    gaps: tuple[tuple[int, int], ...] = ()
    """(index of the first missing minute, missing minutes) of each gap, in order."""

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def gap_minutes(self) -> int:
        return sum(n for _, n in self.gaps)

    @property
    def longest_gap(self) -> int:
        return max((n for _, n in self.gaps), default=0)

    def time_of(self, index: int) -> datetime:
        """UTC time of minute ``index`` (minute files count from 1970-01-01 00:00 UTC)."""
        return (self.start or datetime(1970, 1, 1, tzinfo=UTC)) + timedelta(minutes=index)

    def describe(self) -> dict:
        """What the reader found, for reports: format, span, gaps."""
        return {
            "file": str(self.path),
            "format": "minute,requests" if self.start is None else "timestamp,requests",
            "start": None if self.start is None else self.start.isoformat(),
            "minutes": len(self.requests),
            "gaps": len(self.gaps),
            "gap_minutes": self.gap_minutes,
            "longest_gap_minutes": self.longest_gap,
            "gap_policy": "filled with 0 requests",
        }


def _timestamp(text: str, where: str) -> datetime:
    """An ISO-8601 UTC timestamp on a whole minute, or a TraceError naming ``where`` (file:line)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TraceError(f"{where}: timestamp {text!r} is not ISO-8601 (e.g. 2026-11-14T09:30:00Z)") from None
    if when.tzinfo is None:
        raise TraceError(f"{where}: timestamp {text!r} has no UTC offset; write UTC as ...Z or ...+00:00")
    if when.utcoffset() != timedelta(0):
        raise TraceError(f"{where}: timestamp {text!r} is not UTC (offset {when.utcoffset()}); convert it to UTC")
    if when.second or when.microsecond:
        raise TraceError(f"{where}: timestamp {text!r} is not on a whole minute")
    return when.astimezone(UTC)


def load_trace(path: str | Path) -> TraceFile:
    """Read a trace: ``timestamp,requests`` (ISO-8601 UTC, one row a minute, increasing; a missing minute is a gap,
    filled with 0 requests and reported in ``gaps``) or ``minute,requests`` (minutes 0, 1, 2, ... without gaps).

    Errors (``TraceError``) name the file and line: a wrong header or column count, an unparsable, non-UTC,
    duplicate or out-of-order timestamp, a minute out of sequence, a negative, NaN or infinite request count; and
    the file, when its rows are coarser than a minute (e.g. CloudWatch's 5-minute periods), naming the period.
    """
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"{path}: trace file not found")
    values: list[float] = []
    gaps: list[tuple[int, int]] = []
    start: datetime | None = None
    previous: tuple[datetime, int] | None = None  # the last row's time and line
    period = 0  # greatest common divisor of the steps between rows, in minutes
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, None) or []]
        if header not in TRACE_HEADERS:
            raise TraceError(
                f"{path}:1: expected header 'timestamp,requests' or 'minute,requests', got {','.join(header)!r}"
            )
        first = header[0]
        for row in reader:
            line = reader.line_num
            where = f"{path}:{line}"
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 2:
                raise TraceError(f"{where}: expected 2 columns ({first},requests), got {len(row)}")
            if first == "minute":
                try:
                    minute = int(row[0])
                except ValueError:
                    raise TraceError(f"{where}: minute {row[0]!r} is not an integer") from None
                if minute != len(values):
                    raise TraceError(f"{where}: minute {minute} out of sequence, expected {len(values)}")
            else:
                when = _timestamp(row[0], where)
                if previous is None:
                    start = when
                else:
                    step = int((when - previous[0]).total_seconds() // 60)
                    if step <= 0:
                        kind = "duplicate" if step == 0 else "out of order"
                        raise TraceError(
                            f"{where}: timestamp {row[0].strip()!r} is {kind}: not after line {previous[1]}'s "
                            f"{previous[0].isoformat()}"
                        )
                    if len(values) + step > MAX_TRACE_MINUTES:
                        raise TraceError(f"{where}: the trace would span more than {MAX_TRACE_MINUTES} minutes")
                    period = math.gcd(period, step)
                    if step > 1:
                        gaps.append((len(values), step - 1))
                        values.extend([0.0] * (step - 1))
                previous = (when, line)
            try:
                requests = float(row[1])
            except ValueError:
                raise TraceError(f"{where}: requests {row[1]!r} is not a number") from None
            if not math.isfinite(requests) or requests < 0:
                raise TraceError(f"{where}: requests {row[1]!r} must be a finite number >= 0")
            values.append(requests)
    if period > 1:
        raise TraceError(
            f"{path}: one row every {period} minutes (or a multiple); a trace needs one row a minute. Export "
            "1-minute data: `python -m controller.export_trace ...` (GetMetricData, 60 s periods), or "
            "`aws cloudwatch get-metric-statistics --period 60 --statistics Sum ...` (CloudWatch keeps 1-minute "
            "datapoints for 15 days)"
        )
    if len(values) < 2 * HISTORY:
        raise TraceError(f"{path}: only {len(values)} minutes; at least {2 * HISTORY} are needed")
    return TraceFile(path, np.asarray(values), start, tuple(gaps))


def read_trace(path: str | Path) -> np.ndarray:
    """Requests per minute of a trace file (``load_trace``: either format, gaps filled with 0)."""
    return load_trace(path).requests


@lru_cache(maxsize=8)
def _trace(name: str) -> np.ndarray:
    if name not in TRACES:
        raise KeyError(f"unknown trace {name!r}; known: {', '.join(TRACES)}")
    return read_trace(DATA_DIR / TRACES[name].file)


def data_sha256() -> str:
    """sha256 over the recorded traces the project trains and evaluates on (recorded in the artifact)."""
    digest = hashlib.sha256()
    for name in sorted(TRACES):
        digest.update((DATA_DIR / TRACES[name].file).read_bytes())
    return digest.hexdigest()


def initial_fleet(load: np.ndarray, capacity: float, headroom: float = 1.25) -> int:
    """The fleet a scenario starts with: the last history minute's load in machines, with headroom."""
    return max(1, math.ceil(load[HISTORY - 1] / capacity * headroom))


def gaussian_nearest(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing with edge values repeated, in numpy: scipy's ``gaussian_filter1d(x, sigma,
    mode="nearest")`` (same kernel, radius ``4 sigma``) to within rounding."""
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights /= weights.sum()
    return np.convolve(np.pad(x, radius, mode="edge"), weights, mode="valid")


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """scipy's ``gaussian_filter1d`` when scipy is installed (bit for bit what training measured), else
    ``gaussian_nearest``, so that replaying a trace needs numpy only."""
    try:
        from scipy.ndimage import gaussian_filter1d
    except ImportError:
        return gaussian_nearest(x, sigma)
    return gaussian_filter1d(x, sigma, mode="nearest")


def scale_trace(
    raw: np.ndarray, reference: np.ndarray, mean_machines: float, capacity: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Scale ``raw`` so that ``reference`` (the trace's training part) averages ``mean_machines`` machines.

    Returns the scaled load and the scale factor. Low-volume traces are smoothed and resampled (see
    ``LOW_VOLUME_RPM``); a high-volume trace scaled down to a low volume keeps each request with probability
    ``factor`` (binomial thinning: the counting noise of the lower rate); the others are multiplied and rounded.
    """
    factor = mean_machines * capacity / max(float(reference.mean()), 1e-9)
    if reference.mean() < LOW_VOLUME_RPM:
        rate = smooth(raw.astype(np.float64), SMOOTH_SIGMA_MINUTES) * factor
        return rng.poisson(rate).astype(np.float64), factor
    if factor < 1.0 and mean_machines * capacity < LOW_VOLUME_RPM:
        return rng.binomial(np.round(raw).astype(np.int64), factor).astype(np.float64), factor
    return np.round(raw * factor), factor


def _part_bounds(length: int, part: str) -> tuple[int, int]:
    """Raw minutes ``[lo, hi)`` a trace of ``length`` minutes simulates in its ``part``: "train" is the first
    ``TRAIN_FRACTION`` by time after the ``HISTORY`` minutes its first window looks back on, any other part the
    rest."""
    cut = int(length * TRAIN_FRACTION)
    return (HISTORY, cut) if part == "train" else (cut, length)


def _window(length: int, part: str, offset: int, minutes: int | None, of: str) -> tuple[int, int]:
    """Raw minutes ``[begin, end)`` of the window at ``offset`` into ``part`` (to the part's end when ``minutes`` is
    None), refused by name when the part is unknown or the window leaves it."""
    if part not in ("train", "eval"):
        raise ValueError(f"part must be 'train' or 'eval', got {part!r}")
    lo, hi = _part_bounds(length, part)
    begin = lo + offset
    end = hi if minutes is None else begin + minutes
    if not (lo <= begin < end <= hi):
        raise ValueError(f"window [{begin}, {end}) lies outside the {part} part [{lo}, {hi}) of {of}")
    return begin, end


def trace_scenario(
    name: str,
    part: str,
    *,
    mean_machines: float = 20.0,
    capacity: float = 300.0,
    minutes: int | None = None,
    offset: int = 0,
    seed: int = 0,
) -> Scenario:
    """A window of a recorded trace's ``part`` ("train" or "eval"), scaled by its training part's mean.

    ``offset`` and ``minutes`` select a window inside the part (default: the whole part). The history before
    the window comes from the minutes just before it, so the evaluation part's first decision sees the end of
    the training part, exactly as a live system would.
    """
    raw = _trace(name)
    begin, end = _window(len(raw), part, offset, minutes, f"trace {name!r}")
    reference = raw[slice(*_part_bounds(len(raw), "train"))]
    rng = np.random.default_rng([TRAIN_STREAM if part == "train" else EVAL_STREAM, seed, len(raw)])
    scaled, factor = scale_trace(raw[begin - HISTORY : end], reference, mean_machines, capacity, rng)
    start = TRACES[name].start + timedelta(minutes=begin)
    return Scenario(
        name=f"{name}-{part}",
        load=scaled,
        start=start,
        initial_machines=initial_fleet(scaled, capacity),
        meta={
            "trace": name,
            "part": part,
            "first_minute": begin,
            "scale_factor": factor,
            "mean_machines": mean_machines,
            "resampled": bool(reference.mean() < LOW_VOLUME_RPM),
        },
    )


PAST_MINUTES = 14 * 1440
"""Metric history before each evaluation scenario (AWS predictive scaling uses up to 14 days)."""


def trace_past(
    name: str, first_minute: int, *, past_minutes: int = PAST_MINUTES, mean_machines: float, capacity: float
) -> np.ndarray:
    """Up to ``past_minutes`` of a trace's load just before the history of a window whose first simulated minute is
    raw minute ``first_minute``, scaled as its training part: from the training part while the window's history
    starts there (so the evaluation part's past is the end of the training part), else from the evaluation part
    (a window later in it), never across the two. The evaluation's ``trace_case`` and the controller's simulated
    fleet both read it, so a low-volume trace's resampling (which depends on the window) is the same for both."""
    _, cut = _part_bounds(len(_trace(name)), "train")
    end = first_minute - HISTORY  # raw minute just after the past
    part, lo = ("train", HISTORY) if end <= cut else ("eval", cut)
    have = min(past_minutes, end - lo)
    if have <= 0:
        return np.zeros(0)
    before = trace_scenario(
        name, part, mean_machines=mean_machines, capacity=capacity, minutes=have, offset=end - have - lo
    )
    return before.load[HISTORY:]


def trace_part_minutes(name: str, part: str) -> int:
    """Simulatable minutes in a trace's part."""
    lo, hi = _part_bounds(len(_trace(name)), part)
    return hi - lo


def team_scenario(trace: TraceFile, part: str, *, minutes: int | None = None, offset: int = 0) -> Scenario:
    """A window of a team's trace file's ``part`` ("train": the first ``TRAIN_FRACTION`` by time, "eval": the
    rest), in the team's own requests per minute (never rescaled), with the HISTORY minutes before it."""
    begin, end = _window(len(trace.requests), part, offset, minutes, str(trace.path))
    load = trace.requests[begin - HISTORY : end].astype(np.float64)
    return Scenario(
        name=f"{trace.name}-{part}",
        load=load,
        start=trace.time_of(begin),
        initial_machines=1,  # set by the caller, which knows the fleet's capacity (initial_fleet)
        meta={"trace_file": str(trace.path), "part": part, "first_minute": begin, "scale_factor": 1.0},
    )


def _team_window(trace: TraceFile, rng: np.random.Generator, minutes: int, capacity: float) -> Scenario:
    room = team_part_minutes(trace, "train") - minutes
    if room < 0:
        raise ValueError(
            f"{trace.path}: its training part is shorter than an episode with its history ({minutes} minutes)"
        )
    scenario = team_scenario(trace, "train", minutes=minutes, offset=int(rng.integers(0, room + 1)))
    return replace(scenario, initial_machines=initial_fleet(scenario.load, capacity))


def team_part_minutes(trace: TraceFile, part: str) -> int:
    """Simulatable minutes in a team trace's part."""
    lo, hi = _part_bounds(len(trace.requests), part)
    return hi - lo


@dataclass(frozen=True)
class SyntheticSpec:
    """Shape of a synthetic load. Levels are multiplicative factors on the mean."""

    mean_machines: float = 20.0
    """Mean load in machines' worth of nominal capacity."""
    daily_amplitude: float = 0.5
    """Relative swing of the daily cycle (0.5: peak 1.5x, trough 0.5x of the mean, before other factors)."""
    peak_hour: float = 14.0
    """Hour of the day (UTC) of the daily peak."""
    weekend_factor: float = 0.75
    """Load on Saturdays and Sundays relative to weekdays."""
    drift_per_week: float = 0.1
    """Exponential growth rate per week (negative: decline)."""
    wander_sigma: float = 0.05
    """Standard deviation of a slow random wander (Ornstein-Uhlenbeck, ~6 h time constant) of the log level."""
    noise_sigma: float = 0.03
    """Minute-to-minute multiplicative noise (log-normal, AR(1) with coefficient 0.5), on top of Poisson."""
    spikes_per_day: float = 1.0
    """Mean number of sudden spikes per day (Poisson)."""
    spike_height: tuple[float, float] = (0.2, 1.5)
    """Range of a spike's relative height (0.5: +50 % on top of the load), drawn log-uniformly."""
    spike_minutes: tuple[float, float] = (5.0, 120.0)
    """Range of a spike's duration in minutes, drawn log-uniformly."""
    spike_ramp_minutes: tuple[float, float] = (1.0, 10.0)
    """Range of a spike's onset ramp in minutes (1: instantaneous)."""


NOISE_MA = 0.5
"""Moving-average coefficient of the synthetic minute-to-minute noise: ``noise_t = e_t + 0.5 e_(t-1)``."""


def load_moments(rate: np.ndarray, noise_sigma: float, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of a synthetic minute's load given its ``rate``, before its noise is drawn.

    ``L ~ Poisson(rate * exp(noise))``, ``noise ~ N(0, (1 + NOISE_MA^2) noise_sigma^2)``: mean ``rate e^(s2/2)``,
    variance ``mean + rate^2 e^s2 (e^s2 - 1)`` (Poisson counting plus the log-normal factor). ``scale``: the
    factor the load and rate were multiplied by after the draw (1: ``synthetic_scenario`` draws at the fleet's own
    rate)."""
    s2 = (1.0 + NOISE_MA**2) * noise_sigma**2
    rate = np.asarray(rate, dtype=np.float64)
    mean = rate * math.exp(s2 / 2)
    return mean, scale * mean + rate**2 * math.exp(s2) * math.expm1(s2)


def synthetic_load(
    spec: SyntheticSpec, minutes: int, start: datetime, rng: np.random.Generator, capacity: float = 300.0
) -> np.ndarray:
    """``minutes`` of requests per minute (integers as floats), minute 0 at UTC time ``start``."""
    return synthetic_draw(spec, minutes, start, rng, capacity)[0]


def synthetic_draw(
    spec: SyntheticSpec, minutes: int, start: datetime, rng: np.random.Generator, capacity: float = 300.0
) -> tuple[np.ndarray, np.ndarray]:
    """``synthetic_load`` and the intensity it was drawn around: (load, rate), both (minutes,).

    ``rate`` is the generator's predictable-in-principle part (daily and weekly cycles, drift, the slow wander and
    the spikes, requests per minute, ``spec.mean_machines`` machines of ``capacity`` on average); the load is
    ``Poisson(rate * exp(noise))`` (a fleet serving a few requests a minute sees their counting noise) with
    ``noise`` the minute-to-minute
    MA(1) term (``spec.noise_sigma``). What the rate ceiling (``training.policies.oracle.RateOracle``) is told."""
    t = np.arange(minutes, dtype=np.float64)
    t0 = start.weekday() * 1440 + start.hour * 60 + start.minute
    minute_of_week = (t0 + t) % 10080
    hour = (minute_of_week % 1440) / 60.0
    phase = 2 * np.pi * (hour - spec.peak_hour) / 24.0
    daily = 1.0 + spec.daily_amplitude * (0.8 * np.cos(phase) + 0.2 * np.cos(2 * phase))
    weekday = minute_of_week / 1440.0
    weekend = 1.0 / (1.0 + np.exp(-4 * (weekday - 5.0))) * (1.0 / (1.0 + np.exp(4 * (weekday - 6.95))))
    weekly = 1.0 + (spec.weekend_factor - 1.0) * weekend
    drift = np.exp(spec.drift_per_week * t / 10080.0)
    theta = 1.0 / 360.0
    shocks = rng.normal(0.0, spec.wander_sigma * math.sqrt(2 * theta), minutes)
    level0 = rng.normal(0.0, spec.wander_sigma)
    from scipy.signal import lfilter  # training only: the synthetic generator never runs in the controller

    wander, _ = lfilter([1.0], [1.0, theta - 1.0], shocks, zi=[(1.0 - theta) * level0])
    eps = rng.normal(0.0, spec.noise_sigma, minutes)
    noise = eps.copy()
    noise[1:] += NOISE_MA * eps[:-1]
    spikes = np.ones(minutes)
    for _ in range(rng.poisson(spec.spikes_per_day * minutes / 1440.0)):
        at = rng.uniform(0, minutes)
        height = math.exp(rng.uniform(*np.log(spec.spike_height)))
        length = math.exp(rng.uniform(*np.log(spec.spike_minutes)))
        ramp = rng.uniform(*spec.spike_ramp_minutes)
        rel = t - at
        shape = np.where(rel < 0, 0.0, np.minimum(1.0, (rel + 1) / ramp))
        shape *= np.exp(-np.maximum(rel - length, 0.0) / max(length / 4, 1.0))
        spikes += height * shape
    base = spec.mean_machines * capacity * daily * weekly * drift
    lam = base * np.exp(wander + noise) * spikes
    rate = base * np.exp(wander) * spikes
    return rng.poisson(np.maximum(lam, 0.0)).astype(np.float64), rate


def random_spec(rng: np.random.Generator, mean_machines: tuple[float, float] = (3.0, 300.0)) -> SyntheticSpec:
    """A random synthetic shape: the training and evaluation distribution of synthetic loads."""
    return SyntheticSpec(
        mean_machines=float(math.exp(rng.uniform(*np.log(mean_machines)))),
        daily_amplitude=float(rng.uniform(0.1, 0.7)),
        peak_hour=float(rng.uniform(0, 24)),
        weekend_factor=float(rng.uniform(0.5, 1.1)),
        drift_per_week=float(rng.uniform(-0.2, 0.4)),
        wander_sigma=float(rng.uniform(0.0, 0.1)),
        noise_sigma=float(rng.uniform(0.01, 0.06)),
        spikes_per_day=float(rng.uniform(0.0, 3.0)),
    )


def random_start(rng: np.random.Generator) -> datetime:
    """A random minute within one week of 2024, so every weekday and hour is covered."""
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=int(rng.integers(0, 10080)))


def synthetic_scenario(
    rng: np.random.Generator,
    minutes: int,
    *,
    spec: SyntheticSpec | None = None,
    name: str = "synthetic",
    capacity: float = 300.0,
) -> Scenario:
    spec = spec or random_spec(rng)
    start = random_start(rng)
    load, rate = synthetic_draw(spec, HISTORY + minutes, start - timedelta(minutes=HISTORY), rng, capacity)
    return Scenario(name, load, start, initial_fleet(load, capacity), meta={"spec": spec.__dict__}, rate=rate)


def eval_synthetic(index: int, minutes: int, capacity: float = 300.0) -> Scenario:
    """Held-out synthetic scenario number ``index``: an independent stream never used in training or tuning."""
    rng = np.random.default_rng([EVAL_STREAM, index])
    return synthetic_scenario(rng, minutes, name=f"synthetic-{index}", capacity=capacity)


def sample_scenario(
    rng: np.random.Generator,
    minutes: int,
    *,
    trace_probability: float = 0.3,
    capacity: float = 300.0,
    team_traces: tuple[TraceFile, ...] = (),
    mean_machines: tuple[float, float] = (3.0, 300.0),
    random_phase: bool = False,
) -> Scenario:
    """A random training scenario: a synthetic load, or a random window of a trace's training part at a
    random scale. Draw ``rng`` from ``TRAIN_STREAM`` (or ``TUNE_STREAM``); evaluation uses ``EVAL_STREAM``.

    ``team_traces`` (``python -m training.train --trace``) join the recorded traces, each as likely as one of
    them, in the team's own requests per minute (only their training part). Without them the draws are exactly
    the ones made before team traces existed. ``mean_machines``: the range of fleet sizes (log-uniform);
    ``random_phase``: a recorded trace's window gets a random time of the week (a team's peak hour depends on its
    users' time zone), so that the policy cannot learn the recorded traces' clock."""
    if rng.random() < trace_probability:
        if not team_traces:
            name = str(rng.choice(sorted(TRACES)))
        else:
            pick = int(rng.integers(len(TRACES) + len(team_traces)))
            if pick >= len(TRACES):
                return _team_window(team_traces[pick - len(TRACES)], rng, minutes, capacity)
            name = sorted(TRACES)[pick]
        room = trace_part_minutes(name, "train") - minutes
        size = float(math.exp(rng.uniform(math.log(mean_machines[0]), math.log(mean_machines[1]))))
        scenario = trace_scenario(
            name,
            "train",
            mean_machines=size,
            capacity=capacity,
            minutes=minutes,
            offset=int(rng.integers(0, max(room, 1))),
            seed=int(rng.integers(2**31)),
        )
        if random_phase:
            scenario = replace(scenario, start=random_start(rng))
        return scenario
    spec = None if mean_machines == (3.0, 300.0) else random_spec(rng, mean_machines)
    return synthetic_scenario(rng, minutes, spec=spec, capacity=capacity)


def split_past(long: Scenario, past_minutes: int, capacity: float) -> tuple[Scenario, np.ndarray]:
    """Cut the first ``past_minutes`` of a long scenario off as its past; the rest is the scenario."""
    past = long.load[:past_minutes]
    load = long.load[past_minutes:]
    scenario = Scenario(
        name=long.name,
        load=load,
        start=long.start + timedelta(minutes=past_minutes),
        initial_machines=initial_fleet(load, capacity),
        meta={**long.meta, "past_minutes": past_minutes},
        rate=None if long.rate is None else long.rate[past_minutes:],
    )
    return scenario, past


TRAINING_PAST_MINUTES = DAY + 16
"""Past drawn before every training scenario: the character window, and the lag the simulator may add."""


def sample_with_past(
    rng: np.random.Generator,
    minutes: int,
    *,
    short_history_probability: float = 0.0,
    past_minutes: int = TRAINING_PAST_MINUTES,
    capacity: float = 300.0,
    **kwargs: Any,
) -> tuple[Scenario, np.ndarray]:
    """A training scenario (``sample_scenario``) with the ``past_minutes`` of load before it, so that episodes start
    with the day of history the policy's character features read (warm-up from the scenario's own past). With
    probability ``short_history_probability`` the past is cut to a random length (``NaN`` before it), as for a
    fleet the controller has watched for less than a day, so that the policy learns what little history means."""
    long = sample_scenario(rng, past_minutes + minutes, capacity=capacity, **kwargs)
    scenario, past = split_past(long, past_minutes, capacity)
    if short_history_probability > 0 and rng.random() < short_history_probability:
        past = past.copy()
        past[: past_minutes - int(rng.integers(0, past_minutes + 1))] = np.nan
    return scenario, past


def with_past(drawn: Scenario | tuple[Scenario, np.ndarray]) -> tuple[Scenario, np.ndarray]:
    """What a scenario sampler returned, as (scenario, past): a sampler may return a bare ``Scenario`` (no past)."""
    return drawn if isinstance(drawn, tuple) else (drawn, np.zeros(0))


def check_team_traces(paths: list[str], episode_minutes: int) -> tuple[str, ...]:
    """``--trace`` files, read once so that a bad file fails before training starts (``TraceError`` names the file
    and line); each training part must hold an episode and the day of history drawn before it
    (``TRAINING_PAST_MINUTES``), else training would fail on it later (inside Ray's environments, for PPO)."""
    need = episode_minutes + TRAINING_PAST_MINUTES
    for path in paths:
        trace = load_trace(path)
        if team_part_minutes(trace, "train") < need:
            raise ValueError(
                f"{path}: its training part (first {TRAIN_FRACTION:.0%} by time) has "
                f"{team_part_minutes(trace, 'train')} minutes, fewer than an episode ({episode_minutes}) and the "
                f"day of history before it ({TRAINING_PAST_MINUTES}): {need}"
            )
    return tuple(paths)
