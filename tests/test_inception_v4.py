"""Inception-v4 and Inception-ResNet-v2: parameter counts against timm, the residual blocks."""

import pytest
import torch

import cnnzoo
from cnnzoo.layers import DropPath
from cnnzoo.models.inception_v4 import InceptionResidual
from tests._oracle import check_layout_fixture


@pytest.mark.parametrize("name, params", [
    ("inception_v4", 42_679_816),          # timm inception_v4
    ("inception_resnet_v2", 55_843_464),   # timm inception_resnet_v2
])
def test_parameter_counts(name, params):
    assert cnnzoo.count_params(cnnzoo.create_model(name, device="meta")) == params


@pytest.mark.parametrize("name, chs", [
    ("inception_v4", [64, 160, 384, 1024, 1536]),
    ("inception_resnet_v2", [64, 192, 320, 1088, 1536]),
])
def test_grid_sizes_follow_the_figures(name, chs):
    model = cnnzoo.create_model(name, features_only=True, device="meta")
    feats = model(torch.empty(1, 3, 299, 299, device="meta"))
    assert [f.shape[1] for f in feats] == chs
    assert [f.shape[-1] for f in feats] == [147, 73 if name == "inception_v4" else 71, 35, 17, 8]


@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_default_and_small_sizes(name):
    model = cnnzoo.create_model(name, device="meta").eval()
    assert model(torch.empty(2, 3, 299, 299, device="meta")).shape == (2, 1000)
    for s in (75, 76, 90, 91):
        assert model(torch.empty(1, 3, s, s, device="meta")).shape == (1, 1000)
    with pytest.raises(ValueError, match="at least 75x75"):
        model(torch.empty(1, 3, 74, 74, device="meta"))


def test_inception_resnet_v2_blocks():
    model = cnnzoo.create_model("inception_resnet_v2", device="meta", drop_path_rate=0.2)
    blocks = [m for m in model.modules() if isinstance(m, InceptionResidual)]
    assert len(blocks) == 40
    assert [b.scale for b in blocks] == [0.17] * 10 + [0.10] * 20 + [0.20] * 9 + [1.0]
    assert isinstance(model.block8.act, torch.nn.Identity) and isinstance(model.repeat_2[0].act, torch.nn.ReLU)
    rates = [b.drop_path.drop_prob if isinstance(b.drop_path, DropPath) else 0.0 for b in blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.2) and rates == sorted(rates)
    # the residual projection is a plain 1×1 convolution with bias, back to the block's width
    assert model.repeat_1[0].conv2d.bias is not None and model.repeat_1[0].conv2d.out_channels == 1088


def test_inception_resnet_v2_residual_block_math():
    block = InceptionResidual(8, {"branch0": [(4, 1)], "branch1": [(4, 1), (6, 3)]}, scale=0.5).eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        expected = torch.relu(x + 0.5 * block.conv2d(torch.cat([block.branch0(x), block.branch1(x)], 1)))
        assert torch.allclose(block(x), expected)


def test_layout_fixtures():
    check_layout_fixture("inception_v4", "timm", "inception_v4_timm")
    check_layout_fixture("inception_resnet_v2", "timm", "inception_resnet_v2_timm")
