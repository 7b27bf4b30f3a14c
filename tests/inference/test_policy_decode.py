"""How the served action is read from the policy's logits (``inference.policy.decode``)."""

from __future__ import annotations

import numpy as np
import pytest

from inference import actions, policy


def logits_of(p: list[float]) -> np.ndarray:
    return np.log(np.asarray([p], dtype=np.float64))


def test_median_is_the_smallest_action_whose_cumulative_probability_reaches_one_half() -> None:
    # The mode (action 0) sits at one end while most of the probability lies above it: the median is action 1.
    p = [0.4, 0.2, 1e-9, 0.4 - 1e-9]
    assert policy.decode(logits_of(p), "argmax")[0] == 0
    assert policy.decode(logits_of(p), "median")[0] == 1
    # Exactly one half at action 1: the median is action 1 (reaches, not exceeds).
    assert policy.decode(logits_of([0.25, 0.25, 0.5]), "median")[0] == 1
    # A concentrated policy: median and mode agree.
    assert policy.decode(logits_of([0.05, 0.9, 0.05]), "median")[0] == 1


def test_median_is_shift_invariant_and_batched() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (500, actions.N_ACTIONS))
    got = policy.decode(z, "median")
    np.testing.assert_array_equal(got, policy.decode(z + 1e3, "median"))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    rows = np.arange(len(z))
    assert (cum[rows, got] >= 0.5 - 1e-12).all()
    below = got > 0
    assert (cum[rows[below], got[below] - 1] < 0.5).all()


def test_the_actions_are_ordered_margins() -> None:
    """The median is only meaningful because the actions are margins in ascending order."""
    assert list(actions.OFFSETS) == sorted(actions.OFFSETS)


def test_an_unknown_decode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="decode must be one of"):
        policy.decode(np.zeros((1, 3)), "mean")
    with pytest.raises(ValueError, match="decode"):
        policy.MLPSpec(decode="mode")
