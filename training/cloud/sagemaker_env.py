"""What a SageMaker training container tells the job through its environment.

SageMaker sets ``SM_MODEL_DIR`` (tarred into ``model.tar.gz`` after the job), ``SM_OUTPUT_DATA_DIR`` (tarred
into ``output.tar.gz``), one ``SM_CHANNEL_<NAME>`` directory per input channel, the hyperparameters as JSON in
``SM_HPS``, the hosts of the job in ``SM_HOSTS`` (JSON list, e.g. ``["algo-1","algo-2"]``) and this host's name
in ``SM_CURRENT_HOST``. Outside SageMaker none of these is set and ``SageMakerEnv.in_sagemaker`` is False.

Hyperparameter values arrive as JSON values or strings; keys beginning with ``sagemaker_`` belong to the
container toolkit (program, submit directory, region) and are dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CHECKPOINT_DIR = "/opt/ml/checkpoints"


@dataclass(frozen=True)
class SageMakerEnv:
    model_dir: Path | None = None
    output_data_dir: Path | None = None
    channels: dict[str, Path] = field(default_factory=dict)
    """Input channels by lower-case name (``SM_CHANNEL_TRACES`` -> "traces")."""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    hosts: tuple[str, ...] = ()
    current_host: str = ""

    @property
    def in_sagemaker(self) -> bool:
        return self.model_dir is not None

    @property
    def is_multi_host(self) -> bool:
        return len(self.hosts) > 1

    @property
    def head_host(self) -> str:
        """The first host in SM_HOSTS starts the Ray head; the others join it."""
        return self.hosts[0] if self.hosts else self.current_host

    @property
    def is_head(self) -> bool:
        return not self.hosts or self.current_host == self.head_host

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SageMakerEnv:
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = env.get(name, "").strip()
            return Path(value) if value else None

        hosts = tuple(_json(env, "SM_HOSTS", list) or ())
        if not all(isinstance(h, str) and h for h in hosts):
            raise ValueError(f"SM_HOSTS must be a JSON list of host names, got {env.get('SM_HOSTS')!r}")
        if len(set(hosts)) != len(hosts):
            raise ValueError(f"SM_HOSTS lists a host twice: {env.get('SM_HOSTS')!r}")
        current = env.get("SM_CURRENT_HOST", "").strip()
        if hosts and not current:
            raise ValueError("SM_HOSTS is set but SM_CURRENT_HOST is not")
        if hosts and current not in hosts:
            raise ValueError(f"SM_CURRENT_HOST={current!r} is not one of SM_HOSTS {list(hosts)}")
        hps = _json(env, "SM_HPS", dict) or {}
        channels = {
            key[len("SM_CHANNEL_") :].lower(): Path(value)
            for key, value in env.items()
            if key.startswith("SM_CHANNEL_") and value.strip()
        }
        return cls(
            model_dir=path("SM_MODEL_DIR"),
            output_data_dir=path("SM_OUTPUT_DATA_DIR"),
            channels=channels,
            hyperparameters={k: v for k, v in hps.items() if not k.startswith("sagemaker_")},
            hosts=hosts,
            current_host=current,
        )


def _json(env: Mapping[str, str], name: str, kind: type) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON ({exc}): {raw[:200]!r}") from None
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a JSON {kind.__name__}, got {type(value).__name__}: {raw[:200]!r}")
    return value
