import pytest
import torch

import cnnzoo
from cnnzoo.layers import SqueezeExcite
from tests._oracle import check_layout_fixture

# timm reference counts at 1000 classes, 3 channels
COUNTS = {
    "seresnet18": 11_779_624,
    "seresnet34": 21_960_416,
    "seresnet50": 28_088_024,
    "seresnet101": 49_326_872,
    "seresnet152": 66_821_848,
    "seresnext50_32x4d": 27_559_896,
    "seresnext101_32x4d": 48_955_416,
    "senet154": 115_088_984,
}


@pytest.mark.parametrize("name", COUNTS)
def test_parameter_count(name):
    assert cnnzoo.count_params(cnnzoo.create_model(name, device="meta")) == COUNTS[name]


def test_every_unit_has_se_with_reduction_16():
    m = cnnzoo.create_model("seresnet50", device="meta")
    units = [b for layer in (m.layer1, m.layer2, m.layer3, m.layer4) for b in layer]
    assert len(units) == 16 and all(isinstance(b.se, SqueezeExcite) for b in units)
    widths = [(b.se.fc1.in_channels, b.se.fc1.out_channels) for b in (m.layer1[0], m.layer4[0])]
    assert widths == [(256, 16), (2048, 128)]
    # the 64-channel basic units round 64 / 16 = 4 up to 8, as timm does
    assert cnnzoo.create_model("seresnet18", device="meta").layer1[0].se.fc1.out_channels == 8


@pytest.mark.parametrize("name,index", [("seresnet18", 0), ("seresnet50", 0), ("seresnext50_32x4d", 1)])
def test_se_sits_after_last_bn_before_the_addition(name, index):
    """Fig. 3: the SE block scales the residual branch after its last BN; the shortcut is added after."""
    model = cnnzoo.create_model(name, num_classes=3).eval()
    with torch.no_grad():  # non-trivial BN so that the branch is not zero
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    block = model.layer1[index]
    last_bn = block.bn3 if hasattr(block, "bn3") else block.bn2
    seen = {}
    last_bn.register_forward_hook(lambda m, i, o: seen.__setitem__("bn", o.clone()))
    block.se.register_forward_hook(lambda m, i, o: seen.update(se_in=i[0].clone(), se_out=o.clone()))
    x = torch.randn(2, block.conv1.in_channels, 8, 8)
    with torch.no_grad():
        out = block(x)
        shortcut = x if block.downsample is None else block.downsample(x)
    assert torch.equal(seen["se_in"], seen["bn"])
    assert not torch.allclose(seen["se_out"], seen["se_in"])  # the gate does scale the channels
    assert torch.allclose(out, torch.relu(seen["se_out"] + shortcut), atol=1e-6)


def test_senet154_structure():
    m = cnnzoo.create_model("senet154", device="meta")
    assert [c.out_channels for c in m.conv1 if isinstance(c, torch.nn.Conv2d)] == [64, 64, 128]
    b = m.layer1[0]
    assert b.conv2.groups == 64 and b.conv2.out_channels == 256 and b.conv1.out_channels == 128  # reduce_first 2
    assert m.layer1[0].downsample[0].kernel_size == (1, 1)  # the stride-1 shortcut stays 1×1
    down = m.layer2[0].downsample[0]
    assert down.kernel_size == (3, 3) and down.stride == (2, 2) and down.padding == (1, 1)


def test_drop_path_is_wired_in_every_unit():
    m = cnnzoo.create_model("seresnet18", drop_path_rate=0.1, device="meta")
    rates = [b.drop_path.drop_prob for layer in (m.layer1, m.layer2, m.layer3, m.layer4) for b in layer
             if hasattr(b.drop_path, "drop_prob")]
    assert len(rates) == 7 and rates[-1] == pytest.approx(0.1) and rates == sorted(rates)


def test_feature_info():
    m = cnnzoo.create_model("seresnet18", features_only=True)
    feats = m(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [64, 64, 128, 256, 512]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]


def test_layout_fixture():
    check_layout_fixture("seresnet18", "timm", "seresnet18_timm")
