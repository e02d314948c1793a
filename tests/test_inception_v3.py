"""Inception v3: parameter counts against torchvision/timm, the auxiliary head, small inputs."""

import pytest
import torch
import torch.nn.functional as F

import cnnzoo
from cnnzoo.train.losses import aux_loss
from tests._oracle import check_layout_fixture


@pytest.mark.parametrize("kwargs, params", [
    ({}, 27_161_264),                    # torchvision inception_v3(aux_logits=True)
    ({"aux_logits": False}, 23_834_568),  # torchvision / timm inception_v3
])
def test_parameter_counts(kwargs, params):
    assert cnnzoo.count_params(cnnzoo.create_model("inception_v3", device="meta", **kwargs)) == params


def test_grid_sizes_follow_table_1():
    model = cnnzoo.create_model("inception_v3", features_only=True, device="meta")
    feats = model(torch.empty(1, 3, 299, 299, device="meta"))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (64, 147, 147), (192, 71, 71), (288, 35, 35), (768, 17, 17), (2048, 8, 8)]


def test_forward_shapes_default_and_minimum():
    model = cnnzoo.create_model("inception_v3", device="meta").eval()
    assert model(torch.empty(2, 3, 299, 299, device="meta")).shape == (2, 1000)
    for s in (75, 76, 98, 101):  # odd and even sizes: the branches of every block stay aligned
        assert model(torch.empty(1, 3, s, s, device="meta")).shape == (1, 1000)
    with pytest.raises(ValueError, match="at least 75x75"):
        model(torch.empty(1, 3, 74, 299, device="meta"))


def test_aux_logits_train_and_eval_at_the_minimum_size():
    model = cnnzoo.create_model("inception_v3", num_classes=3, in_chans=1)
    x, y = torch.randn(2, 1, 75, 75), torch.tensor([0, 2])
    out = model.train()(x)
    assert isinstance(out, tuple) and len(out) == 2 and all(o.shape == (2, 3) for o in out)
    loss = aux_loss(out, y, F.cross_entropy, aux_weight=0.4)
    assert torch.allclose(loss, F.cross_entropy(out[0], y) + 0.4 * F.cross_entropy(out[1], y))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with torch.no_grad():
        out = model.eval()(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3)


def test_aux_head_at_299_uses_the_paper_pooling():
    model = cnnzoo.create_model("inception_v3", device="meta").train()
    seen = {}
    model.AuxLogits.conv1.register_forward_hook(lambda m, i, o: seen.update(inp=i[0].shape, out=o.shape))
    logits, aux = model(torch.empty(2, 3, 299, 299, device="meta"))
    assert seen["inp"][-2:] == (5, 5) and seen["out"][-2:] == (1, 1)
    assert logits.shape == aux.shape == (2, 1000)


def test_reset_classifier_and_no_aux():
    model = cnnzoo.create_model("inception_v3", device="meta")
    model.reset_classifier(11)
    assert model.AuxLogits.fc.out_features == 11
    plain = cnnzoo.create_model("inception_v3", aux_logits=False, device="meta").train()
    assert isinstance(plain(torch.empty(2, 3, 80, 80, device="meta")), torch.Tensor)
    assert "AuxLogits" not in dict(plain.named_children())


def test_layout_fixtures():
    check_layout_fixture("inception_v3", "torchvision", "inception_v3_torchvision")
    check_layout_fixture("inception_v3", "timm", "inception_v3_timm", aux_logits=False)
