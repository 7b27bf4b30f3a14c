"""cfn-lint over every synthesised template: zero errors and zero warnings."""

from __future__ import annotations

from cfnlint.api import ManualArgs, lint_file

from tests.infra.helpers import STACKS, STAGES, Synthesised


def test_every_stage_and_stack_was_synthesised(app: Synthesised) -> None:
    names = {path.name for path in app.template_files()}
    assert len(names) == len(STAGES) * len(STACKS)
    for stage in STAGES:
        for stack in STACKS:
            assert any(n.startswith(f"{stage}{stack}") for n in names), f"{stage}/{stack} missing"


def test_cfn_lint_finds_nothing(app: Synthesised) -> None:
    config = ManualArgs(regions=["eu-west-1"])
    findings = {
        path.name: [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in lint_file(path, config=config)]
        for path in app.template_files()
    }
    assert {name: found for name, found in findings.items() if found} == {}
