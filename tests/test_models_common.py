"""The foundation's rules, checked on every registered model."""

import pytest
import torch

import cnnzoo
from tests._util import main_output, small_size

ALL = cnnzoo.list_models()
# Real (non-meta) forward/backward on CPU for models up to this size; larger ones are marked slow.
BIG = 60_000_000


def _maybe_slow(names):
    return [pytest.param(n, marks=pytest.mark.slow) if cnnzoo.model_info(n).params > BIG else n for n in names]


@pytest.mark.parametrize("name", ALL)
def test_meta_forward_default_size(name):
    info = cnnzoo.model_info(name)
    model = cnnzoo.create_model(name, device="meta").eval()
    out = model(torch.empty((2, *info.input_size), device="meta"))
    assert tuple(out.shape) == (2, info.num_classes)


@pytest.mark.parametrize("name", ALL)
def test_minimum_size_is_accepted_and_below_is_a_clear_error(name):
    info = cnnzoo.model_info(name)
    model = cnnzoo.create_model(name, device="meta").eval()
    c, m = info.input_size[0], model.min_size
    assert tuple(model(torch.empty((1, c, m, m), device="meta")).shape) == (1, info.num_classes)
    with pytest.raises(ValueError, match=f"at least {m}x{m}"):
        model(torch.empty((1, c, m - 1, m + 5), device="meta"))
    with pytest.raises(ValueError, match="in_chans"):
        model(torch.empty((1, c + 1, m, m), device="meta"))
    with pytest.raises(ValueError, match="4-D"):
        model(torch.empty((c, m, m), device="meta"))


@pytest.mark.parametrize("name", ALL)
def test_in_chans_and_num_classes(name):
    info = cnnzoo.model_info(name)
    s = max(info.input_size[1] // 4, cnnzoo.model_info(name).min_size)
    for in_chans in (1, 3):
        model = cnnzoo.create_model(name, in_chans=in_chans, num_classes=5, device="meta").eval()
        assert tuple(model(torch.empty((1, in_chans, s, s), device="meta")).shape) == (1, 5)


@pytest.mark.parametrize("name", ALL)
def test_reset_classifier_and_forward_head(name):
    model = cnnzoo.create_model(name, device="meta").eval()
    info = cnnzoo.model_info(name)
    x = torch.empty((1, *info.input_size), device="meta")
    feats = model.forward_features(x)
    assert feats.ndim == 4
    pre = model.forward_head(feats, pre_logits=True)
    assert pre.shape == (1, model.num_features)
    model.reset_classifier(7)
    assert model(x).shape == (1, 7)
    classifier = model.get_classifier()  # a Linear, or a 1×1 Conv2d for convolutional heads (SqueezeNet)
    assert getattr(classifier, "out_features", getattr(classifier, "out_channels", None)) == 7
    model.reset_classifier(0)
    assert model(x).shape == (1, model.num_features)


@pytest.mark.parametrize("name", _maybe_slow(ALL))
def test_small_input_forward_backward(name):
    s = small_size(name)
    model = cnnzoo.create_model(name, in_chans=1, num_classes=6)
    model.train()
    # batch 4: with batch 2 and 1×1 late feature maps each BN normalises two numbers, and through the
    # ~500 BNs of EfficientNet-L2 the gradients of such a degenerate batch overflow
    x = torch.randn(4, 1, s, s)
    out = model(x)
    logits = main_output(out)
    assert logits.shape == (4, 6)
    loss = sum(o.float().square().mean() for o in (out if isinstance(out, (tuple, list)) else [out]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), "every parameter gets a gradient"
    assert all(torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (4, 6)
