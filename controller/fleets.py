"""The stage's fleets, out of the Lambda environment: one JSON object in the stage bucket, cached per container.

The controller stack writes `{"stage": "<Stage>", "fleets": [...]}` to `FLEETS_KEY` of the stage bucket at deploy
(sha256 checked; the bucket is versioned). Every run asks S3 for it with `If-None-Match: <ETag of the cached
copy>`: an unchanged object costs one 304 and no parsing; a changed one is read and parsed with the same schema as
synth (`controller.config.parse_fleets`, the stage's own endpoint included). A changed object that fails to read
or parse keeps the last good fleets and reports the error (metric `ConfigErrors`); with no good copy yet the run
cannot start and raises `FleetsUnavailable`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from controller.config import FleetConfig, FleetConfigError, parse_fleets

FLEETS_KEY = "config/controller-fleets.json"
"""Where the controller stack writes the stage's fleets in the stage bucket (read-only to the controller)."""


class FleetsUnavailable(RuntimeError):
    """No valid fleets object has been read yet: the run cannot start; the message says why."""


@dataclass(frozen=True)
class Loaded:
    fleets: tuple[FleetConfig, ...]
    version: str
    """The S3 ETag of the object the fleets came from."""
    error: str | None = None
    """Set when a newer object could not be used (the fleets are the last good ones)."""


def document(stage: str, fleets: list[dict[str, Any]]) -> bytes:
    """The object's bytes for a stage's validated fleets (what the stack ships; sorted keys: stable sha256)."""
    return json.dumps({"stage": stage, "fleets": fleets}, separators=(",", ":"), sort_keys=True).encode()


def parse_document(body: bytes, stage: str, endpoint_name: str) -> tuple[FleetConfig, ...]:
    """The fleets of one object; FleetConfigError naming what is wrong."""
    try:
        doc = json.loads(body)
    except ValueError as err:
        raise FleetConfigError(f"not valid JSON ({err})") from None
    if not isinstance(doc, dict) or set(doc) != {"stage", "fleets"}:
        raise FleetConfigError('must be a JSON object {"stage": ..., "fleets": [...]}')
    if doc["stage"] != stage:
        raise FleetConfigError(f"stage: the object is stage {doc['stage']!r}'s, this controller is {stage!r}'s")
    return parse_fleets(doc["fleets"], stage, endpoint_name)


class FleetSource:
    """Reads the fleets object of one stage (s3 client injected); one instance per execution environment."""

    def __init__(self, s3: Any, bucket: str, key: str, stage: str, endpoint_name: str) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.stage, self.endpoint_name = stage, endpoint_name
        self._good: Loaded | None = None
        self.reads = 0
        """Objects read and parsed (a 304 is not counted)."""

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def load(self) -> Loaded:
        """The current fleets (the cached ones when the object is unchanged); raises FleetsUnavailable."""
        condition = {"IfNoneMatch": self._good.version} if self._good else {}
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=self.key, **condition)
            body, version = obj["Body"].read(), obj["ETag"]
        except Exception as err:
            response = getattr(err, "response", None) or {}
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = response.get("Error", {}).get("Code")
            if self._good is not None and (status == 304 or code in ("304", "NotModified")):
                return self._good
            return self._failed(f"{self.where}: cannot read ({code or type(err).__name__}: {str(err)[:200]})")
        try:
            fleets = parse_document(body, self.stage, self.endpoint_name)
        except FleetConfigError as err:
            return self._failed(f"{self.where} (ETag {version}): {err}")
        self.reads += 1
        self._good = Loaded(fleets=fleets, version=version)
        return self._good

    def _failed(self, message: str) -> Loaded:
        if self._good is None:
            raise FleetsUnavailable(message)
        return Loaded(fleets=self._good.fleets, version=self._good.version, error=message)
