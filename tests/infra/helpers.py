"""Helpers of the infrastructure tests: package a test policy, synthesise the app, read what came out."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.app import build
from stacks.stage import AutoscalerStage

ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
STAGES = ("Dev", "Staging", "Prod")
STACKS = ("Storage", "Training", "Monitoring", "Serving", "Controller")
MODEL_VERSION = "infra-test-policy"
CREATED_AT = "2026-01-01T00:00:00+00:00"


def package_test_policy(out_dir: Path, *, gate_passed: bool) -> Path:
    """package_policy(random_policy(0)) with metadata whose gate passed or failed; returns model.tar.gz."""
    from inference.artifact import package_policy, random_policy, untrained_metadata

    metadata = untrained_metadata(MODEL_VERSION if gate_passed else f"{MODEL_VERSION}-failed-gate")
    metadata["created_at"] = CREATED_AT
    metadata["gate"] = (
        {"passed": True, "forced": False, "reason": "test fixture: recorded as beating target tracking"}
        if gate_passed
        else {"passed": False, "forced": False, "reason": "test fixture: lost to target tracking on profit"}
    )
    return package_policy(random_policy(0), out_dir, metadata=metadata)


@dataclass
class Synthesised:
    app: cdk.App
    stages: dict[str, AutoscalerStage]
    outdir: Path
    _templates: dict[tuple[str, str], Template] = field(default_factory=dict)

    def stack(self, stage: str, name: str) -> cdk.Stack:
        return getattr(self.stages[stage], name.lower())

    def template(self, stage: str, name: str) -> Template:
        key = (stage, name)
        if key not in self._templates:
            self._templates[key] = Template.from_stack(self.stack(stage, name))
        return self._templates[key]

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("assembly-*/*.template.json"))

    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())


def build_app(outdir: Path, *, stage: str | None = None, **context: Any) -> tuple[cdk.App, list[AutoscalerStage]]:
    """The app as `cdk synth` builds it, with cdk.json's context plus `context` (paths as strings)."""
    merged = {**CDK_CONTEXT, **{k: str(v) if isinstance(v, Path) else v for k, v in context.items()}}
    if stage:
        merged["stage"] = stage
    app = cdk.App(context=merged, outdir=str(outdir))
    return app, build(app, environ={})


def synth(outdir: Path, *, stage: str | None = None, **context: Any) -> Synthesised:
    app, stages = build_app(outdir, stage=stage, **context)
    app.synth()
    return Synthesised(app=app, stages={s.config.name: s for s in stages}, outdir=outdir)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def strip_hashes(value: Any) -> Any:
    """A template with asset and artifact hashes replaced, for snapshots that survive code changes."""
    if isinstance(value, Mapping):
        return {k: strip_hashes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_hashes(v) for v in value]
    if isinstance(value, str):
        return _SHA256.sub("<sha256>", value)
    return value


def resources(template: Template, kind: str) -> dict[str, Any]:
    return template.find_resources(kind)


def only(template: Template, kind: str) -> dict[str, Any]:
    found = template.find_resources(kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


def _token(part: Mapping[str, Any]) -> str:
    (kind, value), *_ = part.items()
    if kind == "Ref":
        return f"Ref:{value}"
    if kind == "Fn::GetAtt":
        return f"GetAtt:{'.'.join(value)}"
    if kind == "Fn::Sub":
        return f"Sub:{value}"
    if kind == "Fn::GetStackOutput":
        return f"Output:{value['StackName']}.{value['OutputName']}"
    return f"{kind}:{json.dumps(value, sort_keys=True)}"


def state_machine_definition(template: Template) -> dict[str, Any]:
    """The state machine's ASL with CloudFormation intrinsics shown as `<Ref:...>`-style placeholders."""
    machine = only(template, "AWS::StepFunctions::StateMachine")
    definition = machine["Properties"]["DefinitionString"]
    if isinstance(definition, str):
        return json.loads(definition)
    separator, parts = definition["Fn::Join"]
    return json.loads(separator.join(p if isinstance(p, str) else f"<{_token(p)}>" for p in parts))


def joined(value: Any) -> str:
    """A string property that may be an Fn::Join, with intrinsics as placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(p if isinstance(p, str) else f"<{_token(p)}>" for p in parts)
    return f"<{_token(value)}>"
