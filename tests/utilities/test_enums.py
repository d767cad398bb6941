"""LightningEnum and GradClipAlgorithmType."""

import pytest

from shim.utilities.enums import GradClipAlgorithmType, LightningEnum


def test_members_equal_their_value_in_any_case_and_hash_alike() -> None:
    assert GradClipAlgorithmType.NORM == "NORM" == GradClipAlgorithmType("norm")
    assert GradClipAlgorithmType.VALUE != "norm"
    assert {GradClipAlgorithmType.NORM: 1}["norm"] == 1
    assert isinstance(GradClipAlgorithmType.NORM, str)
    assert issubclass(GradClipAlgorithmType, LightningEnum)


def test_supported_types() -> None:
    assert GradClipAlgorithmType.supported_types() == ["value", "norm"]
    assert GradClipAlgorithmType.supported_type("value")
    assert not GradClipAlgorithmType.supported_type("Value")  # values match exactly


def test_from_str_by_name_value_or_either() -> None:
    assert GradClipAlgorithmType.from_str("norm") is GradClipAlgorithmType.NORM
    assert GradClipAlgorithmType.from_str("value", source="value") is GradClipAlgorithmType.VALUE
    assert GradClipAlgorithmType.from_str("VALUE", source="any") is GradClipAlgorithmType.VALUE
    with pytest.raises(ValueError, match=r"expected one of \['VALUE', 'NORM'\]"):
        GradClipAlgorithmType.from_str("l2")
    with pytest.warns(UserWarning, match=r"\['value', 'norm'\]"):
        assert GradClipAlgorithmType.try_from_str("l2", source="value") is None
