"""The safety shield: what the policy proposes becomes a decision only within hard rules.

Applied to every decision, in this order (a later rule wins over an earlier one):

1. **Fallback.** If any observation feature lies outside the range seen in training (widened by ``ood_margin``
   times the range's width on each side), or the decision lies outside what the policy was trained on
   (``domain.TrainingDomain``: economics, fleet size, history length), or the policy failed, the policy is not
   used: the target-tracking rule of ``fallback`` (the controller's fallback too) sizes the fleet at
   ``ceil(need / target_utilisation)``, ``need`` being the last minute's load in machines.
2. **Maximum change per decision.** The fleet moves by at most ``max(min_step, ceil(max_step_fraction * fleet))``
   machines, ``fleet = active + pending``.
3. **No scale-in while requests fail.** If ``failed_rpm > 0`` the fleet is not reduced.
4. **Bounds.** ``min_machines <= desired <= max_machines`` (hard: they override rules 2 and 3).

Rules 3 and 4 and their wording are ``rules.py``'s, which the controller applies too (vectorised here).

``shielded`` is true when a fallback was used or a rule changed the policy's proposal; ``reason`` names the fallback
and its cause, and the last rule that moved the value (the one that explains the decision), or the policy's
action when nothing intervened. Defaults: at most max(2, 50 %) of the fleet per decision,
fallback at 70 % utilisation, 10 % margin; each is set by an environment variable (``ShieldConfig.from_env``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import actions, features, rules
from .contract import MAX_MACHINES, DecisionRequest
from .fallback import TARGET_UTILISATION, target_tracking

log = logging.getLogger(__name__)

ENV_PREFIX = "AUTOSCALER_SHIELD_"


@dataclass(frozen=True)
class ShieldConfig:
    """Shield settings; each can be set by ``AUTOSCALER_SHIELD_<NAME>`` (e.g. ``AUTOSCALER_SHIELD_MIN_STEP=4``)."""

    max_step_fraction: float = 0.5
    """Largest change per decision as a fraction of the current fleet (serving + warming)."""
    min_step: int = 2
    """The change allowed per decision is never below this many machines (so an empty fleet can start)."""
    target_utilisation: float = TARGET_UTILISATION
    """Utilisation the fallback target-tracking rule aims at: fleet = ceil(need / target_utilisation)."""
    ood_margin: float = 0.1
    """Tolerance beyond each feature's training range, as a fraction of the range's width (at least 0.01)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.max_step_fraction <= 10.0:
            raise ValueError(f"max_step_fraction must be in (0, 10], got {self.max_step_fraction}")
        if not 0 <= self.min_step <= MAX_MACHINES:
            raise ValueError(f"min_step must be in [0, {MAX_MACHINES}], got {self.min_step}")
        if not 0.05 <= self.target_utilisation <= 1.0:
            raise ValueError(f"target_utilisation must be in [0.05, 1], got {self.target_utilisation}")
        if not 0.0 <= self.ood_margin <= 10.0:
            raise ValueError(f"ood_margin must be in [0, 10], got {self.ood_margin}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ShieldConfig:
        kwargs: dict[str, float | int] = {}
        for name, kind in (("max_step_fraction", float), ("min_step", int), ("target_utilisation", float)):
            kwargs.update(_env(environ, name, kind))
        kwargs.update(_env(environ, "ood_margin", float))
        return cls(**kwargs)  # type: ignore[arg-type]


def _env(environ: Mapping[str, str], name: str, kind: type) -> dict[str, float | int]:
    key = ENV_PREFIX + name.upper()
    if key not in environ:
        return {}
    try:
        return {name: kind(environ[key])}
    except ValueError:
        raise ValueError(f"{key}={environ[key]!r} is not a valid {kind.__name__}") from None


@dataclass(frozen=True)
class Decisions:
    """The shield's output for N decisions, plus what the metrics need."""

    desired: np.ndarray
    delta: np.ndarray
    shielded: np.ndarray
    fallback: np.ndarray
    reasons: list[str]


class Shield:
    """The rules above, bound to one policy's training range. ``apply`` is vectorised over a batch."""

    def __init__(self, obs_lo: np.ndarray, obs_hi: np.ndarray, config: ShieldConfig | None = None) -> None:
        self.config = config or ShieldConfig()
        width = np.maximum(np.asarray(obs_hi, np.float64) - np.asarray(obs_lo, np.float64), 0.01)
        self.lo = np.asarray(obs_lo, np.float64)
        self.hi = np.asarray(obs_hi, np.float64)
        self._lo_ok = (self.lo - self.config.ood_margin * width).astype(np.float32)
        self._hi_ok = (self.hi + self.config.ood_margin * width).astype(np.float32)
        self._policy_reason = [_policy_reason(a) for a in actions.ACTION_TABLE]
        self._fallback = f"fallback to target tracking at {self.config.target_utilisation:.0%} utilisation"

    def apply(
        self,
        req: DecisionRequest,
        obs: np.ndarray,
        action: np.ndarray,
        policy_failed: np.ndarray,
        untrained: list[str | None] | None = None,
    ) -> Decisions:
        """Decisions for a batch: ``action`` the policy's greedy actions, ``policy_failed`` rows it got wrong,
        ``untrained`` per row why the policy was not trained for it (``TrainingDomain.outside``), or None."""
        cfg = self.config
        fleet = req.active + req.pending
        outside = (obs < self._lo_ok) | (obs > self._hi_ok)
        fallback = outside.any(axis=1)
        untrained = untrained or [None] * len(req)
        fallback |= np.array([why is not None for why in untrained], dtype=bool)
        if policy_failed.any():
            fallback |= policy_failed
            action = np.where(policy_failed, 0, action)  # any valid index: the fallback replaces its proposal
        holds = actions.holds(req.history, req.capacity, req.economics)
        proposed = actions.desired_from_action(
            action,
            actions.sizing_basis(req.load, req.capacity, req.history, req.economics, precomputed=holds),
            req.active,
            req.pending,
            req.economics,
            req.capacity,
        )
        if fallback.any():
            target = target_tracking(req.load[:, -1], req.capacity, cfg.target_utilisation)
            proposed = np.where(fallback, target, proposed)
        step = np.maximum(np.ceil(fleet * cfg.max_step_fraction), cfg.min_step).astype(np.int64)
        stepped = np.minimum(np.maximum(proposed, np.maximum(fleet - step, 0)), fleet + step)
        failing = req.failed > 0.0
        kept = np.where(failing & (stepped < fleet), fleet, stepped) if failing.any() else stepped
        desired = np.minimum(np.maximum(kept, req.min_machines), req.max_machines)
        shielded = fallback | (desired != proposed)

        reasons: list[str] = []
        for i, is_shielded in enumerate(shielded.tolist()):
            if not is_shielded:
                reasons.append(self._policy_reason[action[i]] + _held_reason(holds, i))
                continue
            parts = []
            if fallback[i]:
                why = [untrained[i]] if untrained[i] else []
                if policy_failed[i] or outside[i].any():
                    why.insert(0, self._why_fallback(i, obs, outside, bool(policy_failed[i])))
                parts.append(f"{self._fallback}: {', and '.join(why)}")
            if desired[i] > kept[i]:  # only the last rule that moved the value explains it
                parts.append(rules.raised_to_min(req.min_machines[i]))
            elif desired[i] < kept[i]:
                parts.append(rules.lowered_to_max(req.max_machines[i]))
            elif kept[i] != stepped[i]:
                parts.append(rules.NO_SCALE_IN_WHILE_FAILING)
            elif stepped[i] != proposed[i]:
                parts.append(f"change limited to {step[i]} machines per decision")
            reasons.append("; ".join(parts))
        return Decisions(desired=desired, delta=desired - fleet, shielded=shielded, fallback=fallback, reasons=reasons)

    def _why_fallback(self, i: int, obs: np.ndarray, outside: np.ndarray, policy_failed: bool) -> str:
        if policy_failed:
            return "the policy failed"
        j = int(np.argmax(outside[i]))
        return (
            f"{features.FEATURE_NAMES[j]}={float(obs[i, j]):.3g} outside the training range "
            f"[{self.lo[j]:.3g}, {self.hi[j]:.3g}]"
        )


def _held_reason(holds: list[actions.Hold], i: int) -> str:
    """What ``actions.holds`` held row ``i`` at, as a clause of its reason ("" when nothing)."""
    (collapse, stopped, c_hold), (surge, since, s_hold) = ([float(a[i]) for a in h] for h in holds)
    if collapse == collapse:
        return (
            f"; traffic collapsed {stopped:.0f} minutes ago: sized on the {collapse:.3g} machines' worth before it, "
            f"for up to {c_hold:.0f} minutes (while holding costs less than an outage on its return)"
        )
    if surge == surge:
        return (
            f"; traffic surges again and again, the last {since:.0f} minutes ago: sized on its {surge:.3g} machines' "
            f"worth, for up to {s_hold:.0f} minutes (while holding costs less than an outage at the next one)"
        )
    return ""


def _policy_reason(entry: Mapping[str, object]) -> str:
    """Every action of ``actions.ACTION_TABLE`` is a safety margin on the window's peak, offset from the level the
    fleet's economics call for (``actions.base_level``)."""
    window = f"the longer of {actions.PEAK_WINDOW} minutes and {actions.WARMUPS_IN_WINDOW:g} warm-ups"
    return f"policy: peak of {window} + the economics' safety margin {entry['level']:+g}"
