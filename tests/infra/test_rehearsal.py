"""The deploy rehearsal (scripts/rehearse_deploy.py) run for real: `cdk deploy 'Dev/*'` against moto."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.helpers import ROOT

# What moto 5.2.5 accepts in a template but never creates; anything else missing is a real failure.
SKIPPED_BY_MOTO = {
    "AWS::CDK::Metadata",
    "AWS::S3::BucketPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::TopicPolicy",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
}


@pytest.mark.slow
@pytest.mark.rehearsal
def test_dev_stage_deploys_to_moto_with_the_real_cdk_cli(tmp_path: Path, policy_artifacts: dict[str, Path]) -> None:
    if not (ROOT / "node_modules" / ".bin" / "cdk").exists():
        pytest.fail("node_modules/.bin/cdk missing: run `npm ci` (make install does)")
    report_path = tmp_path / "rehearsal.json"
    command = [sys.executable, "scripts/rehearse_deploy.py", "--model-artifact", str(policy_artifacts["passed"])]
    result = subprocess.run(
        [*command, "--json", str(report_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["missing"] == []
    assert all(info["status"] == "CREATE_COMPLETE" for info in report["stacks"].values())
    exists = report["exists"]
    assert exists["bucket"] and exists["bucket_encryption"] == "aws:kms" and exists["kms_key_rotation"] == [True]
    assert exists["model_image"].endswith("/pytorch-inference:2.6.0-cpu-py312")
    assert exists["model_env_stage"] == "Dev" and exists["endpoint_status"] == "InService"
    assert exists["dashboard"] == ["rl-autoscaler-dev"] and exists["topic_kms"] == [True]
    skipped_types = {entry.split()[0] for entries in report["skipped_by_moto"].values() for entry in entries}
    assert skipped_types == SKIPPED_BY_MOTO
    alarms = [e for e in report["skipped_by_moto"]["Dev-Monitoring"] if e.startswith("AWS::CloudWatch::Alarm")]
    assert len(alarms) == 8 and exists["alarms"] == []  # in the template, never created by moto
