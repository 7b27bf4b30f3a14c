"""Typed, validated per-stage configuration, read from the `stages` object of `cdk.json` context.

One frozen `StageConfig` per stage (Dev, Staging, Prod). Bad values fail synth before any construct exists,
with a message naming the stage and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inference.contract import OBSERVATION_LAG_MINUTES

REGION = "eu-west-1"
"""Every stage deploys to this region (the image URIs in stacks/images.py are for it)."""
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
_INSTANCE_TYPE = r"^ml\.[a-z0-9-]+\.[a-z0-9]+$"


class StageConfigError(ValueError):
    """A stage name or a stage config value that synth cannot accept."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServingConfig(_Frozen):
    instance_type: str = Field(pattern=_INSTANCE_TYPE)
    """Endpoint instance type, e.g. ml.c5.large."""
    instance_count: int = Field(ge=1, le=20)
    """Initial instance count; above 1 the endpoint updates blue/green with canary and auto-rollback."""
    min_instances: int = Field(ge=1, le=20)
    """Lower bound of endpoint auto scaling."""
    max_instances: int = Field(ge=1, le=20)
    """Upper bound of endpoint auto scaling."""
    target_invocations_per_instance: float = Field(gt=0)
    """Target tracking value for SageMakerVariantInvocationsPerInstance (invocations per instance per minute)."""
    scale_in_cooldown_s: int = Field(ge=0, le=3600)
    scale_out_cooldown_s: int = Field(ge=0, le=3600)
    data_capture_percent: int = Field(ge=0, le=100)
    """Share of requests and responses captured to the bucket (0 disables capture)."""
    canary_instances: int = Field(default=1, ge=1, le=10)
    """Instances that take the new model first during a blue/green update (at most half of min_instances)."""
    canary_wait_minutes: int = Field(ge=0, le=60)
    """Baking period after the canary step, watching the rollback alarms (>= their window + publication lag)."""
    termination_wait_minutes: int = Field(ge=0, le=60)
    """How long the old fleet is kept after the full traffic shift (a quick manual rollback window)."""
    max_deployment_minutes: int = Field(ge=10, le=480)
    """Maximum time a blue/green update may take before SageMaker abandons it."""
    serverless_memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] | None = None
    """Set: SageMaker Serverless Inference with this memory instead of instances (no data capture, no network
    isolation, no canary: see docs/infra.md); None: dedicated instances."""
    serverless_max_concurrency: int = Field(default=2, ge=1, le=200)
    """Concurrent invocations a serverless endpoint serves (the controller makes one call a minute)."""
    model_package_version: Annotated[int, Field(ge=1)] | Literal["latest"] | None = None
    """The approved version of the project's model package group the stage serves (scripts/lifecycle.py deploys
    it); "latest": the newest approved one; None: only what a deploy names (-c model_package_version=N)."""

    @model_validator(mode="after")
    def _bounds(self) -> ServingConfig:
        if not self.min_instances <= self.instance_count <= self.max_instances:
            raise ValueError(
                f"instance_count ({self.instance_count}) must lie within "
                f"min_instances ({self.min_instances}) and max_instances ({self.max_instances})"
            )
        if self.deployment_guardrails and 2 * self.canary_instances > self.min_instances:
            raise ValueError(
                f"canary_instances ({self.canary_instances}) must be at most half of min_instances "
                f"({self.min_instances}): the canary is the smaller part of the fleet"
            )
        if self.serverless and self.data_capture_percent > 0:
            raise ValueError(
                f"data_capture_percent ({self.data_capture_percent}) must be 0 with serverless_memory_mb: "
                "Serverless Inference does not support data capture"
            )
        if self.serverless and not self.instance_count == self.min_instances == self.max_instances == 1:
            raise ValueError(
                "instance_count, min_instances and max_instances must be 1 with serverless_memory_mb: a serverless "
                "endpoint scales by concurrency (serverless_max_concurrency), not by instances"
            )
        return self

    @property
    def serverless(self) -> bool:
        return self.serverless_memory_mb is not None

    @property
    def deployment_guardrails(self) -> bool:
        """Blue/green with canary and auto-rollback needs a fleet of more than one instance."""
        return self.instance_count > 1 and not self.serverless


