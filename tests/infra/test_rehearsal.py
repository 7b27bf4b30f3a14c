"""The deploy rehearsal (scripts/rehearse_deploy.py) run for real: `cdk deploy 'Dev/*'` against moto."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.helpers import ROOT
from tests.infra.test_monitoring_stack import ALARMS

pytestmark = pytest.mark.slow  # a real deploy (CDK CLI against a local moto server)

# What moto 5.2.5 accepts in a template but never creates; anything else missing is a real failure.
# Dev serves on Serverless Inference: no Application Auto Scaling resources to skip.
SKIPPED_BY_MOTO = {
    "AWS::CDK::Metadata",
    "AWS::S3::BucketPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Scheduler::Schedule",
}


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory, policy_artifacts: dict[str, Path]) -> dict:
    """One rehearsal for the tests below (about 30 s)."""
    if not (ROOT / "node_modules" / ".bin" / "cdk").exists():
        pytest.fail("node_modules/.bin/cdk missing: run `npm ci` (make install does)")
    report_path = tmp_path_factory.mktemp("rehearsal") / "rehearsal.json"
    command = [sys.executable, "scripts/rehearse_deploy.py", "--model-artifact", str(policy_artifacts["passed"])]
    result = subprocess.run(
        [*command, "--json", str(report_path)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(report_path.read_text())


@pytest.mark.rehearsal
def test_dev_stage_deploys_to_moto_with_the_real_cdk_cli(rehearsal: dict) -> None:
    report = rehearsal
    assert report["missing"] == []
    assert all(info["status"] == "CREATE_COMPLETE" for info in report["stacks"].values())
    exists = report["exists"]
    assert exists["bucket"] and exists["bucket_encryption"] == "aws:kms" and exists["kms_key_rotation"] == [True]
    assert exists["model_image"].endswith("/sagemaker-scikit-learn:1.4-2-py312-cpu-py3")
    assert exists["model_env_stage"] == "Dev" and exists["endpoint_status"] == "InService"
    assert exists["dashboard"] == ["rl-autoscaler-dev"] and exists["topic_kms"] == [True]
    skipped_types = {entry.split()[0] for entries in report["skipped_by_moto"].values() for entry in entries}
    assert skipped_types == SKIPPED_BY_MOTO
    alarms = [e for e in report["skipped_by_moto"]["Dev-Monitoring"] if e.startswith("AWS::CloudWatch::Alarm")]
    assert len(alarms) == len(ALARMS) and exists["alarms"] == []  # in the template, never created by moto
    controller = exists["controller"]
    assert controller["function"] == "rl-autoscaler-dev-controller" and controller["runtime"] == "python3.12"
    assert controller["handler"] == "controller.handler.lambda_handler" and controller["reserved_concurrency"] == 1
    assert controller["dlq_kms"] and controller["modes_parameter"] == '{"stage": null, "fleets": {}}'
    assert {"FLEETS_KEY", "HISTORY_MINUTES", "MODES_PARAMETER", "STATE_BUCKET"} <= set(controller["environment"])
    # The deploy-time custom resources ran (our inline Python, in the emulator): the endpoint's model data is the
    # sha256-checked copy in the stage bucket, and the Ray token is there; CDK's Node.js bucket-emptying provider
    # (it acts only on delete) is answered without running, and reported.
    files = exists["stage_files"]
    assert files["model_data"].startswith("s3://rl-autoscaler-dev-data-123456789012-eu-west-1/artifacts/")
    assert files["model_data_sha256"] == rehearsal["model_sha256"] and files["ray_token_chars"] == 64
    # The controller's hand-back at the stack's removal (the controller function itself, whose Delete is the only
    # action) is answered without running too; tests/controller/test_handback.py runs it in process.
    assert rehearsal["custom_resources_not_run"] and all(
        "AutoDeleteObjectsCustomResource" in name or name.startswith("HandBackOnRemoval ")
        for name in rehearsal["custom_resources_not_run"]
    )


@pytest.mark.rehearsal
def test_controller_runs_against_the_deployed_stage(rehearsal: dict) -> None:
    """controller.handler.lambda_handler, in process, four consecutive minutes with the deployed environment: moto
    for AWS, the local endpoint serving the deployed artifact for InvokeEndpoint."""
    run = rehearsal["controller_run"]
    assert "error" not in run, run.get("error")
    responses = run["responses"]
    assert len(responses) == 4 and all(r["errors"] == [] for r in responses), [r["errors"] for r in responses]
    assert all(r["fleets_deciding"] == 2 for r in responses)  # Dev: worldcup (active) and nasa (shadow)
    assert all(r["endpoint_calls"] == 1 for r in responses)  # one InvokeEndpoint for all fleets
    assert run["sum_Runs"] == 4 and run["sum_FleetsDeciding"] == 8
    assert run["sum_Fallbacks"] == 0 and run["sum_StaleDataHolds"] == 0  # the endpoint answered, data was fresh
    assert {"Runs", "RunDurationMs", "EndpointLatencyMs", "PolicyDesired", "AppliedDesired", "Mode"} <= set(
        run["metrics"]
    )
    assert run["fleets_with_decisions"] == ["nasa", "worldcup"]
    assert set(run["simulated_fleet_metrics"]) == {"RequestCount", "FailedRequests"}
    assert "controller/simulated/worldcup.json.gz" in run["state_objects"]
