"""Rule-based auto-scalers, each implemented as its source documents it, batched over the simulator's N fleets.

Every rule sees only what a real cloud observes (``simulator.Observation``) and returns the whole fleet it
wants (serving + warming), through the interface of ``training.policies.base``. One simulated step is one minute, so
one CloudWatch datapoint (1-minute detailed monitoring) or one Kubernetes metrics scrape per step.

The metric: a rule scales on **utilisation** = last minute's requests / (serving machines x nominal capacity),
i.e. requests per serving machine in units of what one machine serves. This is the request-count-per-target
kind of metric (``ALBRequestCountPerTarget``, ``SageMakerVariantInvocationsPerInstance``): it is proportional to
load and inversely proportional to the serving fleet, which is what target tracking requires, and it does not
saturate at 100 % when the fleet is overloaded (unlike CPU), so a rule sees how far behind it is. Warming
machines are not counted in it (AWS's instance warm-up, Kubernetes' unready pods).

Each rule has one tuned parameter (its target utilisation or sizing factor), tuned on the training split by
``training.policies.tuning`` and frozen in ``training/policies/tuned_baselines.json``. Parameters may also be
arrays with one value per fleet, to run several values in one batched simulation.

| name | source | tuned parameter |
| --- | --- | --- |
| ``static`` | fixed fleet sized for the peak seen in the past | ``headroom`` |
| ``target_tracking`` | AWS target tracking scaling policy | ``target`` |
| ``step_scaling`` | AWS step scaling policy | ``threshold`` |
| ``hpa`` | Kubernetes HorizontalPodAutoscaler (autoscaling/v2, default behaviour) | ``target`` |
| ``predictive`` | AWS predictive scaling (forecast and scale) + target tracking | ``target`` |
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from inference.features import HISTORY
from simulator.fleet import FleetSim, Observation
from training.policies.base import clip_fleet, per_fleet, reset_policy

EPS = 1e-9


def _utilisation(load: np.ndarray, active: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Requests per serving machine / nominal capacity; +inf when nothing serves a positive load."""
    need = load / capacity
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(active > 0, need / np.maximum(active, 1), np.where(need > 0, np.inf, 0.0))
    return util


