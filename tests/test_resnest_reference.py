"""Outputs equal to timm's ResNeSt under the same weights (needs the oracle env)."""

import pytest

from tests._oracle import compare_with_oracle, needs_oracle

CASES = [
    "resnest14d",
    "resnest50d",
    "resnest50d_4s2x40d",  # radix 4, cardinality 2, avg pool before the split attention
    "resnest50d_1s4x24d",  # radix 1 (sigmoid), cardinality 4
    "resnest101e",
    "resnest200e",
    "resnest269e",
]


@needs_oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_same_outputs_as_timm(name):
    result = compare_with_oracle(name, f"timm.create_model('{name}')", "timm", input_size=(3, 96, 96))
    print(name, result)
    assert result["max_abs_diff"] <= 1e-4
