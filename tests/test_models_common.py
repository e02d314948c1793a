"""The foundation's rules, checked on every registered model."""

import pytest
import torch

import cnnzoo
from cnnzoo.analysis.flops import MacCounter
from cnnzoo.registry import ModelFacts, model_facts
from tests._util import main_output, small_size

ALL = cnnzoo.list_models()
# Real (non-meta) forward/backward on CPU for every model up to this size. Of the larger variants (VGG,
# the widest and deepest ResNets, EfficientNet-B7 and up, …) only the two smallest of a family that has
# nothing below it run for real: the others are built from the same blocks as their family's smaller
# variants, and every model is checked on the meta device by the tests above them.
BIG = 60_000_000


def _real_run_models() -> list[str]:
    families: dict[str, list[str]] = {}
    for n in ALL:
        families.setdefault(cnnzoo.model_info(n).family, []).append(n)
    keep = []
    for names in families.values():
        small = [n for n in names if cnnzoo.model_info(n).params <= BIG]
        keep += small or sorted(names, key=lambda n: cnnzoo.model_info(n).params)[:2]
    return sorted(keep)


@pytest.mark.parametrize("name", ALL)
def test_meta_forward_default_size_and_the_zoo_facts(name):
    """The shape at the default size, and the zoo table's facts (zoo_facts.json) measured afresh."""
    info = cnnzoo.model_info(name)
    model = cnnzoo.create_model(name, device="meta").eval()
    with MacCounter() as counter:
        out = model(torch.empty((1, *info.input_size), device="meta"))
    assert tuple(out.shape) == (1, info.num_classes)
    measured = ModelFacts(params=cnnzoo.count_params(model), gmacs=round(counter.total / 1e9, 6),
                          min_size=model.min_size)
    assert measured == model_facts(name), "stale src/cnnzoo/zoo_facts.json: python scripts/update_readme_table.py"


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
    # the default channels (3, or 1 for the small-image models) run in every other test here
    s = small_size(name)
    in_chans = 2
    model = cnnzoo.create_model(name, in_chans=in_chans, num_classes=5, device="meta").eval()
    assert tuple(model(torch.empty((1, in_chans, s, s), device="meta")).shape) == (1, 5)


@pytest.mark.parametrize("name", ALL)
def test_reset_classifier_and_forward_head(name):
    model = cnnzoo.create_model(name, device="meta").eval()
    info = cnnzoo.model_info(name)
    x = torch.empty((1, info.input_size[0], small_size(name), small_size(name)), device="meta")
    feats = model.forward_features(x)
    assert feats.ndim == 4
    pre = model.forward_head(feats, pre_logits=True)
    assert pre.shape == (1, model.num_features)
    model.reset_classifier(7)
    assert model.forward_head(feats).shape == (1, 7)  # forward() is forward_head(forward_features()), run above
    classifier = model.get_classifier()  # a Linear, or a 1×1 Conv2d for convolutional heads (SqueezeNet)
    assert getattr(classifier, "out_features", getattr(classifier, "out_channels", None)) == 7
    model.reset_classifier(0)
    assert model.forward_head(feats).shape == (1, model.num_features)


@pytest.mark.parametrize("name", _real_run_models())
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
