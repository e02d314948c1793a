"""Outputs equal to torchvision's / timm's under the same weights (needs the oracle env)."""

import pytest

from tests._oracle import compare_with_oracle, needs_oracle

CASES = [
    ("resnet18", "torchvision.models.resnet18()", "torchvision"),
    ("resnet50", "torchvision.models.resnet50()", "torchvision"),
    ("resnext50_32x4d", "torchvision.models.resnext50_32x4d()", "torchvision"),
    ("wide_resnet50_2", "torchvision.models.wide_resnet50_2()", "torchvision"),
    ("resnet50d", "timm.create_model('resnet50d')", "timm"),
    ("resnet34", "timm.create_model('resnet34')", "timm"),
]


@needs_oracle
@pytest.mark.slow
@pytest.mark.parametrize("name,ref,source", CASES)
def test_same_outputs_as_reference(name, ref, source):
    result = compare_with_oracle(name, ref, source, input_size=(3, 96, 96))
    assert result["max_abs_diff"] <= 1e-4
