"""VGG: all eight variants from Table 1's columns, exact torchvision parameter counts."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.models.vgg import VGG_CONFIGS
from tests._oracle import check_layout_fixture

COUNTS = {
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992, "vgg19_bn": 143_678_248,
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_parameter_count(name):
    assert cnnzoo.count_params(cnnzoo.create_model(name, device="meta")) == COUNTS[name]


@pytest.mark.parametrize("name, column, depth", [("vgg11", "A", 11), ("vgg13", "B", 13),
                                                 ("vgg16", "D", 16), ("vgg19", "E", 19)])
def test_weight_layers_as_table_1(name, column, depth):
    for suffix in ("", "_bn"):
        model = cnnzoo.create_model(name + suffix, device="meta")
        convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        assert len(convs) + len(linears) == depth == sum(VGG_CONFIGS[column]) + 3
        assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
        assert len([m for m in model.features if isinstance(m, nn.BatchNorm2d)]) == (len(convs) if suffix else 0)
        assert [lin.out_features for lin in linears] == [4096, 4096, 1000]


def test_classifier_head_and_dropout():
    model = cnnzoo.create_model("vgg16", device="meta")
    assert model.head.global_pool.output_size == (7, 7)
    assert model.head.hidden[0].in_features == 512 * 7 * 7
    assert [m.p for m in model.head.hidden if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    model = cnnzoo.create_model("vgg16", drop_rate=0.3, device="meta")
    assert [m.p for m in model.head.hidden if isinstance(m, nn.Dropout)] == [0.3, 0.3]
    model = cnnzoo.create_model("vgg16", drop_rate=0.0, device="meta")
    assert not [m for m in model.head.hidden if isinstance(m, nn.Dropout)]


def test_features_only_strides():
    model = cnnzoo.create_model("vgg11", features_only=True, device="meta")
    feats = model(torch.empty(1, 3, 64, 64, device="meta"))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    assert [i["reduction"] for i in model.feature_info] == [2, 4, 8, 16, 32]


def test_unknown_configuration():
    from cnnzoo.models.vgg import VGG

    with pytest.raises(ValueError, match="Table 1 columns: A, B, D, E"):
        VGG("C")


@pytest.mark.parametrize("name", ["vgg11", "vgg11_bn"])
def test_torchvision_layout_fixture(name):
    check_layout_fixture(name, "torchvision", f"{name}_torchvision")
