"""The fleet schema (one definition for synth and run time) and the run settings from the environment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.config import (
    SIMULATED_NAMESPACE,
    FleetConfigError,
    Settings,
    SettingsError,
    parse_fleets,
    validate_fleets,
)
from tests.controller.fakes import fleet_spec


def test_valid_fleet_parses_with_defaults_and_sorted_dimensions() -> None:
    spec = fleet_spec("checkout")
    del spec["mode"]
    (fleet,) = parse_fleets([spec], "Dev")
    assert fleet.mode == "shadow"  # the safe default
    assert fleet.kind == "ecs" and fleet.target == {"kind": "ecs", "cluster": "prod", "service": "checkout"}
    assert fleet.requests.metric_name == "RequestCount"
    assert [k for k, _ in fleet.requests.dimensions] == ["LoadBalancer", "TargetGroup"]
    assert [m.metric_name for m in fleet.failed] == ["HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"]
    assert fleet.requests.as_metric()["Dimensions"][0] == {"Name": "LoadBalancer", "Value": "app/lb/1"}


def test_validation_is_idempotent_so_synth_output_parses_at_run_time() -> None:
    raw = [fleet_spec("a"), {**fleet_spec("b"), "target": {"kind": "simulated", "trace": "nasa"}}]
    del raw[1]["requests"], raw[1]["failed"]
    once = validate_fleets(raw)
    assert validate_fleets(json.loads(json.dumps(once))) == once
    assert once[1]["target"] == {"kind": "simulated", "trace": "nasa", "scale": 1.0, "seed": 0, "start": None}


def test_simulated_fleet_defaults_to_the_simulators_metrics_with_the_stage() -> None:
    spec = {k: v for k, v in fleet_spec("sim").items() if k not in ("requests", "failed")}
    spec["target"] = {"kind": "simulated", "trace": "worldcup", "scale": 2, "seed": 7, "start": "1998-06-10"}
    (fleet,) = parse_fleets([spec], "Dev")
    assert fleet.requests.namespace == SIMULATED_NAMESPACE
    assert dict(fleet.requests.dimensions) == {"Stage": "Dev", "Fleet": "sim"}
    assert [m.metric_name for m in fleet.failed] == ["FailedRequests"]
    (explicit,) = parse_fleets([{**spec, "failed": []}], "Dev")
    assert explicit.failed == ()  # an explicit empty list is kept


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: f["target"].update(kind="ecss"),
            "fleets[1].target.kind: unknown target kind 'ecss' (known: asg, ecs, sagemaker, simulated)",
        ),
        (lambda f: f.update(capacity_rpm_per_machin=3), "fleets[1]: unknown field(s) ['capacity_rpm_per_machin']"),
        (lambda f: f.pop("max_machines"), "fleets[1]: missing required field(s) max_machines"),
        (lambda f: f.update(min_machines=9, max_machines=3), "fleets[1].min_machines: 9 is above max_machines 3"),
        (lambda f: f.update(max_change_per_minute=0), "fleets[1].max_change_per_minute: must be an integer in [1,"),
        (lambda f: f.update(min_machines=True), "fleets[1].min_machines: must be an integer"),
        (lambda f: f.update(capacity_rpm_per_machine=0), "fleets[1].capacity_rpm_per_machine: must be a number"),
        (lambda f: f.update(mode="on"), "fleets[1].mode: must be one of off, shadow, active, got 'on'"),
        (lambda f: f.update(name="has space"), "fleets[1].name: must be 1-63 letters"),
        (lambda f: f.pop("requests"), "fleets[1]: missing required field 'requests'"),
        (lambda f: f["requests"].update(metric="x"), "fleets[1].requests: unknown field(s) ['metric']"),
        (lambda f: f["failed"][1]["dimensions"].update(Bad=""), "fleets[1].failed[1].dimensions.Bad"),
        (lambda f: f["target"].pop("service"), "fleets[1].target: missing required field(s) service"),
        (lambda f: f.update(target={"kind": "asg", "group": "g", "x": 1}), "fleets[1].target: unknown field(s) ['x']"),
        (lambda f: f.update(target={"kind": "simulated", "trace": "nasaa"}), "fleets[1].target.trace: must be one of"),
        (lambda f: f.update(target={"kind": "simulated", "trace": "nasa", "start": "July"}), "fleets[1].target.start"),
        (lambda f: f.update(target={"kind": "sagemaker", "endpoint": "e", "variant": 3}), "fleets[1].target.variant"),
        (lambda f: f.update(name="a"), "fleets[1].name: 'a' is already the name of fleets[0]"),
        (lambda f: f.update(economics={"warmup": 5}), "fleets[1].economics.warmup: unknown key"),
        (lambda f: f.update(economics={"machine_cost": "0.1"}), "fleets[1].economics.machine_cost: must be a number"),
        (
            lambda f: f.update(economics={"downtime_cost": -1}),
            "fleets[1].economics.downtime_cost: must be in [0, 1e+07]",
        ),
        (lambda f: f.update(economics=[]), "fleets[1].economics: must be an object"),
    ],
)
def test_invalid_fleet_is_refused_naming_the_path(change: Any, message: str) -> None:
    raw = [fleet_spec("a"), fleet_spec("b")]
    change(raw[1])
    with pytest.raises(FleetConfigError) as err:
        validate_fleets(raw)
    assert str(err.value).startswith(message), str(err.value)


def test_economics_are_optional_kept_as_given_and_complete_once_parsed() -> None:
    from inference.economics import DEFAULTS

    given = {"warmup_latency": 10, "downtime_cost": 1000}
    (validated,) = validate_fleets([fleet_spec("a", economics=given)])
    assert validated["economics"] == {"warmup_latency": 10, "downtime_cost": 1000.0}
    assert validate_fleets(json.loads(json.dumps([validated]))) == [validated]  # synth output parses at run time
    (fleet,) = parse_fleets([validated], "Dev")
    assert fleet.economics == {**DEFAULTS, **given}
    (plain,) = parse_fleets([fleet_spec("b")], "Dev")
    assert "economics" not in validate_fleets([fleet_spec("b")])[0] and plain.economics == DEFAULTS


def test_fleets_must_be_a_list() -> None:
    with pytest.raises(FleetConfigError, match="fleets: must be a list"):
        validate_fleets({"name": "a"})


ENV = {
    "STAGE": "Dev",
    "ENDPOINT_NAME": "rl-autoscaler-dev",
    "STATE_BUCKET": "stage-bucket",
    "MODES_PARAMETER": "/rl-autoscaler/dev/controller/modes",
    "HISTORY_MINUTES": "16",
}


def test_settings_from_env_with_defaults() -> None:
    settings = Settings.from_env({**ENV, "FLEETS_KEY": "config/controller-fleets.json"})
    assert (settings.stage, settings.history_minutes, settings.fleets_key) == (
        "Dev",
        16,
        "config/controller-fleets.json",
    )
    assert (settings.publication_lag_minutes, settings.stale_after_minutes) == (2, 10)
    assert (settings.endpoint_timeout_s, settings.endpoint_max_attempts) == (2.0, 2)
    assert settings.fleets == ()  # the handler fills them from the fleets object


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STAGE": ""}, "STAGE: environment variable missing"),
        ({"FLEETS_KEY": ""}, "FLEETS_KEY: environment variable missing"),
        ({"HISTORY_MINUTES": "sixteen"}, "HISTORY_MINUTES: 'sixteen' is not a valid int"),
        ({"HISTORY_MINUTES": "0"}, "HISTORY_MINUTES: must be in 1..10080"),
        ({"ENDPOINT_TIMEOUT_S": "0"}, "ENDPOINT_TIMEOUT_S"),
        ({"STALE_AFTER_MINUTES": "2"}, "STALE_AFTER_MINUTES (2) must exceed PUBLICATION_LAG_MINUTES (2)"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**ENV, "FLEETS_KEY": "k", **env})
    assert message in str(err.value)


def _on(target: dict[str, Any], name: str = "x") -> dict[str, Any]:
    return fleet_spec(name) | {"target": target}


@pytest.mark.parametrize(
    ("fleets", "message"),
    [
        (
            [_on({"kind": "ecs", "cluster": "prod", "service": "a"}, "a"),
             _on({"kind": "ecs", "cluster": "prod", "service": "a"}, "b")],
            "fleets[1].target: fleet 'b' names the same target as fleet 'a' (ecs/prod/a)",
        ),
        (
            [_on({"kind": "sagemaker", "endpoint": "RL-Autoscaler-Dev", "variant": "primary"})],
            "fleets[0].target.endpoint: RL-Autoscaler-Dev is this stage's own decision endpoint",
        ),
        (
            [_on({"kind": "ecs", "cluster": "prod", "service": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web"})],
            "fleets[0].target.service: must be the ECS service's name, not an ARN or a path: use 'web'",
        ),
        (
            [_on({"kind": "ecs", "cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod", "service": "web"})],
            "fleets[0].target.cluster: must be the ECS cluster's name, not an ARN or a path: use 'prod'",
        ),
        (
            [_on({"kind": "asg", "group": "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:"
                  "0f1e:autoScalingGroupName/web-asg"})],
            "fleets[0].target.group: must be the Auto Scaling group's name, not an ARN or a path: use 'web-asg'",
        ),
        (
            [_on({"kind": "sagemaker", "endpoint": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/search",
                  "variant": "primary"})],
            "fleets[0].target.endpoint: must be the SageMaker endpoint's name, not an ARN or a path: use 'search'",
        ),
        (
            [_on({"kind": "ecs", "cluster": "prod", "service": "web app"})],
            "fleets[0].target.service: 'web app' is not a valid ECS service name",
        ),
    ],
)  # fmt: skip
def test_run_time_parser_refuses_what_synth_refuses(fleets: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(FleetConfigError) as err:
        parse_fleets(fleets, "Dev", "rl-autoscaler-dev")
    assert message in str(err.value)


def test_settings_bounds_have_one_owner_that_synth_and_run_time_share() -> None:
    from controller.config import BOUNDS
    from stacks.config_sections import ControllerSettings

    for name, (low, high) in BOUNDS.items():
        if name == "history_minutes":  # from the artifact's metadata, not the stage config
            continue
        metadata = {type(m).__name__: m for m in ControllerSettings.model_fields[name].metadata}
        assert (metadata["Ge"].ge, metadata["Le"].le) == (low, high), name
        with pytest.raises(SettingsError, match=name.upper()):
            Settings.from_env({**ENV, "FLEETS_KEY": "k", name.upper(): str(high + 1)})


def test_out_of_range_economics_are_refused_at_run_time_naming_the_path() -> None:
    with pytest.raises(FleetConfigError, match=r"fleets\[0\]\.economics\.downtime_percent: must be in \[0, 100\]"):
        parse_fleets([fleet_spec("a", economics={"downtime_percent": 150})], "Dev", "rl-autoscaler-dev")
