"""The sections of a stage config: serving, training, alarms, retention and the controller's settings.

Frozen pydantic models that refuse unknown keys; each cross-field rule of a section lives with the section, and the
rules across sections with `StageConfig` (stacks/config.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from inference.contract import OBSERVATION_LAG_MINUTES

INSTANCE_TYPE = r"^ml\.[a-z0-9-]+\.[a-z0-9]+$"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServingConfig(Frozen):
    instance_type: str = Field(pattern=INSTANCE_TYPE)
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


class TrainingConfig(Frozen):
    instance_type: str = Field(pattern=INSTANCE_TYPE)
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


class AlarmConfig(Frozen):
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


class RetentionConfig(Frozen):
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


class ControllerSettings(Frozen):
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
