"""Pinned SageMaker PyTorch images: eu-west-1 registry, full framework version, CPU, one Python for both."""

from __future__ import annotations

import re

import pytest

from stacks.images import DLC_REGISTRY, PY_VERSION, TORCH_VERSION, inference_image, training_image

IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr\.eu-west-1\.amazonaws\.com/"
    r"(?P<repo>pytorch-(training|inference)):(?P<version>\d+\.\d+\.\d+)-cpu-(?P<py>py3\d+)$"
)


@pytest.mark.parametrize(
    ("image", "repo"), [(training_image(), "pytorch-training"), (inference_image(), "pytorch-inference")]
)
def test_image_is_pinned_to_a_full_version_in_eu_west_1(image: str, repo: str) -> None:
    match = IMAGE.match(image)
    assert match, image
    assert match["registry"] == DLC_REGISTRY == "763104351884"
    assert match["repo"] == repo and match["version"] == TORCH_VERSION and match["py"] == PY_VERSION


def test_other_regions_are_refused() -> None:
    with pytest.raises(ValueError, match="eu-west-1 only"):
        training_image("us-east-1")
