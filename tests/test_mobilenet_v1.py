import pytest
import torch

import cnnzoo
from cnnzoo.analysis.flops import count_macs
from cnnzoo.layers import DepthwiseSeparableConv


def test_mobilenet_v1_count_and_macs_match_table_1():
    model = cnnzoo.create_model("mobilenet_v1", device="meta")
    assert cnnzoo.count_params(model) == 4_231_976  # timm mobilenetv1_100; paper Table 1/6: 4.2 M
    assert round(count_macs(model, (3, 224, 224)) / 1e6) == 569  # paper: 569 M mult-adds
    blocks = [b for s in model.blocks for b in s]
    assert len(blocks) == 13
    assert [b.stride for b in blocks] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]


@pytest.mark.parametrize("alpha, params, mmacs", [
    # Table 6: 0.75 → 2.6 M / 325 M, 0.5 → 1.3 M / 149 M, 0.25 → 0.5 M / 41 M
    (0.75, 2_585_560, 325), (0.5, 1_331_592, 149), (0.25, 470_072, 41), (1.25, 6_270_840, 880),
])
def test_width_multiplier(alpha, params, mmacs):
    model = cnnzoo.create_model("mobilenet_v1", width_mult=alpha, device="meta")
    assert cnnzoo.count_params(model) == params
    assert round(count_macs(model, (3, 224, 224)) / 1e6) == mmacs


def test_resolution_multiplier_sets_the_input_size_only():
    model = cnnzoo.create_model("mobilenet_v1", resolution_mult=4 / 7, device="meta")
    assert model.default_input_size == (3, 128, 128)
    assert cnnzoo.count_params(model) == 4_231_976
    # Table 7: 1.0 MobileNet-128 costs 186 M mult-adds
    assert round(count_macs(model, model.default_input_size) / 1e6) == 186
    with pytest.raises(ValueError, match="resolution_mult"):
        cnnzoo.create_model("mobilenet_v1", resolution_mult=0.1, device="meta")
    with pytest.raises(ValueError, match="width_mult"):
        cnnzoo.create_model("mobilenet_v1", width_mult=0, device="meta")


def test_depthwise_separable_block():
    block = DepthwiseSeparableConv(8, 16, stride=2)
    assert block.conv_dw.groups == 8 and block.conv_dw.weight.shape == (8, 1, 3, 3)
    assert block.conv_pw.weight.shape == (16, 8, 1, 1)
    assert block(torch.randn(1, 8, 10, 10)).shape == (1, 16, 5, 5)
    skip = DepthwiseSeparableConv(8, 8, skip=True, pw_act=False, drop_path_rate=0.5)
    assert skip.has_skip and isinstance(skip.act2, torch.nn.Identity)
    skip.eval()
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        inner = skip.bn2(skip.conv_pw(skip.act1(skip.bn1(skip.conv_dw(x)))))
        assert torch.allclose(skip(x), inner + x)
