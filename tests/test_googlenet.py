"""GoogLeNet: Table 1 as built, parameter counts against torchvision, auxiliary classifiers."""

import pytest
import torch
import torch.nn.functional as F

import cnnzoo
from cnnzoo.models.googlenet import GOOGLENET_TABLE
from cnnzoo.train.losses import aux_loss
from tests._oracle import check_layout_fixture


@pytest.mark.parametrize("kwargs, params", [
    ({}, 13_004_888),                                   # torchvision googlenet(aux_logits=True)
    ({"aux_logits": False}, 6_624_904),                 # torchvision googlenet(aux_logits=False)
    ({"aux_logits": False, "paper_5x5": True}, 7_005_832),  # + (25 - 9) · Σ #5×5reduce·#5×5 = 380,928
])
def test_parameter_counts(kwargs, params):
    assert cnnzoo.count_params(cnnzoo.create_model("googlenet", device="meta", **kwargs)) == params


def test_modules_follow_table_1():
    model = cnnzoo.create_model("googlenet", device="meta", paper_5x5=True)
    widths = {"inception3a": 256, "inception3b": 480, "inception4a": 512, "inception4b": 512,
              "inception4c": 512, "inception4d": 528, "inception4e": 832, "inception5a": 832, "inception5b": 1024}
    for name, n1, r3, n3, r5, n5, pp in GOOGLENET_TABLE:
        block = getattr(model, name)
        assert block.out_chs == widths[name] == n1 + n3 + n5 + pp
        assert block.branch1[0].out_channels == n1
        assert [c[0].out_channels for c in block.branch2] == [r3, n3]
        assert [c[0].out_channels for c in block.branch3] == [r5, n5]
        assert block.branch3[1][0].kernel_size == (5, 5)
        assert block.branch4[1][0].out_channels == pp


def test_forward_shapes_default_and_small():
    model = cnnzoo.create_model("googlenet", device="meta").eval()
    assert model(torch.empty(2, 3, 224, 224, device="meta")).shape == (2, 1000)
    feats = model.forward_features(torch.empty(2, 3, 224, 224, device="meta"))
    assert feats.shape == (2, 1024, 7, 7)
    small = cnnzoo.create_model("googlenet", num_classes=10, in_chans=1).eval()
    with torch.no_grad():
        assert small(torch.randn(2, 1, 15, 15)).shape == (2, 10)
    with pytest.raises(ValueError, match="at least 15x15"):
        small(torch.randn(1, 1, 14, 40))


def test_aux_logits_train_and_eval():
    model = cnnzoo.create_model("googlenet", num_classes=5)
    x, y = torch.randn(2, 3, 40, 40), torch.tensor([1, 3])
    model.train()
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 3
    assert all(o.shape == (2, 5) for o in out)
    loss = aux_loss(out, y, F.cross_entropy)
    expected = F.cross_entropy(out[0], y) + 0.3 * F.cross_entropy(out[1], y) + 0.3 * F.cross_entropy(out[2], y)
    assert torch.allclose(loss, expected)
    loss.backward()
    assert model.aux1.fc2.weight.grad is not None and model.aux2.conv[0].weight.grad is not None
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5)
    assert torch.allclose(aux_loss(out, y, F.cross_entropy), F.cross_entropy(out, y))


def test_without_aux_logits_training_returns_a_tensor():
    model = cnnzoo.create_model("googlenet", aux_logits=False, num_classes=4).train()
    out = model(torch.randn(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4)
    assert not hasattr(model, "aux1") or model.aux1 is None


def test_reset_classifier_resets_aux_heads():
    model = cnnzoo.create_model("googlenet", device="meta")
    model.reset_classifier(7)
    assert model.aux1.fc2.out_features == 7 and model.aux2.fc2.out_features == 7
    model.train()
    assert all(o.shape == (1, 7) for o in model(torch.empty(1, 3, 64, 64, device="meta")))


def test_features_only_excludes_aux_heads():
    model = cnnzoo.create_model("googlenet", features_only=True, device="meta").train()
    feats = model(torch.empty(1, 3, 224, 224, device="meta"))
    assert [f.shape[1] for f in feats] == [64, 192, 480, 832, 1024]
    assert [224 // f.shape[-1] for f in feats] == [2, 4, 8, 16, 32]


def test_torchvision_layout_fixture():
    check_layout_fixture("googlenet", "torchvision", "googlenet_torchvision")
