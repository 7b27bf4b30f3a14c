"""Typed, validated per-stage configuration, read from the `stages` object of `cdk.json` context.

One frozen `StageConfig` per stage (Dev, Staging, Prod). Bad values fail synth before any construct exists,
with a message naming the stage and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from stacks.config_sections import (
    AlarmConfig,
    ControllerSettings,
    Frozen,
    RetentionConfig,
    ServingConfig,
    TrainingConfig,
)
from stacks.fleets_file import validate_stage_fleets

REGION = "eu-west-1"
"""Every stage deploys to this region (the image URIs in stacks/images.py and the layer ARNs in stacks/layers.py
are for it)."""


def refuse_other_region(region: str, what: str) -> None:
    """Refuse a region other than ``REGION`` for what is pinned for it alone, e.g. "images"."""
    if region != REGION:
        raise ValueError(f"{what} are pinned for {REGION} only, not {region!r}")


MODEL_PACKAGE_GROUP = "rl-autoscaler"
"""The project's SageMaker model package group (stacks/registry.py), which every stage registers in."""

_SUBSCRIBER = (
    r"^([^@\s:]+@[^@\s]+\.[^@\s]+"  # an e-mail address
    r"|arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}"  # an existing SNS topic (e.g. AWS Chatbot's)
    r"|ssm:/[A-Za-z0-9_./-]{1,1000})$"  # an SSM String parameter in the stage account holding an e-mail address
)
_PRINCIPAL_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}$"
STAGES_REQUIRING_SUBSCRIBERS = ("Staging", "Prod")
"""Stages whose synth fails without an alarm subscriber: their alarms must reach a person."""


class StageConfigError(ValueError):
    """A stage name or a stage config value that synth cannot accept."""


def endpoint_name_of(stage: str) -> str:
    """The stage's one stable endpoint name: callers and dashboards find the endpoint by it."""
    return f"rl-autoscaler-{stage.lower()}"


