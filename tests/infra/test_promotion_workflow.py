"""The workflows: CI on every change; promotion of one approved package version, tests -> release and synth -> Dev
-> (approval) Staging -> (approval) Prod."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from scripts import release_artifact, smoke_test
from tests.infra.helpers import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_stages_run_in_order_after_tests_and_the_release_of_one_package_version() -> None:
    workflow = _load("promote.yml")
    assert set(workflow[True]["workflow_dispatch"]["inputs"]) == {"model_package_version"}  # YAML reads `on` as True
    jobs = workflow["jobs"]
    assert jobs["release"]["needs"] == "test" and jobs["release"]["environment"] == "dev"
    assert (jobs["dev"]["needs"], jobs["staging"]["needs"], jobs["prod"]["needs"]) == (
        "release",
        ["release", "dev"],
        ["release", "staging"],
    )
    stages = {name: (job["with"]["stage"], job["with"]["environment"]) for name, job in jobs.items() if "with" in job}
    assert stages == {"dev": ("Dev", "dev"), "staging": ("Staging", "staging"), "prod": ("Prod", "production")}
    for name in ("dev", "staging", "prod"):
        assert jobs[name]["uses"] == "./.github/workflows/deploy-stage.yml"
        assert jobs[name]["with"]["model_s3_uri"] == "${{ needs.release.outputs.model_s3_uri }}"
        assert jobs[name]["with"]["model_sha256"] == "${{ needs.release.outputs.model_sha256 }}"
        assert jobs[name]["with"]["model_package_version"] == "${{ inputs.model_package_version }}"


def test_release_publishes_only_the_named_approved_version_through_the_cli() -> None:
    runs = [s["run"] for s in _load("promote.yml")["jobs"]["release"]["steps"] if "run" in s]
    release = next(r for r in runs if "scripts/lifecycle.py release" in r)
    assert release.startswith(".venv-sdk/bin/python") and '--version "$MODEL_PACKAGE_VERSION"' in release
    synth = next(r for r in runs if "cdk synth" in r)
    assert '-c model_package_version="$MODEL_PACKAGE_VERSION"' in synth
    deploy = next(
        s["run"] for s in _load("deploy-stage.yml")["jobs"]["deploy"]["steps"] if "cdk deploy" in s.get("run", "")
    )
    assert '-c model_package_version="$MODEL_PACKAGE_VERSION"' in deploy


def test_ci_runs_on_every_push_and_pull_request_within_twenty_minutes() -> None:
    workflow = _load("ci.yml")
    assert set(workflow[True]) == {"push", "pull_request"}
    jobs = workflow["jobs"]
    assert all(job["timeout-minutes"] <= 20 for job in jobs.values())
    runs = [step.get("run", "") for job in jobs.values() for step in job["steps"]]
    for command in ("make lint", "make test", "npx cdk synth -q", "cfn-lint", "scripts/costs.py"):
        assert any(command in run for run in runs), command
    setups = [step.get("with", {}) for job in jobs.values() for step in job["steps"] if "uses" in step]
    assert any(w.get("cache") == "pip" for w in setups) and any(w.get("cache") == "npm" for w in setups)
    assert "make test" in (ROOT / ".ci" / "run").read_text() and "make test" in (ROOT / "README.md").read_text()


def test_each_step_deploys_the_verified_artifact_then_smoke_tests() -> None:
    steps = _load("deploy-stage.yml")["jobs"]["deploy"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    fetch, deploy, smoke = (next(r for r in runs if word in r) for word in ("fetch", "cdk deploy", "smoke_test"))
    assert runs.index(fetch) < runs.index(deploy) < runs.index(smoke)
    assert '-c model_sha256="$MODEL_SHA256"' in deploy and "-c model_metadata=release/metadata.json" in deploy


def _arguments(command: str, script: str) -> list[str]:
    words = shlex.split(command.replace("\n", " ").split(">")[0])
    return words[words.index(script) + 1 :]


def test_workflow_commands_are_accepted_by_the_scripts(tmp_path: Path) -> None:
    steps = _load("deploy-stage.yml")["jobs"]["deploy"]["steps"]
    runs = " ".join(s["run"] for s in steps if "run" in s)
    smoke_args = _arguments(runs[runs.index(".venv/bin/python scripts/smoke_test.py") :], "scripts/smoke_test.py")
    parsed = smoke_test.parse_args(smoke_args)
    assert parsed.endpoint_name == "rl-autoscaler-${STAGE,,}" and parsed.endpoint_url is None
    fetch = runs[runs.index("scripts/release_artifact.py fetch") :]
    fetch_args = _arguments(fetch, "scripts/release_artifact.py")
    assert fetch_args[:1] == ["fetch"] and {"--uri", "--sha256", "--out"} <= set(fetch_args)
    assert (ROOT / "scripts" / "release_artifact.py").is_file() and release_artifact.PREFIX == "releases/"


def test_synth_and_deploy_pass_the_same_optional_alarm_subscribers() -> None:
    """An unset repository variable is an empty string, which keeps cdk.json's subscribers (the SSM parameters)."""
    from stacks.config import with_alarm_subscribers

    synth = next(s["run"] for s in _load("promote.yml")["jobs"]["release"]["steps"] if "cdk synth" in s.get("run", ""))
    deploy = next(
        s["run"] for s in _load("deploy-stage.yml")["jobs"]["deploy"]["steps"] if "cdk deploy" in s.get("run", "")
    )
    for run in (synth, deploy):
        assert '-c alarm_subscribers="$ALARM_SUBSCRIBERS"' in run
    assert with_alarm_subscribers({"Prod": {"alarm_subscribers": ["ssm:/x"]}}, "") == {
        "Prod": {"alarm_subscribers": ["ssm:/x"]}
    }
