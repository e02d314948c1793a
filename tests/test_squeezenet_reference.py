"""SqueezeNet against torchvision (same ``features`` layout; ``classifier.1`` → ``head.fc``)."""

import pytest

from tests._oracle import check_layout_fixture, compare_with_oracle, needs_oracle


def test_torchvision_layout_fixture():
    check_layout_fixture("squeezenet1_1", "torchvision", "squeezenet1_1_torchvision")


@needs_oracle
@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_torchvision_outputs(name):
    res = compare_with_oracle(name, f"torchvision.models.{name}()", "torchvision")
    assert res["max_abs_diff"] <= 1e-4
