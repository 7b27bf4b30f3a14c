"""The SageMaker training task of the training state machine: what the CDK L2 task does not model.

A team trains on its own fleet by putting its trace (`timestamp,requests`, one row a minute) and its fleet file
(one fleet object of the controller's schema) under `team/` of the stage bucket and naming them in the
execution's input, relative to that prefix: `{"team": {"trace": "checkout/trace.csv", "fleet": "checkout/fleet.json"}}`.
The state machine then runs the job with two more input channels, `trace` and `fleet` (`training.train` reads
them as `--trace` and `--fleet`); without `team` it trains as before.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

TEAM_DATA = "team/"
"""Prefix of the stage bucket for teams' traces and fleet files (the training role reads it, nothing else)."""
TEAM_CHANNELS = ("trace", "fleet")
"""Input channels of a training run on a team's data, named by `$.team.<channel>` of the execution's input."""
TRAINING_LOG_FIELDS = ("iter", "timesteps", "episode_return", "profit_vs_oracle", "entropy", "kl", "steps_per_s")
"""Fields of the `train_iteration ...` line the training script prints once per iteration."""


def metric_definitions() -> list[tasks.MetricDefinition]:
    """One SageMaker metric per field of the training log line; the regex has exactly one capture group."""
    return [
        tasks.MetricDefinition(name=f"train:{field}", regex=rf"train_iteration.* {field}=([-+0-9.eE]+)")
        for field in TRAINING_LOG_FIELDS
    ]


class S3Uri(tasks.S3Location):
    """An S3 location that grants nothing: the training role's policy above says exactly what it may do."""

    def __init__(self, uri: str) -> None:
        super().__init__()
        self._uri = uri

    def bind(self, task: Any, *, for_reading: bool | None = None, for_writing: bool | None = None) -> Any:
        return tasks.S3LocationConfig(uri=self._uri)


class TrainingJobTask(tasks.SageMakerCreateTrainingJob):
    """Adds what the L2 task does not model: checkpoint config and managed spot training."""

    def __init__(self, scope: Construct, construct_id: str, *, extra: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._extra = extra

    def to_state_json(self, query_language: Any = None) -> Any:
        state = super().to_state_json(query_language)
        parameters = state["Parameters"]
        for key, value in self._extra.items():
            if isinstance(value, dict) and isinstance(parameters.get(key), dict):
                parameters[key] = {**parameters[key], **value}
            elif isinstance(value, list) and isinstance(parameters.get(key), list):
                parameters[key] = [*parameters[key], *value]
            else:
                parameters[key] = value
        return state


def team_channels(bucket_name: str) -> list[dict[str, Any]]:
    """The input channels of a run on a team's data, each a prefix under team/ named by the execution's input."""
    return [
        {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri.$": f"States.Format('s3://{bucket_name}/{TEAM_DATA}{{}}', $.team.{name})",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
        for name in TEAM_CHANNELS
    ]
