"""boto3 clients for one run: short timeouts, bounded retries (botocore's standard mode), built lazily.

Tests pass moto- or Stubber-backed clients through `Clients(overrides={...})`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from botocore.config import Config

CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 3
"""Attempts per API call (the first one included) for every client but the endpoint's."""
MAX_POOL_CONNECTIONS = 16
"""Enough for the threads that send endpoint chunks and metric batches at once."""


def client_config(
    read_timeout: float = READ_TIMEOUT_S, max_attempts: int = MAX_ATTEMPTS, connect_timeout: float = CONNECT_TIMEOUT_S
) -> Config:
    """botocore Config with short timeouts and standard-mode retries (throttling, 5xx and timeouts retried)."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},  # the first attempt included
        max_pool_connections=MAX_POOL_CONNECTIONS,
    )


class Clients:
    """Lazily built boto3 clients by service name (`cloudwatch`, `sagemaker-runtime`, `ssm`, `s3`, `ecs`, ...).

    `sagemaker-runtime` gets the endpoint's own timeout and attempts (ENDPOINT_TIMEOUT_S, ENDPOINT_MAX_ATTEMPTS);
    every other service the defaults above.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_timeout_s: float = 2.0,
        endpoint_max_attempts: int = 2,
        overrides: Mapping[str, Any] | None = None,
        session: Any = None,
    ) -> None:
        self.region = region
        self.endpoint_timeout_s = endpoint_timeout_s
        self.endpoint_max_attempts = endpoint_max_attempts
        self._clients: dict[str, Any] = dict(overrides or {})
        self._session = session
        self._lock = threading.Lock()

    def get(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._build(service)
            return self._clients[service]

    def _build(self, service: str) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session(region_name=self.region)
        if service == "sagemaker-runtime":
            config = client_config(read_timeout=self.endpoint_timeout_s, max_attempts=self.endpoint_max_attempts)
        else:
            config = client_config()
        return self._session.client(service, config=config)

    @property
    def cloudwatch(self) -> Any:
        return self.get("cloudwatch")

    @property
    def sagemaker_runtime(self) -> Any:
        return self.get("sagemaker-runtime")

    @property
    def ssm(self) -> Any:
        return self.get("ssm")

    @property
    def s3(self) -> Any:
        return self.get("s3")
