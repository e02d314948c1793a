"""Outputs equal to torchvision's and timm's with the same weights (oracle env only; skipped in CI).

Each test builds the reference, converts its state dict with cnnzoo's layout and compares the outputs
in eval mode. TF-ported timm models ("tf_…") are compared with ``tf_mode=True`` at even input sizes,
where TensorFlow's "SAME" padding is asymmetric.
"""

import pytest

from tests._oracle import compare_with_oracle, needs_oracle

TV = "torchvision.models.{}()"
TIMM = "timm.create_model('{}')"
slow = pytest.mark.slow

CASES = [
    # (cnnzoo name, reference expression, source, input side, kwargs)
    ("mobilenet_v2", TV.format("mobilenet_v2"), "torchvision", 224, {}),
    ("mobilenet_v3_large", TV.format("mobilenet_v3_large"), "torchvision", 224, {}),
    ("mobilenet_v3_small", TV.format("mobilenet_v3_small"), "torchvision", 224, {}),
    ("mnasnet0_5", TV.format("mnasnet0_5"), "torchvision", 160, {}),
    ("mnasnet0_75", TV.format("mnasnet0_75"), "torchvision", 160, {}),
    ("mnasnet1_0", TV.format("mnasnet1_0"), "torchvision", 224, {}),
    ("mnasnet1_3", TV.format("mnasnet1_3"), "torchvision", 160, {}),
    ("mnasnet1_0", TIMM.format("mnasnet_100"), "timm", 160, {}),
    ("mnasnet_a1", TIMM.format("mnasnet_a1"), "timm", 224, {}),
    ("efficientnet_b0", TV.format("efficientnet_b0"), "torchvision", 224, {}),
    ("efficientnet_b0", TIMM.format("efficientnet_b0"), "timm", 160, {}),
    ("efficientnet_b0", TIMM.format("tf_efficientnet_b0"), "timm", 224, {"tf_mode": True}),
    ("efficientnet_b1", TV.format("efficientnet_b1"), "torchvision", 240, {}),
    ("efficientnet_b2", TV.format("efficientnet_b2"), "torchvision", 128, {}),
    ("efficientnet_b3", TV.format("efficientnet_b3"), "torchvision", 128, {}),
    pytest.param("efficientnet_b4", TV.format("efficientnet_b4"), "torchvision", 128, {}, marks=slow),
    pytest.param("efficientnet_b5", TV.format("efficientnet_b5"), "torchvision", 128, {}, marks=slow),
    pytest.param("efficientnet_b6", TV.format("efficientnet_b6"), "torchvision", 128, {}, marks=slow),
    pytest.param("efficientnet_b7", TV.format("efficientnet_b7"), "torchvision", 128, {}, marks=slow),
    pytest.param("efficientnet_b8", TIMM.format("tf_efficientnet_b8"), "timm", 128, {"tf_mode": True}, marks=slow),
    pytest.param("efficientnet_l2", TIMM.format("tf_efficientnet_l2"), "timm", 64, {"tf_mode": True}, marks=slow),
    ("efficientnet_edgetpu_s", TIMM.format("efficientnet_es"), "timm", 224, {}),
    ("efficientnet_edgetpu_s", TIMM.format("tf_efficientnet_es"), "timm", 224, {"tf_mode": True}),
    ("efficientnet_edgetpu_m", TIMM.format("efficientnet_em"), "timm", 128, {}),
    ("efficientnet_edgetpu_l", TIMM.format("tf_efficientnet_el"), "timm", 128, {"tf_mode": True}),
    ("efficientnet_v2_s", TV.format("efficientnet_v2_s"), "torchvision", 128, {}),
    ("efficientnet_v2_s", TIMM.format("tf_efficientnetv2_s"), "timm", 128, {"tf_mode": True}),
    pytest.param("efficientnet_v2_m", TV.format("efficientnet_v2_m"), "torchvision", 128, {}, marks=slow),
    pytest.param("efficientnet_v2_l", TV.format("efficientnet_v2_l"), "torchvision", 96, {}, marks=slow),
    pytest.param("efficientnet_v2_xl", TIMM.format("efficientnetv2_xl"), "timm", 96, {"bn_eps": 1e-5}, marks=slow),
    pytest.param("efficientnet_v2_xl", TIMM.format("tf_efficientnetv2_xl"), "timm", 96, {"tf_mode": True},
                 marks=slow),
]


@needs_oracle
@pytest.mark.parametrize("name, ref, source, size, kwargs", CASES)
def test_matches_reference(name, ref, source, size, kwargs):
    result = compare_with_oracle(name, ref, source, (3, size, size), **kwargs)
    import cnnzoo

    print(f"{name} vs {ref} {kwargs}: max abs diff {result['max_abs_diff']:.3g}")
    assert result["ref_params"] == cnnzoo.model_info(name).params
    assert result["max_abs_diff"] <= 1e-4, result
