import pytest
import torch

import cnnzoo
from cnnzoo.analysis.flops import count_macs
from cnnzoo.layers import ConvClassifierHead
from cnnzoo.models.squeezenet import Fire


@pytest.mark.parametrize("name, params, mmacs", [
    ("squeezenet1_0", 1_248_424, 819),  # torchvision; paper Table 2: 1.2 M parameters (4.8 MB)
    ("squeezenet1_1", 1_235_496, 349),  # torchvision; "2.4x less computation" than 1.0
])
def test_squeezenet_counts(name, params, mmacs):
    model = cnnzoo.create_model(name, device="meta")
    assert cnnzoo.count_params(model) == params
    assert round(count_macs(model, (3, 224, 224)) / 1e6) == mmacs
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16]
    assert sum(isinstance(m, Fire) for m in model.features) == 8


def test_fire_module_concatenates_expand_branches():
    fire = Fire(96, 16, 64, 64)
    y = fire(torch.randn(2, 96, 9, 9))
    assert y.shape == (2, 128, 9, 9)
    assert (y >= 0).all()  # both branches end with ReLU
    assert fire.expand3x3.padding == (1, 1) and fire.squeeze.out_channels == 16


def test_conv_head_is_a_1x1_convolution_then_pooling():
    model = cnnzoo.create_model("squeezenet1_1", num_classes=10).eval()
    assert isinstance(model.head, ConvClassifierHead)
    assert isinstance(model.get_classifier(), torch.nn.Conv2d)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        manual = torch.relu(model.head.fc(feats)).mean((2, 3))
        assert torch.allclose(model(x), manual, atol=1e-6)
        assert model.forward_head(feats, pre_logits=True).shape == (1, 512)
    model.reset_classifier(3)
    assert model.get_classifier().out_channels == 3 and model(x).shape == (1, 3)


def test_dropout_before_the_classifier():
    model = cnnzoo.create_model("squeezenet1_0", drop_rate=0.5, device="meta")
    assert isinstance(model.head.drop, torch.nn.Dropout) and model.head.drop.p == 0.5


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_he_init_keeps_the_first_layers_trainable(name):
    # Without batch norm, PyTorch's default init shrinks the signal at every ReLU layer: the first
    # convolution's gradient started near 1e-8 and training stayed at chance (loss ln 10).
    torch.manual_seed(0)
    model = cnnzoo.create_model(name, num_classes=10, in_chans=1)
    conv = model.features[0]
    bound = (6 / (conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1])) ** 0.5  # He uniform
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
    assert not conv.bias.any()
    x = torch.randn(16, 1, 64, 64)
    torch.nn.functional.cross_entropy(model(x), torch.arange(16) % 10).backward()
    assert conv.weight.grad.norm() > 1e-5