def _trailing_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True values at the end of each row of a (N, K) boolean array."""
    k = flags.shape[1]
    false_idx = np.where(~flags, np.arange(k), -1)
    return k - 1 - false_idx.max(axis=1)


def _positive(value: float | np.ndarray, n: int, name: str) -> np.ndarray:
    """A rule's target or threshold per fleet (``per_fleet``), refused by name unless every value is above 0."""
    out = per_fleet(value, n, name)
    if np.any(out <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return out


class _PolicyAlarms:
    """What an AWS scaling policy on the utilisation metric remembers: its two CloudWatch alarms, as the number of
    consecutive datapoints above the high threshold and below the low one, and the minute of its last scale in
    (the cooldown's start). An alarm with an Auto Scaling action invokes the policy every minute it stays in ALARM.
    """

    def __init__(self, n: int) -> None:
        self.high: np.ndarray | None = None
        self.low = np.zeros(n, dtype=np.int64)
        self.last_scale_in = np.full(n, -(10**9), dtype=np.int64)

    def update(self, obs: Observation, high: np.ndarray, low: np.ndarray) -> np.ndarray:
        """Count the newest datapoint and return the newest minute's utilisation. The first call counts the
        observed history (CloudWatch already holds it), computed against the fleet serving now; later calls add
        the newest minute."""
        cap = obs.capacity_rpm_per_machine
        if self.high is None:
            util = _utilisation(obs.load, obs.active[:, None], cap[:, None])
            self.high = _trailing_run(util > high[:, None])
            self.low = _trailing_run(util < low[:, None])
            return util[:, -1]
        util = _utilisation(obs.load[:, -1], obs.active, cap)
        self.high = np.where(util > high, self.high + 1, 0)
        self.low = np.where(util < low, self.low + 1, 0)
        return util

    def may_scale_in(self, obs: Observation, out: np.ndarray, datapoints: int, cooldown: int) -> np.ndarray:
        """Where the scale-in policy acts: its alarm has ``datapoints`` low datapoints in a row, no machine is warming
        up (scale in waits for the warm-up), ``cooldown`` minutes have passed since the last scale in (a scale out
        ends the cooldown) and the fleet does not scale out this minute (``out``)."""
        return ~out & (self.low >= datapoints) & (obs.pending == 0) & (obs.t - self.last_scale_in >= cooldown)

    def scaled(self, t: int, out: np.ndarray, scale_in: np.ndarray) -> None:
        """Record minute ``t``'s scale ins; a scale out ends the cooldown."""
        self.last_scale_in = np.where(scale_in, t, np.where(out, -(10**9), self.last_scale_in))


class Static:
    """Static provisioning: one fleet for the whole episode, sized for the highest load seen in the past.

    ``desired = ceil(headroom * max(past load) / capacity)`` machines, set at minute 0 and never changed: capacity
    planning by peak. The past is what the evaluation provides (up to 14 days of metric history before the
    episode), else the observation's ``HISTORY`` minutes.

    Parameters:
        headroom: multiple of the past peak to provision (tuned).
    """

    name = "static"

    def __init__(self, headroom: float | np.ndarray = 1.2):
        self.headroom = headroom

    def reset(self, sim: FleetSim, past: list[np.ndarray] | None = None) -> None:
        n = sim.n
        headroom = per_fleet(self.headroom, n, "headroom")
        peak = sim.observed_loads[:, :HISTORY].max(axis=1)
        if past is not None:
            peak = np.maximum(peak, [np.max(p) if len(p) else 0.0 for p in past])
        self.fleet = np.ceil(headroom * peak / sim.capacity - EPS).astype(np.int64)

    def act(self, obs: Observation) -> np.ndarray:
        return clip_fleet(self.fleet, obs)


class TargetTracking:
    """AWS target tracking scaling policy on the utilisation metric.

    As documented for EC2 Auto Scaling and Application Auto Scaling:

    - Target tracking creates two CloudWatch alarms. The high alarm fires when the metric is above ``target`` for
      3 consecutive 1-minute datapoints; the low alarm when it is below 90 % of ``target`` for 15 consecutive
      datapoints. An alarm with an Auto Scaling action invokes the policy every minute it stays in ALARM.
    - Scale out: new capacity = ceil(counted machines x metric / target) = ceil(load / (capacity x target)),
      counted machines being the serving ones (instances still warming up are neither in the metric nor in the
      current capacity). Capacity already warming counts towards the desired capacity, so the policy does not
      scale out again for it: the fleet rises only if the new capacity exceeds serving + warming.
    - Scale in: to the same proportional capacity, the number of machines removed rounded down (scale in is
      conservative); only when no machine is warming up (scale-in is blocked until new instances finish warming
      up) and at least ``scale_in_cooldown`` minutes after the previous scale in. A scale out during the
      cooldown happens at once and ends the cooldown.

    Sources:
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-target-tracking.html,
    https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html,
    https://docs.aws.amazon.com/autoscaling/application/APIReference/API_TargetTrackingScalingPolicyConfiguration.html
    (cooldowns; 300 s default for SageMaker endpoint variants and ECS),
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-default-instance-warmup.html (warm-up).

    Parameters:
        target: target utilisation, a fraction of one machine's nominal capacity (tuned).
        scale_out_datapoints: consecutive datapoints above target that put the high alarm in ALARM (3).
        scale_in_datapoints: consecutive datapoints below ``scale_in_ratio * target`` for the low alarm (15).
        scale_in_ratio: the low alarm's threshold as a fraction of the target (0.9).
        scale_in_cooldown: minutes after a scale in before the next one (300 s = 5).
    """

    name = "target_tracking"

    def __init__(
        self,
        target: float | np.ndarray = 0.7,
        *,
        scale_out_datapoints: int = 3,
        scale_in_datapoints: int = 15,
        scale_in_ratio: float = 0.9,
        scale_in_cooldown: int = 5,
    ):
        self.target_param = target
        self.scale_out_datapoints = scale_out_datapoints
        self.scale_in_datapoints = scale_in_datapoints
        self.scale_in_ratio = scale_in_ratio
        self.scale_in_cooldown = scale_in_cooldown

    def reset(self, sim: FleetSim, past: list[np.ndarray] | None = None) -> None:
        self.target = _positive(self.target_param, sim.n, "target")
        self.alarms = _PolicyAlarms(sim.n)

    def act(self, obs: Observation) -> np.ndarray:
        alarms = self.alarms
        alarms.update(obs, self.target, self.scale_in_ratio * self.target)
        fleet = obs.active + obs.pending
        proportional = np.ceil(obs.load[:, -1] / (obs.capacity_rpm_per_machine * self.target) - EPS).astype(np.int64)
        out = (alarms.high >= self.scale_out_datapoints) & (proportional > fleet)
        fewer = proportional < obs.active
        scale_in = alarms.may_scale_in(obs, out, self.scale_in_datapoints, self.scale_in_cooldown) & fewer
        desired = np.where(out | scale_in, proportional, fleet)
        alarms.scaled(obs.t, out, scale_in)
        return clip_fleet(desired, obs)


def _percent_adjustment(capacity: np.ndarray, percent: np.ndarray) -> np.ndarray:
    """AWS ``PercentChangeInCapacity`` rounding: a change above 1 is rounded down, one between 0 and 1 becomes 1,
    one between -1 and 0 becomes -1, one below -1 is rounded towards zero."""
    raw = capacity * percent / 100.0
    out = np.trunc(raw + np.sign(raw) * EPS)
    out = np.where((raw > 0) & (raw < 1), 1.0, out)
    out = np.where((raw < 0) & (raw > -1), -1.0, out)
    return out.astype(np.int64)


class StepScaling:
    """AWS step scaling policies (one to scale out, one to scale in) on the utilisation metric.

    Each policy is driven by a CloudWatch alarm and applies the step adjustment whose interval contains the breach
    (metric minus the alarm threshold), as ``PercentChangeInCapacity`` of the current capacity with AWS's rounding.
    The alarm invokes its policy every minute it stays in ALARM.

    - Scale-out alarm: utilisation > ``threshold`` for ``scale_out_datapoints`` consecutive minutes. Steps
      (lower bound of the breach as a fraction of ``threshold`` -> change): [0, 0.1) +10 %, [0.1, 0.25) +25 %,
      [0.25, 0.5) +50 %, [0.5, 1) +100 %, [1, inf) +200 %.
    - Instance warm-up: warming machines are not part of the current capacity, and the desired capacity already
      includes them, so repeated breaches in the same step add nothing and a bigger step adds only the
      difference (the worked example in the EC2 guide: desired = max(desired, serving + adjustment)).
    - Scale-in alarm: utilisation < ``scale_in_ratio * threshold`` for ``scale_in_datapoints`` consecutive
      minutes. Steps below that threshold: (-0.1, 0] -10 %, (-0.25, -0.1] -20 %, (-inf, -0.25] -30 % (fractions of
      ``threshold``). The cooldown blocks a scale in for ``cooldown`` minutes after the previous one, a scale out
      during it happens at once and ends it; no scale in starts while machines are warming up.

    Sources:
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html (step adjustments,
    adjustment types and rounding, instance warm-up),
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StepAdjustment.html (intervals relative to the
    breach threshold),
    https://docs.aws.amazon.com/autoscaling/application/APIReference/API_StepScalingPolicyConfiguration.html
    (cooldown semantics, 300 s default for SageMaker endpoint variants and ECS),
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html (alarms with Auto
    Scaling actions re-invoke them every minute in ALARM).

    Parameters:
        threshold: the scale-out alarm's utilisation threshold (tuned).
        scale_out_datapoints: consecutive breaching minutes for the scale-out alarm (1: 1 of 1 datapoint).
        scale_in_ratio: the scale-in alarm's threshold as a fraction of ``threshold`` (0.7).
        scale_in_datapoints: consecutive breaching minutes for the scale-in alarm (5).
        cooldown: the scale-in policy's cooldown in minutes (300 s = 5).
    """

    name = "step_scaling"
    OUT_STEPS = ((0.0, 10.0), (0.1, 25.0), (0.25, 50.0), (0.5, 100.0), (1.0, 200.0))
    """(lower bound of the breach, as a fraction of the threshold; percent change) for the scale-out policy."""
    IN_STEPS = ((-0.1, -10.0), (-0.25, -20.0), (-np.inf, -30.0))
    """(lower bound, exclusive, of the breach below the scale-in threshold; percent change), top step first."""

    def __init__(
        self,
        threshold: float | np.ndarray = 0.7,
        *,
        scale_out_datapoints: int = 1,
        scale_in_ratio: float = 0.7,
        scale_in_datapoints: int = 5,
        cooldown: int = 5,
    ):
        self.threshold_param = threshold
        self.scale_out_datapoints = scale_out_datapoints
        self.scale_in_ratio = scale_in_ratio
        self.scale_in_datapoints = scale_in_datapoints
        self.cooldown = cooldown

    def reset(self, sim: FleetSim, past: list[np.ndarray] | None = None) -> None:
        self.threshold = _positive(self.threshold_param, sim.n, "threshold")
        self.alarms = _PolicyAlarms(sim.n)

    def act(self, obs: Observation) -> np.ndarray:
        alarms = self.alarms
        cap = obs.capacity_rpm_per_machine
        thr = self.threshold
        low_thr = self.scale_in_ratio * thr
        util = alarms.update(obs, thr, low_thr)
        fleet = obs.active + obs.pending

        breach = (util - thr) / thr
        pct_out = np.zeros_like(util)
        for lower, pct in self.OUT_STEPS:
            pct_out = np.where(breach >= lower, pct, pct_out)
        wanted_out = obs.active + _percent_adjustment(obs.active, pct_out)
        # A fleet with nothing serving has no capacity to take a percentage of: it orders what the load needs.
        wanted_out = np.where(obs.active > 0, wanted_out, np.ceil(obs.load[:, -1] / (cap * thr) - EPS))
        out = (alarms.high >= self.scale_out_datapoints) & (wanted_out > fleet)

        breach_in = (util - low_thr) / thr
        pct_in = np.full_like(util, self.IN_STEPS[-1][1])
        for lower, pct in reversed(self.IN_STEPS[:-1]):
            pct_in = np.where(breach_in > lower, pct, pct_in)
        wanted_in = obs.active + _percent_adjustment(obs.active, pct_in)
        scale_in = alarms.may_scale_in(obs, out, self.scale_in_datapoints, self.cooldown) & (obs.active > 0)
        desired = np.where(out, wanted_out, np.where(scale_in, wanted_in, fleet))
        alarms.scaled(obs.t, out, scale_in)
        return clip_fleet(desired, obs)


class HPA:
    """Kubernetes HorizontalPodAutoscaler (autoscaling/v2) with its default behaviour, one sync per minute.

    Replica calculation (the controller's ``calcPlainMetricReplicas``), with ready pods = serving machines and
    unready pods = warming ones, ``current`` = serving + warming (the scale's ``spec.replicas``) and ``ratio`` =
    utilisation of the ready pods / ``target``:

    - no unready pods, or ``ratio <= 1``: keep ``current`` if ``|ratio - 1| <= tolerance``, else
      ``ceil(ratio * ready)``;
    - unready pods and ``ratio > 1`` (scale up): unready pods count with zero usage, ``ratio'`` = load /
      (all pods x capacity) / target; keep ``current`` if ``|ratio' - 1| <= tolerance`` or ``ratio' < 1``, else
      ``ceil(ratio' * all pods)``.

    Behaviour (``spec.behavior`` defaults): scale down to the highest recommendation of the last 300 s
    (stabilisation window; with one-minute syncs, the current and the four previous recommendations); scale up
    with no stabilisation, limited by the default policies ``Percent 100 / 15 s`` and ``Pods 4 / 15 s`` with
    ``selectPolicy: Max``, i.e. at most ``max(2n, n + 4)`` per 15-s period. Adaptation to one-minute steps: a
    minute spans four 15-s periods, and the controller (syncing every 15 s) would re-apply the limit each period
    with the same one-minute metric, so the limit per step is that function applied four times
    (``n=1 -> 5 -> 10 -> 20 -> 40``). Scale-down has no rate limit by default (``Percent 100 / 15 s``).

    Sources:
    https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/ (algorithm, tolerance 0.1,
    readiness, stabilisation window, default behaviour),
    https://github.com/kubernetes/kubernetes/blob/master/pkg/controller/podautoscaler/replica_calculator.go and
    https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/autoscaling/v2/defaults.go.

    Parameters:
        target: target average utilisation per pod (``target.averageValue`` of a Pods metric) (tuned).
        tolerance: the controller's ``--horizontal-pod-autoscaler-tolerance`` (0.1).
        downscale_window: scale-down stabilisation window in minutes (300 s = 5 recommendations).
        syncs_per_step: 15-s sync periods per one-minute step (4).
    """

    name = "hpa"

    def __init__(
        self,
        target: float | np.ndarray = 0.7,
        *,
        tolerance: float = 0.1,
        downscale_window: int = 5,
        syncs_per_step: int = 4,
    ):
        self.target_param = target
        self.tolerance = tolerance
        self.downscale_window = downscale_window
        self.syncs_per_step = syncs_per_step

    def reset(self, sim: FleetSim, past: list[np.ndarray] | None = None) -> None:
        self.target = _positive(self.target_param, sim.n, "target")
        self.recommendations = np.zeros((sim.n, 0), dtype=np.int64)

    def recommend(self, obs: Observation) -> np.ndarray:
        """The unstabilised replica recommendation of one sync."""
        ready, unready = obs.active, obs.pending
        current = ready + unready
        load = obs.load[:, -1]
        per_pod = obs.capacity_rpm_per_machine * self.target
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(ready > 0, load / (np.maximum(ready, 1) * per_pod), np.where(load > 0, np.inf, 0.0))
            ratio_all = np.where(current > 0, load / (np.maximum(current, 1) * per_pod), ratio)
        with np.errstate(invalid="ignore"):  # ratio * ready is inf * 0 where no pod is ready: not the branch taken
            plain = np.where(
                np.abs(ratio - 1.0) <= self.tolerance,
                current,
                np.ceil(np.where(ready > 0, ratio * ready, load / per_pod) - EPS),
            )
        with_unready = np.where(
            (np.abs(ratio_all - 1.0) <= self.tolerance) | (ratio_all < 1.0),
            current,
            np.maximum(np.ceil(ratio_all * current - EPS), current),
        )
        return np.where((unready > 0) & (ratio > 1.0), with_unready, plain).astype(np.int64)

    def act(self, obs: Observation) -> np.ndarray:
        current = obs.active + obs.pending
        rec = self.recommend(obs)
        self.recommendations = np.concatenate([self.recommendations, rec[:, None]], axis=1)[:, -self.downscale_window :]
        down_limit = self.recommendations.max(axis=1)
        stabilised = np.where(current < rec, rec, np.where(current > down_limit, down_limit, current))
        limit = current.copy()
        for _ in range(self.syncs_per_step):
            limit = np.maximum(2 * limit, limit + 4)
        desired = np.where(stabilised > current, np.minimum(stabilised, limit), stabilised)
        return clip_fleet(desired, obs)


class Predictive:
    """AWS predictive scaling (forecast and scale) run together with target tracking on the same target.

    As documented for EC2 Auto Scaling / Application Auto Scaling predictive scaling:

    - It forecasts an hourly load from up to the past 14 days of the load metric, once it has at least 24 hours
      of it; the forecast is refreshed every 6 hours with the data available then.
    - Forecast capacity = ceil(forecast load / (capacity per machine x target)); it is scheduled at the start of
      each (clock) hour and launched ``buffer`` minutes ahead (``SchedulingBufferTime``, default 300 s = the
      warm-up), so the machines serve when the hour begins.
    - It never scales in: a lower forecast only lowers the floor, and target tracking (which runs alongside and
      can raise the fleet above the forecast) does any scale in. The fleet is the larger of the two.

    The forecaster: AWS's model is not published; this one is a transparent seasonal forecast of the hourly mean
    load. With a week or more of history, the mean of the same hour of the week over the available weeks (at
    most 2), times the ratio of the latest 24 hours to the same 24 hours a week earlier (trend); with 1 to 6
    days, the mean of the same hour over the available days.

    Sources:
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/predictive-scaling-policy-overview.html,
    https://docs.aws.amazon.com/autoscaling/application/userguide/aas-predictive-scaling-how-it-works.html,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PredictiveScalingConfiguration.html
    (SchedulingBufferTime).

    Parameters:
        target: target utilisation, shared by the forecast capacity and the target tracking policy (tuned).
        buffer: minutes by which the hour's capacity is launched ahead (5).
        max_history_days: days of history the forecast may use (14).
    """

    name = "predictive"

    def __init__(self, target: float | np.ndarray = 0.7, *, buffer: int = 5, max_history_days: int = 14):
        self.target_param = target
        self.buffer = buffer
        self.max_history_days = max_history_days
        self.tracking = TargetTracking(target)

    def reset(self, sim: FleetSim, past: list[np.ndarray] | None = None) -> None:
        n = sim.n
        self.target = per_fleet(self.target_param, n, "target")
        self.tracking.target_param = self.target
        self.tracking.reset(sim)
        keep = self.max_history_days * 1440
        past = past if past is not None else [np.zeros(0)] * n
        if len(past) != n:
            raise ValueError(f"past must hold one array per fleet ({n}), got {len(past)}")
        past = [np.asarray(p, dtype=np.float64)[-keep:] for p in past]
        # Published before minute 0: the past, then the history up to minute -1 - lag.
        self.lag = sim.lag
        seen = HISTORY - self.lag
        known = np.array([len(p) for p in past]) + seen
        self.offset = int(known.max()) + self.lag
        self.valid_from = self.offset - self.lag - known
        # Minute index i of the buffer holds the load of episode minute i - offset; cumulative sums give hour means.
        self.loads = np.zeros((n, self.offset + sim.minutes + 1))
        for i, p in enumerate(past):
            self.loads[i, self.valid_from[i] : self.offset - self.lag] = np.concatenate([p, sim.loads[i, :seen]])
        self.cumsum = np.zeros((n, self.loads.shape[1] + 1))
        self.cumsum[:, 1 : self.offset + 1] = np.cumsum(self.loads[:, : self.offset], axis=1)
        # Forecast load of the hour containing minute t (key 0) and t + buffer (key 1), cached per fleet until the
        # hour or the 6-hourly refresh changes.
        self.keys = np.full((2, n, 2), -1, dtype=np.int64)
        self.hour_load = np.zeros((2, n))
        self.floor = np.zeros(n, dtype=np.int64)

    def _window_mean(
        self, rows: np.ndarray, start: np.ndarray, length: int, available: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        ok = (start >= self.valid_from[rows]) & (start + length <= available)
        s = np.clip(start, 0, None)
        e = np.clip(start + length, 0, None)
        mean = (self.cumsum[rows, e] - self.cumsum[rows, s]) / length
        return np.where(ok, mean, 0.0), ok

    def forecast(self, rows: np.ndarray, hour_start: np.ndarray, available: np.ndarray) -> np.ndarray:
        """Hourly mean load forecast of fleets ``rows`` for the hours starting at buffer index ``hour_start``,
        from the data before ``available`` (buffer index of the last 6-hourly refresh); 0 with less than a day
        of history."""
        weekly_sum = np.zeros(len(rows))
        weekly_n = np.zeros(len(rows))
        for k in (1, 2):
            if 7 * k > self.max_history_days:
                break
            mean, ok = self._window_mean(rows, hour_start - k * 10080, 60, available)
            weekly_sum += mean
            weekly_n += ok
        recent, ok_recent = self._window_mean(rows, available - 1440, 1440, available)
        before, ok_before = self._window_mean(rows, available - 1440 - 10080, 1440, available)
        trend = np.where(ok_recent & ok_before & (before > 0), recent / np.maximum(before, EPS), 1.0)
        daily_sum = np.zeros(len(rows))
        daily_n = np.zeros(len(rows))
        for k in range(1, min(7, self.max_history_days + 1)):
            mean, ok = self._window_mean(rows, hour_start - k * 1440, 60, available)
            daily_sum += mean
            daily_n += ok
        weekly = weekly_sum / np.maximum(weekly_n, 1) * trend
        daily = daily_sum / np.maximum(daily_n, 1)
        return np.where(weekly_n > 0, weekly, np.where(daily_n > 0, daily, 0.0))

    def act(self, obs: Observation) -> np.ndarray:
        t = obs.t
        now = self.offset + t  # buffer index of the minute being decided
        if t > 0:  # the newest observed minute, t - 1 - lag
            newest = now - 1 - self.lag
            self.loads[:, newest] = obs.load[:, -1]
            self.cumsum[:, newest + 1] = self.cumsum[:, newest] + obs.load[:, -1]
        # The latest 6-hourly forecast refresh (UTC 00, 06, 12, 18), from the minutes published by then.
        refresh = now - (obs.minute % 360) - self.lag
        for j, ahead in enumerate((0, self.buffer)):
            start = now + ahead - (obs.minute % 60 + ahead) % 60
            key = np.stack([start, refresh], axis=1)
            rows = np.flatnonzero((key != self.keys[j]).any(axis=1))
            if len(rows):
                self.hour_load[j, rows] = self.forecast(rows, start[rows], refresh[rows])
                self.keys[j, rows] = key[rows]
        per_machine = obs.capacity_rpm_per_machine * self.target
        self.floor = np.ceil(self.hour_load.max(axis=0) / per_machine - EPS).astype(np.int64)
        return clip_fleet(np.maximum(self.tracking.act(obs), self.floor), obs)


BASELINES = {cls.name: cls for cls in (Static, TargetTracking, StepScaling, HPA, Predictive)}
"""Each baseline's class by report name; the constructor's first argument is the tuned parameter."""

TUNED_PATH = Path(__file__).with_name("tuned_baselines.json")
TUNED_CELLS_PATH = Path(__file__).with_name("tuned_cells.json")


def load_tuned(path: Path = TUNED_PATH) -> dict[str, float]:
    """Frozen tuned parameter of each baseline (``training/policies/tuned_baselines.json``, written by
    ``python -m training.policies.tuning``)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no tuned baselines; run `python -m training.policies.tuning` to write it")
    doc = json.loads(path.read_text())
    try:
        return {name: float(entry["value"]) for name, entry in doc["baselines"].items()}
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: expected {{'baselines': {{name: {{'value': number}}}}}}: {err}") from None


def load_tuned_cells(path: Path = TUNED_CELLS_PATH) -> dict[tuple[str, str], dict[str, float]]:
    """Each baseline's tuned parameter per (economics cell, fleet kind "regular" or "small")
    (``training/policies/tuned_cells.json``, written by ``python -m training.policies.tuning --cells full``)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no per-cell tuning; run `python -m training.policies.tuning --cells full`")
    doc = json.loads(path.read_text())
    try:
        return {
            (cell, fleet): {name: float(entry["value"]) for name, entry in rules.items()}
            for cell, fleets in doc["cells"].items()
            for fleet, rules in fleets.items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(
            f"{path}: expected {{'cells': {{cell: {{fleet: {{name: {{'value': number}}}}}}}}}}: {err}"
        ) from None


class CellTuned:
    """A baseline with the parameter tuned for each fleet's economics cell and fleet kind (the scenario's
    ``meta["cell"]`` and ``meta["fleet"]``, set by ``training.evaluation.cases.in_cell``): the rule a team would
    tune for its own fleet. A fleet outside any cell (a team's trace) gets ``default``."""

    def __init__(self, name: str, values: dict[tuple[str, str], float], default: float):
        self.name = name
        self.values = values
        self.default = default

    def reset(self, sim: FleetSim, past: list[np.ndarray] | None = None) -> None:
        params = []
        for scenario in sim.scenarios:
            key = (scenario.meta.get("cell"), scenario.meta.get("fleet", "regular"))
            if key[0] is None:
                params.append(self.default)
            elif key not in self.values:
                raise KeyError(
                    f"{self.name}: no tuned value for cell {key[0]!r} ({key[1]} fleets); rerun tuning --cells"
                )
            else:
                params.append(self.values[key])
        self.rule = BASELINES[self.name](np.array(params))
        reset_policy(self.rule, sim, past)

    def act(self, obs: Observation) -> np.ndarray:
        return self.rule.act(obs)

    def describe(self) -> dict[str, Any]:
        return {"tuned_per_cell": {f"{c}/{f}": v for (c, f), v in self.values.items()}, "default": self.default}
