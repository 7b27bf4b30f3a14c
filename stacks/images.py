"""SageMaker PyTorch deep learning container images for eu-west-1, pinned to full framework versions.

Resolved offline from the SageMaker SDK's image registry (sagemaker-core 2.27.0,
`sagemaker/core/image_uri_config/pytorch.json`: registry 763104351884 for eu-west-1), in the form
`sagemaker.core.image_uris.retrieve("pytorch", region, version, py_version, instance_type, image_scope)` returns.
Training and inference use the same torch (2.6.0, Python 3.12), so a policy trained in the training image loads
in the inference image.
"""

from __future__ import annotations

DLC_REGISTRY = "763104351884"
"""AWS Deep Learning Containers account that serves eu-west-1."""
TORCH_VERSION = "2.6.0"
PY_VERSION = "py312"


def _image(repository: str, processor: str, region: str) -> str:
    if region != "eu-west-1":
        raise ValueError(f"images are pinned for eu-west-1 only, not {region!r}")
    return f"{DLC_REGISTRY}.dkr.ecr.{region}.amazonaws.com/{repository}:{TORCH_VERSION}-{processor}-{PY_VERSION}"


def training_image(region: str = "eu-west-1") -> str:
    """CPU training image: RLlib PPO samples on CPU env runners; the policy network is small."""
    return _image("pytorch-training", "cpu", region)


def inference_image(region: str = "eu-west-1") -> str:
    """CPU inference image: one decision is a tiny MLP forward pass."""
    return _image("pytorch-inference", "cpu", region)


def ecr_repository_arn(repository: str, region: str = "eu-west-1") -> str:
    return f"arn:aws:ecr:{region}:{DLC_REGISTRY}:repository/{repository}"
