"""The AWS-managed public Lambda layers the controller runs on, pinned, with their unzipped sizes.

Lambda counts the function's code and all its layers, unzipped, against one limit of 262,144,000 bytes
(250 MiB). `stacks/controller_asset.py` checks the staged code plus the figures below against it at synth, so
a layer bump that no longer fits fails synth, not the deployment. Each figure says where it comes from.

Bump a pin: read the version for eu-west-1 / Python 3.12 / x86_64 from the layer's own table (links below),
check it once with `aws lambda get-layer-version-by-arn --arn <arn> --region eu-west-1`, update the size.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.config import REGION, refuse_other_region

LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000
"""Function code plus all layers, unzipped (Lambda quotas: 250 MB)."""
MIB = 1 << 20


@dataclass(frozen=True)
class PublicLayer:
    name: str
    account: str
    version: int
    release: str
    """The library release the layer version carries."""
    unzipped_mib: float
    """Unzipped size, an upper bound used by the synth-time size check."""
    source: str
    """Where the ARN and the size come from."""

    def arn(self, region: str = REGION) -> str:
        refuse_other_region(region, "layer versions")
        return f"arn:aws:lambda:{region}:{self.account}:layer:{self.name}:{self.version}"


NUMPY_LAYER = PublicLayer(
    name="AWSSDKPandas-Python312",
    account="336392948345",
    version=26,
    release="AWS SDK for pandas 3.16.1 (numpy 2, pandas, pyarrow)",
    unzipped_mib=204.0,
    source=(
        "ARN: aws-sdk-pandas.readthedocs.io/en/stable/layers.html, 3.16.1 table (version 26 read from its "
        "af-south-1 row: the eu-west-1 row could not be read offline; confirm with get-layer-version-by-arn before "
        "the first deploy); size: 204 MB unzipped for 3.16.1, measured in aws/aws-sdk-pandas issue #3331 "
        "(3.16.0 was 167 MB)"
    ),
)
"""numpy for the controller (the decision contract, the fallback rule, the simulator core)."""

POWERTOOLS_LAYER = PublicLayer(
    name="AWSLambdaPowertoolsPythonV3-python312-x86_64",
    account="017000801446",
    version=27,
    release="Powertools for AWS Lambda (Python) V3",
    unzipped_mib=20.0,
    source=(
        "ARN: Powertools docs (docs/index.md, layer table, v3 layer 27; the same version number in every "
        "region); size: about 15 MB unzipped as published layer tables report, 20 MB budgeted"
    ),
)
"""Structured logs, EMF metrics and cached SSM parameters (Logger, Metrics, Parameters)."""

CONTROLLER_LAYERS = (NUMPY_LAYER, POWERTOOLS_LAYER)


def layers_unzipped_bytes() -> int:
    return sum(int(layer.unzipped_mib * MIB) for layer in CONTROLLER_LAYERS)
