"""Pinned SageMaker images: eu-west-1 registries, full tags, and AWS patch support that has not ended."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from stacks.images import INFERENCE, PINNED, RETIRED, TRAINING, inference_image, training_image, unsupported

URI = re.compile(r"^(?P<registry>\d{12})\.dkr\.ecr\.eu-west-1\.amazonaws\.com/(?P<repo>[a-z-]+):(?P<tag>\S+)$")


def test_no_pinned_image_is_past_its_end_of_patch_today() -> None:
    assert unsupported(dt.datetime.now(dt.UTC).date()) == []


def test_the_check_refuses_the_inference_image_served_before() -> None:
    """pytorch-inference 2.6.0 (extended to 2026-06-30) would fail the test above on any day after its end."""
    today = dt.datetime.now(dt.UTC).date()
    old = {"inference": RETIRED["pytorch-inference:2.6.0-cpu-py312"]}
    assert unsupported(today, old) == [
        "inference: pytorch-inference:2.6.0-cpu-py312 is supported 2025-01-29 to 2026-06-30 "
        "(DLC support policy: PyTorch Inference 2.6 extended to 2026-06-30 (last TorchServe image))"
    ]
    assert unsupported(dt.date(2026, 6, 30), old) == []  # its last supported day


def test_training_support_outlasts_june_2027() -> None:
    assert TRAINING.end_of_patch > dt.date(2027, 6, 30)
    assert not RETIRED["pytorch-training:2.10.0-cpu-py313"].supported_on(dt.date(2027, 6, 30))


@pytest.mark.parametrize(
    ("uri", "registry", "repo", "tag"),
    [
        (training_image(), "763104351884", "pytorch", "2.13-cpu-amzn2023-sagemaker"),
        (inference_image(), "141502667606", "sagemaker-scikit-learn", "1.4-2-py312-cpu-py3"),
    ],
)
def test_image_uri_is_pinned_in_eu_west_1(uri: str, registry: str, repo: str, tag: str) -> None:
    match = URI.match(uri)
    assert match, uri
    assert (match["registry"], match["repo"], match["tag"]) == (registry, repo, tag)


def test_full_framework_versions_are_recorded() -> None:
    assert (TRAINING.framework_version, INFERENCE.framework_version) == ("2.13.0", "1.4.2")
    assert set(PINNED) == {"training", "inference"}


def test_other_regions_are_refused() -> None:
    with pytest.raises(ValueError, match="eu-west-1 only"):
        training_image("us-east-1")
