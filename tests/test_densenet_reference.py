"""DenseNet against torchvision's with the same weights (skipped without the oracle env)."""

import pytest

from tests._oracle import compare_with_oracle, needs_oracle


@needs_oracle
@pytest.mark.parametrize("name", ["densenet121",
                                  pytest.param("densenet161", marks=pytest.mark.slow),
                                  pytest.param("densenet169", marks=pytest.mark.slow),
                                  pytest.param("densenet201", marks=pytest.mark.slow)])
def test_densenet_matches_torchvision(name):
    result = compare_with_oracle(name, f"torchvision.models.{name}()", "torchvision", (3, 224, 224))
    assert result["max_abs_diff"] <= 1e-4


@needs_oracle
def test_memory_efficient_densenet_matches_torchvision():
    result = compare_with_oracle("densenet121", "torchvision.models.densenet121(memory_efficient=True)",
                                 "torchvision", (3, 64, 64), memory_efficient=True)
    assert result["max_abs_diff"] <= 1e-4
