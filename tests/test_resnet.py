import pytest
import torch

import cnnzoo
from cnnzoo.models.resnet import Bottleneck
from tests._oracle import check_layout_fixture

# torchvision / timm reference counts at 1000 classes, 3 channels
COUNTS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnet50d": 25_576_264,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
}


@pytest.mark.parametrize("name", COUNTS)
def test_parameter_count(name):
    assert cnnzoo.count_params(cnnzoo.create_model(name, device="meta")) == COUNTS[name]


def test_resnext_and_wide_widths():
    block = cnnzoo.create_model("resnext50_32x4d", device="meta").layer1[0]
    assert isinstance(block, Bottleneck)
    assert block.conv2.groups == 32 and block.conv2.out_channels == 128  # C=32, d=4
    wide = cnnzoo.create_model("wide_resnet50_2", device="meta").layer1[0]
    assert wide.conv2.out_channels == 128 and wide.conv3.out_channels == 256


def test_resnet_d_shortcut_and_stem():
    m = cnnzoo.create_model("resnet50d", device="meta")
    down = m.layer2[0].downsample
    assert isinstance(down[0], torch.nn.AvgPool2d) and down[1].stride == (1, 1)
    assert [c.out_channels for c in m.conv1 if isinstance(c, torch.nn.Conv2d)] == [32, 32, 64]
    plain = cnnzoo.create_model("resnet50", device="meta").layer2[0].downsample
    assert plain[0].stride == (2, 2) and plain[0].kernel_size == (1, 1)


def test_drop_path_is_wired_linearly():
    m = cnnzoo.create_model("resnet50", drop_path_rate=0.2, device="meta")
    rates = [b.drop_path.drop_prob for layer in (m.layer1, m.layer2, m.layer3, m.layer4) for b in layer
             if hasattr(b.drop_path, "drop_prob")]
    assert len(rates) == 15 and rates[-1] == pytest.approx(0.2) and rates == sorted(rates)


def test_features_only_strides():
    m = cnnzoo.create_model("resnet18", features_only=True)
    feats = m(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [64, 64, 128, 256, 512]
    assert [i["reduction"] for i in m.feature_info] == [2, 4, 8, 16, 32]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]


def test_zero_init_residual_makes_units_identities():
    m = cnnzoo.create_model("resnet18").eval()
    block = m.layer1[0]
    x = torch.relu(torch.randn(1, 64, 8, 8))
    assert torch.allclose(block(x), x)


def test_unknown_option_is_named():
    with pytest.raises(TypeError, match="'widht'"):
        cnnzoo.create_model("resnet18", widht=2)


@pytest.mark.parametrize("source", ["torchvision", "timm"])
def test_layout_fixture(source):
    check_layout_fixture("resnet18", source, f"resnet18_{source}")
