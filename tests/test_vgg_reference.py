"""VGG against torchvision's with the same weights (skipped without the oracle env).

At 64×64 inputs to keep CPU time down: the adaptive 7×7 pool and the whole classifier are still
exercised (from a 2×2 map), and every weight is used."""

import pytest

from tests._oracle import compare_with_oracle, needs_oracle

NAMES = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


@needs_oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_vgg_matches_torchvision(name):
    result = compare_with_oracle(name, f"torchvision.models.{name}()", "torchvision", (3, 64, 64))
    assert result["max_abs_diff"] <= 1e-4
