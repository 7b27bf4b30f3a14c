"""A stage of 1,000 fleets (from a YAML file that cdk.json names) synthesises inside AWS's deploy-time limits.

Limits (benchmarks.synth.LIMITS) checked on what `cdk synth` writes: every template <= 1 MB and <= 500 resources,
every Lambda function's environment <= 4 KB, every IAM policy document <= 6,144 characters and a role's inline
policies together <= 10,240. The fleets travel as an asset, not in a template. The figures:
`python -m benchmarks.synth --fleets 1000`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.synth import LIMITS, limits_report, many_fleets
from tests.infra.helpers import CDK_CONTEXT, build_app

FLEETS = 1_000


@pytest.fixture(scope="module")
def big_stage(tmp_path_factory: pytest.TempPathFactory, policy_artifacts: dict[str, Path]) -> Path:
    """Dev with 1,000 fleets from a YAML file, synthesised to a cloud assembly."""
    tmp = tmp_path_factory.mktemp("scale")
    (tmp / "fleets.yaml").write_text(yaml.safe_dump(many_fleets(FLEETS)))
    stages = copy.deepcopy(CDK_CONTEXT["stages"])
    stages["Dev"]["fleets"] = str(tmp / "fleets.yaml")
    app, (dev,) = build_app(tmp / "out", stage="Dev", stages=stages, model_artifact=policy_artifacts["passed"])
    assert len(dev.config.fleets) == FLEETS
    app.synth()
    return tmp / "out"


@pytest.fixture(scope="module")
def report(big_stage: Path) -> dict[str, Any]:
    return limits_report(big_stage)


def test_templates_fit_cloudformation(report: dict[str, Any]) -> None:
    assert len(report["templates"]) == 5
    for name, template in report["templates"].items():
        assert template["bytes"] <= LIMITS["template_bytes"], (name, template)
        assert template["resources"] <= LIMITS["resources_per_template"], (name, template)


def test_functions_environments_fit_lambda(report: dict[str, Any]) -> None:
    sizes = report["function_environment_bytes"]
    assert len(sizes) >= 4  # the controller, its fleets writer, the artifact copy, the Ray token writer
    assert max(sizes.values()) <= LIMITS["function_environment_bytes"], sizes


def test_iam_policies_fit_iam(report: dict[str, Any]) -> None:
    assert max(report["policy_document_chars"].values()) <= LIMITS["policy_document_chars"]
    assert max(report["role_inline_policy_chars"].values()) <= LIMITS["role_inline_policy_chars"]


def test_the_fleets_ship_as_an_asset_not_in_a_template(big_stage: Path) -> None:
    controller = next(big_stage.glob("assembly-*/*Controller*.template.json")).read_text()
    assert "fleet-0999" not in controller and "service-0999" not in controller
    (doc,) = [json.loads(p.read_text()) for p in big_stage.glob("asset.*.json") if "fleet-0999" in p.read_text()]
    assert doc["stage"] == "Dev" and len(doc["fleets"]) == FLEETS
