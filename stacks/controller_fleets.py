"""The stage's fleets as one object in the stage bucket, written at deploy: out of the Lambda's 4 KB environment.

The validated fleets (`StageConfig.fleets`, the controller's own schema) are written at synth to a file named by
its sha256 and uploaded as a CDK asset; at deploy a `StageFiles` custom resource copies it to `FLEETS_KEY` in the
stage bucket (KMS, versioned) and refuses a copy whose sha256 differs. The controller reads it with a conditional
GET every run (controller/fleets.py), so a deploy that changes only the fleets changes neither the function nor
its permissions. The template holds the asset's key and sha256, never the fleets: its size does not grow with them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from controller.fleets import FLEETS_KEY, document
from stacks.config import StageConfig
from stacks.stage_files import checked_copy


def fleets_file(config: StageConfig, out_dir: Path | None = None) -> tuple[Path, str]:
    """(path of the staged object, its sha256); the same fleets give the same file and asset hash."""
    body = document(config.name, [dict(f) for f in config.fleets])
    digest = hashlib.sha256(body).hexdigest()
    out_dir = out_dir or Path(tempfile.gettempdir()) / "rl-autoscaler-fleets"
    path = out_dir / digest / "fleets.json"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(body)
        tmp.replace(path)
    return path, digest


class ShippedFleets(Construct):
    """The asset and the custom resource that writes it to the stage bucket; `copy` is the resource."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        path, digest = fleets_file(config)
        asset = s3_assets.Asset(self, "Asset", path=str(path))
        self.copy = checked_copy(
            self,
            "Writer",
            config=config,
            key=key,
            purpose="controller-fleets",
            source=(asset.s3_bucket_name, asset.s3_object_key),
            target_key=FLEETS_KEY,
            sha256=digest,
            sids=("ReadFleetsAsset", "WriteAndCheckFleets"),
        )
        self.sha256 = digest
