"""ShuffleNet V2 against torchvision (same layout; ``fc`` → ``head.fc``)."""

import pytest

from tests._oracle import check_layout_fixture, compare_with_oracle, needs_oracle


def test_torchvision_layout_fixture():
    check_layout_fixture("shufflenet_v2_x0_5", "torchvision", "shufflenet_v2_x0_5_torchvision")


@needs_oracle
@pytest.mark.parametrize("name", [
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
    pytest.param("shufflenet_v2_x1_5", marks=pytest.mark.slow),
    pytest.param("shufflenet_v2_x2_0", marks=pytest.mark.slow),
])
def test_torchvision_outputs(name):
    res = compare_with_oracle(name, f"torchvision.models.{name}()", "torchvision")
    assert res["max_abs_diff"] <= 1e-4