class TrainingConfig(_Frozen):
    instance_type: str = Field(pattern=_INSTANCE_TYPE)
    instance_count: int = Field(ge=1, le=16)
    """Number of training hosts; above 1 the hosts form one Ray cluster (the first in SM_HOSTS is the head)."""
    use_spot: bool
    """Managed spot training; the job resumes from /opt/ml/checkpoints after an interruption."""
    max_runtime_hours: float = Field(gt=0, le=120)
    max_wait_hours: float = Field(gt=0, le=240)
    """With spot: runtime plus time spent waiting for spot capacity (must be >= max_runtime_hours)."""
    volume_gb: int = Field(ge=5, le=1024)
    preset: Literal["quick", "full"]
    """Training preset passed to training/sagemaker_entry.py as a hyperparameter."""
    seed: int = Field(ge=0)
    ray_token_generation: int = Field(default=1, ge=1)
    """Raise it and deploy to rotate the stage's Ray auth token (written at deploy to ray/auth_token)."""

    @model_validator(mode="after")
    def _spot(self) -> TrainingConfig:
        if self.use_spot and self.max_wait_hours < self.max_runtime_hours:
            raise ValueError(
                f"max_wait_hours ({self.max_wait_hours}) must be >= max_runtime_hours ({self.max_runtime_hours}) "
                "when use_spot is true"
            )
        return self


class AlarmConfig(_Frozen):
    error_5xx_percent: float = Field(gt=0, le=100)
    error_4xx_percent: float = Field(gt=0, le=100)
    model_latency_p99_ms: float = Field(gt=0)
    overhead_latency_p99_ms: float = Field(gt=0)
    cpu_percent: float = Field(gt=0)
    """CloudWatch's CPUUtilization is summed over cores: 200 is two fully busy vCPUs."""
    memory_percent: float = Field(gt=0, le=100)
    no_invocations_minutes: int = Field(ge=5, le=1440)
    evaluation_minutes: int = Field(ge=1, le=60)
    """Window of 1-minute datapoints that endpoint alarms look at."""
    datapoints_to_alarm: int = Field(ge=1, le=60)
    fallback_percent: float = Field(default=1, gt=0, le=100)
    """Alarm (and blue/green rollback) when more decisions than this came from the shield's fallback rule: the
    policy failed or returned non-finite values, i.e. a broken model answering HTTP 200."""
    shield_override_percent: float = Field(default=25, gt=0, le=100)
    """Alarm when the shield overrode more of the policy's decisions than this (a policy out of its depth)."""

    @model_validator(mode="after")
    def _window(self) -> AlarmConfig:
        if self.datapoints_to_alarm > self.evaluation_minutes:
            raise ValueError(
                f"datapoints_to_alarm ({self.datapoints_to_alarm}) must be <= evaluation_minutes "
                f"({self.evaluation_minutes})"
            )
        return self


class RetentionConfig(_Frozen):
    checkpoint_days: int = Field(ge=1)
    data_capture_days: int = Field(ge=1)
    training_output_days: int = Field(ge=1)
    noncurrent_version_days: int = Field(ge=1)
    """Old (overwritten or deleted) object versions, e.g. replaced artifacts, expire after this."""
    access_log_days: int = Field(ge=1)
    log_retention_days: Literal[7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653]
    """CloudWatch Logs retention of the training state machine's execution log."""


def _bounded(name: str, default: float) -> Any:
    """A controller setting within the bounds the controller itself enforces (controller.config.BOUNDS)."""
    from controller.config import BOUNDS

    low, high = BOUNDS[name]
    return Field(default=default, ge=low, le=high)


