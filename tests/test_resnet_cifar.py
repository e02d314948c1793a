"""CIFAR ResNets (He et al. 2016, §4.2): counts, the option-A shortcut, the options beyond the paper."""

import pytest
import torch

import cnnzoo
from cnnzoo.models.resnet_cifar import ResNetCifar, ZeroPadShortcut


def _hand_count(depth: int, classes: int = 10, width: int = 16, in_chans: int = 3) -> int:
    """§4.2 by hand with option A (parameter-free shortcuts): conv1 + BN, then per stage n blocks of
    two 3×3 convolutions without bias, each followed by BN (2 parameters per channel), and the fc."""
    n = (depth - 2) // 6
    total = in_chans * width * 9 + 2 * width
    chs = width
    for out in (width, 2 * width, 4 * width):
        for _ in range(n):
            total += chs * out * 9 + out * out * 9 + 4 * out
            chs = out
    return total + chs * classes + classes


@pytest.mark.parametrize("name, depth, table6", [("resnet8", 8, None), ("resnet20", 20, 0.27e6),
                                                 ("resnet32", 32, 0.46e6), ("resnet44", 44, 0.66e6),
                                                 ("resnet56", 56, 0.85e6), ("resnet110", 110, 1.7e6)])
def test_parameter_counts_match_table_6(name, depth, table6):
    count = cnnzoo.count_params(cnnzoo.create_model(name, device="meta"))
    assert count == _hand_count(depth)
    if table6:
        assert abs(count - table6) / table6 < 0.02  # the paper rounds to 2 significant digits


def test_exact_counts():
    assert _hand_count(8) == 75_290 and _hand_count(20) == 269_722
    assert _hand_count(56) == 853_018 and _hand_count(110) == 1_727_962


def test_stages_and_shortcuts():
    model = cnnzoo.create_model("resnet20", in_chans=1)
    assert [len(getattr(model, f"layer{i}")) for i in (1, 2, 3)] == [3, 3, 3]
    assert [f["num_chs"] for f in model.feature_info] == [16, 32, 64]
    assert [f["reduction"] for f in model.feature_info] == [1, 2, 4]
    assert isinstance(model.layer2[0].downsample, ZeroPadShortcut) and model.layer2[1].downsample is None
    assert model.forward_features(torch.randn(2, 1, 28, 28)).shape == (2, 64, 7, 7)


def test_zero_pad_shortcut_is_the_subsampled_identity_plus_zero_channels():
    x = torch.randn(2, 4, 6, 6)
    y = ZeroPadShortcut(4, 10, 2)(x)
    assert y.shape == (2, 10, 3, 3)
    assert torch.equal(y[:, :4], x[:, :, ::2, ::2]) and not y[:, 4:].any()


def test_options_beyond_the_paper():
    b = cnnzoo.create_model("resnet20", shortcut="B", device="meta")
    # option B: a 1×1 projection + BN on the two width changes (16→32, 32→64)
    assert cnnzoo.count_params(b) - _hand_count(20) == (16 * 32 + 64) + (32 * 64 + 128)
    wide = cnnzoo.create_model("resnet20", width=32, device="meta")
    assert cnnzoo.count_params(wide) == _hand_count(20, width=32)
    fast = cnnzoo.create_model("resnet20", in_chans=1, stem_stride=2)
    assert fast.forward_features(torch.randn(2, 1, 28, 28)).shape == (2, 64, 4, 4)
    assert fast.min_size == 8 and [f["reduction"] for f in fast.feature_info] == [2, 4, 8]
    with pytest.raises(ValueError, match="6n \\+ 2"):
        ResNetCifar(21)
    with pytest.raises(ValueError, match="shortcut"):
        cnnzoo.create_model("resnet20", shortcut="C")
    with pytest.raises(ValueError, match="stem_stride"):
        cnnzoo.create_model("resnet20", stem_stride=4)


def test_fourth_stage():
    m = cnnzoo.create_model("resnet8", in_chans=1, width=24, shortcut="B", stages=4)
    # by hand: 3×3 stem + BN, then per stage (c_in → c) two 3×3 convs + two BNs, and where the width
    # changes a 1×1 projection + BN; head 192 → 10
    expected = 9 * 24 + 2 * 24
    for c_in, c in [(24, 24), (24, 48), (48, 96), (96, 192)]:
        expected += 9 * c_in * c + 9 * c * c + 4 * c + ((c_in * c + 2 * c) if c_in != c else 0)
    expected += 192 * 10 + 10
    assert cnnzoo.count_params(m) == expected == 692_050
    assert m.forward_features(torch.randn(2, 1, 28, 28)).shape == (2, 192, 4, 4)
    assert m.min_size == 8 and [f["reduction"] for f in m.feature_info] == [1, 2, 4, 8]
    assert [f["num_chs"] for f in m.feature_info] == [24, 48, 96, 192]
    three = cnnzoo.create_model("resnet8", in_chans=1, width=24, shortcut="B")
    assert not hasattr(three, "layer4") and set(three.state_dict()) < set(m.state_dict())
    with pytest.raises(ValueError, match="stages must be 3"):
        cnnzoo.create_model("resnet8", stages=5)


def test_two_by_two_stride_one_stem():
    m = cnnzoo.create_model("resnet8", in_chans=1, width=24, shortcut="B", stem_kernel=2, stages=4)
    assert m.conv1.kernel_size == (2, 2) and m.conv1.stride == (1, 1) and m.conv1.padding == (0, 0)
    x = torch.randn(2, 1, 28, 28)
    assert m.conv1(x).shape[-2:] == (27, 27)  # no padding: 28 → 27, then 14, 7, 4
    assert m.forward_features(x).shape == (2, 192, 4, 4)
    assert cnnzoo.count_params(m) == 692_050 - 5 * 24  # 4 stem weights per filter instead of 9
    assert cnnzoo.create_model("resnet8", stem_stride=2).conv1.kernel_size == (2, 2)
    with pytest.raises(ValueError, match="stem_stride/stem_kernel"):
        cnnzoo.create_model("resnet8", stem_stride=2, stem_kernel=3)
