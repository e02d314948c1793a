"""MobileNet v1 against timm's ``mobilenetv1_*`` (same layout; timm uses ReLU6, hence ``act_layer``)."""

import pytest

from tests._oracle import check_layout_fixture, compare_with_oracle, needs_oracle


def test_timm_layout_fixture():
    check_layout_fixture("mobilenet_v1", "timm", "mobilenet_v1_timm", act_layer="relu6")


@needs_oracle
@pytest.mark.parametrize("alpha, ref", [(1.0, "mobilenetv1_100"), (1.25, "mobilenetv1_125")])
def test_timm_outputs(alpha, ref):
    res = compare_with_oracle("mobilenet_v1", f"timm.create_model({ref!r})", "timm", act_layer="relu6",
                              width_mult=alpha)
    assert res["max_abs_diff"] <= 1e-4