class ControllerSettings(_Frozen):
    """The controller Lambda of the stage (stacks/controller.py); its fleets are the stage's `fleets`."""

    publication_lag_minutes: int = _bounded("publication_lag_minutes", OBSERVATION_LAG_MINUTES)
    """Minutes CloudWatch may take to publish a complete minute: younger minutes are not used."""
    stale_after_minutes: int = _bounded("stale_after_minutes", 10)
    """A fleet whose newest complete minute is older than this holds (never acts) and counts StaleDataHold."""
    endpoint_timeout_s: float = _bounded("endpoint_timeout_s", 2)
    endpoint_max_attempts: int = _bounded("endpoint_max_attempts", 2)
    memory_mb: int = Field(default=512, ge=128, le=10240)
    timeout_s: int = Field(default=50, ge=10, le=55)
    """Below the one-minute schedule, so a run ends before the next one starts."""
    reserved_concurrency: int | None = Field(default=1, ge=1, le=1)
    """1: runs never overlap. null only for accounts whose Lambda concurrency quota cannot reserve any."""
    fallback_alarm_percent: float = Field(default=50, gt=0, le=100)
    """Alarm when more than this share of the deciding fleets fell back to the rule, 3 of 5 minutes."""
    stale_alarm_minutes: int = Field(default=10, ge=1, le=60)
    """Alarm when some fleet held on stale data in every minute of this window."""
    handback_after_failed_runs: int = _bounded("handback_after_failed_runs", 5)
    """An active fleet that failed this many runs in a row (unreadable, stale, change refused) is handed back to
    its own scaling and held in shadow (controller/handback.py)."""

    @model_validator(mode="after")
    def _timing(self) -> ControllerSettings:
        if self.stale_after_minutes <= self.publication_lag_minutes:
            raise ValueError(
                f"stale_after_minutes ({self.stale_after_minutes}) must exceed publication_lag_minutes "
                f"({self.publication_lag_minutes}), or every fleet would hold"
            )
        if self.endpoint_timeout_s * self.endpoint_max_attempts >= self.timeout_s:
            raise ValueError(
                f"endpoint_timeout_s x endpoint_max_attempts ({self.endpoint_timeout_s:g} x "
                f"{self.endpoint_max_attempts}) must stay below timeout_s ({self.timeout_s})"
            )
        return self


ROOT = Path(__file__).resolve().parent.parent
"""cdk.json's directory: a stage's `fleets` file is named relative to it."""


def load_fleets_file(value: str, root: Path = ROOT) -> Any:
    """The fleets list of a JSON or YAML file that cdk.json names (`"fleets": "fleets/prod.yaml"`: relative to
    cdk.json's directory, or absolute)."""
    path = root / value
    if path.suffix not in (".json", ".yaml", ".yml"):
        raise ValueError(f"fleets: {value!r} must name a .json, .yaml or .yml file (or be an inline list)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"fleets: cannot read {path} ({error.strerror})") from None
    import yaml

    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ValueError(f"fleets: {path} is not valid {path.suffix[1:].upper()} ({error})") from None


def _validate_fleets(raw: Any, endpoint_name: str) -> tuple[dict[str, Any], ...]:
    """The controller's own schema (controller/config.py, pure Python) validates the fleets: one definition, which
    the controller runs again on the shipped object at run time."""
    if isinstance(raw, str):
        raw = load_fleets_file(raw)
    if isinstance(raw, (list, tuple)) and not raw:
        return ()
    from controller.config import FleetConfigError, validate_fleets

    try:
        return tuple(validate_fleets(raw, endpoint_name))
    except FleetConfigError as error:
        raise ValueError(str(error)) from None


def endpoint_name_of(stage: str) -> str:
    """The stage's one stable endpoint name: callers and dashboards find the endpoint by it."""
    return f"rl-autoscaler-{stage.lower()}"


class StageConfig(_Frozen):
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
            return {**data, "fleets": _validate_fleets(data["fleets"], endpoint_name_of(data["name"]))}
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
