"""Stage configs from cdk.json: valid as shipped; an unknown stage or a bad value fails, naming it."""

from __future__ import annotations

import copy

import pytest

from stacks.config import StageConfigError, select_stages
from tests.infra.helpers import CDK_CONTEXT, STAGES


def _stages() -> dict:
    return copy.deepcopy(CDK_CONTEXT["stages"])


def test_shipped_configs_are_valid_and_ordered() -> None:
    configs = select_stages(_stages(), None, {})
    assert [c.name for c in configs] == list(STAGES)
    assert [c.endpoint_name for c in configs] == ["rl-autoscaler-dev", "rl-autoscaler-staging", "rl-autoscaler-prod"]
    assert all(c.account is None for c in configs)


def test_cdk_json_carries_the_recommended_feature_flags() -> None:
    import json
    import tarfile
    from pathlib import Path

    import aws_cdk

    bundle = next((Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
    with tarfile.open(bundle) as tar:
        recommended = json.load(tar.extractfile("package/recommended-feature-flags.json"))
    assert {k: CDK_CONTEXT.get(k) for k in recommended} == recommended


def test_unknown_stage_fails_naming_it_and_the_known_ones() -> None:
    with pytest.raises(StageConfigError, match=r"unknown stage 'Qa'; known stages: Dev, Staging, Prod"):
        select_stages(_stages(), "Qa", {})


def test_selects_one_or_several_stages() -> None:
    assert [c.name for c in select_stages(_stages(), "Prod", {})] == ["Prod"]
    assert [c.name for c in select_stages(_stages(), "Dev,Staging", {})] == ["Dev", "Staging"]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("serving", "instance_count"), 9, r"stage 'Dev'.*instance_count \(9\) must lie within"),
        (("serving", "instance_type"), "c5.large", r"stage 'Dev'.*serving\.instance_type: String should match"),
        (("serving", "canary_instances"), 0, r"stage 'Dev'.*serving\.canary_instances: Input should be greater"),
        (("training", "max_wait_hours"), 0.5, r"max_wait_hours \(0\.5\) must be >= max_runtime_hours"),
        (("training", "preset"), "huge", r"training\.preset: Input should be 'quick' or 'full'"),
        (("alarms", "datapoints_to_alarm"), 9, r"datapoints_to_alarm \(9\) must be <= evaluation_minutes"),
        (("retention", "log_retention_days"), 31, r"retention\.log_retention_days"),
        (("removal_policy",), "keep", r"removal_policy: Input should be 'destroy' or 'retain'"),
        (("alarm_subscribers",), ["not-an-email"], r"alarm_subscribers\.0: String should match"),
        (("account",), "12345", r"account: String should match"),
        (("serving", "surprise"), 1, r"serving\.surprise: Extra inputs are not permitted"),
    ],
)
def test_invalid_value_fails_naming_stage_and_field(path: tuple[str, ...], value: object, message: str) -> None:
    stages = _stages()
    target = stages["Dev"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(StageConfigError, match=message):
        select_stages(stages, "Dev", {})


def test_missing_section_is_named() -> None:
    stages = _stages()
    del stages["Prod"]["alarms"]
    with pytest.raises(StageConfigError, match=r"stage 'Prod': alarms: Field required"):
        select_stages(stages, "Prod", {})


def test_no_stages_in_context_fails() -> None:
    with pytest.raises(StageConfigError, match="no 'stages'"):
        select_stages(None, None, {})


def test_account_from_environment_must_be_valid() -> None:
    assert select_stages(_stages(), "Dev", {"CDK_DEFAULT_ACCOUNT": "111122223333"})[0].account == "111122223333"
    with pytest.raises(StageConfigError, match=r"account: String should match"):
        select_stages(_stages(), "Dev", {"CDK_DEFAULT_ACCOUNT": "abc"})
