"""The controller function's environment (the handler's contract): small and fixed, the fleets travel apart.

Settings only; the fleets are an object in the stage bucket (stacks/controller_fleets.py, FLEETS_KEY), so the
environment stays far below Lambda's 4 KB whatever the number of fleets. Synth fails if it ever exceeds it.
"""

from __future__ import annotations

from controller.fleets import FLEETS_KEY
from stacks.artifact import ArtifactError, ModelArtifact
from stacks.config import StageConfig
from stacks.controller_asset import ControllerPackageError
from stacks.metrics import CONTROLLER_NAMESPACE

ENVIRONMENT_LIMIT_BYTES = 4096
"""Lambda: all environment variables of a function together, keys and values."""


def history_minutes(artifact: ModelArtifact) -> int:
    """How many minutes of load_rpm the packaged policy uses (metadata `observation.history`)."""
    value = artifact.metadata.get("observation", {}).get("history")
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10080:
        raise ArtifactError(f"model metadata observation.history must be an integer in 1..10080, got {value!r}")
    return value


def trained_lag_minutes(artifact: ModelArtifact) -> int:
    """The observation lag the packaged policy was trained and scored with (metadata `observation.lag_minutes`;
    artifacts made before the simulator modelled the lag saw the minute just before the decision: 0)."""
    value = artifact.metadata.get("observation", {}).get("lag_minutes", 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 60:
        raise ArtifactError(f"model metadata observation.lag_minutes must be an integer in 0..60, got {value!r}")
    return value


def environment_bytes(environment: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in environment.items())


def controller_environment(config: StageConfig, artifact: ModelArtifact, bucket_name: str) -> dict[str, str]:
    """The environment the handler reads (controller.config.Settings.from_env); fails synth above Lambda's 4 KB."""
    settings = config.controller
    environment = {
        "STAGE": config.name,
        "ENDPOINT_NAME": config.endpoint_name,
        "STATE_BUCKET": bucket_name,
        "FLEETS_KEY": FLEETS_KEY,
        "MODES_PARAMETER": config.modes_parameter_name,
        "HISTORY_MINUTES": str(history_minutes(artifact)),
        "PUBLICATION_LAG_MINUTES": str(settings.publication_lag_minutes),
        "STALE_AFTER_MINUTES": str(settings.stale_after_minutes),
        "ENDPOINT_TIMEOUT_S": f"{settings.endpoint_timeout_s:g}",
        "ENDPOINT_MAX_ATTEMPTS": str(settings.endpoint_max_attempts),
        "HANDBACK_AFTER_FAILED_RUNS": str(settings.handback_after_failed_runs),
        "POWERTOOLS_SERVICE_NAME": "rl-autoscaler-controller",
        "POWERTOOLS_METRICS_NAMESPACE": CONTROLLER_NAMESPACE,
    }
    size = environment_bytes(environment)
    if size > ENVIRONMENT_LIMIT_BYTES:
        raise ControllerPackageError(
            f"stage {config.name}: the controller's environment is {size} bytes, above Lambda's "
            f"{ENVIRONMENT_LIMIT_BYTES}"
        )
    return environment
