"""Pinned SageMaker PyTorch images: eu-west-1 registry, full framework version, CPU, the newest there are."""

from __future__ import annotations

import re

import pytest

from stacks.images import DLC_REGISTRY, inference_image, training_image

IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr\.eu-west-1\.amazonaws\.com/"
    r"(?P<repo>pytorch-(training|inference)):(?P<version>\d+\.\d+\.\d+)-cpu-(?P<py>py3\d+)$"
)


@pytest.mark.parametrize(
    ("image", "repo", "version", "py"),
    [
        (training_image(), "pytorch-training", "2.10.0", "py313"),  # newest training image (end of patch 2027-01-21)
        (inference_image(), "pytorch-inference", "2.6.0", "py312"),  # newest PyTorch inference image that exists
    ],
)
def test_image_is_pinned_to_a_full_version_in_eu_west_1(image: str, repo: str, version: str, py: str) -> None:
    match = IMAGE.match(image)
    assert match, image
    assert match["registry"] == DLC_REGISTRY == "763104351884"
    assert (match["repo"], match["version"], match["py"]) == (repo, version, py)


def test_other_regions_are_refused() -> None:
    with pytest.raises(ValueError, match="eu-west-1 only"):
        training_image("us-east-1")
