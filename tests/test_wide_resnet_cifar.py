"""CIFAR-style wide ResNets (Zagoruyko & Komodakis 2016, Table 1): counts, structure, options."""

import pytest
import torch

import cnnzoo
from cnnzoo.models.wide_resnet_cifar import WideBasicBlock, WideResNetCifar


def _hand_count(depth: int, k: int, classes: int = 10) -> int:
    """Table 1 by hand: conv1 3→16; per group, N pre-activation blocks (BN, 3×3, BN, 3×3, no conv
    bias), a 1×1 projection in the first block of each group (the width changes there); final BN
    and the linear classifier."""
    n = (depth - 4) // 6
    total = 3 * 16 * 9  # conv1
    chs = 16
    for width in (16 * k, 32 * k, 64 * k):
        for i in range(n):
            total += 2 * chs + chs * width * 9 + 2 * width + width * width * 9
            if i == 0:
                total += chs * width  # 1×1 projection shortcut
            chs = width
    return total + 2 * chs + chs * classes + classes


def test_parameter_counts():
    # WRN-28-10: 432 (conv1) + 1,640,672 + 6,968,000 + 27,862,400 (groups) + 1,280 (BN) + 6,410 (fc)
    assert _hand_count(28, 10) == 36_479_194
    assert cnnzoo.count_params(cnnzoo.create_model("wrn28_10", device="meta")) == 36_479_194
    # WRN-40-4: 432 + 417,184 (group 1: 47,264 + 5 × 73,984) + 1,706,880 + 6,821,632 + 512 + 2,570.
    # (8,972,634 is sometimes quoted for it; that is 23,424 more than this layout has.)
    assert _hand_count(40, 4) == 8_949_210
    assert cnnzoo.count_params(cnnzoo.create_model("wrn40_4", device="meta")) == 8_949_210
    with torch.device("meta"):
        assert cnnzoo.count_params(WideResNetCifar(16, 8, num_classes=100)) == _hand_count(16, 8, 100)
    # WRN-16-4 is the paper's "2.7M" model (Table 4); WRN-10-2 the smallest member (N = 1)
    assert _hand_count(16, 4) == 2_748_890
    assert cnnzoo.count_params(cnnzoo.create_model("wrn16_4", device="meta")) == 2_748_890
    assert _hand_count(10, 2) == 303_706
    assert cnnzoo.count_params(cnnzoo.create_model("wrn10_2", device="meta")) == 303_706


def test_stem_stride_2_is_a_2x2_patchify_stem():
    plain = cnnzoo.create_model("wrn10_2", in_chans=1)
    fast = cnnzoo.create_model("wrn10_2", in_chans=1, stem_stride=2)
    # 2×2 instead of 3×3 kernel in conv1: 16 × (9 − 4) fewer weights for one input channel
    assert cnnzoo.count_params(plain) - cnnzoo.count_params(fast) == 16 * 5
    assert fast.conv1.kernel_size == (2, 2) and fast.conv1.stride == (2, 2)
    x = torch.randn(2, 1, 28, 28)
    assert fast.forward_features(x).shape == (2, 128, 4, 4)  # groups at 14, 7, 4 pixels
    assert plain.forward_features(x).shape == (2, 128, 7, 7)
    assert [f["reduction"] for f in fast.feature_info] == [2, 4, 8]
    assert fast.min_size == 8
    with pytest.raises(ValueError, match="stem_stride"):
        cnnzoo.create_model("wrn10_2", stem_stride=3)


@pytest.mark.parametrize("name, n, widths", [("wrn28_10", 4, (160, 320, 640)), ("wrn40_4", 6, (64, 128, 256))])
def test_groups_as_table_1(name, n, widths):
    model = cnnzoo.create_model(name, device="meta")
    assert model.conv1.out_channels == 16 and model.conv1.bias is None
    for g, (width, stride) in enumerate(zip(widths, (1, 2, 2), strict=True)):
        layer = getattr(model, f"layer{g + 1}")
        assert len(layer) == n
        assert all(b.conv2.out_channels == width for b in layer)
        assert layer[0].conv1.stride == (stride, stride)
        assert layer[0].shortcut is not None and layer[0].shortcut.kernel_size == (1, 1)
        assert all(b.shortcut is None for b in layer[1:])  # identity where the width stays
    assert model.num_features == widths[-1]


@pytest.mark.parametrize("size, final", [(32, 8), (28, 7)])
def test_small_images(size, final):
    model = cnnzoo.create_model("wrn40_4", in_chans=1, features_only=True, device="meta")
    feats = model(torch.empty(2, 1, size, size, device="meta"))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, size, size), (128, size // 2 + size % 2, size // 2 + size % 2),
                                                   (256, final, final)]
    assert [i["reduction"] for i in model.feature_info] == [1, 2, 4]
    clf = cnnzoo.create_model("wrn40_4", in_chans=1, num_classes=10, device="meta").eval()
    assert clf(torch.empty(2, 1, size, size, device="meta")).shape == (2, 10)


def test_pre_activation_block():
    block = WideBasicBlock(8, 8).eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        branch = block.conv2(block.relu2(block.bn2(block.conv1(torch.relu(block.bn1(x))))))
        assert torch.allclose(block(x), x + branch, atol=1e-6)  # identity shortcut, no activation after the sum
    proj = WideBasicBlock(8, 16, stride=2).eval()
    with torch.no_grad():  # the projection sees the shared BN-ReLU of the input
        pre = torch.relu(proj.bn1(x))
        branch = proj.conv2(proj.relu2(proj.bn2(proj.conv1(pre))))
        assert torch.allclose(proj(x), proj.shortcut(pre) + branch, atol=1e-6)


def test_block_drop_and_drop_path():
    model = cnnzoo.create_model("wrn40_4", block_drop=0.3, drop_path_rate=0.2, device="meta")
    blocks = [b for g in (model.layer1, model.layer2, model.layer3) for b in g]
    assert all(isinstance(b.drop, torch.nn.Dropout) and b.drop.p == 0.3 for b in blocks)
    rates = [b.drop_path.drop_prob if hasattr(b.drop_path, "drop_prob") else 0.0 for b in blocks]
    assert len(rates) == 18 and rates[0] == 0.0 and rates[-1] == pytest.approx(0.2)
    assert rates == sorted(rates)
    plain = cnnzoo.create_model("wrn40_4", device="meta")
    assert all(isinstance(b.drop, torch.nn.Identity) for b in plain.layer1)


def test_drop_path_drops_the_residual_branch():
    block = WideBasicBlock(4, 4, drop_path=0.999).train()
    x = torch.randn(64, 4, 3, 3)
    out = block(x)
    dropped = [(out[i] - x[i]).abs().max().item() == 0.0 for i in range(64)]
    assert sum(dropped) > 32  # almost every sample keeps only its shortcut


@pytest.mark.parametrize("depth", [27, 6, 3])
def test_bad_depth(depth):
    with pytest.raises(ValueError, match="6N \\+ 4"):
        WideResNetCifar(depth, 2)
