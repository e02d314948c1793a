import pytest
import torch

import cnnzoo
from cnnzoo.layers import RadixSoftmax, SplitAttention
from cnnzoo.models.resnest import ResNeStBottleneck
from tests._oracle import check_layout_fixture

# timm reference counts at 1000 classes, 3 channels
COUNTS = {
    "resnest14d": 10_611_688,
    "resnest26d": 17_069_448,
    "resnest50d": 27_483_240,
    "resnest101e": 48_275_016,
    "resnest200e": 70_201_544,
    "resnest269e": 110_929_480,
    "resnest50d_4s2x40d": 30_417_592,
    "resnest50d_1s4x24d": 25_677_000,
}


@pytest.mark.parametrize("name", COUNTS)
def test_parameter_count(name):
    assert cnnzoo.count_params(cnnzoo.create_model(name, device="meta")) == COUNTS[name]


@pytest.mark.parametrize("name,size", [("resnest50d", 224), ("resnest101e", 256), ("resnest200e", 320),
                                       ("resnest269e", 416)])
def test_default_input_sizes(name, size):
    assert cnnzoo.model_info(name).input_size == (3, size, size)


@pytest.mark.parametrize("radix,cardinality", [(2, 1), (4, 2), (3, 4)])
def test_radix_softmax_sums_to_one_over_the_radix(radix, cardinality):
    w = 5
    logits = torch.randn(3, cardinality * radix * w, 1, 1) * 3
    out = RadixSoftmax(radix, cardinality)(logits)
    assert out.shape == (3, radix, cardinality * w)
    assert torch.allclose(out.sum(dim=1), torch.ones(3, cardinality * w))
    assert (out > 0).all()
    # logits come per cardinal group k, split r after split r; weights are a softmax over r
    grouped = logits.reshape(3, cardinality, radix, w)
    for k in range(cardinality):
        want = grouped[:, k].softmax(dim=1)  # (N, R, w)
        assert torch.allclose(out[:, :, k * w:(k + 1) * w], want)


def test_radix_one_is_a_sigmoid_gate():
    logits = torch.randn(2, 12, 1, 1)
    out = RadixSoftmax(1, 4)(logits)
    assert torch.equal(out, torch.sigmoid(logits).reshape(2, 1, 12))


def test_radix_softmax_rejects_bad_shapes():
    with pytest.raises(ValueError, match="radix"):
        RadixSoftmax(0, 1)
    with pytest.raises(ValueError, match="cardinality 2"):
        RadixSoftmax(2, 2)(torch.randn(1, 6))


def test_split_attention_structure():
    sa = SplitAttention(64, 64, groups=1, radix=2)
    assert sa.conv.out_channels == 128 and sa.conv.groups == 2
    assert sa.fc1.out_channels == 32  # max(64 · 2 / 4, 32)
    big = SplitAttention(256, 256, groups=2, radix=4)
    assert big.conv.groups == 8 and big.fc1.out_channels == 256 and big.fc1.groups == 2
    assert big.fc2.out_channels == 1024
    with pytest.raises(ValueError, match="groups"):
        SplitAttention(30, 30, groups=4, radix=2)


def test_split_attention_with_uniform_attention_averages_the_splits():
    """With zero attention logits the r-softmax gives 1/R to each split: the output is their mean (Eq. 4)."""
    sa = SplitAttention(8, 8, radix=2).eval()
    with torch.no_grad():
        sa.fc2.weight.zero_()
        sa.fc2.bias.zero_()
        x = torch.randn(2, 8, 6, 6)
        splits = sa.act0(sa.bn0(sa.conv(x))).reshape(2, 2, 8, 6, 6)
        assert torch.allclose(sa(x), splits.mean(dim=1), atol=1e-6)


def test_avd_moves_the_stride_to_an_average_pool():
    m = cnnzoo.create_model("resnest50d", device="meta")
    strided = m.layer2[0]
    assert isinstance(strided, ResNeStBottleneck)
    assert strided.conv2.conv.stride == (1, 1)
    assert isinstance(strided.avd_last, torch.nn.AvgPool2d) and strided.avd_last.stride == 2
    assert strided.avd_first is None
    assert m.layer2[1].avd_last is None and m.layer1[0].avd_last is None
    assert isinstance(strided.downsample[0], torch.nn.AvgPool2d)  # ResNet-D shortcut
    first = cnnzoo.create_model("resnest50d_4s2x40d", device="meta").layer3[0]
    assert isinstance(first.avd_first, torch.nn.AvgPool2d) and first.avd_last is None
    assert first.conv2.radix == 4 and first.conv2.conv.groups == 8


@pytest.mark.parametrize("name,stem", [("resnest50d", [32, 32, 64]), ("resnest101e", [64, 64, 128])])
def test_deep_stem_widths(name, stem):
    m = cnnzoo.create_model(name, device="meta")
    assert [c.out_channels for c in m.conv1 if isinstance(c, torch.nn.Conv2d)] == stem


def test_last_bn_is_zero_initialised_and_drop_path_wired():
    m = cnnzoo.create_model("resnest26d", drop_path_rate=0.1)
    units = [b for layer in (m.layer1, m.layer2, m.layer3, m.layer4) for b in layer]
    assert all(torch.equal(b.bn3.weight, torch.zeros_like(b.bn3.weight)) for b in units)
    rates = [b.drop_path.drop_prob for b in units if hasattr(b.drop_path, "drop_prob")]  # unit 1: rate 0
    assert len(rates) == 7 and rates[-1] == pytest.approx(0.1) and rates == sorted(rates)


def test_attn_layer_is_refused():
    with pytest.raises(ValueError, match="attn_layer"):
        ResNeStBottleneck(64, 64, attn_layer=lambda c: torch.nn.Identity())


def test_features_only_strides():
    m = cnnzoo.create_model("resnest14d", features_only=True)
    feats = m(torch.randn(2, 3, 64, 64))  # batch > 1: the attention's BN sees one value per sample
    assert [f.shape[1] for f in feats] == [64, 256, 512, 1024, 2048]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]


def test_layout_fixture():
    check_layout_fixture("resnest14d", "timm", "resnest14d_timm")
