"""A stage's `fleets`: inline in cdk.json or a JSON or YAML file it names, validated by the controller's own schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
"""cdk.json's directory: a stage's `fleets` file is named relative to it."""


def load_fleets_file(value: str, root: Path = ROOT) -> Any:
    """The fleets list of a JSON or YAML file that cdk.json names (`"fleets": "fleets/prod.yaml"`: relative to
    cdk.json's directory, or absolute)."""
    path = root / value
    if path.suffix not in (".json", ".yaml", ".yml"):
        raise ValueError(f"fleets: {value!r} must name a .json, .yaml or .yml file (or be an inline list)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"fleets: cannot read {path} ({error.strerror})") from None
    import yaml

    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ValueError(f"fleets: {path} is not valid {path.suffix[1:].upper()} ({error})") from None


def validate_stage_fleets(raw: Any, endpoint_name: str) -> tuple[dict[str, Any], ...]:
    """The controller's own schema (controller/config.py, pure Python) validates the fleets: one definition, which
    the controller runs again on the shipped object at run time."""
    if isinstance(raw, str):
        raw = load_fleets_file(raw)
    if isinstance(raw, (list, tuple)) and not raw:
        return ()
    from controller.config import FleetConfigError, validate_fleets

    try:
        return tuple(validate_fleets(raw, endpoint_name))
    except FleetConfigError as error:
        raise ValueError(str(error)) from None
