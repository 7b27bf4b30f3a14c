"""A stage of 1,000 fleets (from a YAML file that cdk.json names) synthesises inside AWS's deploy-time limits.

Limits checked on what `cdk synth` writes: every template <= 1 MB and <= 500 resources, every Lambda function's
environment <= 4 KB, every IAM policy document <= 6,144 characters (the managed-policy limit, stricter than a
role's 10,240 of inline policies, which are summed per role too). The fleets travel as an asset, not in a template.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.helpers import CDK_CONTEXT, build_app

FLEETS = 1_000
TEMPLATE_LIMIT_BYTES = 1_000_000
RESOURCE_LIMIT = 500
ENVIRONMENT_LIMIT_BYTES = 4_096
POLICY_LIMIT_CHARS = 6_144
ROLE_INLINE_LIMIT_CHARS = 10_240
ACCOUNT = "123456789012"


def many_fleets(n: int) -> list[dict[str, Any]]:
    """ECS, Auto Scaling and SageMaker fleets behind load balancers, as a platform team would list them."""
    out = []
    for i in range(n):
        kind = ("ecs", "asg", "sagemaker")[i % 3]
        target = {
            "ecs": {"kind": "ecs", "cluster": f"cluster-{i % 7}", "service": f"service-{i:04d}"},
            "asg": {"kind": "asg", "group": f"group-{i:04d}"},
            "sagemaker": {"kind": "sagemaker", "endpoint": f"endpoint-{i:04d}", "variant": "AllTraffic"},
        }[kind]
        dims = {"TargetGroup": f"targetgroup/tg-{i:04d}/0123456789abcdef", "LoadBalancer": "app/front/0123456789abcdef"}
        out.append(
            {
                "name": f"fleet-{i:04d}",
                "mode": "shadow",
                "capacity_rpm_per_machine": 300,
                "min_machines": 2,
                "max_machines": 400,
                "max_change_per_minute": 20,
                "requests": {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount", "dimensions": dims},
                "failed": [
                    {"namespace": "AWS/ApplicationELB", "metric_name": "HTTPCode_Target_5XX_Count", "dimensions": dims}
                ],
                "target": target,
            }
        )
    return out


def _resolved(value: Any) -> Any:
    """A CloudFormation value with intrinsics replaced by strings as long as what they resolve to (about)."""
    if isinstance(value, dict):
        if "Ref" in value or "Fn::GetAtt" in value or "Fn::ImportValue" in value:
            return "x" * 64 if value.get("Ref") != "AWS::AccountId" else ACCOUNT
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(_resolved(p)) for p in parts)
        if "Fn::Sub" in value:
            return str(value["Fn::Sub"])
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    return value


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


def _templates(outdir: Path) -> dict[str, Path]:
    found = {p.name: p for p in outdir.glob("assembly-*/*.template.json")}
    assert len(found) == 5, sorted(found)
    return found


def test_templates_fit_cloudformation(big_stage: Path) -> None:
    for name, path in _templates(big_stage).items():
        template = json.loads(path.read_text())
        assert path.stat().st_size <= TEMPLATE_LIMIT_BYTES, f"{name}: {path.stat().st_size} bytes"
        assert len(template["Resources"]) <= RESOURCE_LIMIT, f"{name}: {len(template['Resources'])} resources"


def test_functions_environments_fit_lambda(big_stage: Path) -> None:
    functions = 0
    for name, path in _templates(big_stage).items():
        for logical, resource in json.loads(path.read_text())["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            functions += 1
            variables = _resolved(resource["Properties"].get("Environment", {}).get("Variables", {}))
            size = sum(len(k.encode()) + len(str(v).encode()) for k, v in variables.items())
            assert size <= ENVIRONMENT_LIMIT_BYTES, f"{name} {logical}: environment {size} bytes"
    assert functions >= 4  # the controller, its fleets writer, the artifact copy, the Ray token writer


def test_iam_policies_fit_iam(big_stage: Path) -> None:
    per_role: dict[str, int] = {}
    for name, path in _templates(big_stage).items():
        for logical, resource in json.loads(path.read_text())["Resources"].items():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            document = json.dumps(_resolved(resource["Properties"]["PolicyDocument"]), separators=(",", ":"))
            assert len(document) <= POLICY_LIMIT_CHARS, f"{name} {logical}: {len(document)} characters"
            for role in resource["Properties"].get("Roles", []):
                key = f"{name}:{json.dumps(role, sort_keys=True)}"
                per_role[key] = per_role.get(key, 0) + len(document)
    assert per_role and max(per_role.values()) <= ROLE_INLINE_LIMIT_CHARS, per_role


def test_the_fleets_ship_as_an_asset_not_in_a_template(big_stage: Path) -> None:
    controller = next(p for n, p in _templates(big_stage).items() if "Controller" in n)
    text = controller.read_text()
    assert "fleet-0999" not in text and "service-0999" not in text
    (doc,) = [json.loads(p.read_text()) for p in big_stage.glob("asset.*.json") if "fleet-0999" in p.read_text()]
    assert doc["stage"] == "Dev" and len(doc["fleets"]) == FLEETS
