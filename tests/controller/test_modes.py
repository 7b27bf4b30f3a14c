"""Modes: the SSM parameter read every run (moto), fleet overrides, the stage cap, and fail-safe shadow."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from controller import modes
from tests.controller.fakes import FakeSSM, fleets

NAME = "/rl-autoscaler/test/controller/modes"
A, B, C = fleets("a", "b", "c", mode="active")
OFF = fleets("d", mode="off")[0]
ALL = (A, B, C, OFF)


def effective(value: str | None) -> dict[str, str]:
    m = modes.read(FakeSSM(value=value), NAME, ALL)
    return {f.name: m.effective(f) for f in ALL}


def test_missing_parameter_keeps_the_configured_modes() -> None:
    assert effective(None) == {"a": "active", "b": "active", "c": "active", "d": "off"}


def test_fleet_overrides_and_the_stage_cap() -> None:
    got = effective('{"fleets": {"a": "shadow", "d": "active"}}')
    assert got == {"a": "shadow", "b": "active", "c": "active", "d": "active"}
    got = effective('{"stage": "shadow", "fleets": {"b": "off"}}')
    assert got == {"a": "shadow", "b": "off", "c": "shadow", "d": "off"}
    assert effective('{"stage": "off", "fleets": {"a": "active"}}') == dict.fromkeys("abcd", "off")
    assert effective('{"stage": null, "fleets": {}}') == {"a": "active", "b": "active", "c": "active", "d": "off"}
    assert effective('{"stage": "active"}')["d"] == "off"  # the stage caps, it never raises a fleet


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("{not json", "not JSON"),
        ('["shadow"]', "must be a JSON object"),
        ('{"stage": "paused"}', "stage: must be one of off, shadow, active"),
        ('{"fleet": {"a": "off"}}', "unknown key(s) ['fleet']"),
        ('{"fleets": {"a": "of"}}', "fleets.a: must be one of"),
        ('{"fleets": ["a"]}', "fleets: must be an object"),
    ],
)
def test_malformed_parameter_caps_every_fleet_at_shadow(value: str, error: str) -> None:
    m = modes.read(FakeSSM(value=value), NAME, ALL)
    assert m.error is not None and error in m.error
    assert {f.name: m.effective(f) for f in ALL} == {"a": "shadow", "b": "shadow", "c": "shadow", "d": "off"}


def test_unreadable_parameter_caps_every_fleet_at_shadow() -> None:
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameter")
    m = modes.read(FakeSSM(error=denied), NAME, ALL)
    assert "AccessDenied" in m.error and m.effective(A) == "shadow"


def test_an_unknown_fleet_name_is_an_error_that_caps_every_fleet_at_shadow() -> None:
    m = modes.read(FakeSSM(value='{"fleets": {"checkuot": "off"}}'), NAME, ALL)
    assert m.error == "fleets: no fleet of this stage is named 'checkuot'"
    assert m.effective(A) == "shadow"  # the typo meant to switch a fleet off: none may act


@pytest.mark.usefixtures("aws_env")
def test_against_moto_ssm_each_read_sees_the_latest_value() -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        assert modes.read(ssm, NAME, ALL).effective(A) == "active"  # not created yet
        ssm.put_parameter(Name=NAME, Type="String", Value=json.dumps({"stage": None, "fleets": {}}))
        assert modes.read(ssm, NAME, ALL).effective(A) == "active"
        # on-call at 3 a.m.: the whole stage to shadow, then fleet a off
        ssm.put_parameter(Name=NAME, Type="String", Overwrite=True, Value='{"stage": "shadow", "fleets": {}}')
        assert modes.read(ssm, NAME, ALL).effective(A) == "shadow"
        ssm.put_parameter(Name=NAME, Type="String", Overwrite=True, Value='{"stage": "shadow", "fleets": {"a": "off"}}')
        m = modes.read(ssm, NAME, ALL)
        assert (m.effective(A), m.effective(B)) == ("off", "shadow")


def test_mode_metric_values() -> None:
    assert [modes.mode_value(m) for m in ("off", "shadow", "active")] == [0, 1, 2]
