"""The SageMaker images of eu-west-1 the stacks pin, with their AWS support dates: the one place for both.

URIs are resolved offline, in the form `sagemaker.core.image_uris.retrieve(framework, "eu-west-1", version,
image_scope=...)` of the SageMaker Python SDK 3.x (sagemaker-core 2.27.0) returns; tests/infra/test_lifecycle_cli.py
checks them against the SDK's registry in the SDK's venv. Support dates follow AWS's DLC framework support policy
(aws.github.io/deep-learning-containers, "Framework Support Policy": one year of patches after GA); a test fails
when a pinned image is past its end of patch (tests/infra/test_images.py).

- Training: PyTorch 2.13 on Amazon Linux 2023, SageMaker CPU variant (torch 2.13.0, the version requirements.txt
  pins; Python 3.12), GA 2026-07-20. It replaces pytorch-training 2.10.0 (end of patch 2027-01-21).
- Inference: scikit-learn 1.4-2 on Python 3.12, the smallest supported SageMaker image with numpy (2.1.0) and the
  SageMaker inference toolkit, which calls code/inference.py's model_fn/input_fn/predict_fn/output_fn. AWS moved it
  to the DLC release system on 2026-07-13. The handler needs no torch (numpy weights). It replaces
  pytorch-inference 2.6.0, the last TorchServe image, whose extended patch support ended 2026-06-30.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stacks.config import REGION, refuse_other_region

DLC_REGISTRY = "763104351884"
"""ECR account that serves AWS's Deep Learning Containers (the PyTorch images) in eu-west-1."""


@dataclass(frozen=True)
class Image:
    registry: str
    """ECR account that serves the image in eu-west-1 (sagemaker-core's image_uri_config)."""
    repository: str
    tag: str
    framework_version: str
    """Full version of the framework inside (the tag of an AL2023 image names the minor only)."""
    python: str
    """Interpreter of the image, as a venv name suffix (.venv-py312 runs the code that image runs)."""
    ga: dt.date
    source: str
    extended_to: dt.date | None = None
    """End of patch where AWS extended it beyond the support policy's one year after GA."""

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def end_of_patch(self) -> dt.date:
        """The last day AWS patches the image: one year after GA (28 February after a GA of 29 February) unless
        extended."""
        if self.extended_to is not None:
            return self.extended_to
        leap_day = (self.ga.month, self.ga.day) == (2, 29)
        return self.ga.replace(year=self.ga.year + 1, day=28 if leap_day else self.ga.day)

    def uri(self, region: str = REGION) -> str:
        refuse_other_region(region, "images")
        return f"{self.registry}.dkr.ecr.{region}.amazonaws.com/{self.repository}:{self.tag}"

    def repository_arn(self, partition: str = "aws", region: str = REGION) -> str:
        return f"arn:{partition}:ecr:{region}:{self.registry}:repository/{self.repository}"

    def supported_on(self, day: dt.date) -> bool:
        return self.ga <= day <= self.end_of_patch


TRAINING = Image(
    registry=DLC_REGISTRY,
    repository="pytorch",
    tag="2.13-cpu-amzn2023-sagemaker",
    framework_version="2.13.0",
    python="py312",
    ga=dt.date(2026, 7, 20),
    source="DLC PyTorch changelog (2.13, 2026-07-20) + support policy (one year of patches)",
)
INFERENCE = Image(
    registry="141502667606",
    repository="sagemaker-scikit-learn",
    tag="1.4-2-py312-cpu-py3",
    framework_version="1.4.2",
    python="py312",
    ga=dt.date(2026, 7, 13),
    source="DLC release notes (scikit-learn 1.4-2-py312, 2026-07-13) + support policy (one year of patches)",
)
RETIRED = {
    image.name: image
    for image in (
        Image(
            registry=DLC_REGISTRY,
            repository="pytorch-inference",
            tag="2.6.0-cpu-py312",
            framework_version="2.6.0",
            python="py312",
            ga=dt.date(2025, 1, 29),
            source="DLC support policy: PyTorch Inference 2.6 extended to 2026-06-30 (last TorchServe image)",
            extended_to=dt.date(2026, 6, 30),
        ),
        Image(
            registry=DLC_REGISTRY,
            repository="pytorch-training",
            tag="2.10.0-cpu-py313",
            framework_version="2.10.0",
            python="py313",
            ga=dt.date(2026, 1, 21),
            source="DLC support policy: PyTorch 2.10",
        ),
    )
}
"""Images the stacks pinned before, kept so the support check can show that it refuses them."""
PINNED = {"training": TRAINING, "inference": INFERENCE}
TRAINING_PY = TRAINING.python
INFERENCE_PY = INFERENCE.python


def training_image(region: str = REGION) -> str:
    """CPU training image: RLlib PPO samples on CPU env runners; the policy network is small."""
    return TRAINING.uri(region)


def inference_image(region: str = REGION) -> str:
    """CPU inference image: one decision is a tiny MLP forward pass (numpy)."""
    return INFERENCE.uri(region)


def unsupported(day: dt.date, images: dict[str, Image] = PINNED) -> list[str]:
    """The images of `images` outside AWS's patch support on `day`, each with its dates (empty: all supported)."""
    return [
        f"{name}: {image.repository}:{image.tag} is supported {image.ga} to {image.end_of_patch} ({image.source})"
        for name, image in images.items()
        if not image.supported_on(day)
    ]
