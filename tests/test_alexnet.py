"""AlexNet: torchvision's parameter count, the paper's LRN variant, the classifier's dropout."""

import torch
from torch import nn

import cnnzoo
from tests._oracle import check_layout_fixture


def test_parameter_counts():
    # LRN has no parameters: both variants have torchvision's 61,100,840.
    for name in ("alexnet", "alexnet_lrn"):
        assert cnnzoo.count_params(cnnzoo.create_model(name, device="meta")) == 61_100_840


def test_lrn_after_conv1_and_conv2_then_overlapping_pools():
    model = cnnzoo.create_model("alexnet_lrn", device="meta")
    kinds = [type(m).__name__ for m in model.features]
    assert kinds[:8] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d",
                         "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
    assert kinds.count("LocalResponseNorm") == 2
    lrn = model.features[2]
    # the paper's k=2, n=5, alpha=1e-4 (torch divides alpha by n), beta=0.75
    assert (lrn.size, lrn.k, lrn.beta) == (5, 2.0, 0.75) and abs(lrn.alpha / lrn.size - 1e-4) < 1e-12
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all((p.kernel_size, p.stride) == (3, 2) for p in pools)
    assert "LocalResponseNorm" not in [type(m).__name__ for m in cnnzoo.create_model("alexnet").features]


def test_lrn_matches_the_paper_formula():
    lrn = cnnzoo.create_model("alexnet_lrn").features[2]
    a = torch.rand(1, 8, 3, 3) * 10
    b = torch.empty_like(a)
    for i in range(8):  # b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2)^beta
        lo, hi = max(0, i - 2), min(7, i + 2)
        b[:, i] = a[:, i] / (2.0 + 1e-4 * a[:, lo:hi + 1].square().sum(1)) ** 0.75
    assert torch.allclose(lrn(a), b, atol=1e-6)


def test_stage_maps_and_shapes():
    model = cnnzoo.create_model("alexnet_lrn", features_only=True)
    feats = model(torch.randn(1, 3, 224, 224))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 55, 55), (192, 27, 27), (256, 13, 13), (256, 6, 6)]
    assert [i["reduction"] for i in model.feature_info] == [4, 8, 16, 32]


def test_dropout_options():
    model = cnnzoo.create_model("alexnet", device="meta")
    drops = [m.p for m in model.head.hidden if isinstance(m, nn.Dropout)]
    assert drops == [0.5, 0.5]  # the paper's dropout on both hidden layers
    model = cnnzoo.create_model("alexnet", drop_rate=0.2, device="meta")
    assert [m.p for m in model.head.hidden if isinstance(m, nn.Dropout)] == [0.2, 0.2]
    model = cnnzoo.create_model("alexnet", drop_rate=0.0, device="meta")
    assert not [m for m in model.head.hidden if isinstance(m, nn.Dropout)]


def test_torchvision_layout_fixture():
    check_layout_fixture("alexnet", "torchvision", "alexnet_torchvision")
