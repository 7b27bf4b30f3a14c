"""The model artifact the serving stack deploys, resolved from context without importing torch or ray.

Two sources, both explicit (no synth-time lookups):
- a local `model.tar.gz` (context `model_artifact`, default `artifacts/model/model.tar.gz`), uploaded as an asset;
- an S3 object (context `model_s3_uri` + `model_sha256`), as promoted from one stage to the next.
Either way the sidecar `metadata.json` is read (context `model_metadata`, default beside the local tarball), and
stages with `require_passed_gate` refuse an artifact whose evaluation gate did not pass.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DEFAULT_ARTIFACT = Path("artifacts/model/model.tar.gz")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>\S+\.tar\.gz)$")


class ArtifactError(ValueError):
    """The model artifact or its metadata cannot be deployed."""


@dataclass(frozen=True)
class ModelArtifact:
    sha256: str
    metadata: Mapping[str, Any]
    local_path: Path | None = None
    s3_uri: str | None = None
    package_version: int | None = None
    """The model package version of the project's group this artifact is (context model_package_version)."""

    @property
    def model_version(self) -> str:
        return str(self.metadata["model_version"])

    @property
    def gate_passed(self) -> bool:
        return self.metadata["gate"]["passed"] is True

    @property
    def s3_bucket_and_key(self) -> tuple[str, str]:
        match = _S3_URI.match(self.s3_uri or "")
        if not match:
            raise ArtifactError(f"not an S3 artifact: {self.s3_uri!r}")
        return match["bucket"], match["key"]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(path: Path) -> dict[str, Any]:
    """Read and check the keys the stacks rely on (the full schema belongs to inference/artifact.py)."""
    if not path.is_file():
        raise ArtifactError(f"model metadata not found: {path} (it is written beside model.tar.gz)")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ArtifactError(f"model metadata {path} is not valid JSON: {error}") from None
    if not isinstance(metadata, dict):
        raise ArtifactError(f"model metadata {path} must be a JSON object")
    for key in ("contract_version", "model_version", "gate"):
        if key not in metadata:
            raise ArtifactError(f"model metadata {path} lacks {key!r}")
    if not isinstance(metadata["model_version"], str) or not metadata["model_version"]:
        raise ArtifactError(f"model metadata {path}: 'model_version' must be a non-empty string")
    gate = metadata["gate"]
    if not isinstance(gate, dict) or not isinstance(gate.get("passed"), bool):
        raise ArtifactError(f"model metadata {path}: 'gate.passed' must be true or false")
    return metadata


def _check_sha(value: Any) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ArtifactError(f"context model_sha256 must be 64 lowercase hex characters, got {value!r}")
    return value


def _package_version(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if not str(value).isdigit() or int(value) < 1:
        raise ArtifactError(f"context model_package_version must be a package version (1, 2, ...), got {value!r}")
    return int(value)


def resolve_artifact(context: Mapping[str, Any], root: Path) -> ModelArtifact:
    """Find the artifact named in context (paths relative to the repository root)."""
    artifact = _resolve(context, root)
    version = _package_version(context.get("model_package_version"))
    return artifact if version is None else replace(artifact, package_version=version)


def _resolve(context: Mapping[str, Any], root: Path) -> ModelArtifact:
    s3_uri = context.get("model_s3_uri")
    sha = context.get("model_sha256")
    metadata_path = context.get("model_metadata")
    if s3_uri:
        if not _S3_URI.match(str(s3_uri)):
            raise ArtifactError(f"context model_s3_uri must look like s3://bucket/path/model.tar.gz, got {s3_uri!r}")
        if sha is None:
            raise ArtifactError("context model_s3_uri needs model_sha256 (the sha256 of that model.tar.gz)")
        _check_sha(sha)
        if not metadata_path:
            raise ArtifactError(
                "context model_s3_uri needs model_metadata: a local copy of the metadata.json published beside it"
            )
        return ModelArtifact(sha256=_check_sha(sha), metadata=read_metadata(root / metadata_path), s3_uri=str(s3_uri))

    path = root / str(context.get("model_artifact") or DEFAULT_ARTIFACT)
    if not path.is_file():
        raise ArtifactError(
            f"no model artifact at {path}. Run `make demo` (trains, evaluates and packages the quick policy into "
            "artifacts/model/), or pass -c model_artifact=PATH/model.tar.gz, or "
            "-c model_s3_uri=s3://... -c model_sha256=... -c model_metadata=PATH/metadata.json"
        )
    digest = file_sha256(path)
    if sha is not None and _check_sha(sha) != digest:
        raise ArtifactError(f"{path} has sha256 {digest}, but context model_sha256 is {sha}")
    meta = root / metadata_path if metadata_path else path.with_name("metadata.json")
    return ModelArtifact(sha256=digest, metadata=read_metadata(meta), local_path=path)


def check_gate(artifact: ModelArtifact, stage: str, require_passed_gate: bool) -> None:
    """Staging and Prod (require_passed_gate) refuse a policy that did not pass the evaluation gate."""
    if require_passed_gate and not artifact.gate_passed:
        reason = artifact.metadata["gate"].get("reason", "no reason recorded")
        raise ArtifactError(
            f"stage {stage} refuses model {artifact.model_version}: its evaluation gate did not pass ({reason}). "
            "Deploy a policy that passed the gate, or synthesise and deploy Dev alone (-c stage=Dev), which "
            "accepts it."
        )