class StageConfig(Frozen):
    name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]{1,15}$")
    account: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    """Target account; None takes CDK_DEFAULT_ACCOUNT (the credentials the CLI runs with)."""
    removal_policy: Literal["destroy", "retain"]
    """What happens to the bucket and key when the stage is deleted."""
    require_passed_gate: bool
    """Refuse an artifact whose metadata does not record a passed evaluation gate."""
    registry_account: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    """Account of the project's model package group (the Registry stack); None: the stage's own account."""
    key_admins: tuple[Annotated[str, Field(pattern=_PRINCIPAL_ARN)], ...] = ()
    """IAM roles or users that administer the stage key (never use it); empty: the account, so IAM decides."""
    key_users: tuple[Annotated[str, Field(pattern=_PRINCIPAL_ARN)], ...] = ()
    """IAM roles or users, besides the stage's own roles, that may decrypt its data (e.g. reading data capture)."""
    alarm_subscribers: tuple[Annotated[str, Field(pattern=_SUBSCRIBER)], ...] = ()
    """Who the alarm topic reaches: e-mail addresses, existing SNS topic ARNs (e.g. the topic an AWS Chatbot
    channel listens to), or `ssm:/name` (an SSM String parameter of the stage account holding an e-mail address,
    resolved at deploy). Staging and Prod refuse to synth without one; `-c alarm_subscribers=` overrides."""
    serving: ServingConfig
    training: TrainingConfig
    alarms: AlarmConfig
    retention: RetentionConfig
    fleets: tuple[dict[str, Any], ...] = ()
    """The fleets the stage's controller scales (schema: controller/config.py): an inline list, or the path of a
    JSON or YAML file holding the list, relative to cdk.json; empty: the controller idles."""
    controller: ControllerSettings = ControllerSettings()

    @model_validator(mode="before")
    @classmethod
    def _fleets(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "fleets" in data and isinstance(data.get("name"), str):
            return {**data, "fleets": validate_stage_fleets(data["fleets"], endpoint_name_of(data["name"]))}
        return data

    @model_validator(mode="after")
    def _subscribers_and_bake(self) -> StageConfig:
        if not self.alarm_subscribers and self.name in STAGES_REQUIRING_SUBSCRIBERS:
            raise ValueError(
                f"alarm_subscribers: stage {self.name} needs at least one alarm subscriber (an e-mail address, an "
                "SNS topic ARN or ssm:/<parameter>) in cdk.json or -c alarm_subscribers='{\""
                + self.name
                + "\": [...]}': its alarms must reach a person"
            )
        serving, alarms = self.serving, self.alarms
        if serving.deployment_guardrails and not any(f["mode"] != "off" for f in self.fleets):
            raise ValueError(
                f"fleets: stage {self.name} updates its endpoint blue/green (serving.instance_count > 1), whose "
                "rollback alarms treat no traffic as breaching: configure at least one fleet not 'off' (a simulated "
                "fleet in shadow mode is enough) so that the controller's calls reach the canary during the bake"
            )
        if serving.deployment_guardrails:
            bake = alarms.evaluation_minutes + self.controller.publication_lag_minutes
            if serving.canary_wait_minutes < bake:
                raise ValueError(
                    f"serving.canary_wait_minutes ({serving.canary_wait_minutes}) must be at least the rollback "
                    f"alarms' window alarms.evaluation_minutes ({alarms.evaluation_minutes}) plus CloudWatch's "
                    f"publication lag controller.publication_lag_minutes ({self.controller.publication_lag_minutes})"
                )
            if alarms.evaluation_minutes <= self.controller.publication_lag_minutes:
                raise ValueError(
                    f"alarms.evaluation_minutes ({alarms.evaluation_minutes}) must exceed "
                    f"controller.publication_lag_minutes ({self.controller.publication_lag_minutes}): a rollback "
                    "alarm's window treats no data as breaching, and minutes not yet published must not roll back"
                )
        return self

    @property
    def controller_function_name(self) -> str:
        """Stable: the monitoring stack alarms on it without a cross-stack reference."""
        return f"rl-autoscaler-{self.name.lower()}-controller"

    @property
    def controller_dlq_name(self) -> str:
        return f"rl-autoscaler-{self.name.lower()}-controller-dlq"

    @property
    def modes_parameter_name(self) -> str:
        """SSM parameter on-call edits to switch fleets or the stage to shadow or off without a deploy."""
        return f"/rl-autoscaler/{self.name.lower()}/controller/modes"

    @property
    def endpoint_name(self) -> str:
        """The one stable physical name: callers and dashboards find the endpoint by it."""
        return endpoint_name_of(self.name)

    @property
    def variant_name(self) -> str:
        return "primary"


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(config)"
        message = str(item["ctx"]["error"]) if item["type"] == "value_error" else item["msg"]
        # Messages of the fleet schema and of the cross checks already name their path (fleets[1].target...).
        parts.append(message if message.startswith(("fleets[", "fleets:")) else f"{where}: {message}")
    return "; ".join(parts)


def parse_stage_config(name: str, raw: Mapping[str, Any], environ: Mapping[str, str]) -> StageConfig:
    """Validate one stage's raw context object; the account falls back to CDK_DEFAULT_ACCOUNT."""
    if not isinstance(raw, Mapping):
        raise StageConfigError(f"stage {name!r}: config must be an object, got {type(raw).__name__}")
    data = dict(raw)
    if data.get("account") is None and environ.get("CDK_DEFAULT_ACCOUNT"):
        data["account"] = environ["CDK_DEFAULT_ACCOUNT"]
    try:
        return StageConfig(name=name, **data)
    except ValidationError as error:
        raise StageConfigError(f"invalid config for stage {name!r}: {_describe(error)}") from None
    except TypeError as error:  # e.g. a `name` key inside the stage object
        raise StageConfigError(f"invalid config for stage {name!r}: {error}") from None


def with_alarm_subscribers(stages: Mapping[str, Any], override: Any) -> Mapping[str, Any]:
    """`stages` with `-c alarm_subscribers=` applied: JSON (or an object) `{"<Stage>": ["who", ...]}`.

    How CI names who is paged without committing addresses: e.g. a repository variable holding that JSON.
    """
    if override in (None, ""):
        return stages
    if isinstance(override, str):
        try:
            override = json.loads(override)
        except json.JSONDecodeError as error:
            raise StageConfigError(
                f'-c alarm_subscribers: not JSON ({error.msg}); expected {{"<Stage>": [...]}}'
            ) from None
    if not isinstance(override, Mapping) or not all(isinstance(v, list) for v in override.values()):
        raise StageConfigError('-c alarm_subscribers: expected an object {"<Stage>": ["who", ...]}')
    unknown = sorted(set(override) - set(stages))
    if unknown:
        raise StageConfigError(f"-c alarm_subscribers names unknown stage(s) {', '.join(map(repr, unknown))}")
    return {
        name: ({**raw, "alarm_subscribers": override[name]} if name in override and isinstance(raw, Mapping) else raw)
        for name, raw in stages.items()
    }


def select_stages(
    stages: Mapping[str, Any] | None, selected: str | None, environ: Mapping[str, str]
) -> list[StageConfig]:
    """All stages from context, or only `selected` (`-c stage=Dev`); an unknown name fails with the known ones."""
    if not stages or not isinstance(stages, Mapping):
        raise StageConfigError("cdk.json context has no 'stages' object: nothing to synthesise")
    names = [n.strip() for n in selected.split(",")] if selected else list(stages)
    unknown = [n for n in names if n not in stages]
    if unknown:
        raise StageConfigError(f"unknown stage {', '.join(map(repr, unknown))}; known stages: {', '.join(stages)}")
    if len(set(names)) != len(names) or any(not re.fullmatch(r"[A-Za-z0-9]+", n) for n in names):
        raise StageConfigError(f"invalid stage selection {selected!r}")
    return [parse_stage_config(n, stages[n], environ) for n in names]
