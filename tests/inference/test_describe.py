"""One describer names a refused value in every parser of what callers send, so the same value reads the same."""

from __future__ import annotations

import json

import pytest

from controller.config import FleetConfigError, validate_fleets
from inference import contract, economics
from inference.describe import describe
from inference.errors import BadRequest
from tests.inference.helpers import decision


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (False, "boolean false"),
        (7, "7"),
        (0.5, "0.5"),
        ("cheap", "string 'cheap'"),
        ("x" * 50, "string '" + "x" * 40 + "...'"),
        ([1, 2], "a list"),
        ((1, 2), "a list"),
        ({"a": 1}, "an object"),
        (b"raw", "bytes"),
    ],
)
def test_describe_names_the_kind_and_shows_short_values(value: object, text: str) -> None:
    assert describe(value) == text


def test_contract_economics_and_fleets_name_the_same_wrong_value_alike() -> None:
    with pytest.raises(BadRequest) as refused_request:
        contract.parse_request(json.dumps(decision(load_rpm="cheap")).encode(), "application/json")
    with pytest.raises(economics.EconomicsError) as refused_economics:
        economics.parse("cheap", "fleets[0].economics")
    with pytest.raises(FleetConfigError) as refused_fleets:
        validate_fleets("cheap")
    for error in (refused_request, refused_economics, refused_fleets):
        assert str(error.value).endswith("got string 'cheap'")
