"""research.noise: the scoreboard under many capacity-noise draws, judged by the gate's rule, from its command line."""

from __future__ import annotations

import json

import pytest

from inference.artifact import package_policy, random_policy, untrained_metadata
from research import noise as noise_cli


def test_main_scores_a_packaged_policy(tmp_path, capsys) -> None:
    tarball = package_policy(random_policy(seed=1), tmp_path, metadata=untrained_metadata())
    out = tmp_path / "noise.json"
    assert noise_cli.main(["--policy", str(tarball), "--seeds", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "paired over 2 capacity-noise draws" in text and "scenarios: beats every rule on" in text
    assert "gate REFUSES" in text or "gate passes" in text  # the gate's own judging function
    doc = json.loads(out.read_text())
    judged = doc["candidates"][str(tarball)]
    wc = next(c for c in judged["checks"] if c["scope"] == "worldcup-eval")
    assert doc["seeds"] == 2 and wc["vs"]["target_tracking"]["draws"] == 2 and wc["blocking"]
    assert isinstance(judged["passed"], bool) and judged["reason"]


def test_main_refuses_a_missing_policy_and_one_draw(tmp_path) -> None:
    with pytest.raises(SystemExit):
        noise_cli.main(["--policy", str(tmp_path / "nope.tar.gz")])
    tarball = package_policy(random_policy(seed=1), tmp_path, metadata=untrained_metadata())
    with pytest.raises(SystemExit):
        noise_cli.main(["--policy", str(tarball), "--seeds", "1"])
