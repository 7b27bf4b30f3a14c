"""Fixtures shared by the training tests."""

from __future__ import annotations

import pytest

from training.policies import character

TINY_FIT = character.FitSettings(synthetic=2, trace_windows=0, small=2, draws=1, folds=2)
"""A character-baseline fit of a few scenarios: what the scoreboard and the gate fit in tests that run them."""


@pytest.fixture(autouse=True)
def tiny_character_fits(monkeypatch):
    """The scoreboard's and the gate's character baseline fits on ``TINY_FIT`` (its default replays about a hundred
    scenarios a fit: seconds each); the baseline's own tests pass their settings."""
    monkeypatch.setattr(character, "DEFAULT_SETTINGS", TINY_FIT)
