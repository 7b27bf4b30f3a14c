"""Fixtures of the infrastructure tests: a packaged policy of their own, and each stage synthesised once.

jsii (the CDK's Node.js runtime) starts slowly, so the full app (Dev, Staging, Prod) is synthesised once per
session and every test reads that cloud assembly.
"""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # Node 20 works; the banner is noise

from pathlib import Path

import pytest

from tests.infra.helpers import Synthesised, package_test_policy, synth


@pytest.fixture(scope="session")
def policy_artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A random policy packaged twice by the real packager: with a passed and with a failed evaluation gate."""
    out = tmp_path_factory.mktemp("policy")
    return {
        "passed": package_test_policy(out / "passed", gate_passed=True),
        "failed": package_test_policy(out / "failed", gate_passed=False),
    }


@pytest.fixture(scope="session")
def app(policy_artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    """All three stages with the passed-gate artifact, synthesised with the cdk-nag checks."""
    return synth(tmp_path_factory.mktemp("cdk.out"), model_artifact=policy_artifacts["passed"])
