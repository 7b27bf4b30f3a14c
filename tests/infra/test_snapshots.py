"""One snapshot per stage (all four templates) with asset and artifact hashes stripped.

A changed template fails here with the path of the first difference; when the change is intended, refresh with
`UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/infra/test_snapshots.py` and review the diff in git.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.infra.helpers import STACKS, STAGES, Synthesised, strip_hashes

SNAPSHOTS = Path(__file__).with_name("snapshots")


def _stage_snapshot(app: Synthesised, stage: str) -> dict[str, Any]:
    out = {}
    for stack in STACKS:
        template = dict(app.template(stage, stack).to_json())
        template["Resources"] = {k: v for k, v in template["Resources"].items() if v["Type"] != "AWS::CDK::Metadata"}
        template.get("Conditions", {}).pop("CDKMetadataAvailable", None)
        out[stack] = strip_hashes(template)
    return out


def _first_difference(expected: Any, actual: Any, path: str = "") -> str:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in actual or key not in expected:
                return f"{path}/{key}: {'removed' if key not in actual else 'added'}"
            found = _first_difference(expected[key], actual[key], f"{path}/{key}")
            if found:
                return found
        return ""
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (a, b) in enumerate(zip(expected, actual)):
            found = _first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return ""
    return "" if expected == actual else f"{path}: {json.dumps(expected)[:200]} -> {json.dumps(actual)[:200]}"


@pytest.mark.parametrize("stage", STAGES)
def test_stage_matches_its_snapshot(app: Synthesised, stage: str) -> None:
    actual = _stage_snapshot(app, stage)
    path = SNAPSHOTS / f"{stage}.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    assert path.is_file(), f"no snapshot {path}; create it with UPDATE_SNAPSHOTS=1"
    expected = json.loads(path.read_text())
    difference = _first_difference(expected, actual)
    assert not difference, f"{stage} differs from {path.name} at {difference}"


def test_snapshots_hold_no_hashes() -> None:
    import re

    for path in SNAPSHOTS.glob("*.json"):
        assert not re.search(r"[0-9a-f]{64}", path.read_text()), path
