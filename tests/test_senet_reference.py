"""Outputs equal to timm's SE-ResNet / SE-ResNeXt / SENet-154 under the same weights (needs the oracle env)."""

import pytest

from tests._oracle import compare_with_oracle, needs_oracle

CASES = [
    "seresnet18",
    "seresnet34",
    "seresnet50",
    "seresnet101",
    "seresnet152",
    "seresnext50_32x4d",
    "seresnext101_32x4d",
    "senet154",
]


@needs_oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_same_outputs_as_timm(name):
    result = compare_with_oracle(name, f"timm.create_model('{name}')", "timm", input_size=(3, 96, 96))
    print(name, result)
    assert result["max_abs_diff"] <= 1e-4
