"""SageMaker PyTorch deep learning container images for eu-west-1, pinned to full framework versions.

Resolved offline from the SageMaker SDK's image registry (sagemaker-core 2.27.0, October 2026,
`sagemaker/core/image_uri_config/pytorch.json`: registry 763104351884 for eu-west-1), in the form
`sagemaker.core.image_uris.retrieve("pytorch", region, version, py_version, instance_type, image_scope)` returns,
and checked against AWS's DLC framework support policy (docs/infra.md, "Supported images"):

- Training: PyTorch 2.10.0 on Python 3.13, the newest training image (GA 2026-01-21, end of patch 2027-01-21).
- Inference: PyTorch 2.6.0 on Python 3.12 (TorchServe), the newest PyTorch *inference* image there is: AWS
  published no PyTorch inference image after 2.6 (TorchServe is in maintenance), and extended 2.6's patch
  support to 2026-06-30 as the last one with TorchServe. The artifact needs no torch to serve (numpy weights,
  `inference.policy.NumpyPolicy`), so the two torch versions need not match.
"""

from __future__ import annotations

DLC_REGISTRY = "763104351884"
"""AWS Deep Learning Containers account that serves eu-west-1."""
TRAINING_TORCH = "2.10.0"
TRAINING_PY = "py313"
INFERENCE_TORCH = "2.6.0"
INFERENCE_PY = "py312"
INFERENCE_SUPPORT_ENDS = "2026-06-30"
"""End of patch of the newest PyTorch inference image (extended by AWS; the last TorchServe image)."""


def _image(repository: str, version: str, processor: str, py: str, region: str) -> str:
    if region != "eu-west-1":
        raise ValueError(f"images are pinned for eu-west-1 only, not {region!r}")
    return f"{DLC_REGISTRY}.dkr.ecr.{region}.amazonaws.com/{repository}:{version}-{processor}-{py}"


def training_image(region: str = "eu-west-1") -> str:
    """CPU training image: RLlib PPO samples on CPU env runners; the policy network is small."""
    return _image("pytorch-training", TRAINING_TORCH, "cpu", TRAINING_PY, region)


def inference_image(region: str = "eu-west-1") -> str:
    """CPU inference image: one decision is a tiny MLP forward pass (numpy)."""
    return _image("pytorch-inference", INFERENCE_TORCH, "cpu", INFERENCE_PY, region)


def ecr_repository_arn(repository: str, region: str = "eu-west-1") -> str:
    return f"arn:aws:ecr:{region}:{DLC_REGISTRY}:repository/{repository}"
