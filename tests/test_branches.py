"""InceptionBlock / build_branch: Inception modules described as data."""

from functools import partial

import pytest
import torch
from torch import nn

from cnnzoo.layers import ConvNormAct, InceptionBlock, build_branch


def test_branches_are_concatenated_in_order_with_their_names():
    block = InceptionBlock(8, {
        "b1x1": [(4, 1)],
        "b3x3": [(2, 1), (6, 3)],
        "split": [(5, 1), {"a": [(3, (1, 3))], "b": [(2, (3, 1))]}],
        "pool": [partial(nn.MaxPool2d, 3, stride=1, padding=1)],
    }).eval()
    assert block.out_chs == 4 + 6 + 5 + 8
    assert block.branch_names == ("b1x1", "b3x3", "split", "pool")
    assert isinstance(block.b1x1, ConvNormAct)  # a one-layer branch is the layer itself
    assert isinstance(block.b3x3, nn.Sequential) and block.split[1].out_chs == 5
    assert block.split[1].a[0].kernel_size == (1, 3) and block.split[1].b[0].padding == (1, 0)
    x = torch.randn(2, 8, 7, 9)
    with torch.no_grad():
        y = block(x)
        parts = [block.b1x1(x), block.b3x3(x), block.split(x), block.pool(x)]
    assert y.shape == (2, 23, 7, 9)
    assert torch.equal(y, torch.cat(parts, 1))
    assert {k.split(".")[0] for k in block.state_dict()} == {"b1x1", "b3x3", "split"}


def test_strides_and_valid_padding():
    conv, chs = build_branch(3, [(8, 3, 2, 0)])
    assert chs == 8 and conv[0].stride == (2, 2) and conv[0].padding == (0, 0)
    out = conv(torch.randn(1, 3, 9, 9))
    assert out.shape == (1, 8, 4, 4)


def test_bad_items_are_clear_errors():
    with pytest.raises(TypeError, match="factory"):
        build_branch(3, [nn.ReLU()])
    with pytest.raises(TypeError, match="cannot build"):
        build_branch(3, ["relu"])
    with pytest.raises(ValueError, match="at least one"):
        build_branch(3, [])
    with pytest.raises(ValueError, match="at least one branch"):
        InceptionBlock(3, {})
