"""SqueezeNext: no torchvision/timm reference.

The exact counts below are this implementation's (ImageNet, 1000 classes, BN and conv biases included,
as the reference Caffe models have them); they are equal to the counts the imgclsmob project publishes
for its ports of the reference models (sqnxt23_w1 724,056, sqnxt23_w2 2,583,752, sqnxt23v5_w1 921,816,
sqnxt23v5_w2 3,366,344). The paper's Table 2 gives 0.72 M for 1.0-SqNxt-23, which matches; its other
rounded entries could not be re-checked here (no copy of the paper offline) and are not asserted.
"""

import pytest
import torch

import cnnzoo
from cnnzoo.models.squeezenext import SqueezeNext, SqueezeNextBlock


@pytest.mark.parametrize("name, params, blocks", [
    ("sqnxt23_1x", 724_056, [6, 6, 8, 1]),
    ("sqnxt23_2x", 2_583_752, [6, 6, 8, 1]),
    ("sqnxt23v5_1x", 921_816, [2, 4, 14, 1]),
    ("sqnxt23v5_2x", 3_366_344, [2, 4, 14, 1]),
])
def test_squeezenext_counts(name, params, blocks):
    model = cnnzoo.create_model(name, device="meta")
    assert cnnzoo.count_params(model) == params
    assert [len(s) for s in model.stages] == blocks
    assert sum(len(s) for s in model.stages) == 21  # both 23-layer versions have 21 blocks
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]


def test_one_and_a_half_width():
    assert cnnzoo.count_params(SqueezeNext([6, 6, 8, 1], 1.5)) == 1_511_824
    assert cnnzoo.count_params(SqueezeNext([2, 4, 14, 1], 1.5)) == 1_953_616


def test_block_layout():
    block = SqueezeNextBlock(64, 64)
    widths = [(c[0].in_channels, c[0].out_channels, c[0].kernel_size) for c in
              (block.conv1, block.conv2, block.conv3, block.conv4, block.conv5)]
    assert widths == [(64, 32, (1, 1)), (32, 16, (1, 1)), (16, 32, (3, 1)), (32, 32, (1, 3)), (32, 64, (1, 1))]
    assert isinstance(block.shortcut, torch.nn.Identity)
    assert all(c[0].bias is not None for c in (block.conv1, block.conv5))
    down = SqueezeNextBlock(32, 64, stride=2)
    assert down.conv1[0].stride == (2, 2) and down.conv1[0].out_channels == 32
    assert down(torch.randn(1, 32, 9, 9)).shape == (1, 64, 5, 5)
    narrow = SqueezeNextBlock(64, 32)  # first block after the stem: C/4, C/8 squeeze and a projection
    assert narrow.conv1[0].out_channels == 16 and narrow.conv2[0].out_channels == 8
    assert not isinstance(narrow.shortcut, torch.nn.Identity)


def test_residual_add_and_drop_path():
    block = SqueezeNextBlock(16, 16).eval()
    x = torch.randn(2, 16, 6, 6).relu()
    with torch.no_grad():
        branch = block.conv5(block.conv4(block.conv3(block.conv2(block.conv1(x)))))
        assert torch.allclose(block(x), (branch + x).relu())
    model = cnnzoo.create_model("sqnxt23_1x", drop_path_rate=0.1, device="meta")
    rates = [b.drop_path.drop_prob for s in model.stages for b in s if hasattr(b.drop_path, "drop_prob")]
    assert len(rates) == 20 and rates[-1] == pytest.approx(0.1)  # 21 blocks, the first at rate 0
    assert rates == sorted(rates)
